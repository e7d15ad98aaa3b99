"""The float32 operators: the rules a float op meets and the emitters of its reference kernels.

A float ``.tflite`` (what the plain converter makes of a Keras model, no quantization) compiles
to C like an int8 one, so that a microcontroller build reports int8 against float32
instructions, arena and flash on the same board. Its ops run the ``*_f32_ref`` kernels
(``kernels/ek_*_f32.c``): TFLite's reference float arithmetic in plain loops, the float
reference's figures, not tuned. The registry (``edgekit.compiler.ops``) lists them after each
kind's int8 and 16x8 variants, with ``dtype="float32"``, and names here, per kind, the rules
a float op meets in place of the int8 ones (which check quantization a float op has none of)
and the emitters of the kernels whose parameters are floats (activation bounds, beta, the pad
value); the data-movement ops keep their kinds' emitters, which write any element type.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from edgekit.compiler.emitters import Emit, Emitter, c_float
from edgekit.compiler.ir import Graph, Op, padding_amounts, short_name, window
from edgekit.compiler.layouts import Array
from edgekit.compiler.oprules import (
    Rule,
    _moved_inputs,
    concatenation_quantization,
    hard_swish_scales,
    inputs_same_quantization,
    int8_weights,
    int16_general_add,
    int32_bias,
    logistic_output,
    moved_quantization,
    reduced_axes,
    same_quantization,
    softmax_input_scale,
    softmax_output,
    squared_difference_scale,
    tanh_output,
)
from edgekit.compiler.planner import concatenation_in_place, elementwise_in_place
from edgekit.compiler.variants import Variant

if TYPE_CHECKING:
    from edgekit.platforms.targets import Target

F32_MAX = float(np.finfo(np.float32).max)
# a fused activation's bounds, as TFLite's CalculateActivationRange gives them for float
ACTIVATION_RANGE = {
    "NONE": (-F32_MAX, F32_MAX),
    "RELU": (0.0, F32_MAX),
    "RELU6": (0.0, 6.0),
    "RELU_N1_TO_1": (-1.0, 1.0),
}
# the element-wise ops' own bounds (ek_clamp_f32_ref)
CLAMP_RANGE = {"RELU": ACTIVATION_RANGE["RELU"], "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


# ---------------------------------------------------------------- rules


def float_weights(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """A float32 layer's weights are constant float32 and its bias absent or a constant float32
    vector of one value per output channel.

    Convert the float model without quantization (a dynamic-range model's int8 weights under
    float activations are not supported: quantize it fully with 'edgekit quantize').
    """
    weights, k = graph.tensor(op.inputs[1]), _bias_input(op)
    if weights.data is None or weights.dtype != "float32":
        kind = "computed" if weights.data is None else weights.dtype
        return False, f"its weights are {kind}"
    if len(op.inputs) > k and op.inputs[k] >= 0:
        bias, channels = graph.tensor(op.inputs[k]), graph.tensor(op.outputs[0]).shape[-1]
        if bias.data is None or bias.dtype != "float32" or bias.size != channels:
            return False, f"its bias is {bias.dtype} {list(bias.shape)}"
    return True, ""


def _bias_input(op: Op) -> int:
    """Where the bias is among the op's inputs (TRANSPOSE_CONV's output shape comes first)."""
    return 3 if op.kind == "TRANSPOSE_CONV" else 2


def float_softmax_shape(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Softmax runs over the last axis and the output has the input's shape.

    Apply Softmax along the last axis.
    """
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return x.shape == y.shape and len(y.shape) >= 1, f"its output is {list(y.shape)}"


