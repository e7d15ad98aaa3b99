"""Which operators the c backend runs: every op is checked, rule by rule, before code is generated.

A rule is a small function ``rule(graph, op, target) -> (ok, detail)``. Its docstring is what a
user reads: the first paragraph states the constraint (a line of docs/supported-ops.md, which
``supported_ops_markdown`` writes from these docstrings), the second says what to change in the
model; ``detail`` says what this op has instead. An op's rules run in order and stop at its first
failure, so each rule may rely on the ones before it (shapes are checked before they are used).

Dilation is refused on purpose: MobileNetV2-like models never dilate, and every kernel variant
(plain C now, DSP and MVE later) would need its own bit-exactness tests for it. Allowing it is
deleting ``no_dilation`` and testing the kernels.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgekit.compiler.ir import Graph, Op, Tensor, padding_amounts, short_name
from edgekit.errors import EdgekitError

if TYPE_CHECKING:
    from edgekit.platforms.targets import Target

Rule = Callable[[Graph, Op, "Target"], tuple[bool, str]]

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
SOFTMAX_OUTPUT = (1 / 256, -128)
# TFLite's int8 softmax scales differences of logits to a Q5.26 value and needs a multiplier > 1.
SOFTMAX_MIN_SCALE = 2.0**-26
DOCS = "docs/supported-ops.md"


# ---------------------------------------------------------------- helpers


def _input(graph: Graph, op: Op, k: int) -> Tensor | None:
    """The op's k-th input tensor; None when absent (optional or missing)."""
    return graph.tensors[op.inputs[k]] if k < len(op.inputs) and op.inputs[k] >= 0 else None


def _output(graph: Graph, op: Op) -> Tensor:
    return graph.tensors[op.outputs[0]]


def _activations(graph: Graph, op: Op) -> Iterator[tuple[Tensor, bool]]:
    """(tensor, is_input) for the op's data inputs (not weights, bias, axes, paddings or a shape,
    which their own rules check) and its outputs."""
    params = SUPPORTED[op.kind].params
    for k, index in enumerate(op.inputs):
        if index >= 0 and k not in params:
            yield graph.tensors[index], True
    for index in op.outputs:
        yield graph.tensors[index], False


def _same_quant(a: Tensor, b: Tensor) -> bool:
    return (
        a.quant is not None
        and b.quant is not None
        and np.array_equal(a.quant.scale, b.quant.scale)
        and np.array_equal(a.quant.zero_point, b.quant.zero_point)
    )


def _quant_text(t: Tensor) -> str:
    if t.quant is None:
        return "no quantization"
    return f"scale {t.quant.scale[0]:.6g}, zero point {t.quant.zero_point[0]}"


# ---------------------------------------------------------------- rules for every operator


