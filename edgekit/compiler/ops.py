"""The operators the c backend runs: one registry entry per op kind, and the passes keyed by it.

An entry (``OpKind``) names what the compiler needs for its kind: the op rules it is checked
against (``edgekit.compiler.oprules``), its kernel variants, best first and the reference one
last (``edgekit.compiler.variants``), and its emitter (``edgekit.compiler.emitters``). Adding
an operator is one entry here plus its kernel files (and its own rules and emitter, written
beside the others).

The passes here go through the registry: checking a graph (the rules every operator meets,
then its kind's), picking each op's kernel variant, the memory planner's inputs from those
picks, and docs/supported-ops.md, written from the rules' docstrings by
``python -m edgekit.compiler.ops > docs/supported-ops.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from edgekit.compiler import emitters, floats, recurrent
from edgekit.compiler.emitters import Emitter
from edgekit.compiler.ir import Graph, Op, Tensor, short_name
from edgekit.compiler.layouts import (
    BLOCKED,
    CHANNEL_PAIRS,
    FC_QUADS,
    FC_ROWS4,
    FOLDED,
    LANES16,
    PAIRS,
    TILED,
    WINDOW,
)
from edgekit.compiler.oprules import (
    Rule,
    add_shapes,
    alias_input,
    arg_max_axis,
    batch_matmul_shapes,
    bilinear_positions,
    broadcast_shapes,
    concatenation_quantization,
    concatenation_shapes,
    conv_shapes,
    copy_shapes,
    default_weights_layout,
    depthwise_shapes,
    elementwise_shape,
    float_conversion,
    fully_connected_shapes,
    fused_activation,
    hard_swish_scales,
    inputs_same_quantization,
    int8_output,
    int8_to_int8,
    int8_weights,
    int16_general_add,
    int32_bias,
    integer_input,
    logistic_output,
    moved_quantization,
    no_fused_activation,
    pad_amounts,
    pool_channels,
    prelu_alpha,
    quant_text,
    reduce_axes,
    reshape_size,
    resize_corners,
    resize_shapes,
    rule_doc,
    same_quantization,
    slice_bounds,
    softmax_input_scale,
    softmax_output,
    split_parts,
    squared_difference_scale,
    strided_slice_bounds,
    tanh_output,
    transpose_conv_shapes,
    transpose_permutation,
    window_geometry,
)
from edgekit.compiler.planner import (
    InPlaceRule,
    alias,
    concatenation_in_place,
    depthwise_in_place,
    elementwise_in_place,
)
from edgekit.compiler.recurrent import (
    lstm_activation,
    lstm_shapes,
    lstm_types,
    svdf_activation,
    svdf_shapes,
    svdf_types,
)
from edgekit.compiler.variants import (
    Choice,
    Variant,
    channel_broadcast,
    computes_float,
    depthwise_3x3,
    depthwise_dsp_bias,
    depthwise_dsp_window,
    depthwise_rows_bytes,
    depthwise_window_bytes,
    fc_pairs_bytes,
    im2col_bytes,
    pick_variant,
    pointwise,
    spatial_mean,
    undilated,
    weights_symmetric,
)
from edgekit.errors import EdgekitError

if TYPE_CHECKING:
    from edgekit.platforms.targets import Target

DOCS = "docs/supported-ops.md"
MODES = ("auto", "ref")  # --kernels


@dataclass(frozen=True)
class OpKind:
    """What the c backend has for one operator kind.

    ``inputs`` is (fewest, most) inputs; ``params`` the input positions that are not
    activations (weights, bias, axes, paddings, a shape: their own rules check them);
    ``layers`` the Keras layers that convert to it (for the docs); ``variants`` its kernels,
    best first, the reference last (none for an op the emitter writes without a kernel, whose
    in-place rule is then ``in_place``); ``outputs`` is (fewest, most) outputs; ``dtypes`` the
    types besides int8 its activations may have (its own rules say which tensor has which;
    "int16" for an op with 16x8 kernels); ``mixed`` lets one op have int8 and int16 activations
    (QUANTIZE between them, the recurrent ops' int16 cell state); ``float_rules`` the rules a
    float32 op of the kind meets in place of ``rules`` (for the kinds with float32 kernels:
    ``edgekit.compiler.floats``).
    """

    rules: tuple[Rule, ...]
    inputs: tuple[int, int]
    layers: str
    emit: Emitter
    variants: tuple[Variant, ...] = ()
    params: tuple[int, ...] = ()
    in_place: InPlaceRule | None = None
    outputs: tuple[int, int] = (1, 1)
    dtypes: tuple[str, ...] = ()
    mixed: bool = False
    float_rules: tuple[Rule, ...] | None = None


# ---------------------------------------------------------------- the registry

_CONV_COMMON = (int8_weights, int32_bias, fused_activation, window_geometry)
_MVE, _DSP = ("mve",), ("dsp",)
_CONV_MVE = ("ek_conv2d_mve.c", "ek_mve.h", "ek_im2col.h")
# the DSP convolutions' sources and features; their weights in channel pairs (layouts.py)
_CONV_DSP = (("ek_conv2d_dsp.c", "ek_dsp.h", "ek_im2col.h"), _DSP)
_PAIRS = CHANNEL_PAIRS
_DEPTHWISE_MVE = ("ek_depthwise_conv2d_3x3_mve.c", "ek_mve.h")
_DEPTHWISE_DSP = ("ek_depthwise_conv2d_3x3_dsp.c", "ek_dsp.h")
# a 1x1 filter reads one pixel whatever its dilation; other windows dilate in their own
# variants (im2col and reference), after the undilated ones
_UNDILATED = (undilated,)
_SPATIAL = (spatial_mean,)  # MEAN's own kernels: over height and width
# binary ops: equal shapes keep ADD's own kernels; broadcasting runs the shared loop
_SAME, _BINARY, _ELEMENTWISE = (add_shapes,), ("ek_binary.c",), elementwise_in_place
_LUT_MVE, _LUT_DSP = ("ek_lut_mve.c", "ek_mve.h"), ("ek_lut_dsp.c", "ek_dsp.h")
# squeeze-and-excite MUL and ADD: an HxWxC input and a 1x1xC one
_BINARY_MVE, _BINARY_DSP = ("ek_binary_mve.c", "ek_mve.h"), ("ek_binary_dsp.c", "ek_dsp.h")
_CHANNELS = (channel_broadcast,)
# 16x8 (int16 activations): reference kernels of their own, before the int8 reference ones
_DT16, _INT16 = "int16", ("int16",)
_REQUANTIZE = ("ek_quantize_s16.c",)


def _lut(rules: tuple[Rule, ...], layers: str, int16: str | None = None) -> OpKind:
    """An int8 -> int8 element-wise op: one table lookup per element, in place where the
    planner can; ``int16`` names its 16x8 kernel (ek_activation_s16.c), if it has one."""
    wide = (Variant(int16, ("ek_activation_s16.c",), in_place=_ELEMENTWISE, dtype=_DT16),)
    return OpKind(
        rules=rules,
        inputs=(1, 1),
        layers=layers,
        emit=emitters.lut,
        variants=(
            Variant("lut_mve", _LUT_MVE, _MVE, in_place=_ELEMENTWISE),
            Variant("lut_dsp", _LUT_DSP, _DSP, in_place=_ELEMENTWISE),
            *(wide if int16 else ()),
            Variant("lut_ref", ("ek_lut.c",), in_place=_ELEMENTWISE),
        ),
        dtypes=_INT16 if int16 else (),
    )


def _alias(inputs: tuple[int, int], layers: str) -> OpKind:
    """RESHAPE, SQUEEZE, EXPAND_DIMS: no kernel; the planner keeps the output on the input's
    bytes (``planner.alias``)."""
    return OpKind(
        rules=(reshape_size, alias_input, same_quantization),
        inputs=inputs,
        params=(1,) if inputs[1] > 1 else (),
        layers=layers,
        emit=emitters.reshape,
        in_place=alias,
        dtypes=_INT16,
    )


def _copy(
    rules: tuple[Rule, ...],
    inputs: tuple[int, int],
    params: tuple[int, ...],
    layers: str,
    outputs: tuple[int, int] = (1, 1),
) -> OpKind:
    """A data-movement op: one strided copy per input or output, no arithmetic."""
    return OpKind(
        rules=(*rules, moved_quantization, copy_shapes),
        inputs=inputs,
        params=params,
        layers=layers,
        emit=emitters.strided_copy,
        variants=(
            Variant("strided_copy_ref", ("ek_strided_copy.c",), dtype=_DT16),
            Variant("strided_copy_ref", ("ek_strided_copy.c",)),
        ),
        outputs=outputs,
        dtypes=_INT16,
    )


def _accumulator_bytes(graph: Graph, op: Op) -> int:
    """TRANSPOSE_CONV's accumulators, one per output value, of its bias's type: int32, or
    int64 for 16x8 with an int64 bias or none."""
    out = graph.tensor(op.outputs[0])
    wide = out.dtype == "int16" and _bias_type(graph, op) != "int32"
    return (8 if wide else 4) * out.size


def _bias_type(graph: Graph, op: Op) -> str | None:
    """A convolution's or fully connected layer's bias type; without one, the accumulators its
    quantized_bias_type option names (None where it names none: int64 for 16x8)."""
    k = 3 if op.kind == "TRANSPOSE_CONV" else 2
    index = op.inputs[k] if len(op.inputs) > k else -1
    return graph.tensor(index).dtype if index >= 0 else op.options.get("quantized_bias_type")


def int64_accumulators(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The bias is int64 or absent (int64 accumulators, as TFLite's 16x8 kernels have then)."""
    kind = _bias_type(graph, op)
    return kind != "int32", f"its bias is {kind}"


def int32_accumulators(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The bias is int32 (TFLite's quantized_bias_type INT32: its 16x8 kernels then accumulate
    in int32, wrapping, and requantize in 32 bits)."""
    kind = _bias_type(graph, op)
    return kind == "int32", f"its bias is {kind}"


_B64, _B32 = (int64_accumulators,), (int32_accumulators,)
_DOT16_MVE, _DOT16_DSP = ("ek_dot_s16_mve.c", "ek_mve.h"), ("ek_dot_s16_dsp.c", "ek_dsp.h")


def depthwise_s16_window(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The depth multiplier is 1 and the window has at most 511 taps (so that a 16x8 sum of
    taps fits in int32)."""
    _, kh, kw, _ = graph.tensor(op.inputs[1]).shape
    mult = op.options.get("depth_multiplier", 1)
    return mult == 1 and kh * kw <= 511, f"its filter is {kh}x{kw}, depth multiplier {mult}"


def _pair_rows_bytes(graph: Graph, op: Op) -> int:
    """The DSP 1x1 kernel's scratch: a pair of pixels widened to int16, 16 bytes per four of K."""
    return 16 * -(-int(np.prod(graph.tensor(op.inputs[1]).shape[1:])) // 4)


def _pair_window_bytes(graph: Graph, op: Op) -> int:
    """The DSP im2col kernels' scratch: a pair of pixels' windows (with four bytes to spare
    each), and the same widened to int16: 24 bytes per four of K = kh * kw * C_in, and 8."""
    return 24 * -(-int(np.prod(graph.tensor(op.inputs[1]).shape[1:])) // 4) + 8


def _im2col_rows_bytes(graph: Graph, op: Op) -> int:
    """ek_conv2d_im2col_s8_mve's scratch: the windows of as many output rows as make 48 pixels
    where they fit in 4 KiB, else of one row (im2col_bytes); the kernel counts the rows the same
    way from its own (patch's) output width, which is never wider than the layer's."""
    _, kh, kw, cin = graph.tensor(op.inputs[1]).shape
    return max(im2col_bytes(graph, op), min(48 * kh * kw * cin, 4096))


def _window_column_bytes(graph: Graph, op: Op) -> int:
    """A 16x8 im2col kernel's scratch: one output pixel's window, kh * kw * C_in int16."""
    _, kh, kw, cin = graph.tensor(op.inputs[1]).shape
    return 2 * kh * kw * cin


_LSTM_MVE = ("ek_lstm_mve.c", "ek_lstm.c", "ek_mve.h")
_LSTM_DSP = ("ek_lstm_dsp.c", "ek_lstm.c", "ek_dsp.h")
_LSTM_S16 = ("ek_lstm_s16.c", "ek_activation_s16.c")  # TFLite Micro's 16x8 LSTM
_LSTM_MVE16 = ("ek_lstm_s16_mve.c", "ek_mve.h", *_LSTM_S16)
_LSTM_DSP16 = ("ek_lstm_s16_dsp.c", "ek_dsp.h", *_LSTM_S16)


def _lstm_gate_bytes(graph: Graph, op: Op) -> int:
    """The LSTM's four gates of one step: 4 * units int16 values."""
    return 8 * graph.tensor(op.inputs[1]).shape[0]


_LSTM16 = {"scratch_bytes": _lstm_gate_bytes, "dtype": "int16"}


OPS: dict[str, OpKind] = {
    "CONV_2D": OpKind(
        rules=(conv_shapes, *_CONV_COMMON),
        inputs=(2, 3),
        params=(1, 2),
        layers="Conv2D",
        emit=emitters.conv,
        variants=(
            Variant("conv2d_1x1_mve", _CONV_MVE, _MVE, (pointwise,), layout=TILED),
            Variant(
                "conv2d_im2col_mve", _CONV_MVE, _MVE, _UNDILATED, _im2col_rows_bytes, layout=TILED
            ),
            Variant(emitters.DILATED_IM2COL_MVE, _CONV_MVE, _MVE, (), im2col_bytes, layout=TILED),
            Variant("conv2d_1x1_dsp", *_CONV_DSP, (pointwise,), _pair_rows_bytes, layout=_PAIRS),
            Variant("conv2d_im2col_dsp", *_CONV_DSP, _UNDILATED, _pair_window_bytes, layout=_PAIRS),
            Variant(emitters.DILATED_IM2COL_DSP, *_CONV_DSP, (), _pair_window_bytes, layout=_PAIRS),
            Variant("conv2d_ref", ("ek_conv2d.c",), rules=_UNDILATED),
            Variant(emitters.DILATED_CONV, ("ek_conv2d.c",)),
            Variant("conv2d_1x1_mve", _DOT16_MVE, _MVE, (pointwise, *_B64), dtype=_DT16),
            Variant(
                "conv2d_im2col_mve",
                _DOT16_MVE,
                _MVE,
                (*_UNDILATED, *_B64),
                _window_column_bytes,
                dtype=_DT16,
            ),
            Variant(
                "conv2d_1x1_dsp", _DOT16_DSP, _DSP, (pointwise, *_B64), layout=PAIRS, dtype=_DT16
            ),
            Variant(
                "conv2d_im2col_dsp",
                _DOT16_DSP,
                _DSP,
                (*_UNDILATED, *_B64),
                _window_column_bytes,
                layout=PAIRS,
                dtype=_DT16,
            ),
            Variant("conv2d_ref", ("ek_conv2d_s16.c",), rules=(*_UNDILATED, *_B64), dtype=_DT16),
            Variant(emitters.DILATED_CONV, ("ek_conv2d_s16.c",), rules=_B64, dtype=_DT16),
            Variant(
                "conv2d_b32_ref", ("ek_conv2d_s16.c",), rules=(*_UNDILATED, *_B32), dtype=_DT16
            ),
            Variant(emitters.DILATED_CONV_B32, ("ek_conv2d_s16.c",), dtype=_DT16),
        ),
        dtypes=("int16",),
    ),
    "DEPTHWISE_CONV_2D": OpKind(
        rules=(depthwise_shapes, *_CONV_COMMON),
        inputs=(2, 3),
        params=(1, 2),
        layers="DepthwiseConv2D",
        emit=emitters.depthwise_conv,
        variants=(
            Variant(
                "depthwise_conv2d_3x3_mve",
                _DEPTHWISE_MVE,
                _MVE,
                (depthwise_3x3, undilated, weights_symmetric),
                in_place=depthwise_in_place,
                layout=LANES16,
            ),
            Variant(
                "depthwise_conv2d_3x3_dsp",
                _DEPTHWISE_DSP,
                _DSP,
                (depthwise_3x3, undilated, depthwise_dsp_bias),
                depthwise_rows_bytes,
                in_place=depthwise_in_place,
                layout=BLOCKED,
            ),
            Variant(
                "depthwise_conv2d_dsp",
                ("ek_depthwise_conv2d_dsp.c", "ek_dsp.h"),
                _DSP,
                (depthwise_dsp_window, undilated, depthwise_dsp_bias),
                depthwise_window_bytes,
                in_place=depthwise_in_place,
                layout=WINDOW,
            ),
            Variant(
                "depthwise_conv2d_ref",
                ("ek_depthwise_conv2d.c",),
                rules=_UNDILATED,
                in_place=depthwise_in_place,
            ),
            Variant(
                emitters.DILATED_DEPTHWISE_CONV,
                ("ek_depthwise_conv2d.c",),
                in_place=depthwise_in_place,
            ),
            # never in place: depthwise_in_place counts one byte per element
            Variant(
                "depthwise_conv2d_mve",
                ("ek_depthwise_conv2d_s16_mve.c", "ek_mve.h"),
                _MVE,
                (depthwise_s16_window, undilated),
                dtype=_DT16,
            ),
            Variant(
                "depthwise_conv2d_dsp",
                ("ek_depthwise_conv2d_s16_dsp.c", "ek_dsp.h"),
                _DSP,
                (depthwise_s16_window, undilated),
                dtype=_DT16,
            ),
            Variant(
                "depthwise_conv2d_ref",
                ("ek_depthwise_conv2d_s16.c",),
                rules=_UNDILATED,
                dtype=_DT16,
            ),
            Variant(emitters.DILATED_DEPTHWISE_CONV, ("ek_depthwise_conv2d_s16.c",), dtype=_DT16),
        ),
        dtypes=("int16",),
    ),
    "ADD": OpKind(
        rules=(broadcast_shapes, fused_activation, int16_general_add),
        inputs=(2, 2),
        layers="Add",
        emit=emitters.add,
        variants=(
            Variant("add_mve", ("ek_add_mve.c", "ek_mve.h"), _MVE, _SAME, in_place=_ELEMENTWISE),
            Variant("add_dsp", ("ek_add_dsp.c", "ek_dsp.h"), _DSP, _SAME, in_place=_ELEMENTWISE),
            Variant("add_channels_mve", _BINARY_MVE, _MVE, _CHANNELS, in_place=_ELEMENTWISE),
            Variant("add_channels_dsp", _BINARY_DSP, _DSP, _CHANNELS, in_place=_ELEMENTWISE),
            Variant(emitters.BROADCAST_ADD, _BINARY, in_place=_ELEMENTWISE, dtype=_DT16),
            Variant("add_ref", ("ek_add.c",), rules=_SAME, in_place=_ELEMENTWISE),
            Variant(emitters.BROADCAST_ADD, _BINARY, in_place=_ELEMENTWISE),
        ),
        dtypes=_INT16,
    ),
    "SUB": OpKind(
        rules=(broadcast_shapes, fused_activation, int16_general_add),
        inputs=(2, 2),
        layers="Subtract",
        emit=emitters.binary,
        variants=(
            Variant("sub_ref", _BINARY, in_place=_ELEMENTWISE, dtype=_DT16),
            Variant("sub_ref", _BINARY, in_place=_ELEMENTWISE),
        ),
        dtypes=_INT16,
    ),
    "MUL": OpKind(
        rules=(broadcast_shapes, fused_activation),
        inputs=(2, 2),
        layers="Multiply",
        emit=emitters.binary,
        variants=(
            Variant("mul_channels_mve", _BINARY_MVE, _MVE, _CHANNELS, in_place=_ELEMENTWISE),
            Variant("mul_channels_dsp", _BINARY_DSP, _DSP, _CHANNELS, in_place=_ELEMENTWISE),
            Variant("mul_ref", _BINARY, in_place=_ELEMENTWISE, dtype=_DT16),
            Variant("mul_ref", _BINARY, in_place=_ELEMENTWISE),
        ),
        dtypes=_INT16,
    ),
    "SQUARED_DIFFERENCE": OpKind(
        rules=(broadcast_shapes, squared_difference_scale),
        inputs=(2, 2),
        layers="keras.ops.square(a - b)",
        emit=emitters.binary,
        variants=(Variant("squared_difference_ref", _BINARY, in_place=_ELEMENTWISE),),
    ),
    "MAXIMUM": OpKind(
        rules=(broadcast_shapes, inputs_same_quantization),
        inputs=(2, 2),
        layers="Maximum",
        emit=emitters.binary,
        variants=(Variant("maximum_ref", _BINARY, in_place=_ELEMENTWISE),),
    ),
    "MINIMUM": OpKind(
        rules=(broadcast_shapes, inputs_same_quantization),
        inputs=(2, 2),
        layers="Minimum",
        emit=emitters.binary,
        variants=(Variant("minimum_ref", _BINARY, in_place=_ELEMENTWISE),),
    ),
    "MEAN": OpKind(
        rules=(reduce_axes,),
        inputs=(2, 2),
        params=(1,),
        layers="GlobalAveragePooling2D, keras.ops.mean",
        emit=emitters.mean,
        variants=(
            Variant("mean_hw_mve", ("ek_mean_mve.c", "ek_mve.h"), _MVE, _SPATIAL),
            Variant("mean_hw_dsp", ("ek_mean_dsp.c", "ek_dsp.h"), _DSP, _SPATIAL),
            Variant("reduce_mean_ref", ("ek_reduce_s16.c",), dtype=_DT16),
            Variant("mean_hw_ref", ("ek_mean.c",), rules=_SPATIAL),
            Variant("reduce_mean_ref", ("ek_reduce.c",)),
        ),
        dtypes=_INT16,
    ),
    "SUM": OpKind(
        rules=(reduce_axes,),
        inputs=(2, 2),
        params=(1,),
        layers="keras.ops.sum",
        emit=emitters.reduce,
        variants=(Variant("reduce_sum_ref", ("ek_reduce.c",)),),
    ),
    "REDUCE_MAX": OpKind(
        rules=(reduce_axes, same_quantization),
        inputs=(2, 2),
        params=(1,),
        layers="keras.ops.max, GlobalMaxPooling2D",
        emit=emitters.reduce,
        variants=(Variant("reduce_max_ref", ("ek_reduce.c",)),),
    ),
    "ARG_MAX": OpKind(
        rules=(arg_max_axis,),
        inputs=(2, 2),
        params=(1,),
        layers="tf.math.argmax (keras.ops.argmax converts to ops the c backend lacks)",
        emit=emitters.arg_max,
        variants=(Variant("arg_max_ref", ("ek_arg_max.c",)),),
        dtypes=("int32", "int64"),
    ),
    "PRELU": OpKind(
        rules=(prelu_alpha,),
        inputs=(2, 2),
        params=(1,),
        layers="PReLU",
        emit=emitters.prelu,
        variants=(Variant("prelu_ref", ("ek_prelu.c",), in_place=_ELEMENTWISE),),
    ),
    "BATCH_MATMUL": OpKind(
        rules=(batch_matmul_shapes,),
        inputs=(2, 2),
        layers="keras.ops.matmul of two computed tensors (Dense converts to FULLY_CONNECTED)",
        emit=emitters.batch_matmul,
        variants=(Variant("batch_matmul_ref", ("ek_batch_matmul.c",)),),
    ),
    "DEQUANTIZE": OpKind(
        rules=(float_conversion, elementwise_shape),
        inputs=(1, 1),
        layers="none: the converter adds it before a float32 output",
        emit=emitters.dequantize,
        variants=(
            Variant("dequantize_ref", ("ek_quantize_s16.c",), dtype=_DT16),
            Variant("dequantize_ref", ("ek_quantize.c",)),
        ),
        dtypes=("float32", "int16"),
    ),
    "AVERAGE_POOL_2D": OpKind(
        rules=(pool_channels, same_quantization, fused_activation, window_geometry),
        inputs=(1, 1),
        layers="AveragePooling2D",
        emit=emitters.avg_pool,
        variants=(
            Variant("avg_pool2d_ref", ("ek_pool_s16.c",), dtype=_DT16),
            Variant("avg_pool2d_mve", ("ek_avg_pool2d_mve.c", "ek_mve.h"), _MVE),
            Variant("avg_pool2d_dsp", ("ek_avg_pool2d_dsp.c", "ek_dsp.h"), _DSP),
            Variant("avg_pool2d_ref", ("ek_avg_pool2d.c",)),
        ),
        dtypes=_INT16,
    ),
    "FULLY_CONNECTED": OpKind(
        rules=(
            fully_connected_shapes,
            default_weights_layout,
            int8_weights,
            int32_bias,
            fused_activation,
        ),
        inputs=(2, 3),
        params=(1, 2),
        layers="Dense",
        emit=emitters.fully_connected,
        variants=(
            Variant(
                "fully_connected_mve",
                ("ek_fully_connected_mve.c", "ek_mve.h"),
                _MVE,
                layout=FC_ROWS4,
            ),
            Variant(
                "fully_connected_dsp",
                ("ek_fully_connected_dsp.c", "ek_dsp.h"),
                _DSP,
                (weights_symmetric,),
                fc_pairs_bytes,
                layout=FC_QUADS,
            ),
            Variant(
                "fully_connected_x2_dsp",
                ("ek_fully_connected_dsp.c", "ek_dsp.h"),
                _DSP,
                layout=FOLDED,
            ),
            Variant("fully_connected_ref", ("ek_fully_connected.c",)),
            Variant("fully_connected_mve", _DOT16_MVE, _MVE, _B64, dtype=_DT16),
            Variant("fully_connected_dsp", _DOT16_DSP, _DSP, _B64, layout=PAIRS, dtype=_DT16),
            Variant("fully_connected_ref", ("ek_fully_connected_s16.c",), rules=_B64, dtype=_DT16),
            Variant("fully_connected_b32_ref", ("ek_fully_connected_s16.c",), dtype=_DT16),
        ),
        dtypes=("int16",),
    ),
    "SOFTMAX": OpKind(
        rules=(softmax_output, softmax_input_scale),
        inputs=(1, 1),
        layers="Softmax",
        emit=emitters.softmax,
        variants=(
            Variant("softmax_ref", ("ek_softmax_s16.c",), dtype=_DT16),
            Variant("softmax_dsp", ("ek_softmax_dsp.c", "ek_dsp.h"), _DSP),
            Variant("softmax_ref", ("ek_softmax.c",)),
        ),
        dtypes=_INT16,
    ),
    "RESHAPE": _alias((1, 2), "Reshape, Flatten"),
    "SQUEEZE": _alias((1, 1), "keras.ops.squeeze, tf.squeeze"),
    "EXPAND_DIMS": _alias((2, 2), "keras.ops.expand_dims, tf.expand_dims"),
    "TRANSPOSE": _copy((transpose_permutation,), (2, 2), (1,), "Permute, keras.ops.transpose"),
    "SLICE": _copy((slice_bounds,), (3, 3), (1, 2), "keras.ops.slice, tf.slice"),
    "STRIDED_SLICE": _copy(
        (strided_slice_bounds,), (4, 4), (1, 2, 3), "x[a:b:s], Cropping1D, Cropping2D"
    ),
    "SPLIT": _copy(
        (split_parts,), (2, 2), (0,), "keras.ops.split into equal parts", outputs=(1, 1 << 16)
    ),
    "SPLIT_V": _copy(
        (split_parts,), (3, 3), (1, 2), "tf.split(x, [sizes], axis)", outputs=(1, 1 << 16)
    ),
    "PACK": _copy((split_parts,), (1, 1 << 16), (), "keras.ops.stack"),
    "UNPACK": _copy((split_parts,), (1, 1), (), "keras.ops.unstack", outputs=(1, 1 << 16)),
    "PAD": OpKind(
        rules=(pad_amounts, same_quantization),
        inputs=(2, 2),
        params=(1,),
        layers="ZeroPadding2D",
        emit=emitters.pad,
        variants=(
            Variant("pad_ref", ("ek_pad.c",), dtype=_DT16),
            Variant("pad_ref", ("ek_pad.c",)),
        ),
        dtypes=_INT16,
    ),
    "MAX_POOL_2D": OpKind(
        rules=(pool_channels, fused_activation, window_geometry),
        inputs=(1, 1),
        layers="MaxPooling2D",
        emit=emitters.max_pool,
        variants=(
            Variant("max_pool2d_mve", ("ek_max_pool2d_mve.c", "ek_mve.h"), _MVE),
            Variant("max_pool2d_dsp", ("ek_max_pool2d_dsp.c", "ek_dsp.h"), _DSP),
            Variant("max_pool2d_ref", ("ek_pool_s16.c",), dtype=_DT16),
            Variant("max_pool2d_ref", ("ek_max_pool2d.c",)),
        ),
        dtypes=_INT16,
    ),
    "CONCATENATION": OpKind(
        rules=(concatenation_shapes, concatenation_quantization, no_fused_activation),
        inputs=(1, 1 << 16),
        layers="Concatenate",
        emit=emitters.concatenation,
        # no copy where the planner puts each input in its place (planner.concatenation_in_place)
        variants=(
            Variant(
                "concatenation_ref",
                ("ek_concatenation.c",),
                in_place=concatenation_in_place,
                dtype=_DT16,
            ),
            Variant("concatenation_ref", ("ek_concatenation.c",), in_place=concatenation_in_place),
        ),
        dtypes=_INT16,
    ),
    "RESIZE_NEAREST_NEIGHBOR": OpKind(
        rules=(resize_shapes,),
        inputs=(2, 2),
        params=(1,),
        layers="Resizing(interpolation='nearest') (UpSampling2D converts to RESHAPE and TILE)",
        emit=emitters.resize_nearest_neighbor,
        variants=(Variant("resize_nearest_neighbor_ref", ("ek_resize_nearest_neighbor.c",)),),
    ),
    "RESIZE_BILINEAR": OpKind(
        rules=(resize_shapes, resize_corners, bilinear_positions),
        inputs=(2, 2),
        params=(1,),
        layers="UpSampling2D(interpolation='bilinear'), Resizing",
        emit=emitters.resize_bilinear,
        variants=(Variant("resize_bilinear_ref", ("ek_resize_bilinear.c",)),),
    ),
    "TRANSPOSE_CONV": OpKind(
        rules=(transpose_conv_shapes, int8_weights, int32_bias, no_fused_activation),
        inputs=(3, 4),
        params=(0, 1, 3),
        layers="Conv2DTranspose",
        emit=emitters.transpose_conv,
        variants=(  # the fast ones gather per output pixel: no accumulators
            Variant("transpose_conv_mve", ("ek_transpose_conv_mve.c", "ek_mve.h"), _MVE),
            Variant("transpose_conv_dsp", ("ek_transpose_conv_dsp.c", "ek_dsp.h"), _DSP),
            Variant("transpose_conv_mve", _DOT16_MVE, _MVE, _B64, dtype=_DT16),
            Variant("transpose_conv_dsp", _DOT16_DSP, _DSP, _B64, layout=PAIRS, dtype=_DT16),
            Variant(
                "transpose_conv_ref", ("ek_transpose_conv.c",), scratch_bytes=_accumulator_bytes
            ),
            Variant(
                "transpose_conv_ref",
                ("ek_transpose_conv_s16.c",),
                rules=_B64,
                scratch_bytes=_accumulator_bytes,
                dtype=_DT16,
            ),
            Variant(
                "transpose_conv_b32_ref",
                ("ek_transpose_conv_s16.c",),
                scratch_bytes=_accumulator_bytes,
                dtype=_DT16,
            ),
        ),
        dtypes=("int16",),
    ),
    # int8 -> int8 element-wise ops: a 256-entry table each (edgekit.compiler.tables)
    "LOGISTIC": _lut(
        (elementwise_shape, logistic_output), "Activation('sigmoid')", int16="logistic_ref"
    ),
    "TANH": _lut((elementwise_shape, tanh_output), "Activation('tanh')", int16="tanh_ref"),
    "HARD_SWISH": _lut((elementwise_shape, hard_swish_scales), "Activation('hard_swish')"),
    "RELU": _lut((elementwise_shape,), "ReLU() where the converter does not fuse it"),
    "RELU6": _lut((elementwise_shape,), "ReLU(max_value=6) where not fused"),
    "RELU_N1_TO_1": _lut((elementwise_shape,), "tf.clip_by_value(x, -1, 1) where not fused"),
    "LEAKY_RELU": _lut((elementwise_shape,), "LeakyReLU", int16="leaky_relu_ref"),
    "QUANTIZE": OpKind(
        rules=(float_conversion, elementwise_shape),
        inputs=(1, 1),
        layers="none: the converter adds it to rescale (int8, int16) and after a float32 input",
        emit=emitters.quantize,
        variants=(
            Variant("lut_mve", _LUT_MVE, _MVE, (int8_to_int8,), in_place=_ELEMENTWISE),
            Variant("lut_dsp", _LUT_DSP, _DSP, (int8_to_int8,), in_place=_ELEMENTWISE),
            Variant("lut_ref", ("ek_lut.c",), rules=(int8_to_int8,), in_place=_ELEMENTWISE),
            # between integer types: from int16 (any), from int8 (to int16 or int32)
            Variant(emitters.REQUANTIZE, _REQUANTIZE, in_place=_ELEMENTWISE, dtype=_DT16),
            Variant(emitters.REQUANTIZE, _REQUANTIZE, rules=(integer_input,)),
            Variant("quantize_float_ref", ("ek_quantize.c",), rules=(int8_output,)),
            Variant("quantize_float16_ref", _REQUANTIZE),  # float32 -> int16
        ),
        dtypes=("float32", "int16", "int32"),
        mixed=True,
    ),
    # recurrent: int8 frames in and out, an int16 state kept between runs (a variable tensor)
    "SVDF": OpKind(
        rules=(svdf_shapes, svdf_types, svdf_activation),
        inputs=(3, 5),  # the bias (input 3) may be absent; svdf_shapes asks for the state
        params=(1, 2, 3),
        layers="none: Keras has no SVDF layer (TFLite Micro's streaming keyword models)",
        emit=recurrent.svdf,
        variants=(  # the feature product and time sums vectorized, the input offset folded
            Variant("svdf_mve", ("ek_svdf_mve.c", "ek_mve.h"), _MVE),
            Variant("svdf_dsp", ("ek_svdf_dsp.c", "ek_dsp.h"), _DSP),
            Variant("svdf_ref", ("ek_svdf.c",)),
        ),
        dtypes=("int16",),
        mixed=True,
    ),
    # int8 steps in and out (TFLite's 8x8_16), or int16 (TFLite Micro's 16x8); the output
    # state and the int16 cell state kept between runs
    "UNIDIRECTIONAL_SEQUENCE_LSTM": OpKind(
        rules=(lstm_shapes, lstm_types, lstm_activation),
        inputs=(1, 24),  # optional ones absent; lstm_shapes asks for all 24 positions
        params=(*range(1, 18), 20, 21, 22, 23),  # weights, biases and the absent ones
        layers="LSTM (written by edgekit.quantization.recurrent: the converter loops instead)",
        emit=recurrent.lstm,
        variants=(  # the fast ones differ in their gate products only (ek_lstm_steps_s8, _s16)
            Variant("lstm_mve", _LSTM_MVE, _MVE, scratch_bytes=_lstm_gate_bytes),
            Variant("lstm_mve", _LSTM_MVE16, _MVE, **_LSTM16),
            Variant("lstm_dsp", _LSTM_DSP, _DSP, scratch_bytes=_lstm_gate_bytes),
            Variant("lstm_dsp", _LSTM_DSP16, _DSP, **_LSTM16),
            Variant("lstm_ref", ("ek_lstm.c",), scratch_bytes=_lstm_gate_bytes),
            Variant("lstm_ref", _LSTM_S16, **_LSTM16),
        ),
        dtypes=("int16",),
        mixed=True,
    ),
}


# float32 models (the float reference on the board): each kind's float32 reference kernel,
# after its int8 and 16x8 ones, and its rules with those about quantization replaced. One table
# in edgekit.compiler.floats keeps the float set in one place, beside its emitters.
for _name, _variant in floats.KERNELS.items():
    _kind = OPS[_name]
    OPS[_name] = replace(
        _kind,
        variants=_kind.variants + ((_variant,) if _variant else ()),
        dtypes=(*_kind.dtypes, "float32"),
        float_rules=floats.float_rules(_kind.rules),
    )


# ---------------------------------------------------------------- rules for every operator


def _activations(graph: Graph, op: Op) -> Iterator[Tensor]:
    """The op's data inputs (not weights, bias, axes, paddings or a shape, which their own
    rules check) and its outputs."""
    params = OPS[op.kind].params
    for k, index in enumerate(op.inputs):
        if index >= 0 and k not in params:
            yield graph.tensors[index]
    for index in op.outputs:
        yield graph.tensors[index]


def supported_kind(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The operator is {kinds}.

    Replace the layer with one that converts to a supported operator (see docs/supported-ops.md).
    """
    return op.kind in OPS, f"the c backend has no {op.kind} kernel"


# The list of kinds lives in the registry; the rule's docstring states it.
supported_kind.__doc__ = supported_kind.__doc__.format(
    kinds=", ".join(list(OPS)[:-1]) + " or " + list(OPS)[-1]
)


def operand_count(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The operator has the inputs and outputs TFLite defines for it (one output, several for
    SPLIT, SPLIT_V and UNPACK).

    Re-export the model with the TFLite converter.
    """
    low, high = OPS[op.kind].inputs
    present = all(i >= 0 for i in op.inputs[:low])
    fewest, most = OPS[op.kind].outputs
    ok = low <= len(op.inputs) <= high and present and fewest <= len(op.outputs) <= most
    return ok, f"it has {len(op.inputs)} inputs and {len(op.outputs)} outputs"


def activation_types(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Activations are int8 with one positive scale and one zero point in [-128, 127] per
    tensor, or for 16x8 operators int16 with one positive scale and zero point 0; an op's
    int8 and int16 activations are of one type, but for QUANTIZE and the recurrent ops, which
    mix them (ARG_MAX's indices and the float32 side of QUANTIZE and DEQUANTIZE aside); or, in
    a float model, float32 throughout the op for the operators with float32 kernels.

    Quantize with the TFLite converter's full-integer int8 scheme (as 'edgekit quantize' does),
    or 16x8 with --precision int16x8.
    """
    kind, types, real = OPS[op.kind], set(), False
    for t in _activations(graph, op):
        quantized = t.dtype == "int8" or (t.dtype == "int16" and "int16" in kind.dtypes)
        if not quantized:
            if t.dtype in kind.dtypes:  # the op's own rules check its other types
                real = real or t.dtype == "float32"
                continue
            return False, f"tensor '{short_name(t.name)}' is {t.dtype}"
        types.add(t.dtype)
        q = t.quant
        if q is None or not q.per_tensor or q.zero_point.size != 1:
            return False, f"tensor '{short_name(t.name)}' has no single scale and zero point"
        low, high = (-128, 127) if t.dtype == "int8" else (0, 0)
        scale, zero_point = q.scale[0], q.zero_point[0]
        if not (np.isfinite(scale) and scale > 0 and low <= zero_point <= high):
            return False, f"tensor '{short_name(t.name)}' ({t.dtype}) has {quant_text(t)}"
    if len(types) > 1 and not kind.mixed:
        return False, "its activations mix int8 and int16"
    if real and types and op.kind not in ("QUANTIZE", "DEQUANTIZE"):
        return False, f"its activations mix float32 and {min(types)}"
    return True, ""


def static_batch_one(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Activation shapes are static apart from the batch, which is 1 (the first dimension).

    A batch of -1 in the shape signature runs as batch 1, as in TFLite Micro; other unknown
    sizes do not: convert with fixed input sizes, keras.Input((H, W, C)).
    """
    for t in _activations(graph, op):
        if t.data is not None:
            continue
        if t.dynamic:
            return False, f"tensor '{short_name(t.name)}' has a dynamic shape"
        if len(t.shape) > 1 and t.shape[0] != 1:  # a rank-1 tensor has no batch
            return False, f"tensor '{short_name(t.name)}' has batch {t.shape[0]}"
    return True, ""


GENERIC_RULES: tuple[Rule, ...] = (
    supported_kind,
    operand_count,
    activation_types,
    static_batch_one,
)


def rules_for(kind: str, dtype: str = "int8") -> tuple[Rule, ...]:
    """Every rule an op of ``kind`` is checked against, in order; ``dtype`` "float32" for an
    op that computes in float32, which meets its kind's float rules."""
    entry = OPS.get(kind)
    own = () if entry is None else entry.rules
    if entry is not None and dtype == "float32" and entry.float_rules is not None:
        own = entry.float_rules
    return GENERIC_RULES + own


# ---------------------------------------------------------------- checking a graph


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one op. ``message`` is the constraint when ok, else the full
    one-line error: which op, which layer, what it has, the constraint and what to change."""

    op_index: int
    op_kind: str
    layer: str
    ok: bool
    message: str
    rule: str


def check_op(graph: Graph, op: Op, target: Target) -> list[Finding]:
    """The op's findings, rule by rule, up to and including its first failure."""
    layer = graph.layer_name(op)
    findings = []
    dtype = "float32" if computes_float(graph, op) else "int8"
    for rule in rules_for(op.kind, dtype):
        ok, detail = rule(graph, op, target)
        constraint, fix = rule_doc(rule)
        message = constraint
        if not ok:
            message = (
                f"{op.kind} '{layer}' (op {op.index}) cannot run on {target.name}: "
                f"{detail}. {constraint} {fix}"
            )
        findings.append(Finding(op.index, op.kind, layer, ok, message, rule.__name__))
        if not ok:
            break
    return findings


def check_graph(graph: Graph, target: Target) -> list[Finding]:
    """Every op checked against its rules for ``target``, in execution order."""
    return [finding for op in graph.ops for finding in check_op(graph, op, target)]


def require_supported(graph: Graph, target: Target) -> None:
    """Stop with a one-line EdgekitError at the first op the c backend cannot run on ``target``."""
    failures = [f for f in check_graph(graph, target) if not f.ok]
    if failures:
        more = len(failures) - 1
        suffix = f" ({more} more op{'s' if more > 1 else ''} fail too; see {DOCS})" if more else ""
        raise EdgekitError(failures[0].message + suffix)


# ---------------------------------------------------------------- kernels


def select_kernels(graph: Graph, target: Target, mode: str = "auto") -> dict[int, Choice]:
    """One variant per op that has kernels (RESHAPE, SQUEEZE and EXPAND_DIMS have none: they are
    aliases), keyed by op index: the best that ``target`` runs, or with ``mode`` ``ref`` the
    reference one. Ops must have passed ``require_supported``."""
    if mode not in MODES:
        raise EdgekitError(f"--kernels must be one of {', '.join(MODES)}, got {mode!r}")
    return {
        op.index: pick_variant(_variants(op), graph, op, target, mode)
        for op in graph.ops
        if _variants(op)
    }


def reference_kernels(graph: Graph) -> dict[int, Choice]:
    """The reference variant of every op that has kernels (any target: they are plain C99):
    the first that accepts the op (ADD has one for equal shapes, one that broadcasts)."""
    return {op.index: Choice(_reference(graph, op)) for op in graph.ops if _variants(op)}


def _reference(graph: Graph, op: Op) -> Variant:
    refs = [v for v in _variants(op) if v.reference]
    return next((v for v in refs[:-1] if v.accepts(graph, op, None)[0]), refs[-1])


def _variants(op: Op) -> tuple[Variant, ...]:
    kind = OPS.get(op.kind)
    return kind.variants if kind else ()


def plan_inputs(graph: Graph, choices: Mapping[int, Choice]):
    """(in-place rules, scratch bytes) per op index, as ``planner.plan_memory`` takes them: each
    op's chosen variant's, or its kind's for an op without kernels."""
    rules = {
        op.index: choices[op.index].variant.in_place if op.index in choices else kind.in_place
        for op in graph.ops
        if (kind := OPS.get(op.kind)) is not None
    }
    scratch = {i: c.variant.scratch_bytes(graph, graph.ops[i]) for i, c in choices.items()}
    return rules, {i: n for i, n in scratch.items() if n > 0}


# ---------------------------------------------------------------- the generated document


def supported_ops_markdown() -> str:
    """docs/supported-ops.md, written from the registry and the rules' docstrings."""
    lines = [
        "# Operators the c backend supports",
        "",
        "<!-- Generated from edgekit/compiler/ops.py by `python -m edgekit.compiler.ops > "
        f"{DOCS}`; do not edit. -->",
        "",
        "Before any code is generated, every operator of the quantized `.tflite` (int8, 16x8 or",
        "mixed) is checked against the rules below. The first operator that breaks one stops the",
        "build with a one-line error naming the operator, its layer, what it has, the rule and",
        "what to change.",
        "",
        "## Every operator",
        "",
        *(f"- {rule_doc(rule)[0]}" for rule in GENERIC_RULES),
        "",
        "## Operators",
        "",
        "| Operator | Keras layers |",
        "|---|---|",
        *(f"| [{name}](#{name.lower()}) | {kind.layers} |" for name, kind in OPS.items()),
    ]
    for name, kind in OPS.items():
        lines += ["", f"### {name}", "", *(f"- {rule_doc(rule)[0]}" for rule in kind.rules)]
    floats = [name for name, kind in OPS.items() if kind.float_rules is not None]
    lines += [
        "",
        "## Float32 models",
        "",
        "A float `.tflite` (the plain converter's, no quantization) compiles too, for the float",
        "reference's figures on the board: float32 throughout, its operators run float32",
        "reference kernels. These operators have them, and a float one meets its rules above",
        "but those about quantization:",
        "",
        ", ".join(floats) + ".",
    ]
    lines += [
        "",
        "## Kernel variants",
        "",
        "Each supported operator runs one of these kernels, picked per layer: the first one in",
        "its list that computes in the layer's type (int8, or 16x8: int16 activations and int8",
        "weights), that the target has the features for (`features` in the target file) and",
        "whose constraints the layer meets; the reference kernel of its type, last, runs every",
        "layer. Each computes the same bytes as the reference kernel. `--kernels ref` picks",
        "the reference kernels only.",
    ]
    for name, kind in OPS.items():
        if not kind.variants:
            continue
        lines += [
            "",
            f"### {name} kernels",
            "",
            "| Variant | Computes in | Needs | Constraints |",
            "|---|---|---|---|",
        ]
        for v in kind.variants:
            needs = ", ".join(v.features) or "any C99 target"
            rules = " ".join(rule_doc(rule)[0] for rule in v.rules) or "none"
            computes = {"int16": "16x8"}.get(v.dtype, v.dtype)
            lines.append(f"| `{v.name}` | {computes} | {needs} | {rules} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(supported_ops_markdown(), end="")
