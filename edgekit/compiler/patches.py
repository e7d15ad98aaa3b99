"""Patch-based execution: the first layers run tile by tile, so that their large activations
never exist whole in the arena.

The graph is split at a *cut*: the output of op ``cut``. Ops 0 to ``cut`` are the patch stage;
the rest runs layer by layer as before. The cut tensor is divided into a grid of tiles. For
each tile, the region of every stage tensor that the tile needs is found by walking back
through the stage: a window op's output rows need the input rows its windows cover (less the
padding), a PAD needs its region less the padding, an ADD the same region of both inputs.
Neighbouring tiles' regions overlap; the overlap is computed once per tile that needs it, which
is what patches cost in instructions.

Each tile's stage is a graph of its own (``region_graph``): the same ops, constants and
quantization, tensors the shape of their regions, and every window op carrying its pads in
that region (``explicit_padding``), so the emitters, kernel variants, scratch sizes and
in-place rules apply to it unchanged. The planner places each tile's tensors in one patch
area; the whole arena's plan sees the stage as one op that reads the graph input, writes the
cut tensor and needs the patch area as scratch. Every tile's region of the graph input is
copied into the patch area first, and its part of the cut tensor copied out last.

A tensor read by several ops must be needed whole by each of them, except by an ADD, which
reads a window of a larger region row by row (a residual's skip input). A cut or grid that
breaks this, or whose ops are not spatial (``PATCH_OPS``), is not a candidate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from edgekit.compiler.ir import Graph, Op, Tensor, op_macs, window
from edgekit.compiler.ops import plan_inputs
from edgekit.compiler.planner import MemoryPlan, aligned, live_bytes, plan_memory, tensor_bytes
from edgekit.compiler.variants import Choice
from edgekit.config import CompileOptions, patch_grid
from edgekit.errors import EdgekitError

PATCH_OPS = frozenset(("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "PAD", "ADD"))
WINDOW_OPS = frozenset(("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"))
STAGE = "PATCH_STAGE"  # the op kind of the stage in the whole arena's plan
MAX_GRID = 8  # tiles along one axis that auto tries
# auto takes the smallest arena; a plan at most this much larger is taken if it costs less
ARENA_SLACK = 0.01


@dataclass(frozen=True)
class Box:
    """Rows y0 <= y < y1 and columns x0 <= x < x1 of a tensor."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    def __str__(self) -> str:
        return f"rows {self.y0}-{self.y1 - 1}, columns {self.x0}-{self.x1 - 1}"


@dataclass(frozen=True)
class Tile:
    box: Box  # the tile, in the cut tensor
    regions: dict[int, Box]  # every stage tensor's region that the tile needs
    graph: Graph  # the stage on those regions
    plan: MemoryPlan  # its tensors in the patch area (offsets from the area's start)


@dataclass(frozen=True)
class PatchPlan:
    cut: int  # index of the stage's last op; its output is the cut tensor
    grid: tuple[int, int]  # tiles down, tiles across
    tiles: tuple[Tile, ...]
    patch_bytes: int  # the patch area: the largest tile's plan
    graph: Graph  # the graph with the stage as one op (kind STAGE, index ``cut``)
    plan: MemoryPlan  # the whole arena, for ``graph``
    plain: MemoryPlan  # the same model layer by layer, without patches
    work: int  # estimated work of one inference with patches (see ``op_work``)
    plain_work: int  # and without
    chosen: str = "smallest"  # how: "fastest" within ``limit``, "smallest", or a named "grid"
    limit: int | None = None  # the arena limit it was chosen within
    limit_from: str | None = None  # "arena-limit" or "board RAM"

    @property
    def overhead(self) -> float:
        """Estimated extra work over the same model without patches (0.12: 12% more)."""
        return self.work / self.plain_work - 1

    @property
    def cut_tensor(self) -> int:
        return self.graph.ops[0].outputs[0]

    @property
    def grid_text(self) -> str:
        return f"{self.grid[0]}x{self.grid[1]}"


# ---------------------------------------------------------------- regions


