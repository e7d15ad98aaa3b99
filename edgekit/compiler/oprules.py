"""What the c backend asks of each operator: the op rules, checked before code is generated.

A rule is a small function ``rule(graph, op, target) -> (ok, detail)``. Its docstring is what a
user reads: the first paragraph states the constraint (a line of docs/supported-ops.md, written
from these docstrings), the second says what to change in the model; ``detail`` says what this
op has instead. The operator registry (``edgekit.compiler.ops``) names each kind's rules and
runs them in order, stopping at an op's first failure, so each rule may rely on the ones before
it (shapes are checked before they are used).

Dilated convolutions are supported (tests/test_ops_dilation.py): the reference kernels and the
DSP and MVE im2col convolutions dilate; the other DSP and MVE variants leave dilated layers to
them (``variants.undilated``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from edgekit.compiler import tables
from edgekit.compiler.ir import Graph, Op, Tensor, padding_amounts, short_name

if TYPE_CHECKING:
    from edgekit.platforms.targets import Target

Rule = Callable[[Graph, Op, "Target"], tuple[bool, str]]

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
SOFTMAX_OUTPUT = (1 / 256, -128)
SOFTMAX_OUTPUT_S16 = (1 / 32768, 0)
# TFLite's int8 softmax scales differences of logits to a Q5.26 value and needs a multiplier > 1.
SOFTMAX_MIN_SCALE = 2.0**-26

# ---------------------------------------------------------------- helpers


def _input(graph: Graph, op: Op, k: int) -> Tensor | None:
    """The op's k-th input tensor; None when absent (optional or missing)."""
    return graph.tensors[op.inputs[k]] if k < len(op.inputs) and op.inputs[k] >= 0 else None


def _output(graph: Graph, op: Op) -> Tensor:
    return graph.tensors[op.outputs[0]]


def _same_quant(a: Tensor, b: Tensor) -> bool:
    return (
        a.quant is not None
        and b.quant is not None
        and np.array_equal(a.quant.scale, b.quant.scale)
        and np.array_equal(a.quant.zero_point, b.quant.zero_point)
    )


def quant_text(t: Tensor) -> str:
    """A tensor's quantization as a rule's detail shows it."""
    if t.quant is None:
        return "no quantization"
    return f"scale {t.quant.scale[0]:.6g}, zero point {t.quant.zero_point[0]}"


# ---------------------------------------------------------------- shared by several operators


