"""256-entry tables for the int8 -> int8 element-wise operators, computed at build time.

An int8 element-wise operator maps each of the 256 input values to one output value, so the
whole operator is a table: the C kernel (``ek_lut_s8``) does one load per element on every core.
Each table here is that mapping computed the way TFLite's reference kernels (LiteRT BUILTIN_REF)
compute it for the layer's scales and zero points, so the table is bit-exact by construction:

- LOGISTIC and TANH: TFLite's reference kernels themselves fill a table in float32 (LUTPopulate:
  dequantize, the float function, multiply by the inverse output scale, round half away from
  zero, add the zero point, clamp). The float functions are the C library's ``expf`` and
  ``tanhf``, the ones LiteRT calls on the machine that builds.
- RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU and QUANTIZE (int8 -> int8): an integer rescale by
  ``input_scale / output_scale`` as a Q31 multiplier (LEAKY_RELU: a second one times alpha for
  negative inputs), then the activation's clamp.
- HARD_SWISH: TFLite's 16-bit fixed-point reference arithmetic.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

import numpy as np

from edgekit.compiler.fixedpoint import activation_range, quantize_multiplier, round_half_away
from edgekit.compiler.ir import Graph, Op

INT8 = np.arange(-128, 128)
INT32_MAX = 2**31 - 1
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1

# ---------------------------------------------------------------- gemmlowp's integer helpers


def _wrap(x: int, bits: int) -> int:
    """``x`` converted to a signed ``bits``-bit integer, wrapping as C++ casts do."""
    x &= (1 << bits) - 1
    return x - (1 << bits) if x >> (bits - 1) else x


def _trunc_div(a: int, b: int) -> int:
    """C integer division (toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def doubling_high_mul(a: int, b: int, bits: int = 32, rounding: bool = True) -> int:
    """SaturatingRoundingDoublingHighMul of two ``bits``-bit values (rounding: nudge half away
    from zero; without: SaturatingDoublingHighMul, toward zero)."""
    low = -(1 << (bits - 1))
    if a == b == low:
        return -low - 1
    ab = a * b
    nudge = 0
    if rounding:
        half = 1 << (bits - 2)
        nudge = half if ab >= 0 else 1 - half
    return _wrap(_trunc_div(ab + nudge, 1 << (bits - 1)), bits)


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """RoundingDivideByPOT: x / 2^exponent, to nearest, ties away from zero."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier (TFLite's default, double rounding)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(doubling_high_mul(_wrap(x << left, 32), multiplier), right)


# ---------------------------------------------------------------- float tables (LUTPopulate)


@functools.cache
def _libm():
    return ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")


def _float_function(name: str) -> Callable[[float], float]:
    f = getattr(_libm(), name)
    f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    return f


def _lut_populate(
    transform: Callable[[np.float32], np.float32],
    input_scale: float,
    input_zero: int,
    output_scale: float,
    output_zero: int,
) -> np.ndarray:
    in_scale, inverse = np.float32(input_scale), np.float32(1) / np.float32(output_scale)
    table = []
    for q in INT8:
        value = transform(in_scale * np.float32(q - input_zero))
        rescaled = round_half_away(float(np.float32(value) * inverse))
        table.append(min(max(int(np.float32(rescaled) + np.float32(output_zero)), -128), 127))
    return np.array(table, np.int8)


def logistic(input_scale: float, input_zero: int, output_scale: float, output_zero: int):
    """LOGISTIC: 1 / (1 + expf(-x)) in float32, as TFLite's reference table."""
    expf = _float_function("expf")
    one = np.float32(1)
    return _lut_populate(
        lambda x: one / (one + np.float32(expf(-x))),
        input_scale,
        input_zero,
        output_scale,
        output_zero,
    )


def tanh(input_scale: float, input_zero: int, output_scale: float, output_zero: int):
    """TANH: tanhf(x) in float32, as TFLite's reference table."""
    tanhf = _float_function("tanhf")
    return _lut_populate(
        lambda x: np.float32(tanhf(x)), input_scale, input_zero, output_scale, output_zero
    )


# ---------------------------------------------------------------- integer rescales


def _rescale(
    multiplier: int, shift: int, input_zero: int, output_zero: int, lo: int, hi: int
) -> list[int]:
    return [
        min(max(multiply_by_quantized_multiplier(int(q) - input_zero, multiplier, shift)
                + output_zero, lo), hi)
        for q in INT8
    ]  # fmt: skip


def rescale(
    input_scale: float,
    input_zero: int,
    output_scale: float,
    output_zero: int,
    activation: str = "none",
) -> np.ndarray:
    """QUANTIZE int8 -> int8 (activation ``none``) and RELU, RELU6, RELU_N1_TO_1: the input
    rescaled by ``input_scale / output_scale``, then clamped to the activation's bounds (each
    rounded in float32, as TFLite's ReluX does). QUANTIZE divides the scales in double, the
    RELUs in float32, as their Prepare functions do."""
    s_in, s_out = np.float32(input_scale), np.float32(output_scale)
    real = float(s_in) / float(s_out) if activation == "none" else float(s_in / s_out)
    multiplier, shift = quantize_multiplier(real)
    lo, hi = activation_range(activation, output_scale, output_zero)
    return np.array(_rescale(multiplier, shift, input_zero, output_zero, lo, hi), np.int8)


def leaky_relu(
    input_scale: float, input_zero: int, output_scale: float, output_zero: int, alpha: float
) -> np.ndarray:
    """LEAKY_RELU: non-negative inputs rescaled by ``input_scale / output_scale``, negative ones
    by ``input_scale * alpha / output_scale`` (each factor computed in float32, as TFLite's
    Prepare does)."""
    s_in, s_out, a = (np.float32(v) for v in (input_scale, output_scale, alpha))
    identity = _rescale(*quantize_multiplier(float(s_in / s_out)), input_zero, output_zero,
                        -128, 127)  # fmt: skip
    negative = _rescale(*quantize_multiplier(float(s_in * a / s_out)), input_zero, output_zero,
                        -128, 127)  # fmt: skip
    table = [i if q >= input_zero else n for q, i, n in zip(INT8, identity, negative)]
    return np.array(table, np.int8)


# ---------------------------------------------------------------- HARD_SWISH


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then DownScaleInt32ToInt16Multiplier: a Q15 multiplier and a shift."""
    multiplier, shift = quantize_multiplier(real)
    if multiplier >= INT32_MAX - (1 << 15):
        return INT16_MAX, shift
    return (multiplier + (1 << 15)) >> 16, shift


def _saturating_left_shift16(value: int, amount: int) -> int:
    return min(max(value * (1 << amount), INT16_MIN), INT16_MAX)


def hard_swish(input_scale: float, input_zero: int, output_scale: float, output_zero: int):
    """HARD_SWISH: x * relu6(x + 3) / 6 in TFLite's 16-bit fixed point (reference_ops::HardSwish),
    its multipliers computed in float32 as TFLite's Prepare does."""
    f32 = np.float32
    hires_scale = f32(1.0 / 128.0) * f32(input_scale)
    out_m, out_e = _int16_multiplier(float(hires_scale / f32(output_scale)))
    relu_m, relu_e = _int16_multiplier(float(hires_scale / (f32(3.0) / f32(32768.0))))
    table = []
    for q in INT8:
        hires = _wrap((int(q) - input_zero) * 128, 16)
        preshift = doubling_high_mul(hires, out_m, 16)
        reluish = hires
        if relu_e > 0:
            reluish = _saturating_left_shift16(reluish, relu_e - 1)
        reluish = doubling_high_mul(reluish, relu_m, 16)
        if relu_e > 0:
            reluish = _saturating_left_shift16(reluish, 1)
        if relu_e < 0:
            reluish = rounding_divide_by_pot(reluish, -relu_e)
        reluish = (reluish + (1 << 15)) >> 1
        value = doubling_high_mul(reluish, preshift, 16, rounding=False)
        value = _wrap(rounding_divide_by_pot(value, -out_e) + output_zero, 16)
        table.append(min(max(value, -128), 127))
    return np.array(table, np.int8)


def hard_swish_output_exponent(input_scale: float, output_scale: float) -> int:
    """The shift of HARD_SWISH's output multiplier; TFLite's Prepare refuses one above 0."""
    real = np.float32(1.0 / 128.0) * np.float32(input_scale) / np.float32(output_scale)
    return _int16_multiplier(float(real))[1]


# ---------------------------------------------------------------- one table per op kind

TABLES: dict[str, Callable[..., np.ndarray]] = {
    "LOGISTIC": logistic,
    "TANH": tanh,
    "HARD_SWISH": hard_swish,
    "RELU": functools.partial(rescale, activation="relu"),
    "RELU6": functools.partial(rescale, activation="relu6"),
    "RELU_N1_TO_1": functools.partial(rescale, activation="relu_n1_to_1"),
    "LEAKY_RELU": leaky_relu,
    "QUANTIZE": rescale,
}


def op_table(graph: Graph, op: Op) -> np.ndarray:
    """The table of an int8 -> int8 element-wise op: entry i is its output for input i - 128."""
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    scales = (
        float(x.quant.scale[0]),
        int(x.quant.zero_point[0]),
        float(y.quant.scale[0]),
        int(y.quant.zero_point[0]),
    )
    options = {"alpha": op.options["alpha"]} if op.kind == "LEAKY_RELU" else {}
    return TABLES[op.kind](*scales, **options)


# ---------------------------------------------------------------- 16x8 (int16 activations)
# int16 has 65536 values: these ops run their arithmetic in the kernels, from parameters and
# (SOFTMAX) tables computed here as TFLite's Prepare computes them.


def checked_log2(scale: float) -> tuple[bool, int]:
    """TFLite's CheckedLog2 of a float32 scale, in float32 with the C library's ``logf``:
    (whether the scale is within 1e-3 of a power of two in log2, that power)."""
    logf = _float_function("logf")
    f32 = np.float32
    x_log2 = f32(logf(f32(scale))) * (f32(1.0) / f32(logf(f32(2.0))))
    rounded = f32(round_half_away(float(x_log2)))
    return bool(abs(x_log2 - rounded) < f32(1e-3)), int(rounded)


def sigmoid_s16_params(input_scale: float) -> tuple[int, int]:
    """LOGISTIC's and TANH's int16 (multiplier, left shift), as their Prepare computes them: a
    power-of-two input scale of 2^-12 or 2^-11 keeps multiplier 0 (the kernel then multiplies by
    3 << shift); any other scale becomes scale * 3 * 4096 doubled until above 32767 / 2 (at
    most 31 times), truncated."""
    pot, log2 = checked_log2(input_scale)
    shift = 12 + log2
    if pot and shift in (0, 1):
        return 0, shift
    multiplier, shift = float(np.float32(input_scale)) * 4096.0 * 3.0, 0
    while multiplier <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        multiplier *= 2.0
    return int(multiplier), shift


def _lut_populate_s16(transform, input_scale, input_zero, output_scale, output_zero) -> np.ndarray:
    """TFLite's LUTPopulate<int16_t> in double: 512 intervals over the input range, each entry
    the rounded sample less half the error of interpolating the midpoint, and the last entry
    the function at the range's end; 513 int16 values."""
    input_min = input_scale * (INT16_MIN - input_zero)
    input_max = input_scale * (INT16_MAX - input_zero)
    output_min = output_scale * (INT16_MIN - output_zero)
    output_max = output_scale * (INT16_MAX - output_zero)
    steps = 512
    step = (input_max - input_min) / steps
    half_step = step / 2
    inverse = float(INT16_MAX - INT16_MIN + 1) / (output_max - output_min)

    def clamp(v: float) -> int:
        return int(min(max(v, float(INT16_MIN)), float(INT16_MAX)))

    table = []
    for i in range(steps):
        value = transform(input_min + i * step)
        midpoint = transform(input_min + i * step + half_step)
        following = transform(input_min + (i + 1) * step)
        sample = round_half_away(value * inverse)
        interpolated = round_half_away((following * inverse + round_half_away(value * inverse)) / 2)
        error = interpolated - round_half_away(midpoint * inverse)
        bias = round_half_away(error / 2)
        table.append(clamp(sample - bias))
    table.append(clamp(round_half_away(transform(input_max) * inverse)))
    return np.array(table, np.int16)


def softmax_s16_tables() -> tuple[np.ndarray, np.ndarray]:
    """SOFTMAX's int16 tables, the same for every layer: exp on [-10, 0] and 1 / (1 + x) on
    [0, 1], both onto [-1, 1], as TFLite's Prepare fills them (in double, with the C library's
    ``exp``)."""
    import math

    span = INT16_MAX - INT16_MIN
    exp = _lut_populate_s16(math.exp, 10.0 / span, INT16_MAX, 2.0 / span, 0)
    reciprocal = _lut_populate_s16(lambda x: 1.0 / (1.0 + x), 1.0 / span, INT16_MIN, 2.0 / span, 0)
    return exp, reciprocal


def softmax_s16_multiplier(input_scale: float, beta: float) -> tuple[int, int]:
    """SOFTMAX's int16 input rescale: input_scale * beta (in float32) over 10 / 65535, as a Q31
    multiplier and shift, so that differences of [-65535, 0] span the exp table's [-10, 0]."""
    real = float(np.float32(input_scale) * np.float32(beta)) / (10.0 / 65535.0)
    return quantize_multiplier(real)


def leaky_relu_s16_params(input_scale: float, output_scale: float, alpha: float):
    """LEAKY_RELU's int16 (identity multiplier, shift, alpha multiplier, shift): each factor
    computed in float32, as for int8."""
    s_in, s_out, a = (np.float32(v) for v in (input_scale, output_scale, alpha))
    return (
        *quantize_multiplier(float(s_in / s_out)),
        *quantize_multiplier(float(s_in * a / s_out)),
    )


# ---------------------------------------------------------------- int8 SOFTMAX's exp


def _exp_on_quarter_interval(a: int) -> int:
    """gemmlowp's exp on [-1/4, 0), Q0.31 in and out (ek_softmax.c's exp_on_quarter_interval)."""
    exp_minus_one_eighth, one_third = 1895147668, 715827883
    x = a + (1 << 28)
    x2 = doubling_high_mul(x, x)
    x3 = doubling_high_mul(x2, x)
    x4 = doubling_high_mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(doubling_high_mul(_wrap(x4_over_4 + x3, 32), one_third) + x2, 1)
    return _wrap(exp_minus_one_eighth + doubling_high_mul(exp_minus_one_eighth, x + poly), 32)


_EXP_OF_MINUS_POT = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


def _exp_on_negative_values(a: int) -> int:
    """gemmlowp's exp for a <= 0 in Q5.26, Q0.31 out (ek_softmax.c's exp_on_negative_values)."""
    quarter = 1 << 24
    rest = (a & (quarter - 1)) - quarter
    quarters = rest - a
    result = _exp_on_quarter_interval(rest << 5)  # rest in [-2^24, 0): no saturation
    for k, factor in enumerate(_EXP_OF_MINUS_POT):
        if quarters & (1 << (24 + k)):
            result = doubling_high_mul(result, factor)
    return INT32_MAX if a == 0 else result


def softmax_exp_table(input_multiplier: int, input_left_shift: int, diff_min: int) -> np.ndarray:
    """int8 SOFTMAX's exp of each difference to the row maximum, 0, -1, ..., -255, as TFLite's
    reference kernel computes it (the difference rescaled to Q5.26, gemmlowp's fixed-point exp,
    Q0.31), 0 below ``diff_min`` (where the reference adds nothing and outputs -128, as a 0
    does): 256 int32 for ek_softmax_s8_dsp, the layer's parameters from
    ``fixedpoint.softmax_params``."""
    table = np.zeros(256, np.int64)
    for d in range(256):
        if -d >= diff_min:
            scaled = multiply_by_quantized_multiplier(-d, input_multiplier, input_left_shift)
            table[d] = _exp_on_negative_values(scaled)
    return table.astype(np.int32)