# The work estimate patch plans are compared in, in multiply-accumulates: an op's MACs plus
# OUTPUT_WORK per element it writes and INPUT_WORK per element it reads; a copy COPY_WORK per
# byte. Fitted to the per-layer instruction counts of MobileNetV2 0.35@96 on the Cortex-M7 (DSP)
# and Cortex-M55 (MVE) kernels, where instructions ~ a * (MACs + 12 outputs + 3 inputs) on both.
OUTPUT_WORK, INPUT_WORK, COPY_WORK = 12, 3, 0.5

Span = tuple[int, int]  # lo <= i < hi along one axis


@dataclass(frozen=True)
class _Reads:
    """How an op's output positions along one axis read its input's: output i reads inputs
    i * stride - before to i * stride - before + kernel - 1, of ``size``."""

    kernel: int
    stride: int
    before: int
    size: int

    def need(self, span: Span) -> Span:
        lo, hi = span
        return (
            max(lo * self.stride - self.before, 0),
            min((hi - 1) * self.stride - self.before + self.kernel, self.size),
        )


def _spatial(t: Tensor) -> tuple[int, int, int]:
    _, h, w, c = t.shape
    return h, w, c


def _pads(graph: Graph, op: Op) -> np.ndarray:
    return np.asarray(graph.constant(op.inputs[1]), np.int64).reshape(-1, 2)


def _reads(graph: Graph, op: Op) -> tuple[_Reads, _Reads]:
    """Along rows and columns: how ``op`` reads its (first) activation input."""
    h, w, _ = _spatial(graph.tensor(op.inputs[0]))
    if op.kind in WINDOW_OPS:
        kh, kw, sh, sw, top, left = window(graph, op)
        # a dilated window spans (kernel - 1) * dilation + 1 inputs
        kh = (kh - 1) * op.options.get("dilation_h", 1) + 1
        kw = (kw - 1) * op.options.get("dilation_w", 1) + 1
        return _Reads(kh, sh, top, h), _Reads(kw, sw, left, w)
    if op.kind == "PAD":
        pads = _pads(graph, op)
        return _Reads(1, 1, int(pads[1, 0]), h), _Reads(1, 1, int(pads[2, 0]), w)
    return _Reads(1, 1, 0, h), _Reads(1, 1, 0, w)  # ADD


def _activations(graph: Graph, op: Op) -> list[int]:
    return list(dict.fromkeys(t for t in op.inputs if t >= 0 and graph.tensor(t).data is None))


def op_work(graph: Graph, op: Op) -> float:
    """An op's estimated work over its whole tensors (see OUTPUT_WORK)."""
    return (
        op_macs(graph, op)
        + OUTPUT_WORK * graph.tensor(op.outputs[0]).size
        + INPUT_WORK * sum(graph.tensor(t).size for t in _activations(graph, op))
    )


def cut_problem(graph: Graph, cut: int) -> str | None:
    """Why ops 0 to ``cut`` cannot be a patch stage; None when they can."""
    if len(graph.inputs) != 1 or not 0 <= cut < len(graph.ops) - 1:
        return "the model needs one input and an op after the cut"
    stage = graph.ops[: cut + 1]
    made = {graph.inputs[0]} | {t for op in stage for t in op.outputs}
    for op in stage:
        name = f"{op.kind} {graph.layer_name(op)}"
        if op.kind not in PATCH_OPS:
            return f"{name} does not run on a part of its input"
        tensors = _activations(graph, op)
        if op.kind == "PAD" and graph.tensor(op.inputs[1]).data is None:
            return f"{name} has pads that are not constant"
        for t in (*tensors, *op.outputs):
            shape = graph.tensor(t).shape
            if len(shape) != 4 or shape[0] != 1:
                return f"{name} has a tensor of shape {shape}, not one image (1, H, W, C)"
            if graph.tensor(t).dtype != "int8":  # tiles are copied as bytes of int8 values
                return f"{name} has a {graph.tensor(t).dtype} tensor (patches run int8 layers)"
        out_shape = graph.tensor(op.outputs[0]).shape
        if op.kind == "ADD" and any(graph.tensor(t).shape != out_shape for t in tensors):
            return f"{name} broadcasts"
        if any(t not in made for t in tensors):
            return f"{name} reads a tensor from outside the stage"
    cut_tensor = stage[-1].outputs[0]
    for op in graph.ops[cut + 1 :]:
        crossing = [t for t in op.inputs if t in made and t != cut_tensor]
        if crossing:
            producer = graph.producer(crossing[0])
            inside = graph.layer_name(producer) if producer else "the graph input"
            return f"{graph.layer_name(op)} reads {inside}, inside the stage, besides the cut"
    if any(t in made and t != cut_tensor for t in graph.outputs):
        return "a graph output is inside the stage"
    return None


