"""Static memory planning: every activation tensor gets an offset in one arena.

Ops run one after another, so a tensor is live from the op that writes it (or the start, for
graph inputs) to the last op that reads it (or the end, for graph outputs). The layer-by-layer
lower bound is the largest total size of the tensors live during one op; a plan that places
tensors only side by side can never use less. The planner reaches that bound and goes below it
by letting an op write its output over the part of its input it no longer needs ("in place"):
an ADD over an input it is the last reader of, a depthwise convolution over the input rows its
window has already passed. Each op's rule comes from its kernel variant (``rules``, per op: a
variant with another loop order brings its own), and a variant that needs scratch memory during
its op gets it in the arena too (``scratch``). An op that only reinterprets bytes (RESHAPE,
SQUEEZE, EXPAND_DIMS) is an alias: its output is its input's bytes under another shape, placed
before any other pair, the shared bytes kept for as long as either tensor is read. A
concatenation whose inputs each fill one stretch of its output is an alias of all of them:
each input is placed in its stretch, where its producer writes it, and the concatenation
writes nothing. Aliases that would put a tensor at two places, or two tensors that kernels
write on the same bytes, are refused (the op then copies), and no op writes in place over a
group of tensors that several kernels write.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edgekit.compiler.ir import Graph, Op, window
from edgekit.errors import InternalError

ALIGN = 4  # bytes; every buffer starts on a word boundary
DTYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4, "int64": 8}


@dataclass(frozen=True)
class Buffer:
    tensor: int
    offset: int
    size: int
    first: int  # index of the first op during which the tensor is live
    last: int  # index of the last op during which it is live


@dataclass(frozen=True)
class InPlace:
    """Op ``op`` writes ``output`` starting ``delta`` bytes before the start of ``input``; an
    ``alias`` writes nothing: ``output`` is ``input``'s bytes."""

    op: int
    input: int
    output: int
    delta: int
    alias: bool = False


@dataclass(frozen=True)
class MemoryPlan:
    buffers: dict[int, Buffer]
    arena_bytes: int
    lower_bound: int
    peak_op: int
    peak_layer: str
    in_place: tuple[InPlace, ...]

    def offset(self, tensor: int) -> int:
        return self.buffers[tensor].offset

    def scratch(self, op_index: int) -> int | None:
        """The arena offset of the op's scratch memory; None when its kernel needs none."""
        buffer = self.buffers.get(scratch_id(op_index))
        return buffer.offset if buffer else None


def tensor_bytes(graph: Graph, index: int) -> int:
    t = graph.tensor(index)
    return t.size * DTYPE_BYTES[t.dtype]


def state_tensors(graph: Graph) -> list[int]:
    """The variable tensors (LSTM's and SVDF's state): kept outside the arena, from one run to
    the next, in the order the ops first read them."""
    found = [t for op in graph.ops for t in op.inputs if t >= 0 and graph.tensor(t).is_variable]
    return list(dict.fromkeys(found))


