"""What the c backend asks of each operator: the op rules, checked before code is generated.

A rule is a small function ``rule(graph, op, target) -> (ok, detail)``. Its docstring is what a
user reads: the first paragraph states the constraint (a line of docs/supported-ops.md, written
from these docstrings), the second says what to change in the model; ``detail`` says what this
op has instead. The operator registry (``edgekit.compiler.ops``) names each kind's rules and
runs them in order, stopping at an op's first failure, so each rule may rely on the ones before
it (shapes are checked before they are used).

Dilation is refused on purpose: MobileNetV2-like models never dilate, and every kernel variant
(plain C now, DSP and MVE later) would need its own bit-exactness tests for it. Allowing it is
deleting ``no_dilation`` and testing the kernels.
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
    """The bias is absent or a constant int32 vector with one value per output channel.

    Quantize with the TFLite converter's full-integer int8 scheme (as 'edgekit quantize' does).
    """
    bias = _input(graph, op, 3 if op.kind == "TRANSPOSE_CONV" else 2)
    if bias is None:
        return True, ""
    channels = _output(graph, op).shape[-1]
    if bias.data is None or bias.dtype != "int32" or bias.shape != (channels,):
        kind = "constant" if bias.data is not None else "computed"
        return False, f"its bias is a {kind} {bias.dtype} tensor of shape {list(bias.shape)}"
    return True, ""


def no_dilation(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Dilation is 1 along height and width.

    Use dilation_rate=1: edgekit's kernels do not dilate.
    """
    h, w = op.options["dilation_h"], op.options["dilation_w"]
    return (h, w) == (1, 1), f"its dilation is {h}x{w}"


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


def mean_axes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input is 4-D and the mean runs over height and width (constant axes 1 and 2), with or
    without keep_dims.

    Use GlobalAveragePooling2D, or reduce_mean over axes [1, 2].
    """
    x, axes, y = _input(graph, op, 0), _input(graph, op, 1), _output(graph, op)
    if len(x.shape) != 4:
        return False, f"its input is {list(x.shape)}"
    if axes.data is None:
        return False, "its axes are computed, not constant"
    found = sorted({int(a) % 4 if -4 <= a < 4 else int(a) for a in axes.data.reshape(-1)})
    kept = (1, 1, 1, x.shape[3]) if op.options.get("keep_dims") else (1, x.shape[3])
    return found == [1, 2] and y.shape == kept, f"it averages over axes {found}"


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
    quantized with scale 1/256 and zero point -128, as TFLite's int8 softmax requires.

    Quantize with the TFLite converter, which sets these output parameters for int8 softmax.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    ok = (
        x.shape == y.shape
        and len(y.shape) >= 1
        and (y.quant.scale[0], y.quant.zero_point[0]) == SOFTMAX_OUTPUT
    )
    return ok, f"its output is {list(y.shape)} with {quant_text(y)}"


def softmax_input_scale(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input scale times beta is above 2^-26, the smallest that TFLite's fixed-point int8
    softmax accepts.

    The logits' range has collapsed: train the model, or condition a model without trained
    weights (edgekit.frontend.mobilenet.condition_batchnorm), before quantizing.
    """
    scale = op.options.get("beta", 1.0) * _input(graph, op, 0).quant.scale[0]
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
    requires.

    Quantize with the TFLite converter, which sets these output parameters for int8 sigmoid.
    """
    y = _output(graph, op)
    ok = (y.quant.scale[0], y.quant.zero_point[0]) == SOFTMAX_OUTPUT
    return ok, f"its output has {quant_text(y)}"


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


# ---------------------------------------------------------------- the docstrings


@functools.cache
def rule_doc(rule: Rule) -> tuple[str, str]:
    """(constraint, what to change) from a rule's docstring, each on one line."""
    parts = inspect.getdoc(rule).split("\n\n")
    return " ".join(parts[0].split()), " ".join(" ".join(parts[1:]).split())
