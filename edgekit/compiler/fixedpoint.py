"""Fixed-point parameters for edgekit's int8 C kernels, computed as TFLite's Prepare computes them.

The kernels (``edgekit/kernels``) do integer arithmetic only; every real-valued factor they need
is turned into a Q31 multiplier and a power-of-two shift here, on the host, with the same double
(or, where TFLite uses it, float32) arithmetic and the same rounding as TFLite's kernel Prepare
functions. A factor computed any other way can differ in its last bit and make the C output
differ from TFLite's reference kernels by one LSB.

A multiplier/shift pair ``(m, s)`` stands for ``m * 2**(s - 31)``, with ``m`` in
``[2**30, 2**31)`` (or 0) and ``s > 0`` meaning a left shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgekit.errors import EdgekitError

INT8_MIN, INT8_MAX = -128, 127

# The fused activations TFLite applies as clamps, in real units (None: unbounded).
ACTIVATION_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "none": (None, None),
    "relu": (0.0, None),
    "relu_n1_to_1": (-1.0, 1.0),
    "relu6": (0.0, 6.0),
}

# TFLite's int8 ADD shifts both inputs left by 20 bits before rescaling them.
ADD_LEFT_SHIFT = 20
# TFLite's int8 softmax feeds exp() with Q5.26 differences.
SOFTMAX_DIFF_INTEGER_BITS = 5


def _f32(value: float) -> float:
    """A scale as TFLite stores it (float32), widened exactly to a Python float (double)."""
    return float(np.float32(value))


def round_half_away(value: float) -> int:
    """``std::round``: to the nearest integer, halves away from zero (TfLiteRound)."""
    magnitude = abs(value)
    whole = math.floor(magnitude)
    rounded = whole + 1 if magnitude - whole >= 0.5 else whole
    return int(rounded) if value >= 0 else -int(rounded)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: ``real`` as a Q31 multiplier and a shift.

    frexp splits ``real`` into ``q * 2**shift`` with ``q`` in [0.5, 1); ``q * 2**31`` is rounded
    half away from zero. When that rounds up to ``2**31`` the multiplier is halved and the shift
    grows by one; a shift below -31 (``real`` under about ``2**-32``) flushes to zero.
    """
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = round_half_away(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: as ``quantize_multiplier`` for 0 <= real < 1."""
    if not 0.0 <= real < 1.0:
        raise EdgekitError(f"a rescaling factor must lie in [0, 1) here, got {real}")
    return quantize_multiplier(real)


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """QuantizeMultiplierGreaterThanOne: as ``quantize_multiplier`` for real > 1."""
    if not real > 1.0:
        raise EdgekitError(f"a rescaling factor must exceed 1 here, got {real}")
    return quantize_multiplier(real)


def activation_range(
    activation: str, scale: float, zero_point: int, qmin: int = INT8_MIN, qmax: int = INT8_MAX
) -> tuple[int, int]:
    """Clamp bounds of a fused activation in output units (CalculateActivationRangeQuantized).

    Each real bound is divided by the output scale in float32, rounded half away from zero,
    offset by the zero point, and intersected with the int8 range.
    """
    try:
        low, high = ACTIVATION_BOUNDS[activation]
    except KeyError:
        raise EdgekitError(
            f"unsupported fused activation {activation!r}; "
            f"edgekit supports {', '.join(ACTIVATION_BOUNDS)}"
        ) from None

    def quantize(bound: float) -> int:
        return zero_point + round_half_away(float(np.float32(bound) / np.float32(scale)))

    act_min = qmin if low is None else max(qmin, quantize(low))
    act_max = qmax if high is None else min(qmax, quantize(high))
    return act_min, act_max


def conv_multipliers(
    input_scale: float, filter_scales, output_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel multipliers and shifts of CONV_2D and DEPTHWISE_CONV_2D.

    TFLite computes ``input_scale * filter_scale[c] / output_scale`` in double from the float32
    scales (PopulateConvolutionQuantizationParams); a per-tensor filter scale serves every
    channel the same way.
    """
    pairs = [
        quantize_multiplier(_f32(input_scale) * float(scale) / _f32(output_scale))
        for scale in np.asarray(filter_scales, dtype=np.float32).ravel()
    ]
    multipliers, shifts = zip(*pairs, strict=True)
    return np.array(multipliers, dtype=np.int32), np.array(shifts, dtype=np.int32)


def exact_double(value: float) -> tuple[int, int]:
    """``value`` as ``mantissa * 2**exponent`` exactly, mantissa in ``[2**52, 2**53)`` (or 0)."""
    fraction, exponent = math.frexp(value)
    mantissa = int(fraction * (1 << 53))  # exact: a double has 53 significant bits
    return (mantissa, exponent - 53) if mantissa else (0, 0)


def fully_connected_scales(
    input_scale: float, filter_scales, output_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rescaling factors of FULLY_CONNECTED as exact doubles: int64 mantissas, int32 exponents.

    LiteRT's reference FULLY_CONNECTED does not use a Q31 multiplier: it rounds
    ``acc * (input_scale * filter_scale / output_scale)`` in double precision, the factor
    computed in double from the float32 scales (one factor per unit, or one for all). Each factor
    is returned exactly (``exact_double``), for ``ek_multiply_by_double_scale`` to round as C
    does in double.
    """
    pairs = [
        exact_double(_f32(input_scale) * float(scale) / _f32(output_scale))
        for scale in np.asarray(filter_scales, dtype=np.float32).ravel()
    ]
    mantissas, exponents = zip(*pairs, strict=True)
    return np.array(mantissas, dtype=np.int64), np.array(exponents, dtype=np.int32)


@dataclass(frozen=True)
class AddParams:
    """The fields of ``ek_add_params`` (all but ``size``)."""

    left_shift: int
    input1_offset: int
    input2_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    output_offset: int
    act_min: int
    act_max: int


def add_params(
    input1_scale: float,
    input1_zero_point: int,
    input2_scale: float,
    input2_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    activation: str = "none",
) -> AddParams:
    """TFLite's int8 ADD preparation.

    Both inputs are brought to a common scale of twice the larger input scale, with
    ``2**20`` of headroom: input ``i`` is multiplied by ``scale_i / (2 * max_scale)`` and the
    sum by ``2 * max_scale / (2**20 * output_scale)``, each factor below one.
    """
    twice_max = 2.0 * max(_f32(input1_scale), _f32(input2_scale))
    m1, s1 = quantize_multiplier_smaller_than_one(_f32(input1_scale) / twice_max)
    m2, s2 = quantize_multiplier_smaller_than_one(_f32(input2_scale) / twice_max)
    mo, so = quantize_multiplier_smaller_than_one(
        twice_max / (float(1 << ADD_LEFT_SHIFT) * _f32(output_scale))
    )
    act_min, act_max = activation_range(activation, output_scale, output_zero_point)
    return AddParams(
        left_shift=ADD_LEFT_SHIFT,
        input1_offset=-int(input1_zero_point),
        input2_offset=-int(input2_zero_point),
        input1_multiplier=m1,
        input1_shift=s1,
        input2_multiplier=m2,
        input2_shift=s2,
        output_multiplier=mo,
        output_shift=so,
        output_offset=int(output_zero_point),
        act_min=act_min,
        act_max=act_max,
    )


def mean_params(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """Multiplier and shift of int8 MEAN over ``count`` elements, the division included.

    TFLite quantizes ``input_scale / output_scale`` once (Prepare), then at run time folds the
    division by ``count`` into it in integers: with ``k = floor(log2(count))`` (at most 32 and at
    most ``31 + shift``), the multiplier becomes ``(multiplier << k) // count`` and the shift
    ``shift - k``.
    """
    if count < 1:
        raise EdgekitError(f"MEAN over {count} elements; the reduced axes must not be empty")
    multiplier, shift = quantize_multiplier(_f32(input_scale) / _f32(output_scale))
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // count, shift - k


@dataclass(frozen=True)
class SoftmaxParams:
    """The scaling fields of ``ek_softmax_params``."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(beta: float, input_scale: float) -> SoftmaxParams:
    """TFLite's int8 softmax preparation (PreprocessSoftmaxScaling, CalculateInputRadius).

    Differences to the row maximum are rescaled by ``beta * input_scale`` into Q5.26, so the
    factor ``beta * input_scale * 2**26`` (capped at ``2**31 - 1``) becomes a multiplier and a
    left shift. Differences below ``diff_min``, the most negative value whose rescaled form
    still fits Q5.26, contribute exp = 0.
    """
    real = min(
        _f32(beta) * _f32(input_scale) * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS)),
        (1 << 31) - 1.0,
    )
    if not real > 1.0:
        raise EdgekitError(
            f"SOFTMAX input scale {input_scale:g} is too small for TFLite's int8 softmax "
            "(the model's activations have died out); use trained or well-conditioned weights"
        )
    multiplier, left_shift = quantize_multiplier_greater_than_one(real)
    radius = math.floor(
        1.0
        * ((1 << SOFTMAX_DIFF_INTEGER_BITS) - 1)
        * (1 << (31 - SOFTMAX_DIFF_INTEGER_BITS))
        / (1 << left_shift)
    )
    return SoftmaxParams(multiplier, left_shift, -radius)