def aligned(n: int) -> int:
    """``n`` bytes rounded up to whole ALIGN-byte words."""
    return -(-n // ALIGN) * ALIGN


def lifetimes(graph: Graph) -> dict[int, tuple[int, int]]:
    """(first op, last op) of every tensor that needs arena memory: not constants, and not the
    state that recurrent ops keep from one run to the next (``state_tensors``: outside the
    arena)."""
    last_op = graph.ops[-1].index
    spans: dict[int, list[int]] = {t: [0, 0] for t in graph.inputs}
    for op in graph.ops:
        for t in op.inputs:
            if t >= 0 and graph.tensor(t).data is None and not graph.tensor(t).is_variable:
                spans.setdefault(t, [op.index, op.index])[1] = op.index
        for t in op.outputs:
            spans.setdefault(t, [op.index, op.index])
    for t in graph.outputs:
        spans[t][1] = last_op
    return {t: (a, b) for t, (a, b) in spans.items()}


def lower_bound(graph: Graph) -> tuple[int, int]:
    """(bytes, op index): the largest total size of the tensors live during one op."""
    spans = lifetimes(graph)
    return _lower_bound(graph, spans, {t: tensor_bytes(graph, t) for t in spans})


def _lower_bound(graph: Graph, spans: dict, sizes: dict) -> tuple[int, int]:
    live = {
        op.index: sum(aligned(sizes[t]) for t, (a, b) in spans.items() if a <= op.index <= b)
        for op in graph.ops
    }
    at = max(live, key=live.get)  # the first op where the most is live
    return live[at], at


def live_bytes(plan: MemoryPlan, ops) -> dict[int, int]:
    """The arena bytes that ``plan``'s buffers live during each op index of ``ops`` occupy,
    scratch included (where an op writes over its input, the shared bytes count once)."""
    occupied = {}
    for i in ops:
        spans = sorted(
            (b.offset, b.offset + aligned(b.size))
            for b in plan.buffers.values()
            if b.first <= i <= b.last
        )
        total, end = 0, 0
        for lo, hi in spans:
            total += max(hi - max(lo, end), 0)
            end = max(end, hi)
        occupied[i] = total
    return occupied


# ---------------------------------------------------------------- in-place rules


def elementwise_in_place(graph: Graph, op: Op, spans) -> InPlace | None:
    """ADD and the table ops (LOGISTIC, RELU, ...) read element i of each input before writing
    element i of their output. The broadcasting binary ops (SUB, MUL, ...) too: an input of the
    output's size has the output's shape."""
    out = op.outputs[0]
    for t in op.inputs:
        if (
            t >= 0
            and t in spans
            and spans[t][1] == op.index
            and t not in graph.outputs
            and tensor_bytes(graph, t) == tensor_bytes(graph, out)
        ):
            return InPlace(op.index, t, out, 0)
    return None


def depthwise_in_place(graph: Graph, op: Op, spans) -> InPlace | None:
    """A depthwise convolution writes output rows in order; output row y needs input rows from
    y * stride - pad_top on. The output may start ``delta`` bytes before the input when every
    output row ends before the first input row still to be read."""
    src, out = op.inputs[0], op.outputs[0]
    if spans[src][1] != op.index or src in graph.outputs:
        return None
    _, _, in_w, channels = graph.tensor(src).shape
    _, out_h, out_w, out_c = graph.tensor(out).shape
    _, _, stride, _, pad_top, _ = window(graph, op)
    in_row, out_row = in_w * channels, out_w * out_c
    delta = max((y + 1) * out_row - max(y * stride - pad_top, 0) * in_row for y in range(out_h))
    return InPlace(op.index, src, out, aligned(max(delta, 0)))


def alias(graph: Graph, op: Op, spans) -> InPlace | None:
    """RESHAPE, SQUEEZE and EXPAND_DIMS: the output is the input's bytes, whoever else reads
    either (the planner keeps them until the last read of either; nothing writes over them
    before). A constant input has no arena bytes to share."""
    src = op.inputs[0]
    if graph.tensor(src).data is not None:
        return None
    return InPlace(op.index, src, op.outputs[0], 0, alias=True)


def concatenation_in_place(graph: Graph, op: Op, spans) -> tuple[InPlace, ...] | None:
    """CONCATENATION where every dimension before the axis is 1: each input is one stretch of
    the output, so the output is its inputs' bytes side by side, written by their producers.
    Not for a constant, a graph input or output, an input given twice, or a stretch that would
    start off a word boundary (every buffer starts on one)."""
    out = op.outputs[0]
    shape = graph.tensor(out).shape
    axis = op.options.get("axis", 0) % len(shape)
    inputs = op.inputs
    if math.prod(shape[:axis]) != 1 or len(set(inputs)) != len(inputs):
        return None
    if any(
        graph.tensor(t).data is not None or t in graph.inputs or t in graph.outputs for t in inputs
    ):
        return None
    ties, start = [], 0
    for t in inputs:
        if start % ALIGN:
            return None
        ties.append(InPlace(op.index, t, out, start, alias=True))
        start += tensor_bytes(graph, t)
    return tuple(ties)


InPlaceRule = Callable[[Graph, Op, dict], "InPlace | tuple[InPlace, ...] | None"]


# ---------------------------------------------------------------- placement


def plan_memory(
    graph: Graph,
    *,
    rules: Mapping[int, InPlaceRule | None] | None = None,
    scratch: Mapping[int, int] | None = None,
) -> MemoryPlan:
    """Offsets for every activation tensor in one arena; the smallest of a few greedy orders.

    ``rules`` gives the in-place rule of each op index (its kernel variant's, ``ops.plan_inputs``;
    an op without one is never in place); ``scratch`` the bytes an op's kernel needs during that
    op only, placed like a tensor (``MemoryPlan.scratch``)."""
    spans = lifetimes(graph)
    sizes = {t: tensor_bytes(graph, t) for t in spans}
    for op_index, n in (scratch or {}).items():
        spans[scratch_id(op_index)] = (op_index, op_index)
        sizes[scratch_id(op_index)] = n
    by_index = {op.index: op for op in graph.ops}  # a reduced graph keeps the ops' indices
    rules = {op.index: rule for op in graph.ops if (rule := (rules or {}).get(op.index))}
    found = {i: _ties(rule(graph, by_index[i], spans)) for i, rule in rules.items()}
    aliases = _sound_aliases(spans, sizes, found)
    shared = _shared(spans, aliases)
    spans = _alias_spans(graph, spans, aliases)
    pairs = [
        pair
        for i, rule in rules.items()
        if not any(p.alias for p in found[i])
        and (pair := rule(graph, by_index[i], spans))
        and not {pair.input, pair.output} & shared
    ]
    shown = {t: span for t, span in spans.items() if t not in {p.output for p in aliases}}
    bound, peak = _lower_bound(graph, shown, sizes)
    best: tuple[int, dict[int, Buffer], tuple[InPlace, ...]] | None = None
    for use in (aliases + tuple(pairs), aliases) if pairs else (aliases,):
        for order in ("size", "first"):
            buffers = _place(sizes, spans, use, order)
            arena = max((b.offset + aligned(b.size) for b in buffers.values()), default=0)
            if best is None or arena < best[0]:
                best = (arena, buffers, use)
    arena, buffers, used = best
    peak_op = next(op for op in graph.ops if op.index == peak)
    return MemoryPlan(buffers, arena, bound, peak, graph.layer_name(peak_op), used)


def _ties(found: InPlace | tuple[InPlace, ...] | None) -> tuple[InPlace, ...]:
    """A rule's answer as a tuple: none, one pair, or a concatenation's pairs."""
    if found is None:
        return ()
    return found if isinstance(found, tuple) else (found,)


def _sound_aliases(spans: dict, sizes: dict, found: dict) -> tuple[InPlace, ...]:
    """The alias pairs of ``found``, op by op, less those of an op that would make them
    unsound (``_sound``): that op then keeps its own bytes and copies."""
    kept: tuple[InPlace, ...] = ()
    for ties in found.values():
        ties = tuple(p for p in ties if p.alias)
        if ties and _sound(spans, sizes, kept + ties):
            kept += ties
    return kept


def _sound(spans: dict, sizes: dict, aliases: tuple[InPlace, ...]) -> bool:
    """Whether ``aliases`` put each tensor at one place in its group and keep the bytes that
    different kernels write apart (two concatenations of one tensor could put their other
    inputs on the same bytes)."""
    group_of: dict[int, dict[int, int]] = {t: {t: 0} for t in spans}
    if not all([_tie(group_of, p) for p in aliases]):
        return False
    derived = {p.output for p in aliases}
    for g in {id(g): g for g in group_of.values()}.values():
        written = sorted((rel, rel + aligned(sizes[t])) for t, rel in g.items() if t not in derived)
        if any(lo < end for (_, end), (lo, _) in zip(written, written[1:])):
            return False
    return True


def _shared(spans: dict, aliases: tuple[InPlace, ...]) -> set[int]:
    """The tensors of alias groups that more than one kernel writes (a concatenation's):
    the other in-place rules see one tensor's bytes, not a group's, so none applies to them."""
    derived = {p.output for p in aliases}
    return {t for g in _groups(spans, aliases) if sum(t not in derived for t in g) > 1 for t in g}


def _alias_spans(graph: Graph, spans: dict, aliases: tuple[InPlace, ...]) -> dict:
    """``spans`` with each tensor of an alias group live from the group's first op to its last
    (past the last op when one of them is a graph output), so that no op writes over bytes
    another name still reads."""
    end = graph.ops[-1].index + 1 if graph.ops else 0
    merged = dict(spans)
    for members in _groups(spans, aliases):
        if len(members) > 1:
            first = min(spans[t][0] for t in members)
            last = max(spans[t][1] for t in members)
            if any(t in graph.outputs for t in members):
                last = end
            merged.update(dict.fromkeys(members, (first, last)))
    return merged


def scratch_id(op_index: int) -> int:
    """The buffer key of an op's scratch memory (tensor indices are >= 0)."""
    return -2 - op_index


def _groups(spans: dict, pairs: tuple[InPlace, ...]) -> list[dict[int, int]]:
    """Tensors tied together by in-place pairs, each with its offset relative to the group."""
    group_of: dict[int, dict[int, int]] = {t: {t: 0} for t in spans}
    for p in pairs:
        # aliases are sound (_sound_aliases); another pair already in its group is skipped
        _tie(group_of, p)
    unique = {id(g): g for g in group_of.values()}.values()
    normalized = []
    for g in unique:
        low = min(g.values())
        normalized.append({t: rel - low for t, rel in g.items()})
    return normalized


def _tie(group_of: dict[int, dict[int, int]], p: InPlace) -> bool:
    """Put ``p.output`` ``p.delta`` bytes before ``p.input`` in one group; False when they are
    already in one group at other places (the group is left as it was)."""
    a, b = group_of[p.input], group_of[p.output]
    shift = a[p.input] - p.delta - b[p.output]
    if a is b:
        return shift == 0
    for t, rel in b.items():
        a[t] = rel + shift
        group_of[t] = a
    return True


def _place(exact: dict, spans: dict, pairs, order: str) -> dict[int, Buffer]:
    sizes = {t: aligned(n) for t, n in exact.items()}
    groups = _groups(spans, pairs)

    def key(g):
        extent = max(rel + sizes[t] for t, rel in g.items())
        first = min(spans[t][0] for t in g)
        return (-extent, first) if order == "size" else (first, -extent)

    placed: list[tuple[int, int, int, int]] = []  # offset, end, first, last
    buffers: dict[int, Buffer] = {}
    for g in sorted(groups, key=key):
        base = _lowest_base(g, sizes, spans, placed)
        for t, rel in g.items():
            first, last = spans[t]
            buffers[t] = Buffer(t, base + rel, exact[t], first, last)
            placed.append((base + rel, base + rel + sizes[t], first, last))
    return buffers


def _lowest_base(g: dict[int, int], sizes, spans, placed) -> int:
    """The lowest base at which no member overlaps a placed buffer live at the same time."""
    conflicts = {
        t: [(lo, hi) for lo, hi, a, b in placed if a <= spans[t][1] and spans[t][0] <= b] for t in g
    }
    candidates = sorted({0} | {hi - rel for t, rel in g.items() for _, hi in conflicts[t]})
    for base in candidates:
        if base < 0:
            continue
        if all(
            base + rel + sizes[t] <= lo or hi <= base + rel
            for t, rel in g.items()
            for lo, hi in conflicts[t]
        ):
            return base
    raise InternalError("unreachable: the end of every placed buffer is a candidate")