def computed_inputs(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Every input it moves is computed (not a constant).

    Let the converter fold operations on constants into the model's weights.
    """
    for t in _moved_inputs(graph, op):
        if t.data is not None:
            return False, f"input '{short_name(t.name)}' is a constant"
    return True, ""


# the int8 rules a float op does not meet, each with the float rule in its place (or none):
# those about quantization, which a float op has none of
REPLACED: dict[Rule, Rule | None] = {
    int8_weights: float_weights,
    int32_bias: None,
    softmax_output: float_softmax_shape,
    softmax_input_scale: None,
    same_quantization: None,
    moved_quantization: computed_inputs,
    concatenation_quantization: None,
    logistic_output: None,
    tanh_output: None,
    hard_swish_scales: None,
    int16_general_add: None,
    inputs_same_quantization: None,
    squared_difference_scale: None,
}


def float_rules(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
    """A kind's rules for its float32 ops: its int8 ones, those about quantization replaced."""
    kept = (REPLACED.get(rule, rule) for rule in rules)
    return tuple(dict.fromkeys(rule for rule in kept if rule is not None))


# ---------------------------------------------------------------- emitters


def _range(low: float, high: float) -> str:
    return f"{{{c_float(low)}, {c_float(high)}}}"


def _activation(op: Op) -> str:
    return _range(*ACTIVATION_RANGE[op.options.get("activation", "NONE")])


def _io(ctx: Emit, op: Op, k: int = 0) -> tuple[str, str]:
    return ctx.pointer(op.inputs[k], True, "float"), ctx.pointer(op.outputs[0], ctype="float")


def _call(ctx: Emit, op: Op, ctype: str, fields: dict[str, object], *arrays: str) -> None:
    """The op's parameter struct and its call: (params, input, arrays..., output)."""
    params = ctx.struct(ctype, f"{ctx.prefix}_op{op.index}_params", fields)
    src, dst = _io(ctx, op)
    ctx.calls.append(ctx.call(op, f"&{params}", src, *arrays, dst))


def _weights(ctx: Emit, op: Op) -> tuple[str, str]:
    """The weights and bias (NULL where absent) as float arrays in weights.c, as stored."""
    weights = ctx.array(op, Array("float", "in1", ctx.graph.constant(op.inputs[1])))
    bias, k = None, _bias_input(op)
    if len(op.inputs) > k and op.inputs[k] >= 0:
        bias = Array("float", f"in{k}", ctx.graph.constant(op.inputs[k]))
    return weights, ctx.array(op, bias)


def conv(ctx: Emit, op: Op) -> None:
    """CONV_2D and DEPTHWISE_CONV_2D (its depth multiplier), dilated or not."""
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    kh, kw, sh, sw, top, left = window(ctx.graph, op)
    (_, in_h, in_w, in_c), (_, out_h, out_w, out_c) = src.shape, out.shape
    fields = {
        "input_h": in_h, "input_w": in_w, "input_c": in_c,
        "output_h": out_h, "output_w": out_w, "output_c": out_c,
        "filter_h": kh, "filter_w": kw, "stride_h": sh, "stride_w": sw,
        "dilation_h": op.options.get("dilation_h", 1),
        "dilation_w": op.options.get("dilation_w", 1),
        "pad_top": top, "pad_left": left,
        "depth_multiplier": out_c // in_c,
        "act": _activation(op),
    }  # fmt: skip
    _call(ctx, op, "ek_conv_f32_params", fields, *_weights(ctx, op))


def fully_connected(ctx: Emit, op: Op) -> None:
    src = ctx.tensor(op.inputs[0])
    depth_out, depth_in = ctx.tensor(op.inputs[1]).shape
    fields = {
        "batches": src.size // depth_in,
        "input_depth": depth_in,
        "output_depth": depth_out,
        "act": _activation(op),
    }
    _call(ctx, op, "ek_fully_connected_f32_params", fields, *_weights(ctx, op))


def transpose_conv(ctx: Emit, op: Op) -> None:
    """TRANSPOSE_CONV: the int8 kernel's geometry (its padding from the output's size), float
    weights and bias."""
    filt, src, out = (ctx.tensor(i) for i in (op.inputs[1], op.inputs[2], op.outputs[0]))
    o, (out_c, kh, kw, in_c) = op.options, filt.shape
    (_, in_h, in_w, _), (_, out_h, out_w, _) = src.shape, out.shape
    fields = {
        "input_h": in_h, "input_w": in_w, "input_c": in_c,
        "output_h": out_h, "output_w": out_w, "output_c": out_c,
        "filter_h": kh, "filter_w": kw, "stride_h": o["stride_h"], "stride_w": o["stride_w"],
        "pad_top": padding_amounts(out_h, kh, o["stride_h"], 1, o["padding"])[0],
        "pad_left": padding_amounts(out_w, kw, o["stride_w"], 1, o["padding"])[0],
        "input_offset": 0, "output_offset": 0,
    }  # fmt: skip
    params = ctx.struct("ek_transpose_conv_params", f"{ctx.prefix}_op{op.index}_params", fields)
    src_at, dst = _io(ctx, op, 2)
    ctx.calls.append(ctx.call(op, f"&{params}", src_at, *_weights(ctx, op), dst))


RANK = 6  # EK_F32_RANK


def binary(ctx: Emit, op: Op) -> None:
    """ADD, SUB, MUL, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE: each input read through its strides
    (0 along the axes it is broadcast on); a constant input goes into weights.c."""
    out = ctx.tensor(op.outputs[0])
    dims = (1,) * (RANK - len(out.shape)) + tuple(out.shape)
    fields: dict[str, object] = {"dims": list(dims)}
    for k, index in enumerate(op.inputs[:2], start=1):
        t = ctx.tensor(index)
        shape = (1,) * (RANK - len(t.shape)) + tuple(t.shape)
        fields[f"strides{k}"] = [
            0 if n < o else math.prod(shape[d + 1 :])
            for d, (n, o) in enumerate(zip(shape, dims, strict=True))
        ]
    fields["act"] = _activation(op)
    params = ctx.struct("ek_binary_f32_params", f"{ctx.prefix}_op{op.index}_params", fields)
    dst = ctx.pointer(op.outputs[0], ctype="float")
    ctx.calls.append(ctx.call(op, f"&{params}", ctx.operand(op, 0), ctx.operand(op, 1), dst))


def pool(ctx: Emit, op: Op) -> None:
    """AVERAGE_POOL_2D and MAX_POOL_2D."""
    (_, in_h, in_w, c), (_, out_h, out_w, _) = (
        ctx.tensor(i).shape for i in (*op.inputs, *op.outputs)
    )
    kh, kw, sh, sw, top, left = window(ctx.graph, op)
    fields = {
        "input_h": in_h, "input_w": in_w, "channels": c, "output_h": out_h, "output_w": out_w,
        "filter_h": kh, "filter_w": kw, "stride_h": sh, "stride_w": sw,
        "pad_top": top, "pad_left": left, "act": _activation(op),
    }  # fmt: skip
    _call(ctx, op, "ek_pool_f32_params", fields)


def reduce(ctx: Emit, op: Op) -> None:
    """MEAN, SUM and REDUCE_MAX over any axes: the input's axes with neighbours of one kind
    merged (unit axes dropped), as four kept and four reduced ones (ek_reduce_params')."""
    src = ctx.tensor(op.inputs[0])
    axes = reduced_axes(ctx.graph, op)
    merged: list[tuple[bool, int, int]] = []  # (reduced, size, stride), outermost first
    for d, n in enumerate(src.shape):
        if n == 1:
            continue
        if merged and merged[-1][0] == (d in axes):
            n *= merged.pop()[1]
        merged.append((d in axes, n, math.prod(src.shape[d + 1 :])))
    fields: dict[str, object] = {}
    for reduced, name in ((False, "outer"), (True, "inner")):
        sizes = [(1, 0)] * 4 + [(n, s) for r, n, s in merged if r == reduced]
        fields[name] = [n for n, _ in sizes[-4:]]
        fields[f"{name}_strides"] = [s for _, s in sizes[-4:]]
    fields["count"] = math.prod(src.shape[d] for d in axes)
    _call(ctx, op, "ek_reduce_f32_params", fields)


def unary(ctx: Emit, op: Op) -> None:
    """RELU, RELU6, RELU_N1_TO_1 (a clamp), LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU (alpha)."""
    low, high = CLAMP_RANGE.get(op.kind, ACTIVATION_RANGE["NONE"])
    fields = {
        "size": ctx.tensor(op.outputs[0]).size,
        "act": _range(low, high),
        "alpha": c_float(op.options.get("alpha", 0.0)),
    }
    _call(ctx, op, "ek_unary_f32_params", fields)


def softmax(ctx: Emit, op: Op) -> None:
    src = ctx.tensor(op.inputs[0])
    depth = src.shape[-1]
    fields = {"rows": src.size // depth, "depth": depth, "beta": c_float(op.options["beta"])}
    _call(ctx, op, "ek_softmax_f32_params", fields)


def pad(ctx: Emit, op: Op) -> None:
    """PAD (with 0.0) and PADV2 (with its constant value), up to 4-D."""
    src = ctx.tensor(op.inputs[0])
    pads = np.asarray(ctx.graph.constant(op.inputs[1])).reshape(-1, 2)
    pads = np.vstack([np.zeros((4 - len(pads), 2), np.int64), pads])
    value = 0.0
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = float(np.asarray(ctx.graph.constant(op.inputs[2])).ravel()[0])
    fields = {
        "input_dims": [1] * (4 - len(src.shape)) + list(src.shape),
        "before": pads[:, 0].tolist(),
        "after": pads[:, 1].tolist(),
        "pad_value": c_float(value),
    }
    _call(ctx, op, "ek_pad_f32_params", fields)


# ---------------------------------------------------------------- the kernels, per op kind


def _ref(name: str, source: str, emit: Emitter | None = None, in_place=None) -> Variant:
    """A float32 reference variant (``ek_<name>`` with ``_f32`` before ``_ref``); ``emit`` None
    keeps the kind's emitter (the data-movement ops', which write any element type)."""
    return Variant(name, (source,), in_place=in_place, dtype="float32", emit=emit)


_CONV, _COPY, _UNARY = "ek_conv2d_f32.c", "ek_copy_f32.c", "ek_activation_f32.c"
_EW = elementwise_in_place


def _binary(name: str) -> Variant:
    return _ref(name, "ek_binary_f32.c", binary, _EW)


def _unary(name: str) -> Variant:
    return _ref(name, _UNARY, unary, _EW)


def _reduce(name: str) -> Variant:
    return _ref(name, "ek_reduce_f32.c", reduce)


_STRIDED = _ref("strided_copy_ref", _COPY)
# each kind's float32 kernel; None for the aliases (RESHAPE, SQUEEZE, EXPAND_DIMS), which
# have none
KERNELS: dict[str, Variant | None] = {
    "CONV_2D": _ref("conv2d_ref", _CONV, conv),
    "DEPTHWISE_CONV_2D": _ref("depthwise_conv2d_ref", _CONV, conv),
    "FULLY_CONNECTED": _ref("fully_connected_ref", "ek_fully_connected_f32.c", fully_connected),
    "ADD": _binary("add_ref"),
    "SUB": _binary("sub_ref"),
    "MUL": _binary("mul_ref"),
    "MAXIMUM": _binary("maximum_ref"),
    "MINIMUM": _binary("minimum_ref"),
    "SQUARED_DIFFERENCE": _binary("squared_difference_ref"),
    "AVERAGE_POOL_2D": _ref("avg_pool2d_ref", "ek_pool_f32.c", pool),
    "MAX_POOL_2D": _ref("max_pool2d_ref", "ek_pool_f32.c", pool),
    "MEAN": _reduce("reduce_mean_ref"),
    "SUM": _reduce("reduce_sum_ref"),
    "REDUCE_MAX": _reduce("reduce_max_ref"),
    "SOFTMAX": _ref("softmax_ref", _UNARY, softmax),
    "RELU": _unary("clamp_ref"),
    "RELU6": _unary("clamp_ref"),
    "RELU_N1_TO_1": _unary("clamp_ref"),
    "LOGISTIC": _unary("logistic_ref"),
    "TANH": _unary("tanh_ref"),
    "HARD_SWISH": _unary("hard_swish_ref"),
    "LEAKY_RELU": _unary("leaky_relu_ref"),
    "TRANSPOSE_CONV": _ref("transpose_conv_ref", "ek_transpose_conv_f32.c", transpose_conv),
    "PAD": _ref("pad_ref", _COPY, pad),
    "CONCATENATION": _ref("concatenation_ref", _COPY, in_place=concatenation_in_place),
    "RESHAPE": None,
    "SQUEEZE": None,
    "EXPAND_DIMS": None,
    **dict.fromkeys(
        ("TRANSPOSE", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "PACK", "UNPACK"), _STRIDED
    ),
}