def axis_regions(graph: Graph, cut: int, span: Span, axis: int) -> dict[int, Span] | str:
    """Along rows (axis 0) or columns (1): the span of every stage tensor that ``span`` of the
    cut tensor needs, or why it cannot run as a patch. Regions are boxes, so a tile's regions
    are its row band's spans by its column band's."""
    regions = {graph.ops[cut].outputs[0]: span}
    reads = {op.index: _reads(graph, op)[axis] for op in graph.ops[: cut + 1]}
    for op in reversed(graph.ops[: cut + 1]):
        out = regions.get(op.outputs[0])
        if out is None:
            return f"the cut does not need {graph.layer_name(op)}"
        need = reads[op.index].need(out)
        if need[1] <= need[0]:
            return f"a tile of {graph.layer_name(op)} reads only padding"
        for t in _activations(graph, op):
            old = regions.get(t, need)
            regions[t] = (min(old[0], need[0]), max(old[1], need[1]))
    for op in graph.ops[: cut + 1]:
        if (
            op.kind != "ADD"
            and reads[op.index].need(regions[op.outputs[0]]) != regions[op.inputs[0]]
        ):
            return f"{graph.layer_name(op)} reads part of a tensor that another op reads more of"
    return regions


def _stage_work(graph: Graph, cut: int, rows: list[dict], cols: list[dict]) -> float:
    """The estimated work of the stage over all tiles of a grid whose row bands need
    ``rows`` and column bands ``cols`` (sums over tiles factor into rows times columns)."""

    def area(t: int) -> int:
        return sum(hi - lo for lo, hi in (r[t] for r in rows)) * sum(
            hi - lo for lo, hi in (c[t] for c in cols)
        )

    work = 0.0
    for op in graph.ops[: cut + 1]:
        out = graph.tensor(op.outputs[0])
        h, w, c = _spatial(out)
        per_pixel = op_macs(graph, op) / (h * w) + OUTPUT_WORK * c
        out_area = area(op.outputs[0])
        work += per_pixel * out_area
        for t in _activations(graph, op):
            # an ADD reads its output's area of every input; a window op its input's region
            read = out_area if op.kind == "ADD" else area(t)
            work += INPUT_WORK * _spatial(graph.tensor(t))[2] * read
    src = graph.inputs[0]
    copies = (
        area(src) * _spatial(graph.tensor(src))[2] + graph.tensor(graph.ops[cut].outputs[0]).size
    )
    return work + COPY_WORK * copies


def region_graph(graph: Graph, cut: int, regions: Mapping[int, Box]) -> Graph:
    """Ops 0 to ``cut`` on ``regions``: region-shaped tensors, window ops with their pads in
    the region, PADs with their pads in the region, ADDs with where their output's region
    starts in each larger input (``input_windows``)."""
    tensors = list(graph.tensors)
    for t, box in regions.items():
        _, _, _, c = graph.tensor(t).shape
        tensors[t] = replace(graph.tensor(t), shape=(1, box.h, box.w, c))
    ops = []
    for op in graph.ops[: cut + 1]:
        out = regions[op.outputs[0]]
        options, inputs = dict(op.options), op.inputs
        if op.kind in WINDOW_OPS:
            src = regions[op.inputs[0]]
            _, _, sh, sw, top, left = window(graph, op)
            options["explicit_padding"] = (
                src.y0 - (out.y0 * sh - top),
                src.x0 - (out.x0 * sw - left),
            )
        elif op.kind == "PAD":
            src = regions[op.inputs[0]]
            pads = _pads(graph, op).copy()
            for axis, before, size, got in ((1, out.y0, out.h, src.h), (2, out.x0, out.w, src.w)):
                pads[axis, 0] = max(int(pads[axis, 0]) - before, 0)
                pads[axis, 1] = size - got - pads[axis, 0]
            pad_tensor = graph.tensor(op.inputs[1])
            data = pads.astype(np.int32)
            tensors.append(replace(pad_tensor, index=len(tensors), shape=pads.shape, data=data))
            inputs = (op.inputs[0], len(tensors) - 1, *op.inputs[2:])
        elif op.kind == "ADD":
            windows = {
                t: (out.y0 - regions[t].y0, out.x0 - regions[t].x0)
                for t in op.inputs[:2]
                if regions[t] != out
            }
            if windows:
                options["input_windows"] = windows
        ops.append(replace(op, inputs=inputs, options=options))
    return Graph(tuple(tensors), tuple(ops), graph.inputs, (graph.ops[cut].outputs[0],), graph.name)


