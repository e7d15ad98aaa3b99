"""Weight layouts: the order a kernel variant wants a layer's weights and bias in, in weights.c.

The reference kernels read the weights and the bias as the model stores them. The faster
variants fold the input offset into the bias, so that their inner loop is a plain int8 dot
product, and some reorder the weights for their loads. Each such arrangement is a ``Layout``,
which a variant holds (``variants.Variant.layout``): from the op alone it makes the weights and
bias arrays, each with its C type and name, and says whether the bias array also carries the
per-channel multipliers and shifts. The emitter declares the arrays and passes them to the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgekit.compiler import fixedpoint
from edgekit.compiler.ir import Graph, Op

# ek_mve.h's requantization flags, as lanes16_depthwise writes them for the kernel
MVE_LEFT, MVE_ZERO = 1, 2


@dataclass(frozen=True)
class Array:
    """One const array of weights.c: its C element type, its name after the op's prefix
    (``model_op3_<suffix>``) and its values."""

    ctype: str
    suffix: str
    values: np.ndarray


# ---------------------------------------------------------------- the arrays


def stored_weights(graph: Graph, op: Op) -> Array:
    """The weights as the model stores them."""
    return Array("int8_t", "in1", graph.constant(op.inputs[1]))


def stored_bias(graph: Graph, op: Op) -> Array | None:
    """The bias as the model stores it (int32, or int64 for 16x8); None when the op has none."""
    index = op.inputs[2] if len(op.inputs) > 2 else -1
    if index < 0:
        return None
    ctype = "int64_t" if graph.tensor(index).dtype == "int64" else "int32_t"
    return Array(ctype, "in2", graph.constant(index))


def no_weights(graph: Graph, op: Op) -> None:
    """No weights argument: the bias array holds them (``lanes16``)."""
    return None


def folded(graph: Graph, op: Op) -> Array:
    """The bias with the input offset folded in (``folded_bias``)."""
    zero = int(graph.tensor(op.inputs[0]).quant.zero_point[0])
    return Array("int32_t", "folded_bias", folded_bias(graph, op, -zero))


def folded_bias(graph: Graph, op: Op, input_offset: int) -> np.ndarray:
    """bias + input_offset * (sum of each output channel's weights), as int32: the offset term
    of every window that reads no padding, computed once at build time."""
    weights = np.asarray(graph.constant(op.inputs[1]), np.int64)
    if op.kind == "DEPTHWISE_CONV_2D":  # [1, kh, kw, C]
        sums = weights.reshape(-1, weights.shape[-1]).sum(0)
    else:  # [C_out, kh, kw, C_in] or [C_out, C_in]
        sums = weights.reshape(weights.shape[0], -1).sum(1)
    bias = graph.constant(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    total = input_offset * sums + (0 if bias is None else np.asarray(bias, np.int64))
    # TFLite sums in int32, which wraps; so does the folded sum
    return ((total + 2**31) % 2**32 - 2**31).astype(np.int32)


def blocked(graph: Graph, op: Op) -> Array:
    return Array("int8_t", "blocked", blocked_depthwise(graph, op))


def blocked_depthwise(graph: Graph, op: Op) -> np.ndarray:
    """Depthwise weights [1, kh, kw, C] as [C / 4][kh * kw][4] (each group of four channels'
    taps together), then [kh * kw][C % 4] for the last channels."""
    w = np.asarray(graph.constant(op.inputs[1]), np.int8)
    taps, channels = w.shape[1] * w.shape[2], w.shape[3]
    w = w.reshape(taps, channels)
    blocks = channels // 4 * 4
    head = w[:, :blocks].reshape(taps, -1, 4).transpose(1, 0, 2)
    return np.concatenate([head.ravel(), w[:, blocks:].ravel()])


def tiled(graph: Graph, op: Op) -> Array:
    return Array("int8_t", "tiled", tiled_weights(graph, op))


def tiled_weights(graph: Graph, op: Op) -> np.ndarray:
    """Convolution weights [C_out, kh, kw, C_in] as rows of K = kh * kw * C_in, tiled
    [C_out / 4][K / 16][4][16]: for each block of four output channels, each run of 16 of K
    holds the four channels' weights one after the other. Zero-padded to whole blocks and runs,
    so that every load of the MVE kernels is a whole vector and the padding adds nothing."""
    w = np.asarray(graph.constant(op.inputs[1]), np.int8)
    rows = w.reshape(w.shape[0], -1)
    out_c, depth = rows.shape
    padded = np.zeros((-(-out_c // 4) * 4, -(-depth // 16) * 16), np.int8)
    padded[:out_c, :depth] = rows
    blocks, runs = padded.shape[0] // 4, padded.shape[1] // 16
    return padded.reshape(blocks, 4, runs, 16).transpose(0, 2, 1, 3).ravel()


def lanes16(graph: Graph, op: Op) -> Array:
    return Array("int32_t", "lanes16", lanes16_depthwise(graph, op))


def lanes16_depthwise(graph: Graph, op: Op) -> np.ndarray:
    """A depthwise 3x3 layer for the Helium kernel as one int32 array, its channels zero-padded
    to whole blocks of 16. Per block, 100 words: the folded bias, the multipliers, the left
    shifts (>= 0) and the right shifts (<= 0), [4][16] each in the order the kernel's widening
    leaves the channels in its lanes (lane 4 * r + i: channel 4 * i + r), then the weights
    [9][16] as bytes. After the blocks, 16 bytes of the input zero point per block (what a tap
    in the padding reads), then one word of the requantization steps the shifts need, as
    ek_mve.h's flags: EK_MVE_LEFT (1) where a shift is > 0, EK_MVE_ZERO (2) where one is >= 0."""
    in_zero = int(graph.tensor(op.inputs[0]).quant.zero_point[0])
    multipliers, shifts = channel_multipliers(graph, op)
    w = np.asarray(graph.constant(op.inputs[1]), np.int8).reshape(9, -1)
    channels = w.shape[1]
    blocks = -(-channels // 16)
    padded = blocks * 16
    fields = np.zeros((4, padded), np.int64)
    fields[0, :channels] = folded_bias(graph, op, -in_zero)
    fields[1, :channels] = multipliers
    fields[2, :channels] = np.maximum(shifts, 0)
    fields[3, :channels] = np.minimum(shifts, 0)
    lanes = fields.reshape(4, blocks, 4, 4).transpose(1, 0, 3, 2).reshape(blocks, 64)
    taps = np.zeros((9, padded), np.int8)
    taps[:, :channels] = w
    taps = taps.reshape(9, blocks, 16).transpose(1, 0, 2).reshape(blocks, 144)
    words = np.concatenate([lanes.astype(np.int32), taps.view(np.int32)], axis=1)
    zero = np.full(padded, in_zero, np.int8).view(np.int32)
    flags = (MVE_LEFT if np.any(shifts > 0) else 0) | (MVE_ZERO if np.any(shifts >= 0) else 0)
    return np.concatenate([words.ravel(), zero, np.array([flags], np.int32)])


def channel_multipliers(graph: Graph, op: Op) -> tuple[np.ndarray, np.ndarray]:
    """A convolution's multipliers and shifts, one per output channel (per-tensor weights: the
    same one repeated), as the kernels read them."""
    src, filt, out = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    mult, shift = fixedpoint.conv_multipliers(
        float(src.quant.scale[0]), filt.quant.scale, float(out.quant.scale[0])
    )
    if len(mult) == 1:
        channels = out.shape[-1]
        mult, shift = np.repeat(mult, channels), np.repeat(shift, channels)
    return mult, shift


def pairs(graph: Graph, op: Op) -> Array:
    return Array("int8_t", "pairs", paired_weights(graph, op))


def paired_weights(graph: Graph, op: Op) -> np.ndarray:
    """Weights as rows of K (a unit's inputs, an output channel's kh * kw * C_in taps, or for
    TRANSPOSE_CONV one tap's C_in, which its kernel reads tap by tap), each group of four
    w0 w1 w2 w3 stored as w0 w2 w1 w3 (a row's last K % 4 as they are): SXTB16 of a group's
    word is then the pair (w0, w1), and with ROR 8 (w2, w3), the order of the int16 inputs two
    words hold (the 16x8 DSP kernels)."""
    w = np.asarray(graph.constant(op.inputs[1]), np.int8)
    depth = w.shape[-1] if op.kind == "TRANSPOSE_CONV" else int(np.prod(w.shape[1:]))
    rows = w.reshape(-1, depth).copy()
    whole = rows.shape[1] // 4 * 4
    groups = rows[:, :whole].reshape(len(rows), -1, 4)
    rows[:, :whole] = groups[:, :, [0, 2, 1, 3]].reshape(len(rows), -1)
    return rows.ravel()


# ---------------------------------------------------------------- the layouts


@dataclass(frozen=True)
class Layout:
    """How a variant wants its op's weights and bias: ``weights`` and ``bias`` make each array
    from the op (None: the kernel gets NULL); ``carries_quant`` when the bias array also holds
    the multipliers and shifts, so that the kernel gets no separate ones."""

    name: str
    weights: Callable[[Graph, Op], Array | None] = stored_weights
    bias: Callable[[Graph, Op], Array | None] = stored_bias
    carries_quant: bool = False


# as the model stores them (every reference kernel)
TFLITE = Layout("tflite")
# as stored, the input offset folded into the bias
FOLDED = Layout("folded", bias=folded)
# 16x8 dot products on the DSP extension: each row's groups of four as w0 w2 w1 w3, the bias as
# stored (int16 zero points are 0: nothing to fold)
PAIRS = Layout("pairs", weights=pairs)
# depthwise: folded, each group of four channels' taps stored together
BLOCKED = Layout("blocked", weights=blocked, bias=folded)
# convolution: folded, each block of four output channels' weights stored run of 16 by run of 16
TILED = Layout("tiled", weights=tiled, bias=folded)
# depthwise 3x3: folded, blocks of 16 channels with their taps, bias, multipliers and shifts in
# the order the kernel's lanes hold them, all in the bias array
LANES16 = Layout("lanes16", weights=no_weights, bias=lanes16, carries_quant=True)
