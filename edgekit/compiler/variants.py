"""Kernel variants: the kernels that can run an op, and the pass that picks one per layer.

A variant is data: its name (which names its C function), its source files, the target features
it needs (``dsp``, ``mve``), the constraints it puts on the op, its scratch bytes, its in-place
rule and the layout it wants its weights in (``edgekit.compiler.layouts``). Each op kind lists
its variants in the operator registry (``edgekit.compiler.ops``), best first, ending with the
reference variant, which runs every op the op rules accept. A constraint is a small function
``rule(graph, op, target) -> (ok, detail)`` like the op rules: its docstring's first paragraph
is the constraint a user reads, ``detail`` what this op has instead.

Picking runs between the op checks and the memory planner: the planner takes the chosen
variants' scratch and in-place rules, the emitters their symbols and weight layouts, and only
their source files go into the C folder. Every variant computes the bytes its reference variant
computes (tests/test_kernels.py and tests/test_variants.py run each on its board).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgekit.compiler.ir import Graph, Op
from edgekit.compiler.layouts import TFLITE, Layout, folded_bias
from edgekit.compiler.oprules import Rule, rule_doc
from edgekit.compiler.planner import InPlaceRule
from edgekit.errors import InternalError

if TYPE_CHECKING:
    from edgekit.platforms.targets import Target


def _no_scratch(graph: Graph, op: Op) -> int:
    return 0


@dataclass(frozen=True)
class Variant:
    """One kernel for one op kind, named ``<kernel>_<features>`` (``conv2d_1x1_dsp``) or
    ``<kernel>_ref``; ``layout`` is how the emitter writes its weights and bias. ``dtype`` is
    the activation type it computes in: "int8", or "int16" for 16x8 (int16 activations, int8
    weights), matched against the op's first computed input (``data_type``), or "float32" for
    a float op (float32 in and out: ``computes_float``). ``emit``, where set, writes the op in
    place of its kind's emitter (the float32 variants' parameters are their own:
    ``edgekit.compiler.floats``)."""

    name: str
    sources: tuple[str, ...]
    features: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    scratch_bytes: Callable[[Graph, Op], int] = _no_scratch
    in_place: InPlaceRule | None = None
    layout: Layout = TFLITE
    dtype: str = "int8"
    emit: Callable[..., None] | None = None

    @property
    def reference(self) -> bool:
        return not self.features

    @property
    def symbol(self) -> str:
        """Its C function: the name with ``_s8`` (``_s16`` for 16x8, ``_f32`` for float32)
        before its last part (ek_conv2d_1x1_s8_dsp, ek_conv2d_s16_ref, ek_conv2d_f32_ref)."""
        kernel, _, suffix = self.name.rpartition("_")
        return f"ek_{kernel}_{TYPE_SUFFIX[self.dtype]}_{suffix}"

    def accepts(self, graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
        """(ok, why not): the first constraint the op fails, as its rule and this op's detail."""
        computes = data_type(graph, op)
        if (computes == "int16") != (self.dtype == "int16"):
            return False, f"it computes in {self.dtype}; the op's input is {computes}"
        if (self.dtype == "float32") != computes_float(graph, op):
            return False, f"it computes in {self.dtype}; the op's input is {computes}"
        for rule in self.rules:
            ok, detail = rule(graph, op, target)
            if not ok:
                return False, f"{rule_doc(rule)[0].rstrip('.')}: {detail}"
        return True, ""


BITS = {"int8": 8, "int16": 16}
TYPE_SUFFIX = {"int8": "s8", "int16": "s16", "float32": "f32"}  # of the kernels' C names


def data_type(graph: Graph, op: Op) -> str:
    """The type an op computes in: its first computed (not constant) input's, the one an
    int8 and a 16x8 variant tell apart."""
    for index in op.inputs:
        if index >= 0 and graph.tensor(index).data is None:
            return graph.tensor(index).dtype
    return graph.tensor(op.inputs[0]).dtype


def computes_float(graph: Graph, op: Op) -> bool:
    """Whether the op computes in float32: its first computed input and its first output are
    float32 (QUANTIZE of a float32 input computes in its integer output's kernels)."""
    return data_type(graph, op) == "float32" and graph.tensor(op.outputs[0]).dtype == "float32"


# ---------------------------------------------------------------- constraints


def _window(graph: Graph, op: Op) -> tuple[int, int, int, int]:
    kernel = graph.tensor(op.inputs[1]).shape
    return kernel[1], kernel[2], op.options["stride_h"], op.options["stride_w"]


