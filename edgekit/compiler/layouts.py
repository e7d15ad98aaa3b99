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


# ek_conv2d_dsp.c's mode word: the accumulators hold twice the sum; the fast requantization
PAIRS_DOUBLED, PAIRS_FAST = 1, 2


def pair_rows(graph: Graph, op: Op) -> Array:
    return Array("int8_t", "pair_rows", pair_rows_weights(graph, op))


def pair_rows_weights(graph: Graph, op: Op) -> np.ndarray:
    """Convolution weights [C_out, kh, kw, C_in] as rows of K = kh * kw * C_in zero-padded to
    K4, a multiple of 4, and C_out to a multiple of 2; per pair of output channels, per group
    of four of K, the first channel's four weights then the second's: [C_out / 2][K4 / 4][2][4]."""
    w = np.asarray(graph.constant(op.inputs[1]), np.int8)
    rows = w.reshape(w.shape[0], -1)
    out_c, depth = rows.shape
    padded = np.zeros((-(-out_c // 2) * 2, -(-depth // 4) * 4), np.int8)
    padded[:out_c, :depth] = rows
    return padded.reshape(-1, 2, padded.shape[1] // 4, 4).transpose(0, 2, 1, 3).ravel()


def pair_constants(graph: Graph, op: Op) -> Array:
    return Array("int32_t", "pair_constants", pair_constant_words(graph, op))


def pair_constant_words(graph: Graph, op: Op) -> np.ndarray:
    """ek_conv2d_dsp.c's constants: the mode word, then per pair of output channels (the last
    one padded) 8 words: the two accumulator starts (the folded bias, doubled in the doubled
    mode), then for each channel its multiplier m, c = 2^(e-1) + output_zero * 2^e and right
    shift e (in the fast mode; zeros otherwise: the kernel reads the multipliers and shifts).

    Doubled when every accumulator stays within +-2^30 (|folded bias| + K * 2^14), so that
    twice it fits in int32; fast when, besides, every shift is a right one and h + c stays in
    int32 for every |h| below that bound (h: the rounding doubling high multiply, |h| <= |acc|)."""
    weights = graph.constant(op.inputs[1])
    depth = int(np.prod(weights.shape[1:]))
    out_zero = int(graph.tensor(op.outputs[0]).quant.zero_point[0])
    in_zero = int(graph.tensor(op.inputs[0]).quant.zero_point[0])
    bias = folded_bias(graph, op, -in_zero).astype(np.int64)
    multipliers, shifts = channel_multipliers(graph, op)
    shifts = np.asarray(shifts, np.int64)
    bound = int(np.max(np.abs(bias), initial=0)) + depth * 2**14
    doubled = bound < 2**30
    e = np.maximum(-shifts, 1)
    c = 2 ** (e - 1) + out_zero * 2**e
    fast = doubled and bool(np.all(shifts < 0)) and bool(np.all(bound + np.abs(c) + 1 < 2**31))
    out_c = len(bias)
    fields = np.zeros((-(-out_c // 2) * 2, 4), np.int64)
    fields[:out_c, 0] = bias * 2 if doubled else bias
    if fast:
        fields[:out_c, 1], fields[:out_c, 2], fields[:out_c, 3] = multipliers, c, e
    pairs = fields.reshape(-1, 2, 4)
    words = np.concatenate([pairs[:, :, 0], pairs[:, 0, 1:], pairs[:, 1, 1:]], axis=1)
    mode = (PAIRS_DOUBLED if doubled else 0) | (PAIRS_FAST if fast else 0)
    return np.concatenate([[mode], words.ravel()]).astype(np.int32)


def blocked(graph: Graph, op: Op) -> Array:
    return Array("int32_t", "blocked", dsp_depthwise_3x3(graph, op))


def dsp_depthwise_3x3(graph: Graph, op: Op) -> np.ndarray:
    """A depthwise 3x3 layer for the DSP kernel as one int32 array: per group of four channels
    (the last group zero-padded) the requantization header (``_dsp_depthwise_head``), then per
    filter column kx the weights doubled as 16-bit pairs [3][6]: rows 0 and 1 of channels 0, 1,
    2, 3 (SMLAD's pairs), then row 2 of channels (0, 2) and (1, 3); after the groups, 1 where
    the one-step requantization applies, else 0."""
    head, g, fast = _dsp_depthwise_head(graph, op)  # g: [ky][kx][group][channel], halfwords
    rows01 = g[0] | (g[1] << 16)  # [kx][group][4]: (row 0, row 1) of each channel
    row2 = g[2][..., [0, 1]] | (g[2][..., [2, 3]] << 16)  # [kx][group][2]: (c0, c2), (c1, c3)
    columns = np.concatenate([rows01, row2], axis=2).transpose(1, 0, 2)
    groups = np.concatenate([head, columns.reshape(len(head), -1)], axis=1)
    return _words(np.append(groups.ravel(), int(fast)))


def window(graph: Graph, op: Op) -> Array:
    return Array("int32_t", "window", dsp_depthwise_window(graph, op))


def dsp_depthwise_window(graph: Graph, op: Op) -> np.ndarray:
    """A depthwise layer of any window for the DSP kernel as one int32 array: per group of four
    channels (the last group zero-padded) the requantization header (``_dsp_depthwise_head``),
    then the weights doubled, per filter column kx and pair of filter rows (2j, 2j + 1), as the
    16-bit pair of each channel [kw][ceil(kh / 2)][4] (a row past an odd height is zero); after
    the groups, 1 where the one-step requantization applies, else 0."""
    head, g, fast = _dsp_depthwise_head(graph, op)
    if len(g) % 2:
        g = np.concatenate([g, np.zeros_like(g[:1])])
    pairs = g[0::2] | (g[1::2] << 16)  # [pair][kx][group][4]
    groups = np.concatenate([head, pairs.transpose(2, 1, 0, 3).reshape(len(head), -1)], axis=1)
    return _words(np.append(groups.ravel(), int(fast)))


def _dsp_depthwise_head(graph: Graph, op: Op) -> tuple[np.ndarray, np.ndarray, bool]:
    """The DSP depthwise kernels' 13 words per group of four channels: twice the folded bias
    [4]; each channel's multiplier and rounding constant 2^(e-1) + output_zero_point * 2^e
    [4][2]; one word of four bytes, each channel's right shift e = -shift where every shift of
    the layer is in [-23, -1] (``fast``: the one-step requantization), else its shift. Doubling
    lets one SMMLAR do TFLite's rounding doubling high multiply; the rule
    ``variants.depthwise_dsp_bias`` keeps the doubled sums inside int32. Also the weights
    doubled, zero-padded to whole groups, as halfwords [kh][kw][group][4]."""
    in_zero = int(graph.tensor(op.inputs[0]).quant.zero_point[0])
    out_zero = int(graph.tensor(op.outputs[0]).quant.zero_point[0])
    multipliers, shifts = channel_multipliers(graph, op)
    w = np.asarray(graph.constant(op.inputs[1]), np.int64)[0]  # [kh][kw][C]
    kh, kw, channels = w.shape
    groups = -(-channels // 4)
    e = -np.asarray(shifts, np.int64)
    fast = bool(np.all((e >= 1) & (e <= 23)))
    half, unit = 1 << np.clip(e - 1, 0, 30), 1 << np.clip(e, 0, 30)
    fields = np.zeros((4, groups * 4), np.int64)  # bias, multiplier, rounding, shift
    fields[0, :channels] = 2 * folded_bias(graph, op, -in_zero).astype(np.int64)
    fields[1, :channels] = multipliers
    fields[2, :channels] = half + out_zero * unit if fast else 0
    fields[3, :channels] = e if fast else -e
    f = fields.reshape(4, groups, 4)
    mr = np.stack([f[1], f[2]], axis=-1).reshape(groups, 8)
    shift_bytes = ((f[3] & 0xFF) << np.array([0, 8, 16, 24])).sum(axis=1, keepdims=True)
    taps = np.zeros((kh, kw, groups * 4), np.int64)
    taps[:, :, :channels] = 2 * w
    head = np.concatenate([f[0], mr, shift_bytes], axis=1)
    return head, taps.reshape(kh, kw, groups, 4) & 0xFFFF, fast


def _words(values: np.ndarray) -> np.ndarray:
    """Values in [-2^31, 2^32) as the int32 words of their low 32 bits, flattened."""
    return ((values + 2**31) % 2**32 - 2**31).astype(np.int32).ravel()


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
    ek_mve.h's flags: EK_MVE_LEFT (1) where a shift is > 0, EK_MVE_ZERO (2) where one is >= 0.
    With 8 channels, then one more block's 100 words with the channels twice (lanes 8 + c read
    channel c), by which the kernel computes two neighbouring pixels at once."""
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
    parts = [words.ravel(), zero, np.array([flags], np.int32)]
    if channels == 8:
        twice = np.concatenate([fields[:, :8], fields[:, :8]], axis=1)
        pair_lanes = twice.reshape(4, 4, 4).transpose(0, 2, 1).reshape(64)
        pair_taps = np.concatenate([w, w], axis=1).reshape(144)
        parts += [pair_lanes.astype(np.int32), pair_taps.view(np.int32)]
    return np.concatenate(parts)


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


def fc_quads(graph: Graph, op: Op) -> Array:
    return Array("int32_t", "quads", fc_quad_words(graph, op))


def fc_quad_words(graph: Graph, op: Op) -> np.ndarray:
    """FULLY_CONNECTED weights [units, K] for ek_fully_connected_s8_dsp, as int32 words: units
    zero-padded to a multiple of 4 and K to a multiple of 8; per block of four units, per group
    of four inputs i0..i3, four words: units (0, 1) at inputs (i0, i2), then at (i1, i3), then
    units (2, 3) likewise. A word's bytes are w0[i], w1'[i], w0[j], w1'[j] with w1' = w1 -
    [w0 < 0] (the kernel's comment says why); weights in [-127, 127] keep w1' in int8."""
    w = np.asarray(graph.constant(op.inputs[1]), np.int16)
    units, depth = w.shape
    padded = np.zeros((-(-units // 4) * 4, -(-depth // 8) * 8), np.int16)
    padded[:units, :depth] = w
    even, odd = padded[0::2], padded[1::2] - (padded[0::2] < 0)
    blocks, groups = padded.shape[0] // 4, padded.shape[1] // 4

    def words(rows: np.ndarray) -> np.ndarray:  # [block][group][pair][(i0, i2) | (i1, i3)][2]
        r = rows.reshape(blocks, 2, groups, 4).transpose(0, 2, 1, 3)[..., [0, 2, 1, 3]]
        return r.reshape(blocks, groups, 2, 2, 2)

    quads = np.stack([words(even), words(odd)], axis=-1)  # each input's two units together
    return quads.astype(np.int8).ravel().view(np.int32)


def fc_quad_bias(graph: Graph, op: Op) -> Array:
    return Array("int32_t", "quad_bias", fc_quad_fields(graph, op))


def fc_quad_fields(graph: Graph, op: Op) -> np.ndarray:
    """Four int32 fields per unit (units zero-padded to a multiple of 4): the folded bias, then
    ek_fully_connected_dsp.c's fast rescaling of the unit's exact double scale (``fixedpoint.
    fully_connected_scales``): m, the top 32 bits of its 53-bit mantissa; h = 2^(s - 1); and
    s = -exponent - 53, in [1, 30], or h = s = 0 for a scale it leaves to the exact rounding
    (zero, one half or more, or below 2^-31)."""
    src, filt, out = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    mantissa, exponent = fixedpoint.fully_connected_scales(
        float(src.quant.scale[0]), filt.quant.scale, float(out.quant.scale[0])
    )
    units = filt.shape[0]
    mantissa = np.broadcast_to(mantissa, units).astype(np.int64)
    shift = np.broadcast_to(-exponent.astype(np.int64) - 53, units)
    shift = np.where((mantissa != 0) & (shift >= 1) & (shift <= 30), shift, 0)
    fields = np.zeros((-(-units // 4) * 4, 4), np.int64)
    fields[:units, 0] = folded_bias(graph, op, -int(src.quant.zero_point[0]))
    fields[:units, 1] = mantissa >> 21
    fields[:units, 2] = np.where(shift > 0, 2 ** np.maximum(shift - 1, 0), 0)
    fields[:units, 3] = shift
    return (fields.ravel() % 2**32).astype(np.uint32).view(np.int32)


def fc_rows4(graph: Graph, op: Op) -> Array:
    return Array("int8_t", "rows4", fc_rows4_weights(graph, op))


def fc_rows4_weights(graph: Graph, op: Op) -> np.ndarray:
    """FULLY_CONNECTED weights [units, K] for ek_fully_connected_s8_mve: units zero-padded to a
    multiple of 4 and K to a multiple of 16; per block of four units, per run of 16 inputs, the
    four units' 16 weights one after the other, so that a block streams one contiguous run."""
    w = np.asarray(graph.constant(op.inputs[1]), np.int8)
    units, depth = w.shape
    padded = np.zeros((-(-units // 4) * 4, -(-depth // 16) * 16), np.int8)
    padded[:units, :depth] = w
    return padded.reshape(-1, 4, padded.shape[1] // 16, 16).transpose(0, 2, 1, 3).ravel()


def fc_rows4_bias(graph: Graph, op: Op) -> Array:
    return Array("int32_t", "rows4_bias", fc_rows4_fields(graph, op))


def fc_rows4_fields(graph: Graph, op: Op) -> np.ndarray:
    """ek_fully_connected_s8_mve's constants: a word that is 1 when every unit's exact double
    scale (``fixedpoint.fully_connected_scales``) is in the range of the kernel's fast rescaling,
    as in ``fc_quad_fields`` (0: the kernel rescales every unit exactly, from the scales it is
    passed); then per block of four units (the last padded with zeros) three vectors of four
    words: the folded biases, m (the top 32 bits of each 53-bit mantissa) and -s."""
    src, filt, out = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    mantissa, exponent = fixedpoint.fully_connected_scales(
        float(src.quant.scale[0]), filt.quant.scale, float(out.quant.scale[0])
    )
    units = filt.shape[0]
    mantissa = np.broadcast_to(mantissa, units).astype(np.int64)
    shift = np.broadcast_to(-exponent.astype(np.int64) - 53, units)
    fast = bool(np.all((mantissa != 0) & (shift >= 1) & (shift <= 30)))
    fields = np.zeros((3, -(-units // 4) * 4), np.int64)
    fields[0, :units] = folded_bias(graph, op, -int(src.quant.zero_point[0]))
    fields[1, :units] = mantissa >> 21
    fields[2, :units] = -shift
    blocks = fields.reshape(3, -1, 4).transpose(1, 0, 2).ravel()
    words = np.concatenate([[int(fast)], blocks])
    return (words % 2**32).astype(np.uint32).view(np.int32)


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
# convolution on the DSP extension: each pair of output channels' weights interleaved word by
# word, its folded biases and requantization constants in the bias array (ek_conv2d_dsp.c)
CHANNEL_PAIRS = Layout("channel_pairs", weights=pair_rows, bias=pair_constants)
# 16x8 dot products on the DSP extension: each row's groups of four as w0 w2 w1 w3, the bias as
# stored (int16 zero points are 0: nothing to fold)
PAIRS = Layout("pairs", weights=pairs)
# depthwise 3x3 on the DSP extension: per group of four channels the doubled folded bias, the
# requantization constants and the doubled weights as 16-bit pairs, all in the bias array
BLOCKED = Layout("blocked", weights=no_weights, bias=blocked, carries_quant=True)
# convolution: folded, each block of four output channels' weights stored run of 16 by run of 16
TILED = Layout("tiled", weights=tiled, bias=folded)
# depthwise 3x3: folded, blocks of 16 channels with their taps, bias, multipliers and shifts in
# the order the kernel's lanes hold them, all in the bias array
LANES16 = Layout("lanes16", weights=no_weights, bias=lanes16, carries_quant=True)
# depthwise, any window, on the DSP extension: per group of four channels the 3x3 layout's
# requantization header, then the doubled weights as pairs of rows, in the bias array
WINDOW = Layout("window", weights=no_weights, bias=window, carries_quant=True)
# fully connected on the DSP extension: four units' weights interleaved as int32 words, their
# folded bias and fast-rescaling fields together
FC_QUADS = Layout("fc_quads", weights=fc_quads, bias=fc_quad_bias)
# fully connected with Helium: four units' weights run of 16 by run of 16 (K and the units
# zero-padded); their folded biases and fast-rescaling constants as vectors
FC_ROWS4 = Layout("fc_rows4", weights=fc_rows4, bias=fc_rows4_bias)
