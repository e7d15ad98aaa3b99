"""Kernel variants: the kernels that can run each op, and the pass that picks one per layer.

A variant is data: the op it runs, the target features it needs (``dsp``, ``mve``), its C
symbol and source files, the constraints it puts on the op, its scratch bytes, its in-place
rule and the layout it wants its weights in. ``KERNELS[op]`` lists the variants best first and
ends with the reference variant, which runs every op the op rules accept. A constraint is a
small function ``rule(graph, op, target) -> (ok, detail)`` like the op rules: its docstring's
first paragraph is the constraint a user reads, ``detail`` what this op has instead.

``select_kernels`` runs between the op checks and the memory planner: the planner takes the
chosen variants' scratch and in-place rules, the emitters their symbols and weight layouts,
and only their source files go into the C folder. Every variant computes the bytes its
reference variant computes (tests/test_kernels.py runs each on its board).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgekit.compiler import planner
from edgekit.compiler.ir import Graph, Op
from edgekit.compiler.oprules import Rule
from edgekit.errors import EdgekitError

if TYPE_CHECKING:
    from edgekit.platforms.targets import Target

MODES = ("auto", "ref")
InPlaceRule = planner.InPlaceRule


def _no_scratch(graph: Graph, op: Op) -> int:
    return 0


@dataclass(frozen=True)
class Variant:
    """One kernel for one op kind.

    ``layout`` names how the emitter writes the weights: ``tflite`` as the model stores them,
    ``folded`` as stored with the input offset folded into the bias (bias + input_offset times
    the sum of each output channel's weights), so that the kernel's inner loop is a plain int8
    dot product; ``blocked`` (depthwise) folded, with each group of four channels' taps
    stored together (``codegen.blocked_depthwise``); ``tiled`` (convolution) folded, with each
    block of four output channels' weights stored run of 16 by run of 16, zero-padded
    (``codegen.tiled_weights``); ``lanes16`` (depthwise 3x3) folded, in blocks of 16 channels:
    each block's nine taps together, a run of the input zero point for the padding, and each
    block's bias, multipliers and shifts in the order the kernel's lanes hold the channels
    (``codegen.lanes16_depthwise``).
    """

    name: str
    op: str
    symbol: str
    sources: tuple[str, ...]
    features: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    scratch_bytes: Callable[[Graph, Op], int] = _no_scratch
    in_place: InPlaceRule | None = None
    layout: str = "tflite"

    @property
    def reference(self) -> bool:
        return not self.features

    def accepts(self, graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
        """(ok, why not): the first constraint the op fails, as its rule and this op's detail."""
        for rule in self.rules:
            ok, detail = rule(graph, op, target)
            if not ok:
                return False, f"{constraint(rule).rstrip('.')}: {detail}"
        return True, ""


def constraint(rule: Rule) -> str:
    """The first paragraph of a rule's docstring, on one line."""
    return " ".join((rule.__doc__ or rule.__name__).strip().split("\n\n")[0].split())


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


def weights_symmetric(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """The weights are in [-127, 127], TFLite's int8 weight range (so that two products of a
    weight and an input add up in 16 bits)."""
    lowest = int(np.min(graph.constant(op.inputs[1])))
    return lowest >= -127, f"a weight is {lowest}"


def _im2col_bytes(graph: Graph, op: Op) -> int:
    """One output row's windows: output_w * filter_h * filter_w * input_c bytes."""
    _, kh, kw, cin = graph.tensor(op.inputs[1]).shape
    return graph.tensor(op.outputs[0]).shape[2] * kh * kw * cin


# ---------------------------------------------------------------- the registry


def _ref(op: str, symbol: str, source: str, in_place: InPlaceRule | None = None) -> Variant:
    return Variant(
        f"{symbol.removeprefix('ek_').removesuffix('_s8_ref')}_ref",
        op,
        symbol,
        (source,),
        in_place=in_place,
    )


KERNELS: dict[str, tuple[Variant, ...]] = {
    "CONV_2D": (
        Variant(
            "conv2d_1x1_mve",
            "CONV_2D",
            "ek_conv2d_1x1_s8_mve",
            ("ek_conv2d_mve.c", "ek_mve.h", "ek_im2col.h"),
            features=("mve",),
            rules=(pointwise,),
            layout="tiled",
        ),
        Variant(
            "conv2d_im2col_mve",
            "CONV_2D",
            "ek_conv2d_im2col_s8_mve",
            ("ek_conv2d_mve.c", "ek_mve.h", "ek_im2col.h"),
            features=("mve",),
            scratch_bytes=_im2col_bytes,
            layout="tiled",
        ),
        Variant(
            "conv2d_1x1_dsp",
            "CONV_2D",
            "ek_conv2d_1x1_s8_dsp",
            ("ek_conv2d_dsp.c", "ek_dsp.h", "ek_im2col.h"),
            features=("dsp",),
            rules=(pointwise,),
            layout="folded",
        ),
        Variant(
            "conv2d_im2col_dsp",
            "CONV_2D",
            "ek_conv2d_im2col_s8_dsp",
            ("ek_conv2d_dsp.c", "ek_dsp.h", "ek_im2col.h"),
            features=("dsp",),
            scratch_bytes=_im2col_bytes,
            layout="folded",
        ),
        _ref("CONV_2D", "ek_conv2d_s8_ref", "ek_conv2d.c"),
    ),
    "DEPTHWISE_CONV_2D": (
        Variant(
            "depthwise_conv2d_3x3_mve",
            "DEPTHWISE_CONV_2D",
            "ek_depthwise_conv2d_3x3_s8_mve",
            ("ek_depthwise_conv2d_3x3_mve.c", "ek_mve.h"),
            features=("mve",),
            rules=(depthwise_3x3, weights_symmetric),
            in_place=planner.depthwise_in_place,
            layout="lanes16",
        ),
        Variant(
            "depthwise_conv2d_3x3_dsp",
            "DEPTHWISE_CONV_2D",
            "ek_depthwise_conv2d_3x3_s8_dsp",
            ("ek_depthwise_conv2d_3x3_dsp.c", "ek_dsp.h"),
            features=("dsp",),
            rules=(depthwise_3x3,),
            in_place=planner.depthwise_in_place,
            layout="blocked",
        ),
        _ref(
            "DEPTHWISE_CONV_2D",
            "ek_depthwise_conv2d_s8_ref",
            "ek_depthwise_conv2d.c",
            planner.depthwise_in_place,
        ),
    ),
    "FULLY_CONNECTED": (
        Variant(
            "fully_connected_mve",
            "FULLY_CONNECTED",
            "ek_fully_connected_s8_mve",
            ("ek_fully_connected_mve.c", "ek_mve.h"),
            features=("mve",),
            layout="folded",
        ),
        Variant(
            "fully_connected_dsp",
            "FULLY_CONNECTED",
            "ek_fully_connected_s8_dsp",
            ("ek_fully_connected_dsp.c", "ek_dsp.h"),
            features=("dsp",),
            layout="folded",
        ),
        _ref("FULLY_CONNECTED", "ek_fully_connected_s8_ref", "ek_fully_connected.c"),
    ),
    "ADD": (
        Variant(
            "add_mve",
            "ADD",
            "ek_add_s8_mve",
            ("ek_add_mve.c", "ek_mve.h"),
            features=("mve",),
            in_place=planner.elementwise_in_place,
        ),
        Variant(
            "add_dsp",
            "ADD",
            "ek_add_s8_dsp",
            ("ek_add_dsp.c", "ek_dsp.h"),
            features=("dsp",),
            in_place=planner.elementwise_in_place,
        ),
        _ref("ADD", "ek_add_s8_ref", "ek_add.c", planner.elementwise_in_place),
    ),
    "MEAN": (
        Variant(
            "mean_hw_mve",
            "MEAN",
            "ek_mean_hw_s8_mve",
            ("ek_mean_mve.c", "ek_mve.h"),
            features=("mve",),
        ),
        Variant(
            "mean_hw_dsp",
            "MEAN",
            "ek_mean_hw_s8_dsp",
            ("ek_mean_dsp.c", "ek_dsp.h"),
            features=("dsp",),
        ),
        _ref("MEAN", "ek_mean_hw_s8_ref", "ek_mean.c"),
    ),
    "AVERAGE_POOL_2D": (_ref("AVERAGE_POOL_2D", "ek_avg_pool2d_s8_ref", "ek_avg_pool2d.c"),),
    "SOFTMAX": (_ref("SOFTMAX", "ek_softmax_s8_ref", "ek_softmax.c"),),
    "PAD": (_ref("PAD", "ek_pad_s8_ref", "ek_pad.c"),),
}


def variant(name: str) -> Variant:
    """The registered variant called ``name``."""
    for v in (v for vs in KERNELS.values() for v in vs):
        if v.name == name:
            return v
    raise KeyError(name)


# ---------------------------------------------------------------- selection


@dataclass(frozen=True)
class Choice:
    """The variant picked for one op, and why each better one was passed over."""

    variant: Variant
    passed_over: tuple[tuple[str, str], ...] = ()  # (variant name, reason)


def choose(graph: Graph, op: Op, target: Target, mode: str = "auto") -> Choice:
    """The best variant of ``op``'s kind that ``target`` has the features for and that accepts
    the op; with ``mode`` ``ref``, the reference variant."""
    passed = []
    for v in KERNELS[op.kind]:
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
    raise AssertionError(f"no reference variant accepted {op.kind}: {passed}")


def select_kernels(graph: Graph, target: Target, mode: str = "auto") -> dict[int, Choice]:
    """One variant per op that has kernels (RESHAPE has none: it is a copy or nothing), keyed by
    op index; ops must have passed ``oprules.require_supported``."""
    if mode not in MODES:
        raise EdgekitError(f"--kernels must be one of {', '.join(MODES)}, got {mode!r}")
    return {op.index: choose(graph, op, target, mode) for op in graph.ops if op.kind in KERNELS}


def reference_kernels(graph: Graph) -> dict[int, Choice]:
    """The reference variant of every op (any target: they are plain C99)."""
    return {op.index: Choice(KERNELS[op.kind][-1]) for op in graph.ops if op.kind in KERNELS}


def plan_inputs(graph: Graph, choices: Mapping[int, Choice]):
    """(in-place rules, scratch bytes) per op index, as ``planner.plan_memory`` takes them."""
    rules = {i: c.variant.in_place for i, c in choices.items()}
    scratch = {i: c.variant.scratch_bytes(graph, graph.ops[i]) for i, c in choices.items()}
    return rules, {i: n for i, n in scratch.items() if n > 0}


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


def variants_markdown() -> list[str]:
    """The kernel variants section of docs/supported-ops.md, from the registry."""
    lines = [
        "## Kernel variants",
        "",
        "Each supported operator runs one of these kernels, picked per layer: the first one in",
        "its list that the target has the features for (`features` in the target file) and whose",
        "constraints the layer meets; the reference kernel, last, runs every layer. Each",
        "computes the same bytes as the reference kernel. `--kernels ref` picks the reference",
        "kernels only.",
    ]
    for kind, options in KERNELS.items():
        lines += [
            "",
            f"### {kind} kernels",
            "",
            "| Variant | Needs | Constraints |",
            "|---|---|---|",
        ]
        for v in options:
            needs = ", ".join(v.features) or "any C99 target"
            rules = " ".join(constraint(rule) for rule in v.rules) or "none"
            lines.append(f"| `{v.name}` | {needs} | {rules} |")
    return lines