def bands(n: int, parts: int) -> list[Span]:
    """``n`` positions in ``parts`` bands as even as whole positions allow."""
    edges = [i * n // parts for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts)]


# ---------------------------------------------------------------- plans


@dataclass(frozen=True)
class _Candidate:
    """A cut and grid whose regions work out, before its tiles are planned."""

    cut: int
    grid: tuple[int, int]
    rows: list[dict[int, Span]]  # each row band's spans
    cols: list[dict[int, Span]]  # each column band's spans
    work: float
    arena_estimate: int  # without in-place ops and scratch (the planner goes below it)


class _Search:
    """Candidates of one graph, the axis regions of every cut and band count computed once."""

    def __init__(self, graph: Graph, kernels: Mapping[int, Choice]) -> None:
        self.graph = graph
        self.rules, self.scratch = plan_inputs(graph, kernels)
        self.plain_work = sum(op_work(graph, op) for op in graph.ops)
        self._axes: dict[tuple[int, int, int], list | str] = {}
        self._floors: dict[int, int] = {}

    def _axis(self, cut: int, axis: int, parts: int) -> list[dict[int, Span]] | str:
        key = (cut, axis, parts)
        if key not in self._axes:
            n = _spatial(self.graph.tensor(self.graph.ops[cut].outputs[0]))[axis]
            found = [axis_regions(self.graph, cut, band, axis) for band in bands(n, parts)]
            self._axes[key] = next((f for f in found if isinstance(f, str)), found)
        return self._axes[key]

    def floor(self, cut: int) -> int:
        """The arena of the graph with the stage as one op that needs no patch area: what
        any plan at ``cut`` needs at least, about (the patch area only adds to it)."""
        if cut not in self._floors:
            rest = {op.index for op in self.graph.ops[cut + 1 :]}
            self._floors[cut] = plan_memory(
                stage_graph(self.graph, cut),
                rules={i: r for i, r in self.rules.items() if i in rest},
                scratch={i: n for i, n in self.scratch.items() if i in rest},
            ).arena_bytes
        return self._floors[cut]

    def candidate(self, cut: int, grid: tuple[int, int]) -> _Candidate | str:
        graph = self.graph
        problem = cut_problem(graph, cut)
        if problem:
            return problem
        h, w, _ = _spatial(graph.tensor(graph.ops[cut].outputs[0]))
        if not (1 <= grid[0] <= h and 1 <= grid[1] <= w) or grid[0] * grid[1] < 2:
            return f"a {grid[0]}x{grid[1]} grid does not divide a {h}x{w} cut into tiles"
        rows, cols = self._axis(cut, 0, grid[0]), self._axis(cut, 1, grid[1])
        for found in (rows, cols):
            if isinstance(found, str):
                return found
        rest = sum(op_work(graph, op) for op in graph.ops[cut + 1 :])
        work = _stage_work(graph, cut, rows, cols) + rest
        return _Candidate(cut, grid, rows, cols, work, self._estimate(cut, rows, cols))

    def _estimate(self, cut: int, rows: list[dict], cols: list[dict]) -> int:
        """The arena with the largest tile's regions all planned side by side."""
        graph = self.graph
        stage = graph.ops[: cut + 1]
        size = {
            t: _spatial(graph.tensor(t))[2]
            * max(r[t][1] - r[t][0] for r in rows)
            * max(c[t][1] - c[t][0] for c in cols)
            for t in rows[0]
        }
        first = {graph.inputs[0]: 0} | {op.outputs[0]: op.index for op in stage}
        last = {t: cut for t in first}
        for op in stage:
            for t in _activations(graph, op):
                last[t] = op.index if t != stage[-1].outputs[0] else cut
        last[graph.inputs[0]] = max(op.index for op in stage if graph.inputs[0] in op.inputs)
        patch = max(
            sum(aligned(size[t]) for t in size if first[t] <= op.index <= last[t]) for op in stage
        )
        fixed = sum(
            aligned(tensor_bytes(graph, t)) for t in (graph.inputs[0], stage[-1].outputs[0])
        )
        return max(self.floor(cut), fixed + patch)


def _plan(
    graph: Graph,
    kernels: Mapping[int, Choice],
    candidate: _Candidate,
    plain_work: float,
    plain: MemoryPlan,
) -> PatchPlan:
    """The candidate's tiles planned (one plan per tile geometry) and the whole arena."""
    cut = candidate.cut
    tiles, plans = [], {}
    for rows in candidate.rows:
        for cols in candidate.cols:
            regions = {t: Box(*rows[t], *cols[t]) for t in rows}
            tile = region_graph(graph, cut, regions)
            key = _geometry(tile)
            if key not in plans:
                stage = {op.index: kernels[op.index] for op in tile.ops}
                rules, scratch = plan_inputs(tile, stage)
                plans[key] = plan_memory(tile, rules=rules, scratch=scratch)
            tiles.append(Tile(regions[graph.ops[cut].outputs[0]], regions, tile, plans[key]))
    patch_bytes = max(t.plan.arena_bytes for t in tiles)
    reduced = stage_graph(graph, cut)
    rules, scratch = plan_inputs(graph, kernels)
    rest = {op.index for op in reduced.ops[1:]}
    whole = plan_memory(
        reduced,
        rules={i: r for i, r in rules.items() if i in rest},
        scratch={**{i: n for i, n in scratch.items() if i in rest}, cut: patch_bytes},
    )
    return PatchPlan(
        cut, candidate.grid, tuple(tiles), patch_bytes, reduced, whole, plain,
        round(candidate.work), round(plain_work),
    )  # fmt: skip


def _geometry(tile: Graph) -> tuple:
    """What a tile's memory plan depends on: its tensors' shapes and its ops' geometry."""
    return (
        tuple(t.shape for t in tile.tensors if t.data is None),
        tuple(
            (op.options.get("explicit_padding"), str(op.options.get("input_windows")))
            for op in tile.ops
        ),
    )


def stage_graph(graph: Graph, cut: int) -> Graph:
    """``graph`` with ops 0 to ``cut`` as one op of kind STAGE (index ``cut``) that reads the
    graph input and writes the cut tensor: what the whole arena's plan sees."""
    stage = Op(cut, STAGE, (graph.inputs[0],), (graph.ops[cut].outputs[0],), {})
    return replace(graph, ops=(stage, *graph.ops[cut + 1 :]))


EXACT = 8  # smallest plans this many candidates with the smallest estimated arenas exactly
FASTEST = 24  # auto plans at most this many candidates exactly, the least work first


def plan_patches(
    graph: Graph, kernels: Mapping[int, Choice], options: CompileOptions, room: int | None = None
) -> PatchPlan | None:
    """The patch plan ``options`` ask for: ``--patches`` auto, smallest, off or RxC, and
    ``--patch-cut``; None to run layer by layer.

    auto takes the plan with the least estimated work whose arena is within ``--arena-limit``,
    or else within ``room`` (what a microcontroller's RAM leaves for the arena): layer by layer
    when that fits, no patches when there is no limit. When nothing fits ``--arena-limit`` it is
    an error; when nothing fits ``room``, auto falls back to smallest, and the firmware's RAM
    check says by how much it misses. smallest tries every cut and grid up to MAX_GRID x
    MAX_GRID whose estimated overhead is within ``--patch-overhead`` and takes the smallest
    arena (or one within ARENA_SLACK of it that costs less); None when no plan beats the arena
    without patches. A grid or cut the user names must work, or it is an error that says why."""
    mode, cut = options.patches, options.patch_cut
    if mode == "off":
        if cut is not None:
            raise EdgekitError(
                "--patch-cut names where the patches end; it needs --patches auto, smallest or RxC"
            )
        return None
    grid = patch_grid(mode)
    limit = options.arena_limit if options.arena_limit is not None else room
    rules, scratch = plan_inputs(graph, kernels)
    plain = plan_memory(graph, rules=rules, scratch=scratch)
    if mode == "auto" and not grid:
        if limit is None and cut is None:
            return None
        if limit is not None and plain.arena_bytes <= limit and cut is None:
            return None
    search = _Search(graph, kernels)
    found, reasons = _candidates(graph, search, grid, cut)
    source = "arena-limit" if options.arena_limit is not None else "board RAM"
    if mode == "auto" and limit is not None and found:
        fastest = _fastest(graph, kernels, search, plain, found, limit)
        if fastest is not None:
            return replace(fastest, chosen="fastest", limit=limit, limit_from=source)
        if options.arena_limit is not None:
            least = _smallest(graph, kernels, search, plain, found)
            raise EdgekitError(
                f"no plan fits --arena-limit {options.arena_limit}: the smallest arena found is "
                f"{least.plan.arena_bytes} bytes ({least.grid_text} tiles to "
                f"{graph.layer_name(graph.ops[least.cut])}); raise the limit or shrink the model "
                "(alpha, resolution)"
            )
    budget = options.patch_overhead
    if not grid:  # smallest, or auto's fallback: within the overhead budget
        found = [c for c in found if c.work <= search.plain_work * (1 + budget)]
    if not found:
        if grid or cut is not None:
            what = f"--patches {mode}" + (f" --patch-cut {cut}" if cut is not None else "")
            why = reasons[0] if reasons else f"no plan is within --patch-overhead {budget:.0%}"
            raise EdgekitError(
                f"{what} cannot run: {why}; try --patches auto, another grid or another cut"
            )
        return None
    best = _smallest(graph, kernels, search, plain, found)
    if not grid and cut is None and best.plan.arena_bytes >= plain.arena_bytes:
        return None
    if grid or (cut is not None and mode != "smallest"):
        return replace(best, chosen="grid")
    if limit is not None:  # auto's fallback: the board's RAM check says by how much it misses
        return replace(best, limit=limit, limit_from=source)
    return best


def _candidates(
    graph: Graph, search: _Search, grid: tuple[int, int] | None, cut: str | None
) -> tuple[list[_Candidate], list[str]]:
    """Every cut and grid that works (only the named ones, when named), and why others do not."""
    cuts = [resolve_cut(graph, cut)] if cut is not None else valid_cuts(graph)
    found, reasons = [], []
    if not cuts:  # not even the first op can be a stage: say why
        reasons.append(cut_problem(graph, 0) or "no op can end a patch stage")
    for c in cuts:
        h, w, _ = _spatial(graph.tensor(graph.ops[c].outputs[0]))
        grids = [grid] if grid else [
            (r, k) for r in range(1, min(MAX_GRID, h) + 1) for k in range(1, min(MAX_GRID, w) + 1)
            if r * k >= 2
        ]  # fmt: skip
        for g in grids:
            candidate = search.candidate(c, g)
            if isinstance(candidate, str):
                reasons.append(candidate)
            else:
                found.append(candidate)
    return found, reasons


def _smallest(graph, kernels, search: _Search, plain: MemoryPlan, found: list) -> PatchPlan:
    """The plan with the smallest arena of ``found`` (or one within ARENA_SLACK of it that
    costs less), the EXACT smallest estimates planned exactly."""
    found = sorted(found, key=lambda c: (c.arena_estimate, c.work))
    plans = [_plan(graph, kernels, c, search.plain_work, plain) for c in found[:EXACT]]
    least = min(p.plan.arena_bytes for p in plans)
    near = [p for p in plans if p.plan.arena_bytes <= least * (1 + ARENA_SLACK)]
    return min(near, key=lambda p: (p.work, p.plan.arena_bytes))


def _fastest(
    graph, kernels, search: _Search, plain: MemoryPlan, found: list, limit: int
) -> PatchPlan | None:
    """The plan with the least estimated work of ``found`` whose arena is within ``limit``;
    None when none of the FASTEST least-work candidates that may fit does."""
    tried = 0
    for candidate in sorted(found, key=lambda c: (c.work, c.arena_estimate)):
        # the floor only grows with the patch area: a cut whose floor is over cannot fit
        if search.floor(candidate.cut) > limit or candidate.arena_estimate > 2 * limit:
            continue
        plan = _plan(graph, kernels, candidate, search.plain_work, plain)
        if plan.plan.arena_bytes <= limit:
            return plan
        tried += 1
        if tried == FASTEST:
            break
    return None


def valid_cuts(graph: Graph) -> list[int]:
    """The ops whose output can be a cut, in order (the stage ends at the first op that does
    not run on a part of its input)."""
    cuts = []
    for op in graph.ops[:-1]:
        if op.kind not in PATCH_OPS:
            break
        if cut_problem(graph, op.index) is None:
            cuts.append(op.index)
    return cuts


def resolve_cut(graph: Graph, name: str) -> int:
    """The op index ``--patch-cut`` names: an op index, a layer name as the report shows it,
    or a part of one that names a single layer."""
    if re.fullmatch(r"\d+", name.strip()):
        index = int(name)
        matches = [index] if index < len(graph.ops) else []
    else:
        exact = [op.index for op in graph.ops if graph.layer_name(op) == name]
        matches = exact or [op.index for op in graph.ops if name in graph.layer_name(op)]
    if len(matches) != 1:
        cuts = ", ".join(graph.layer_name(graph.ops[i]) for i in valid_cuts(graph)[:6])
        found = "no layer" if not matches else f"{len(matches)} layers"
        raise EdgekitError(
            f"--patch-cut '{name}' names {found}; name one layer or op index, e.g. {cuts}"
        )
    problem = cut_problem(graph, matches[0])
    if problem:
        raise EdgekitError(
            f"--patch-cut '{name}' cannot end a patch stage: {problem}; pick a layer the stage "
            "can end at, or leave out --patch-cut"
        )
    return matches[0]


# ---------------------------------------------------------------- the report


def live_profile(patches: PatchPlan, graph: Graph) -> dict:
    """Arena bytes occupied during each op, with and without patches (``live_bytes``): in the
    patch stage, the graph input, the cut tensor and the fullest tile's patch buffers."""
    ops = [op.index for op in graph.ops]
    without = live_bytes(patches.plain, ops)
    whole = live_bytes(patches.plan, ops[patches.cut :])
    stage = ops[: patches.cut + 1]
    tiles = [live_bytes(t.plan, stage) for t in patches.tiles]
    fixed = whole[patches.cut] - patches.patch_bytes
    with_patches = {i: fixed + max(t[i] for t in tiles) for i in stage}
    with_patches.update({i: whole[i] for i in ops[patches.cut + 1 :]})
    return {
        "layers": [graph.layer_name(op) for op in graph.ops],
        "without": [without[i] for i in ops],
        "with": [with_patches[i] for i in ops],
    }


def peak_op(plan: MemoryPlan, ops) -> int:
    """The first op during which ``plan``'s buffers occupy the most of its arena."""
    occupied = live_bytes(plan, ops)
    return max(occupied, key=occupied.get)


def patch_details(patches: PatchPlan, graph: Graph) -> dict:
    """The plan as the build records it (``report.json``'s artifact row)."""
    cut_op = graph.ops[patches.cut]
    peak = peak_op(patches.plan, [op.index for op in patches.graph.ops])
    plain_peak = peak_op(patches.plain, [op.index for op in graph.ops])
    return {
        "cut": graph.layer_name(cut_op),
        "cut_op": patches.cut,
        "cut_shape": list(graph.tensor(cut_op.outputs[0]).shape),
        "grid": patches.grid_text,
        "tiles": len(patches.tiles),
        "stage_layers": [graph.layer_name(op) for op in graph.ops[: patches.cut + 1]],
        "patch_bytes": patches.patch_bytes,
        "arena_bytes": patches.plan.arena_bytes,
        "arena_bytes_without": patches.plain.arena_bytes,
        "peak": "patch stage" if peak == patches.cut else graph.layer_name(graph.ops[peak]),
        "peak_without": graph.layer_name(graph.ops[plain_peak]),
        "estimated_overhead": round(patches.overhead, 4),
        "chosen": patches.chosen,
        "limit_bytes": patches.limit,
        "limit_from": patches.limit_from,
        "live_bytes": live_profile(patches, graph),
    }
