import pytest

from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import plan_inputs, reference_kernels
from edgekit.compiler.planner import elementwise_in_place, lifetimes, lower_bound, plan_memory


@pytest.fixture(scope="module")
def mobilenet(host_build):
    return read_tflite((host_build[0] / "model_int8.tflite").read_bytes())


def _plan(graph):
    """The plan with the reference kernels' in-place rules, as the C backend plans."""
    rules, scratch = plan_inputs(graph, reference_kernels(graph))
    return plan_memory(graph, rules=rules, scratch=scratch)


def _overlaps(plan):
    """Pairs of buffers that share bytes while both are live, other than in-place pairs."""
    allowed = {(p.input, p.output) for p in plan.in_place}
    buffers = list(plan.buffers.values())
    bad = []
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            live = a.first <= b.last and b.first <= a.last
            shared = a.offset < b.offset + b.size and b.offset < a.offset + a.size
            if (
                live
                and shared
                and (a.tensor, b.tensor) not in allowed | {(y, x) for x, y in allowed}
            ):
                bad.append((a.tensor, b.tensor))
    return bad


def test_plan_without_in_place_reaches_the_lower_bound(mobilenet):
    plan = plan_memory(mobilenet)  # no in-place rules
    assert plan.arena_bytes == plan.lower_bound
    assert not plan.in_place and not _overlaps(plan)
    # MobileNetV2 0.35@96: block 1's expanded 48x48x48 tensor and its 24x24x48 output
    assert plan.lower_bound == 48 * 48 * 48 + 24 * 24 * 48
    assert "block_1_depthwise" in plan.peak_layer


def test_in_place_depthwise_and_add_go_below_the_bound(mobilenet):
    plan = _plan(mobilenet)
    assert plan.arena_bytes < plan.lower_bound
    kinds = {mobilenet.ops[p.op].kind for p in plan.in_place}
    assert kinds == {"DEPTHWISE_CONV_2D", "ADD"}
    assert not _overlaps(plan)
    # the new peak is block 1's expansion, whose input and output cannot share bytes
    assert plan.arena_bytes >= 48 * 48 * (8 + 48)


def test_every_activation_is_placed_inside_the_arena(mobilenet):
    plan = _plan(mobilenet)
    spans = lifetimes(mobilenet)
    assert set(plan.buffers) == set(spans)
    assert all(b.offset % 4 == 0 for b in plan.buffers.values())
    assert max(b.offset + b.size for b in plan.buffers.values()) <= plan.arena_bytes
    assert spans[mobilenet.inputs[0]][0] == 0
    assert spans[mobilenet.outputs[0]][1] == len(mobilenet.ops) - 1


def test_depthwise_in_place_keeps_the_rows_still_to_be_read(mobilenet):
    """Output row y must end before the first input row that output row y reads."""
    plan = _plan(mobilenet)
    for pair in plan.in_place:
        op = mobilenet.ops[pair.op]
        if op.kind != "DEPTHWISE_CONV_2D":
            continue
        _, _, in_w, c = mobilenet.tensor(pair.input).shape
        _, out_h, out_w, _ = mobilenet.tensor(pair.output).shape
        stride = op.options["stride_h"]
        src, dst = plan.buffers[pair.input].offset, plan.buffers[pair.output].offset
        assert dst == src - pair.delta
        for y in range(out_h):
            first_row = max(y * stride - 1, 0)  # 3x3 SAME: one row of padding on top
            assert dst + (y + 1) * out_w * c <= src + first_row * in_w * c


def test_lower_bound_counts_the_largest_live_set(mobilenet):
    bound, at = lower_bound(mobilenet)
    op = mobilenet.ops[at]
    assert op.kind == "DEPTHWISE_CONV_2D"
    live = mobilenet.tensor(op.inputs[0]).size + mobilenet.tensor(op.outputs[0]).size
    assert bound == live


def test_elementwise_in_place_overwrites_an_input_read_last(mobilenet):
    add = next(op for op in mobilenet.ops if op.kind == "ADD")
    spans = lifetimes(mobilenet)
    pair = elementwise_in_place(mobilenet, add, spans)
    assert pair is not None and pair.delta == 0 and pair.input in add.inputs
    # an input still read after the add may not be overwritten
    late = {t: (a, b + 1) if t in add.inputs else (a, b) for t, (a, b) in spans.items()}
    assert elementwise_in_place(mobilenet, add, late) is None
    # the ops' rules come from their kernel variants (RESHAPE's from its registry entry)
    rules, _ = plan_inputs(mobilenet, reference_kernels(mobilenet))
    assert rules[add.index] is elementwise_in_place