def supported_kind(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The operator is {kinds}.

    Replace the layer with one that converts to a supported operator (see docs/supported-ops.md).
    """
    return op.kind in SUPPORTED, f"the c backend has no {op.kind} kernel"


def operand_count(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The operator has the inputs and the single output TFLite defines for it.

    Re-export the model with the TFLite converter.
    """
    low, high = SUPPORTED[op.kind].inputs
    present = all(i >= 0 for i in op.inputs[:low])
    ok = low <= len(op.inputs) <= high and present and len(op.outputs) == 1
    return ok, f"it has {len(op.inputs)} inputs and {len(op.outputs)} outputs"


def int8_activations(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Activations are int8 with one positive scale and one zero point in [-128, 127] per
    tensor.

    Quantize with the TFLite converter's full-integer int8 scheme (as 'edgekit quantize' does).
    """
    for t, _ in _activations(graph, op):
        if t.dtype != "int8":
            return False, f"tensor '{short_name(t.name)}' is {t.dtype}"
        q = t.quant
        if q is None or not q.per_tensor or q.zero_point.size != 1:
            return False, f"tensor '{short_name(t.name)}' has no single scale and zero point"
        if not (np.isfinite(q.scale[0]) and q.scale[0] > 0 and -128 <= q.zero_point[0] <= 127):
            return False, f"tensor '{short_name(t.name)}' has {_quant_text(t)}"
    return True, ""


def static_batch_one(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Activation shapes are static, with batch 1 (the first dimension).

    Convert with a batch-1 input, keras.Input(shape, batch_size=1), as 'edgekit quantize' does.
    """
    for t, _ in _activations(graph, op):
        if t.data is not None:
            continue
        if t.dynamic:
            return False, f"tensor '{short_name(t.name)}' has a dynamic shape"
        if t.shape and t.shape[0] != 1:
            return False, f"tensor '{short_name(t.name)}' has batch {t.shape[0]}"
    return True, ""


GENERIC_RULES: tuple[Rule, ...] = (
    supported_kind,
    operand_count,
    int8_activations,
    static_batch_one,
)


# ---------------------------------------------------------------- shared by several operators


def fused_activation(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The fused activation is NONE, RELU, RELU6 or RELU_N1_TO_1.

    Use ReLU, ReLU6 or no activation right after the layer.
    """
    activation = op.options.get("activation", "NONE")
    return activation in ACTIVATIONS, f"its fused activation is {activation}"


def int8_weights(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The weights are constant int8 with zero point 0, quantized per tensor or per output
    channel (axis 0 of CONV_2D's and FULLY_CONNECTED's weights, axis 3 of DEPTHWISE_CONV_2D's).

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
    bias = _input(graph, op, 2)
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
    return _same_quant(x, y), f"its input has {_quant_text(x)}, its output {_quant_text(y)}"


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

    Use AveragePooling2D on a 4-D (batch, height, width, channels) input.
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
    return ok, f"its output is {list(y.shape)} with {_quant_text(y)}"


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


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class OpSupport:
    """What the c backend accepts for one operator kind.

    ``inputs`` is (fewest, most) inputs; ``params`` the input positions that are not
    activations (weights, bias, axes, paddings, a shape: their own rules check them);
    ``layers`` the Keras layers that convert to it (for the docs).
    """

    rules: tuple[Rule, ...]
    inputs: tuple[int, int]
    layers: str
    params: tuple[int, ...] = ()


_CONV_COMMON = (int8_weights, int32_bias, fused_activation, no_dilation, window_geometry)

SUPPORTED: dict[str, OpSupport] = {
    "CONV_2D": OpSupport((conv_shapes, *_CONV_COMMON), (2, 3), "Conv2D", (1, 2)),
    "DEPTHWISE_CONV_2D": OpSupport(
        (depthwise_shapes, *_CONV_COMMON), (2, 3), "DepthwiseConv2D", (1, 2)
    ),
    "ADD": OpSupport((add_shapes, fused_activation), (2, 2), "Add"),
    "MEAN": OpSupport((mean_axes,), (2, 2), "GlobalAveragePooling2D", params=(1,)),
    "AVERAGE_POOL_2D": OpSupport(
        (pool_channels, same_quantization, fused_activation, window_geometry),
        (1, 1),
        "AveragePooling2D",
    ),
    "FULLY_CONNECTED": OpSupport(
        (
            fully_connected_shapes,
            default_weights_layout,
            int8_weights,
            int32_bias,
            fused_activation,
        ),
        (2, 3),
        "Dense",
        (1, 2),
    ),
    "SOFTMAX": OpSupport((softmax_output, softmax_input_scale), (1, 1), "Softmax"),
    "RESHAPE": OpSupport((reshape_size, same_quantization), (1, 2), "Reshape, Flatten", (1,)),
    "PAD": OpSupport((pad_amounts, same_quantization), (2, 2), "ZeroPadding2D", params=(1,)),
}


# The list of kinds lives in the registry; the rule's docstring states it.
supported_kind.__doc__ = supported_kind.__doc__.format(
    kinds=", ".join(list(SUPPORTED)[:-1]) + " or " + list(SUPPORTED)[-1]
)


def rules_for(kind: str) -> tuple[Rule, ...]:
    """Every rule an op of ``kind`` is checked against, in order."""
    return GENERIC_RULES + (SUPPORTED[kind].rules if kind in SUPPORTED else ())


@functools.cache
def _doc(rule: Rule) -> tuple[str, str]:
    """(constraint, what to change) from the rule's docstring, each on one line."""
    parts = inspect.getdoc(rule).split("\n\n")
    return " ".join(parts[0].split()), " ".join(" ".join(parts[1:]).split())


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
    for rule in rules_for(op.kind):
        ok, detail = rule(graph, op, target)
        constraint, fix = _doc(rule)
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


# ---------------------------------------------------------------- the generated document


def supported_ops_markdown() -> str:
    """docs/supported-ops.md, written from the rules' docstrings."""
    lines = [
        "# Operators the c backend supports",
        "",
        "<!-- Generated from edgekit/compiler/oprules.py by `python -m edgekit.compiler.oprules > "
        f"{DOCS}`; do not edit. -->",
        "",
        "Before any code is generated, every operator of the int8 `.tflite` is checked against",
        "the rules below. The first operator that breaks one stops the build with a one-line",
        "error naming the operator, its layer, what it has, the rule and what to change.",
        "",
        "## Every operator",
        "",
        *(f"- {_doc(rule)[0]}" for rule in GENERIC_RULES),
        "",
        "## Operators",
        "",
        "| Operator | Keras layers |",
        "|---|---|",
        *(f"| [{kind}](#{kind.lower()}) | {s.layers} |" for kind, s in SUPPORTED.items()),
    ]
    for kind, support in SUPPORTED.items():
        lines += ["", f"### {kind}", "", *(f"- {_doc(rule)[0]}" for rule in support.rules)]
    from edgekit.compiler.variants import variants_markdown  # variants imports this module

    return "\n".join(lines + ["", *variants_markdown()]) + "\n"


if __name__ == "__main__":
    print(supported_ops_markdown(), end="")