def pointwise(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The filter is 1x1 with stride 1 (a matrix multiply of pixels by weights)."""
    kh, kw, sh, sw = _window(graph, op)
    return (kh, kw, sh, sw) == (1, 1, 1, 1), f"its filter is {kh}x{kw} with stride {sh}x{sw}"


def depthwise_3x3(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The filter is 3x3 with stride 1 or 2 (the same along height and width) and a depth
    multiplier of 1."""
    kh, kw, sh, sw = _window(graph, op)
    mult = op.options.get("depth_multiplier", 1)
    ok = (kh, kw) == (3, 3) and sh == sw and sh in (1, 2) and mult == 1
    return ok, f"its filter is {kh}x{kw} with stride {sh}x{sw} and depth multiplier {mult}"


def undilated(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Dilation is 1 along height and width (a dilated layer runs its own variant)."""
    h, w = op.options.get("dilation_h", 1), op.options.get("dilation_w", 1)
    return (h, w) == (1, 1), f"its dilation is {h}x{w}"


def spatial_mean(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input is 4-D and the mean runs over its height and width (axes 1 and 2)."""
    rank = len(graph.tensor(op.inputs[0]).shape)
    axes = sorted({int(a) % rank for a in graph.constant(op.inputs[1]).reshape(-1)})
    return rank == 4 and axes == [1, 2], f"it averages a {rank}-D input over axes {axes}"


def int8_input(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The input is int8 (an int8 rescale: one table lookup per element)."""
    dtype = graph.tensor(op.inputs[0]).dtype
    return dtype == "int8", f"its input is {dtype}"


def channel_broadcast(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """One input has the output's shape and the other one value per channel (its last axis
    the output's, every other axis 1: squeeze-and-excite), in either order."""
    out = graph.tensor(op.outputs[0]).shape
    shapes = [graph.tensor(i).shape for i in op.inputs[:2]]

    def per_channel(shape: tuple[int, ...]) -> bool:
        return len(shape) <= len(out) and shape[-1:] == out[-1:] and int(np.prod(shape)) == out[-1]

    ok = len(out) >= 1 and any(shapes[k] == out and per_channel(shapes[1 - k]) for k in (0, 1))
    return ok, f"its inputs are {list(shapes[0])} and {list(shapes[1])}"


def weights_symmetric(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The weights are in [-127, 127], TFLite's int8 weight range (so that two products of a
    weight and an input add up in 16 bits)."""
    lowest = int(np.min(graph.constant(op.inputs[1])))
    return lowest >= -127, f"a weight is {lowest}"


def depthwise_dsp_bias(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """Each channel's bias plus the input offset times the sum of its weights is within
    +-2^24 (so that the DSP kernel's doubled sums stay inside int32)."""
    zero = int(graph.tensor(op.inputs[0]).quant.zero_point[0])
    largest = int(np.max(np.abs(folded_bias(graph, op, -zero).astype(np.int64))))
    return largest <= 1 << 24, f"one is {largest}"


def depthwise_rows_bytes(graph: Graph, op: Op) -> int:
    """The three input rows of four channels, padded, as the DSP kernel's 16-bit pairs: 24 *
    ((output_w - 1) * stride_w + 3) bytes."""
    return 24 * ((graph.tensor(op.outputs[0]).shape[2] - 1) * op.options["stride_w"] + 3)


def depthwise_dsp_window(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The depth multiplier is 1 and the window has at most 1024 taps (so that the DSP
    kernel's doubled sums stay inside int32)."""
    _, kh, kw, _ = graph.tensor(op.inputs[1]).shape
    mult = op.options.get("depth_multiplier", 1)
    return mult == 1 and kh * kw <= 1024, f"its filter is {kh}x{kw}, depth multiplier {mult}"


def depthwise_window_bytes(graph: Graph, op: Op) -> int:
    """The window's input rows for four channels, padded, as the DSP kernel's pairs of rows:
    16 * ceil(filter_h / 2) * ((output_w - 1) * stride_w + filter_w) bytes."""
    _, kh, kw, _ = graph.tensor(op.inputs[1]).shape
    width = (graph.tensor(op.outputs[0]).shape[2] - 1) * op.options["stride_w"] + kw
    return 16 * ((kh + 1) // 2) * width


def im2col_bytes(graph: Graph, op: Op) -> int:
    """One output row's windows: output_w * filter_h * filter_w * input_c bytes."""
    _, kh, kw, cin = graph.tensor(op.inputs[1]).shape
    return graph.tensor(op.outputs[0]).shape[2] * kh * kw * cin


def fc_pairs_bytes(graph: Graph, op: Op) -> int:
    """One input row widened to int16, its length rounded up to a multiple of eight: 2 * 8 *
    ceil(K / 8) bytes (ek_fully_connected_s8_dsp)."""
    depth = graph.tensor(op.inputs[1]).shape[-1]
    return 16 * -(-depth // 8)


# ---------------------------------------------------------------- picking


@dataclass(frozen=True)
class Choice:
    """The variant picked for one op, and why each better one was passed over."""

    variant: Variant
    passed_over: tuple[tuple[str, str], ...] = ()  # (variant name, reason)


def pick_variant(
    variants: Sequence[Variant], graph: Graph, op: Op, target: Target, mode: str = "auto"
) -> Choice:
    """The first of ``variants`` (an op kind's, best first) that ``target`` has the features
    for and that accepts ``op``; with ``mode`` ``ref``, the reference variant."""
    passed = []
    for v in variants:
        if mode == "ref" and not v.reference:
            passed.append((v.name, "--kernels ref"))
            continue
        missing = [f for f in v.features if f not in target.features]
        if missing:
            passed.append((v.name, f"{target.name} lacks {', '.join(missing)}"))
            continue
        ok, why = v.accepts(graph, op, target)
        if ok:
            return Choice(v, tuple(passed))
        passed.append((v.name, why))
    raise InternalError(f"no reference variant accepted {op.kind} (op {op.index}): {passed}")


def kernel_report(graph: Graph, choices: Mapping[int, Choice], mode: str) -> dict:
    """The per-layer choice as it goes into the artifact's details and report.json."""
    layers = []
    for op in graph.ops:
        c = choices.get(op.index)
        row = {"layer": graph.layer_name(op), "op": op.kind}
        row["variant"] = c.variant.name if c else None
        if c and c.passed_over:
            row["passed_over"] = [{"variant": n, "why": w} for n, w in c.passed_over]
        layers.append(row)
    return {"mode": mode, "layers": layers}