def fused_activation(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The fused activation is NONE, RELU, RELU6 or RELU_N1_TO_1.

    Use ReLU, ReLU6 or no activation right after the layer.
    """
    activation = op.options.get("activation", "NONE")
    return activation in ACTIVATIONS, f"its fused activation is {activation}"


def int8_weights(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The weights are constant int8 with zero point 0, quantized per tensor or per output
    channel (axis 0 of CONV_2D's, TRANSPOSE_CONV's and FULLY_CONNECTED's weights, axis 3 of
    DEPTHWISE_CONV_2D's).

    Quantize with the TFLite converter's full-integer int8 scheme (as 'edgekit quantize' does).
    """
    w = _input(graph, op, 1)
    if w is None or w.data is None:
        return False, "its weights are not constant"
    if w.dtype != "int8" or w.quant is None:
        return False, f"its weights are {w.dtype}{'' if w.quant else ', not quantized'}"
    axis = 3 if op.kind == "DEPTHWISE_CONV_2D" else 0
    q = w.quant
    if not q.per_tensor and (q.axis != axis or q.scale.size != w.shape[axis]):
        return False, f"its weights have {q.scale.size} scales along axis {q.axis}"
    if np.any(q.zero_point != 0) or not np.all(np.isfinite(q.scale) & (q.scale > 0)):
        return False, "its weights' zero points are not 0 or their scales are not positive"
    return True, ""


def int32_bias(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The bias is absent or a constant vector with one value per output channel: int32, or
    where the activations are int16 (16x8) int64, or int32 but for DEPTHWISE_CONV_2D.

    Quantize with the TFLite converter's full-integer int8 scheme (as 'edgekit quantize' does),
    or 16x8 with its default int64 bias (--precision int16x8).
    """
    bias = _input(graph, op, 3 if op.kind == "TRANSPOSE_CONV" else 2)
    if bias is None:
        return True, ""
    channels = _output(graph, op).shape[-1]
    data = _input(graph, op, 2 if op.kind == "TRANSPOSE_CONV" else 0)
    wanted = ("int32",)
    if data is not None and data.dtype == "int16":
        wanted = ("int64",) if op.kind == "DEPTHWISE_CONV_2D" else ("int64", "int32")
    if bias.data is None or bias.dtype not in wanted or bias.shape != (channels,):
        kind = "constant" if bias.data is not None else "computed"
        return False, f"its bias is a {kind} {bias.dtype} tensor of shape {list(bias.shape)}"
    return True, ""


def window_geometry(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Strides are at least 1 and the output's height and width are those TFLite computes from
    the input, window, stride and padding (SAME or VALID).

    Re-export the model with the TFLite converter.
    """
    o, x, y = op.options, _input(graph, op, 0), _output(graph, op)
    pool = "filter_h" in o
    window = (o["filter_h"], o["filter_w"]) if pool else _input(graph, op, 1).shape[1:3]
    dilation = o.get("dilation_h", 1), o.get("dilation_w", 1)
    strides = o["stride_h"], o["stride_w"]
    if min(*window, *strides, *dilation) < 1 or o["padding"] not in ("SAME", "VALID"):
        return False, f"its window is {window}, strides {strides}, padding {o['padding']}"
    expected = tuple(
        padding_amounts(x.shape[1 + i], window[i], strides[i], dilation[i], o["padding"])[2]
        for i in range(2)
    )
    return y.shape[1:3] == expected, f"its output is {y.shape[1:3]}, not {expected}"


def same_quantization(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Input and output share one scale and zero point (the kernel copies values, it does not
    rescale them).

    Quantize with the TFLite converter, which keeps them equal for this operator.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    return _same_quant(x, y), f"its input has {quant_text(x)}, its output {quant_text(y)}"


# ---------------------------------------------------------------- one operator each


def conv_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Input, weights and output are 4-D (NHWC input, OHWI weights); the weights' input channels
    equal the input's (no grouped convolution) and the output has one channel per filter.

    Use Conv2D with groups=1, or split a grouped convolution into separate convolutions.
    """
    x, w, y = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    shapes = [list(t.shape) for t in (x, w, y)]
    ok = all(len(s) == 4 for s in shapes) and x.shape[3] == w.shape[3] and y.shape[3] == w.shape[0]
    return ok, f"its input, weights and output are {shapes[0]}, {shapes[1]} and {shapes[2]}"


def depthwise_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Input, weights and output are 4-D; the weights are 1 x H x W x (C x M) for C input
    channels and any depth multiplier M, and the output has C x M channels.

    Use DepthwiseConv2D on a 4-D (batch, height, width, channels) input.
    """
    x, w, y = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    shapes = [list(t.shape) for t in (x, w, y)]
    ok = (
        all(len(s) == 4 for s in shapes)
        and w.shape[0] == 1
        and w.shape[3] == y.shape[3]
        and x.shape[3] > 0
        and y.shape[3] % x.shape[3] == 0
    )
    return ok, f"its input, weights and output are {shapes[0]}, {shapes[1]} and {shapes[2]}"


def add_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Both inputs have the output's shape (no broadcasting).

    Give both inputs the same shape (MobileNetV2's residual adds do), broadcasting explicitly
    before the add if needed.
    """
    shapes = [_input(graph, op, k).shape for k in (0, 1)]
    y = _output(graph, op)
    ok = shapes[0] == shapes[1] == y.shape
    return ok, f"its inputs are {list(shapes[0])} and {list(shapes[1])}"


def pool_channels(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Input and output are 4-D with the same channels.

    Use AveragePooling2D or MaxPooling2D on a 4-D (batch, height, width, channels) input.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    ok = len(x.shape) == len(y.shape) == 4 and x.shape[3] == y.shape[3]
    return ok, f"its input is {list(x.shape)} and its output {list(y.shape)}"


REDUCE_RANK = 8  # the reduce kernel takes four kept and four reduced (merged) axes


def reduced_axes(graph: Graph, op: Op) -> list[int] | None:
    """The axes a MEAN, SUM or REDUCE_MAX reduces, sorted, negative ones counted from the last
    and repeats once (TFLite's ResolveAxis); None when they are not constant or out of range."""
    rank, axes = len(_input(graph, op, 0).shape), _input(graph, op, 1)
    if axes.data is None or axes.dtype not in ("int32", "int64"):
        return None
    values = [int(a) for a in axes.data.reshape(-1)]
    if not all(-rank <= a < rank for a in values):
        return None
    return sorted({a % rank for a in values})


def reduce_axes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The axes are a constant list of at least one axis of an input of at most 8 dimensions
    (negative axes count from the last, a repeated axis counts once), and the output's shape is
    the input's without those axes, or with 1 for each of them with keep_dims.

    Reduce over constant axes (keras.ops.mean, sum or max with an axis argument).
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    axes = reduced_axes(graph, op)
    detail = f"its input is {list(x.shape)}, its output {list(y.shape)}"
    if axes is None or not axes or len(x.shape) > REDUCE_RANK:
        given = _input(graph, op, 1)  # an empty list has no buffer: it reads as computed
        shown = given.data.reshape(-1).tolist() if given.data is not None else "computed"
        shown = [] if given.size == 0 else shown
        return False, f"{detail} and its axes are {shown}"
    keep = op.options.get("keep_dims", False)
    want = [1 if d in axes else n for d, n in enumerate(x.shape) if keep or d not in axes]
    return list(y.shape) == want, f"{detail}, reduced over axes {axes}"


def prelu_alpha(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input has at most 4 dimensions and the output its shape; alpha is a constant int8
    tensor with one scale and zero point that broadcasts to the input (aligned from the last
    dimension, each of its dimensions 1 or the input's), as the converter writes Keras PReLU.

    Use PReLU on an input of at most 4 dimensions (shared_axes as needed).
    """
    x, alpha, y = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    detail = f"its input is {list(x.shape)}, alpha {list(alpha.shape)}, output {list(y.shape)}"
    if len(x.shape) > 4 or y.shape != x.shape or len(alpha.shape) > len(x.shape):
        return False, detail
    tail = x.shape[len(x.shape) - len(alpha.shape) :]
    if not all(a in (1, n) for a, n in zip(alpha.shape, tail, strict=True)):
        return False, detail
    q = alpha.quant
    if alpha.data is None or alpha.dtype != "int8" or q is None or not q.per_tensor:
        kind = "constant" if alpha.data is not None else "computed"
        return False, f"its alpha is a {kind} {alpha.dtype} tensor ({quant_text(alpha)})"
    return bool(q.scale[0] > 0 and -128 <= q.zero_point[0] <= 127), quant_text(alpha)


def arg_max_axis(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The axis is one constant in [-rank, rank) (negative counts from the last) and the output
    holds int32 or int64 indices, shaped as the input without that axis.

    Take the argmax over a fixed axis (tf.math.argmax with output_type int32 or int64).
    """
    x, axis, y = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    rank = len(x.shape)
    detail = f"its input is {list(x.shape)}, its output {list(y.shape)} {y.dtype}"
    if axis.data is None or axis.data.size != 1 or axis.dtype not in ("int32", "int64"):
        return False, detail + ", its axis is not one constant"
    a = int(axis.data.reshape(-1)[0])
    if not -rank <= a < rank or y.dtype not in ("int32", "int64"):
        return False, f"{detail}, axis {a}"
    return list(y.shape) == [n for d, n in enumerate(x.shape) if d != a % rank], detail


def float_conversion(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """QUANTIZE reads float32 and writes int8 or int16, or rescales int8 or int16 to int8, int16
    or int32; DEQUANTIZE reads int8 or int16 and writes float32 (the converter adds them at a
    model's float inputs and outputs, and between int8 and 16x8 layers); the input is computed,
    not a constant. Float values are quantized as TFLite's reference kernels do.

    Quantize with the TFLite converter's full-integer int8 scheme (as 'edgekit quantize' does),
    or 16x8 with --precision int16x8.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    quantized = ("int8", "int16")
    if op.kind == "DEQUANTIZE":
        ins, outs = quantized, ("float32",)
    elif x.dtype == "float32":
        ins, outs = ("float32",), quantized
    else:
        ins, outs = quantized, (*quantized, "int32")
    kind = "constant " if x.data is not None else ""
    ok = x.dtype in ins and y.dtype in outs and not kind
    return ok, f"it converts {kind}{x.dtype} to {y.dtype}"


BATCH_MATMUL_RANK = 5  # TFLite's reference BatchMatMul: three batch dimensions, rows, columns


def batch_matmul_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Both operands have 2 to 5 dimensions; with adj_x and adj_y applied (each transposes its
    operand's last two), the left one is [..., M, K] and the right one [..., K, N]; their batch
    dimensions, aligned from the last, are equal or 1, and the output is their broadcast
    followed by M, N.

    Multiply tensors of at most 5 dimensions whose batch dimensions broadcast (keras.ops.matmul).
    """
    x, w, y = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    detail = f"its operands are {list(x.shape)} and {list(w.shape)}, its output {list(y.shape)}"
    if not all(2 <= len(t.shape) <= BATCH_MATMUL_RANK for t in (x, w, y)):
        return False, detail
    m, k = x.shape[-2:][:: -1 if op.options.get("adj_x") else 1]
    k2, n = w.shape[-2:][:: -1 if op.options.get("adj_y") else 1]
    rank = max(len(x.shape), len(w.shape))
    xb, wb = ((1,) * (rank - len(t.shape)) + t.shape[:-2] for t in (x, w))
    if k != k2 or not all(a == b or 1 in (a, b) for a, b in zip(xb, wb, strict=True)):
        return False, detail
    batches = [max(a, b) for a, b in zip(xb, wb, strict=True)]
    return list(y.shape) == [*batches, m, n], detail


def fully_connected_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The weights are 2-D (outputs x inputs), the input holds one row of as many values as the
    weights have inputs, and the output holds one value per weight row.

    Flatten the input to one row (batch 1) before the Dense layer.
    """
    x, w, y = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    ok = (
        len(w.shape) == 2
        and x.size == w.shape[1]
        and y.size == w.shape[0] == (y.shape[-1] if y.shape else 0)
    )
    return ok, f"its input is {list(x.shape)}, weights {list(w.shape)}, output {list(y.shape)}"


def default_weights_layout(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The weights are in the DEFAULT layout, not SHUFFLED4x16INT8.

    Re-export the model with the TFLite converter's default settings.
    """
    layout = op.options.get("weights_format")
    return layout == "DEFAULT", f"its weights are in the {layout} layout"


def softmax_output(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Softmax runs over the last axis, the output has the input's shape, and the output is
    quantized with scale 1/256 and zero point -128, as TFLite's int8 softmax requires (int16:
    scale 1/32768, zero point 0).

    Quantize with the TFLite converter, which sets these output parameters for int8 softmax.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    want = SOFTMAX_OUTPUT_S16 if y.dtype == "int16" else SOFTMAX_OUTPUT
    ok = (
        x.shape == y.shape
        and len(y.shape) >= 1
        and (y.quant.scale[0], y.quant.zero_point[0]) == want
    )
    return ok, f"its output is {list(y.shape)} with {quant_text(y)}"


def softmax_input_scale(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input scale times beta is above 2^-26, the smallest that TFLite's fixed-point int8
    softmax accepts.

    The logits' range has collapsed: train the model, or condition a model without trained
    weights (edgekit.frontend.mobilenet.condition_batchnorm), before quantizing.
    """
    x = _input(graph, op, 0)
    scale = op.options.get("beta", 1.0) * x.quant.scale[0]
    if x.dtype == "int16":  # TFLite's int16 softmax rescales by any factor
        return True, ""
    return scale > SOFTMAX_MIN_SCALE, f"its input scale times beta is {scale:.3g}"


def reshape_size(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The output has as many elements as the input.

    Re-export the model with the TFLite converter.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    return x.size == y.size, f"its input is {list(x.shape)} and its output {list(y.shape)}"


def pad_amounts(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input has at most 4 dimensions, the paddings are a constant (rank x 2) table of
    non-negative amounts, and the output's shape is the input's plus the paddings. Padded
    elements hold the zero point (real 0).

    Use ZeroPadding2D (constant zero padding), or padding='same' in the following layer.
    """
    x, pads, y = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    rank = len(x.shape)
    if pads.data is None or pads.data.shape != (rank, 2) or not 1 <= rank <= 4:
        return False, f"its input is {list(x.shape)} and its paddings are not a constant table"
    amounts = pads.data.astype(np.int64)
    grown = tuple(int(d) for d in np.asarray(x.shape) + amounts.sum(axis=1))
    ok = bool(np.all(amounts >= 0)) and grown == y.shape
    return ok, f"its paddings are {amounts.tolist()} for input {list(x.shape)}"


def elementwise_shape(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The output has the input's shape (the op maps each int8 value through a 256-entry table
    of TFLite's reference arithmetic, computed when the model is built).

    Re-export the model with the TFLite converter.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    return x.shape == y.shape, f"its input is {list(x.shape)} and its output {list(y.shape)}"


def logistic_output(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The output is quantized with scale 1/256 and zero point -128, as TFLite's int8 LOGISTIC
    requires (int16: scale 2^-15 and zero point 0, as for TANH).

    Quantize with the TFLite converter, which sets these output parameters for int8 sigmoid.
    """
    y = _output(graph, op)
    if y.dtype == "int16":
        return tanh_output(graph, op, target)
    ok = (y.quant.scale[0], y.quant.zero_point[0]) == SOFTMAX_OUTPUT
    return ok, f"its output has {quant_text(y)}"


def tanh_output(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """An int16 output has scale 2^-15 (to within TFLite's CheckedLog2) and zero point 0, as
    TFLite's int16 LOGISTIC and TANH require (an int8 TANH takes any).

    Quantize with the TFLite converter, which sets these output parameters.
    """
    y = _output(graph, op)
    if y.dtype != "int16":
        return True, ""
    pot, log2 = tables.checked_log2(float(y.quant.scale[0]))
    ok = pot and log2 == -15 and y.quant.zero_point[0] == 0
    return ok, f"its output has {quant_text(y)}"


def int16_general_add(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """An int16 ADD or SUB has an input or output scale that is not a power of two (TFLite runs
    all-power-of-two int16 scales through another, shift-only kernel when the op's
    pot_scale_int16 option is set).

    Quantize with the TFLite converter's 16x8 scheme, whose calibrated scales are not exact
    powers of two.
    """
    tensors = [_input(graph, op, 0), _input(graph, op, 1), _output(graph, op)]
    if _output(graph, op).dtype != "int16":
        return True, ""
    pots = [tables.checked_log2(float(t.quant.scale[0]))[0] for t in tensors]
    return not all(pots), "its scales are all powers of two"


def int8_to_int8(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input and output are int8 (an int8 rescale: one table lookup per element)."""
    x, y = _input(graph, op, 0), _output(graph, op)
    return (x.dtype, y.dtype) == ("int8", "int8"), f"it converts {x.dtype} to {y.dtype}"


def integer_input(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input is int8 or int16 (a rescale between integer types)."""
    dtype = _input(graph, op, 0).dtype
    return dtype in ("int8", "int16"), f"its input is {dtype}"


def int8_output(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The output is int8."""
    dtype = _output(graph, op).dtype
    return dtype == "int8", f"its output is {dtype}"


def hard_swish_scales(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input scale / 128, divided by the output scale, is below 1 once rounded to TFLite's
    16-bit multiplier, as TFLite's int8 HARD_SWISH requires of its output rescaling.

    Quantize with the TFLite converter, whose output scale for hard-swish meets it.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    exponent = tables.hard_swish_output_exponent(x.quant.scale[0], y.quant.scale[0])
    return exponent <= 0, f"its input has {quant_text(x)}, its output {quant_text(y)}"


def concatenation_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Every input is computed (none is a constant) and has the output's rank and dimensions
    except along the axis, any axis (negative counts from the last), where the output's size
    is the sum of the inputs'.

    Re-export the model with the TFLite converter; concatenate constants before converting.
    """
    xs, y = [graph.tensors[i] for i in op.inputs], _output(graph, op)
    rank, axis = len(y.shape), op.options.get("axis", 0)
    detail = f"its inputs are {[list(x.shape) for x in xs]}, axis {axis}, output {list(y.shape)}"
    if not -rank <= axis < rank or any(x.data is not None for x in xs):
        return False, detail
    axis %= rank
    others = [d for d in range(rank) if d != axis]
    ok = all(len(x.shape) == rank and all(x.shape[d] == y.shape[d] for d in others) for x in xs)
    return ok and sum(x.shape[axis] for x in xs) == y.shape[axis], detail


def concatenation_quantization(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Every input has the output's scale and zero point, as TFLite's int8 CONCATENATION
    requires: it copies values, it does not rescale them.

    Quantize with the TFLite converter, which gives each input of a concatenation the output's
    scale and zero point.
    """
    y = _output(graph, op)
    for x in (graph.tensors[i] for i in op.inputs):
        if not _same_quant(x, y):
            return False, f"input '{short_name(x.name)}' has {quant_text(x)}, the output another"
    return True, ""


def no_fused_activation(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """There is no fused activation.

    Apply the activation as its own layer after the operator.
    """
    activation = op.options.get("activation", "NONE")
    return activation == "NONE", f"its fused activation is {activation}"


def broadcast_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Both inputs and the output have at most 4 dimensions, and the output's shape is the
    inputs' broadcast: aligned from the last dimension, each input dimension equals the
    output's or is 1 (a 1 x 1 x 1 x C tensor times a 1 x H x W x C one, as squeeze-and-excite
    does, or a single value).

    Give the inputs shapes that broadcast (reshape the smaller one to 4-D with 1s where it
    repeats).
    """
    shapes = [_input(graph, op, k).shape for k in (0, 1)]
    out = _output(graph, op).shape
    detail = f"its inputs are {list(shapes[0])} and {list(shapes[1])}, its output {list(out)}"
    if max(len(s) for s in (*shapes, out)) > 4:
        return False, detail
    rank = len(out)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes if len(s) <= rank]
    ok = len(padded) == 2 and all(
        all(d in (1, o) for d, o in zip(s, out, strict=True)) for s in padded
    )
    ok = ok and all(max(a, b) == o for a, b, o in zip(*padded, out, strict=True))
    return ok, detail


def inputs_same_quantization(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Both inputs and the output share one scale and zero point (TFLite compares the stored
    values without rescaling them).

    Quantize with the TFLite converter, which keeps them equal for MAXIMUM and MINIMUM.
    """
    x, y, z = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    ok = _same_quant(x, z) and _same_quant(y, z)
    return ok, f"its inputs have {quant_text(x)} and {quant_text(y)}, its output {quant_text(z)}"


def squared_difference_scale(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """(2 x the larger input scale)^2 / (2^14 x the output scale) is below 1, as TFLite's int8
    SQUARED_DIFFERENCE requires of its output rescaling.

    Quantize with the TFLite converter, whose output scale for a squared difference meets it.
    """
    tensors = (_input(graph, op, 0), _input(graph, op, 1), _output(graph, op))
    scales = [float(np.float32(t.quant.scale[0])) for t in tensors]
    twice_max = 2.0 * max(scales[:2])
    real = twice_max * twice_max / ((1 << 14) * scales[2])
    return real < 1.0, f"it is {real:.3g}"


def resize_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Input and output are 4-D with the same batch and channels, and the size is a constant
    (height, width) equal to the output's. Values are taken (or interpolated) without
    rescaling, as TFLite does: the converter gives input and output one scale and zero point.

    Use UpSampling2D or Resizing on a 4-D (batch, height, width, channels) input with a fixed
    output size.
    """
    x, size, y = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    detail = f"its input is {list(x.shape)}, its output {list(y.shape)}"
    if len(x.shape) != 4 or len(y.shape) != 4 or size.data is None:
        return False, detail + ("" if size.data is not None else ", its size is computed")
    ok = x.shape[0] == y.shape[0] and x.shape[3] == y.shape[3]
    ok = ok and [int(v) for v in size.data.reshape(-1)] == list(y.shape[1:3])
    return ok and min(x.shape[1:3]) >= 1, detail


def resize_corners(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """align_corners and half_pixel_centers are not both set (TFLite's RESIZE_BILINEAR refuses
    them together).

    Set one of them only in tf.image.resize or tf.compat.v1.image.resize_bilinear.
    """
    both = op.options.get("align_corners") and op.options.get("half_pixel_centers")
    return not both, "it sets both align_corners and half_pixel_centers"


def bilinear_positions(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Every output row and column falls inside the input at TFLite's 10-bit precision, which
    it does not for upscales of about 30 times or more without align_corners or
    half_pixel_centers (about 1000 times with one): TFLite would read past the input's last
    row or column.

    Resize in several smaller steps.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    corners, half = op.options.get("align_corners"), op.options.get("half_pixel_centers")
    for n_in, n_out in zip(x.shape[1:3], y.shape[1:3], strict=True):
        a, b = (n_in - 1, n_out - 1) if corners and n_out > 1 else (n_in, n_out)
        scale = ((1 << 10) * a + b // 2) // b
        last = (n_out - 1) * scale + (scale // 2 - (1 << 9) if half else 0)
        if max(last, 0) >> 10 > n_in - 1:
            return False, f"its input is {list(x.shape)} and its output {list(y.shape)}"
    return True, ""


def transpose_conv_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The output shape is a constant equal to the 4-D output's; the weights are OHWI with the
    input's channels and one filter per output channel; strides are at least 1 and the input's
    height and width are what a convolution with that window, stride and padding (SAME or
    VALID) makes of the output's (as the converter writes Conv2DTranspose).

    Re-export the model with the TFLite converter.
    """
    shape, w, x = _input(graph, op, 0), _input(graph, op, 1), _input(graph, op, 2)
    y, o = _output(graph, op), op.options
    detail = (
        f"its input, weights and output are {list(x.shape)}, {list(w.shape)} and "
        f"{list(y.shape)}, strides {o['stride_h']}x{o['stride_w']}, padding {o['padding']}"
    )
    if shape.data is None or [int(v) for v in shape.data.reshape(-1)] != list(y.shape):
        return False, detail + ", its output shape is not a constant equal to the output's"
    if not all(len(t.shape) == 4 for t in (x, w, y)) or o["padding"] not in ("SAME", "VALID"):
        return False, detail
    strides = o["stride_h"], o["stride_w"]
    if w.shape[3] != x.shape[3] or w.shape[0] != y.shape[3] or min(strides) < 1:
        return False, detail
    for axis, stride in zip((1, 2), strides, strict=True):
        size, window = y.shape[axis], w.shape[axis]
        if o["padding"] == "VALID" and size < window:
            return False, detail
        if padding_amounts(size, window, stride, 1, o["padding"])[2] != x.shape[axis]:
            return False, detail
    return True, ""


# ---------------------------------------------------------------- data movement (no arithmetic)

COPY_RANK = 6  # dimensions the strided copy kernel walks (ek_strided_copy_params)
MOVED_INPUTS = {"SPLIT": (1,), "PACK": None}  # data inputs when not input 0 alone (None: all)


def alias_input(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input is computed, not a constant: the output is the input's bytes under another
    shape (no kernel and no copy, also where the input is the graph's input or the output the
    graph's output).

    Fold constants before converting (the TFLite converter does).
    """
    return _input(graph, op, 0).data is None, "its input is a constant"


def moved_quantization(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Every input is computed (not a constant) and shares one scale and zero point with every
    output: the op moves values, it does not rescale them.

    Quantize with the TFLite converter, which keeps them equal for this operator.
    """
    y = _output(graph, op)
    for t in (*_moved_inputs(graph, op), *(graph.tensors[i] for i in op.outputs)):
        if t.data is not None:
            return False, f"input '{short_name(t.name)}' is a constant"
        if not _same_quant(t, y):
            return False, f"'{short_name(t.name)}' has {quant_text(t)}, the output {quant_text(y)}"
    return True, ""


def transpose_permutation(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input has at most 6 dimensions and the permutation is a constant that lists each of
    its axes once, from 0 (TFLite takes no negative axes).

    Use a permutation of the input's axes (keras.layers.Permute, keras.ops.transpose).
    """
    x, perm = _input(graph, op, 0), _vector(graph, op, 1)
    rank = len(x.shape)
    ok = perm is not None and rank <= COPY_RANK and sorted(perm) == list(range(rank))
    return ok, f"its input is {list(x.shape)} and its permutation {perm}"


def slice_bounds(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input has at most 5 dimensions; begin and size are constants with one entry per
    dimension, each begin inside the input and each size -1 (to the end) or a size that fits
    after it.

    Slice with constant bounds inside the tensor (keras.ops.slice, x[a:b]).
    """
    x, begin, size = _input(graph, op, 0), _vector(graph, op, 1), _vector(graph, op, 2)
    detail = f"its input is {list(x.shape)}, begin {begin}, size {size}"
    rank = len(x.shape)
    if begin is None or size is None or not len(begin) == len(size) == rank <= 5:
        return False, detail
    ok = all(
        0 <= b <= d and (s == -1 or 0 <= s <= d - b)
        for b, s, d in zip(begin, size, x.shape, strict=True)
    )
    return ok, detail


def strided_slice_bounds(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input has at most 5 dimensions; begin, end and strides are constants with one entry
    per dimension and no stride is 0 (negative strides walk backwards); ellipsis_mask,
    new_axis_mask and offset are not set; a shrunk axis keeps exactly one element.

    Write the slice without '...' and without new axes (x[..., None]); reshape after it
    instead.
    """
    x, o = _input(graph, op, 0), op.options
    vectors = [_vector(graph, op, k) for k in (1, 2, 3)]
    detail = f"its input is {list(x.shape)}, begin, end and strides {vectors}"
    if o.get("ellipsis_mask") or o.get("new_axis_mask") or o.get("offset"):
        return False, detail + ", with ellipsis_mask, new_axis_mask or offset set"
    if any(v is None or len(v) != len(x.shape) for v in vectors) or len(x.shape) > 5:
        return False, detail
    if 0 in vectors[2]:
        return False, detail
    shrink = o.get("shrink_axis_mask", 0)
    counts = [count for _, count, _ in strided_slice_axes(graph, op)]
    ok = all(c == 1 for axis, c in enumerate(counts) if shrink >> axis & 1)
    return ok, detail + f", which keep {counts} elements"


def split_parts(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The axis (an input of SPLIT and SPLIT_V, an option of PACK and UNPACK) is a constant
    within the dimensions (negative counts from the last); SPLIT cuts that axis into as many
    equal parts as it has outputs, SPLIT_V into the constant sizes it is given (one may be
    -1: the rest), UNPACK into one output per element and PACK stacks inputs of one shape.

    Split, stack or unstack along a fixed axis (keras.ops.split, keras.ops.stack,
    keras.ops.unstack).
    """
    try:
        _parts(graph, op)
    except ValueError as exc:
        return False, str(exc)
    return True, ""


def copy_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Every output has the shape TFLite computes from the input's shape and the op's
    parameters and holds at least one element; the copy walks at most 6 dimensions once those
    it walks contiguously are merged.

    Re-export the model with the TFLite converter.
    """
    for src, dst, src_view, dst_view in copy_views(graph, op):
        x, y = graph.tensors[src], graph.tensors[dst]
        moved = src_view if op.kind != "PACK" else dst_view
        want = y.shape if op.kind != "PACK" else x.shape
        walked = len(copy_geometry(src_view, dst_view)[0]) if moved.size else 0
        if moved.shape != tuple(want) or moved.size == 0 or walked > COPY_RANK:
            return False, f"'{short_name(y.name)}' is {list(y.shape)}, TFLite's {list(moved.shape)}"
    return True, ""


def _vector(graph: Graph, op: Op, k: int) -> list[int] | None:
    """A constant integer parameter input as a list; None when absent or computed."""
    t = _input(graph, op, k)
    if t is None or t.data is None or t.dtype not in ("int32", "int64"):
        return None
    return [int(v) for v in np.asarray(t.data).reshape(-1)]


def _moved_inputs(graph: Graph, op: Op) -> list[Tensor]:
    positions = MOVED_INPUTS.get(op.kind, (0,))
    if positions is None:
        return [graph.tensors[i] for i in op.inputs]
    return [graph.tensors[op.inputs[k]] for k in positions]


def strided_slice_axes(graph: Graph, op: Op) -> list[tuple[int, int, int]]:
    """(start, count, stride) per axis of a STRIDED_SLICE, as TFLite's StartForAxis and
    StopForAxis compute them: masks override begin and end, negative indices count from the
    end, then start and stop are clamped to the axis (one before it, walking backwards)."""
    x, o = _input(graph, op, 0), op.options
    begin, end, strides = (_vector(graph, op, k) for k in (1, 2, 3))
    axes = []
    for axis, n in enumerate(x.shape):
        stride, bit = strides[axis], 1 << axis
        start = (
            (-(1 << 31) if stride > 0 else (1 << 31) - 1) if o["begin_mask"] & bit else begin[axis]
        )
        start += n if start < 0 else 0
        start = min(max(start, 0), n) if stride > 0 else min(max(start, -1), n - 1)
        stop = start + 1 if o["shrink_axis_mask"] & bit else end[axis]
        if o["end_mask"] & bit:
            stop = (1 << 31) - 1 if stride > 0 else -(1 << 31)
        stop += n if stop < 0 else 0
        stop = min(max(stop, 0), n) if stride > 0 else min(max(stop, -1), n - 1)
        count = max(0, -(-(stop - start) // stride))
        axes.append((start, count, stride))
    return axes


def _parts(graph: Graph, op: Op) -> tuple[int, list[int]]:
    """(axis, sizes along it) of SPLIT, SPLIT_V, UNPACK (sizes of 1) and PACK (one per input,
    the axis counted in the output); ValueError saying what is wrong."""
    kind, o = op.kind, op.options
    if kind == "PACK":
        shapes = {graph.tensors[i].shape for i in op.inputs}
        rank, axis = len(graph.tensors[op.inputs[0]].shape) + 1, o.get("axis", 0)
        detail = f"its inputs are {[list(s) for s in shapes]}, axis {axis}"
        if len(shapes) != 1 or o.get("values_count") != len(op.inputs) or not -rank <= axis < rank:
            raise ValueError(detail)
        stacked = list(shapes.pop())
        stacked.insert(axis % rank, len(op.inputs))
        if tuple(stacked) != _output(graph, op).shape:
            raise ValueError(detail + f", output {list(_output(graph, op).shape)}")
        sizes = [1] * len(op.inputs)
    else:
        x = _input(graph, op, 1 if kind == "SPLIT" else 0)
        rank = len(x.shape)
        if kind == "UNPACK":
            axis = o.get("axis", 0)
        else:
            axes = _vector(graph, op, 0 if kind == "SPLIT" else 2)
            axis = axes[0] if axes and len(axes) == 1 else None
        detail = f"its input is {list(x.shape)}, axis {axis}, {len(op.outputs)} outputs"
        if axis is None or not -rank <= axis < rank:
            raise ValueError(detail)
        n, count = x.shape[axis % rank], len(op.outputs)
        if kind == "SPLIT":
            if n % count or o.get("num_splits") != count:
                raise ValueError(detail)
            sizes = [n // count] * count
        elif kind == "SPLIT_V":
            sizes = _vector(graph, op, 1) or []
            if len(sizes) != count or sizes.count(-1) > 1 or min(sizes, default=-1) < -1:
                raise ValueError(detail + f", sizes {sizes}")
            if -1 in sizes:
                sizes[sizes.index(-1)] = n - (sum(sizes) + 1)
            if sum(sizes) != n or min(sizes) < 0:
                raise ValueError(detail + f", sizes {sizes}")
        else:
            if o.get("num") != count or n != count:
                raise ValueError(detail)
            sizes = [1] * count
    if not -rank <= axis < rank:
        raise ValueError(detail)
    return axis % rank, sizes


def copy_views(graph: Graph, op: Op) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """What a data-movement op copies, as (input tensor, output tensor, input view, output
    view): numpy views of the element indices of each tensor (``np.arange(size)`` in its shape)
    of one shape, the input view's k-th element copied to the output view's k-th. Their first
    values and strides are the kernel's starts and strides; the op rules before it have checked
    the parameters."""

    def indices(t: int) -> np.ndarray:
        return np.arange(graph.tensors[t].size, dtype=np.int64).reshape(graph.tensors[t].shape)

    kind, src, dst = op.kind, op.inputs[0], op.outputs[0]
    if kind == "TRANSPOSE":
        return [_dense_output(src, dst, indices(src).transpose(_vector(graph, op, 1)), indices)]
    if kind == "SLICE":
        bounds = zip(_vector(graph, op, 1), _vector(graph, op, 2), strict=True)
        box = tuple(slice(b, None if s == -1 else b + s) for b, s in bounds)
        return [_dense_output(src, dst, indices(src)[box], indices)]
    if kind == "STRIDED_SLICE":
        shrink, box = op.options["shrink_axis_mask"], []
        for axis, (start, count, stride) in enumerate(strided_slice_axes(graph, op)):
            stop = start + stride * count
            box.append(
                start if shrink >> axis & 1 else slice(start, stop if stop >= 0 else None, stride)
            )
        return [_dense_output(src, dst, indices(src)[tuple(box)], indices)]
    axis, sizes = _parts(graph, op)
    lead = (slice(None),) * axis
    if kind == "PACK":
        out = indices(dst)
        return [(t, dst, indices(t), out[(*lead, k)]) for k, t in enumerate(op.inputs)]
    src = op.inputs[1] if kind == "SPLIT" else src
    starts = np.cumsum([0, *sizes])
    views = []
    for k, t in enumerate(op.outputs):
        part = k if kind == "UNPACK" else slice(int(starts[k]), int(starts[k + 1]))
        views.append(_dense_output(src, t, indices(src)[(*lead, part)], indices))
    return views


def copy_geometry(src_view: np.ndarray, dst_view: np.ndarray) -> tuple:
    """(dims, input strides, input start, output strides, output start) of a copy of
    ``copy_views``, in elements, with the axes of size 1 left out and the axes that both sides
    walk contiguously merged (a slice of whole rows is one run)."""
    axes = [
        (n, a // src_view.itemsize, b // dst_view.itemsize)
        for n, a, b in zip(src_view.shape, src_view.strides, dst_view.strides, strict=True)
        if n != 1
    ]
    merged: list[tuple[int, int, int]] = []
    for n, a, b in axes:
        if merged and merged[-1][1] == a * n and merged[-1][2] == b * n:
            merged[-1] = (merged[-1][0] * n, a, b)
        else:
            merged.append((n, a, b))
    dims, src_strides, dst_strides = ([m[k] for m in merged] for k in range(3))
    return dims, src_strides, int(src_view.flat[0]), dst_strides, int(dst_view.flat[0])


def _dense_output(src: int, dst: int, view: np.ndarray, indices) -> tuple:
    """``view`` of the input copied in order into the output (when its size is the view's)."""
    out = indices(dst)
    return src, dst, view, out.reshape(view.shape) if out.size == view.size else out


# ---------------------------------------------------------------- the docstrings


@functools.cache
def rule_doc(rule: Rule) -> tuple[str, str]:
    """(constraint, what to change) from a rule's docstring, each on one line."""
    parts = inspect.getdoc(rule).split("\n\n")
    return " ".join(parts[0].split()), " ".join(" ".join(parts[1:]).split())
