"""The recurrent operators, SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM: their op rules and emitters.

They keep state from one inference to the next in variable tensors, which the planner leaves out
of the arena and codegen keeps in a state area that ``<prefix>_reset()`` clears; their rules and
emitters follow the same conventions as ``oprules`` and ``emitters`` (the registry in ``ops``
names them), kept here because they share their tensor positions and types.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from edgekit.compiler import fixedpoint
from edgekit.compiler.emitters import Emit, scale_and_zero
from edgekit.compiler.ir import Graph, Op, short_name
from edgekit.compiler.oprules import _input, _output, quant_text

if TYPE_CHECKING:
    from edgekit.platforms.targets import Target


# ---------------------------------------------------------------- SVDF: rules


def svdf_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """SVDF reads one frame [1, features]; its feature weights [filters, features] and time
    weights [filters, memory] are constant, rank divides the filters into units (filters /
    rank), the bias is absent or has one value per unit, the state is a variable tensor
    [1, memory x filters] and the output is [1, units].

    Export the SVDF layer with one frame per inference and batch 1, its state a variable
    tensor, as TFLite Micro's streaming keyword models are.
    """
    if len(op.inputs) != 5 or op.inputs[4] < 0:
        return False, f"it has {len(op.inputs)} inputs and no state"
    x, wf, wt, bias, state = (_input(graph, op, k) for k in range(5))
    y, rank = _output(graph, op), op.options.get("rank", 0)
    if wf.data is None or wt.data is None:
        return False, "its weights are not constant"
    if not state.is_variable or state.data is not None:
        return False, f"its state '{short_name(state.name)}' is not a variable tensor"
    detail = (
        f"its input is {list(x.shape)}, feature weights {list(wf.shape)}, time weights "
        f"{list(wt.shape)}, rank {rank}, state {list(state.shape)}, output {list(y.shape)}"
    )
    if len(wf.shape) != 2 or len(wt.shape) != 2 or rank < 1 or wf.shape[0] % rank:
        return False, detail
    (filters, features), memory, units = wf.shape, wt.shape[1], wf.shape[0] // rank
    ok = (
        x.shape == (1, features)
        and wt.shape[0] == filters
        and memory >= 1
        and state.shape == (1, memory * filters)
        and y.shape == (1, units)
        and (bias is None or bias.shape == (units,))
    )
    return ok, detail + ("" if bias is None else f", bias {list(bias.shape)}")


def svdf_types(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """SVDF's input and output are int8, its feature weights int8 and its time weights int16
    (each with one scale and zero point 0), its bias constant int32 and its state int16 with
    zero point 0: TFLite's integer SVDF.

    Quantize with the TFLite converter's full-integer int8 scheme, which gives SVDF these
    types.
    """
    x, wf, wt, bias, state = (_input(graph, op, k) for k in range(5))
    y = _output(graph, op)
    expected = ((x, "int8"), (y, "int8"), (wf, "int8"), (wt, "int16"), (state, "int16"))
    for t, dtype in expected:
        if t.dtype != dtype:
            return False, f"tensor '{short_name(t.name)}' is {t.dtype}, not {dtype}"
    for t in (wf, wt, state):
        q = t.quant
        if q is None or not q.per_tensor or np.any(q.zero_point != 0):
            return False, f"tensor '{short_name(t.name)}' has {quant_text(t)}"
        if not (np.isfinite(q.scale[0]) and q.scale[0] > 0):
            return False, f"tensor '{short_name(t.name)}' has {quant_text(t)}"
    if bias is not None and (bias.data is None or bias.dtype != "int32"):
        kind = "constant" if bias.data is not None else "computed"
        return False, f"its bias is a {kind} {bias.dtype} tensor"
    return True, ""


def svdf_activation(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """SVDF's fused activation is RELU, the only one TFLite's integer SVDF runs (which, as the
    C does, leaves the clamp at zero to the output's quantization).

    Give the SVDF layer a ReLU activation, as TFLite Micro's keyword models do.
    """
    activation = op.options.get("activation", "NONE")
    return activation == "RELU", f"its fused activation is {activation}"


# ---------------------------------------------------------------- LSTM: rules

LSTM_WEIGHTS, LSTM_BIASES = tuple(range(1, 9)), (12, 13, 14, 15)
LSTM_ABSENT = (9, 10, 11, 16, 17, 20, 21, 22, 23)  # peepholes, projection, layer norms
LSTM_OUTPUT_STATE, LSTM_CELL_STATE = 18, 19
LSTM_CELL_EXPONENTS = (-15, -9)  # TFLite's integer tanh takes a cell with <= 6 integer bits


def lstm_shapes(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM runs batch 1, batch major ([1, steps, features]), through
    four gates with constant input weights [units, features], recurrent weights [units, units]
    and biases [units]; no peephole, projection or layer normalization; its output state
    [1, units] and cell state [1, units] are variable tensors.

    Use a plain Keras LSTM (no peepholes or projection) on a batch of 1, batch major.
    """
    if len(op.inputs) != 24:
        return False, f"it has {len(op.inputs)} inputs, not 24"
    x, y = _input(graph, op, 0), _output(graph, op)
    present = [k for k in LSTM_ABSENT if op.inputs[k] >= 0]
    if present:
        return False, f"it has inputs {present} (peepholes, projection or layer normalization)"
    if len(x.shape) != 3 or x.shape[0] != 1 or op.options.get("time_major"):
        major = "time" if op.options.get("time_major") else "batch"
        return False, f"its input is {list(x.shape)}, {major} major"
    steps = x.shape[1]
    weights = [_input(graph, op, k) for k in LSTM_WEIGHTS]
    if any(w is None or w.data is None for w in weights):
        return False, "its weights are not constant"
    units, features = weights[0].shape[0], x.shape[2]
    expected = [(units, features)] * 4 + [(units, units)] * 4
    shapes = [w.shape for w in weights]
    if shapes != expected:
        return False, f"its weights are {[list(s) for s in shapes]} for input {list(x.shape)}"
    biases = [_input(graph, op, k) for k in LSTM_BIASES]
    if any(b is None or b.data is None or b.shape != (units,) for b in biases):
        return False, "its biases are not four constant vectors of one value per unit"
    for k in (LSTM_OUTPUT_STATE, LSTM_CELL_STATE):
        state = _input(graph, op, k)
        if state is None or not state.is_variable or state.size != units:
            return False, f"its input {k} is not a variable state tensor of {units} values"
    out = (1, steps, units)
    return y.shape == out, f"its output is {list(y.shape)}, not {list(out)}"


def lstm_types(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM is TFLite's 8x8_16 integer LSTM (int8 input, output and
    output state, int32 biases, five intermediate tensors, the last, the hidden state,
    quantized) or TFLite Micro's 16x8 one (int16 input, output and output state, int64
    biases): an int16 cell state with zero point 0 and a power-of-two scale from 2^-15 to
    2^-9, int8 weights with one scale and zero point 0.

    Let edgekit quantize the float LSTM model (edgekit.quantization.recurrent, int8 or
    int16x8), which writes these types.
    """
    x, y = _input(graph, op, 0), _output(graph, op)
    h, c = _input(graph, op, LSTM_OUTPUT_STATE), _input(graph, op, LSTM_CELL_STATE)
    wide = x.dtype == "int16"
    act, bias = ("int16", "int64") if wide else ("int8", "int32")
    for t, dtype in ((x, act), (y, act), (h, act), (c, "int16")):
        if t.dtype != dtype:
            return False, f"tensor '{short_name(t.name)}' is {t.dtype}, not {dtype}"
    exponent = np.log2(c.quant.scale[0])
    low, high = LSTM_CELL_EXPONENTS
    if exponent != np.round(exponent) or not low <= exponent <= high:
        return False, f"its cell state has {quant_text(c)}"
    for k in LSTM_WEIGHTS:
        w = graph.tensors[op.inputs[k]]
        q = w.quant
        if w.dtype != "int8" or q is None or not q.per_tensor or q.zero_point[0] != 0:
            return False, f"its weights '{short_name(w.name)}' are {w.dtype}, {quant_text(w)}"
        if not (np.isfinite(q.scale[0]) and q.scale[0] > 0):
            return False, f"its weights '{short_name(w.name)}' have {quant_text(w)}"
    for k in LSTM_BIASES:
        if graph.tensors[op.inputs[k]].dtype != bias:
            return False, f"its bias {k} is {graph.tensors[op.inputs[k]].dtype}, not {bias}"
    if wide:  # TFLite Micro reads no intermediates
        return True, ""
    intermediates = op.options.get("intermediates", ())
    if len(intermediates) != 5:
        return False, f"it has {len(intermediates)} intermediate tensors, not 5"
    hidden = graph.tensors[intermediates[4]]
    ok = hidden.quant is not None and hidden.quant.scale[0] > 0
    return ok, f"its hidden state intermediate has {quant_text(hidden)}"


def lstm_activation(graph: Graph, op: Op, target: Target) -> tuple[bool, str]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM's cell activation is TANH and its projection clip 0 (the
    integer LSTM's; a cell clip is applied).

    Keep the Keras LSTM's default activations (tanh, sigmoid).
    """
    activation = op.options.get("activation", "NONE")
    ok = activation == "TANH" and op.options.get("proj_clip", 0.0) == 0.0
    return ok, f"its activation is {activation}, projection clip {op.options.get('proj_clip')}"


# ---------------------------------------------------------------- SVDF: emitter


def svdf_scales(graph: Graph, op: Op) -> tuple[tuple[int, int], tuple[int, int]]:
    """SVDF's two rescales as TFLite's Prepare computes them: input x feature weights' scale /
    state's, and state x time weights' scale / output's, each product and quotient in float32
    (the scales are floats there), then QuantizeMultiplier."""
    x, wf, wt, state = (graph.tensor(i) for i in op.inputs[:3] + op.inputs[4:5])
    out = graph.tensor(op.outputs[0])
    s_x, s_wf, s_wt, s_state, s_out = (
        np.float32(t.quant.scale[0]) for t in (x, wf, wt, state, out)
    )
    feature = fixedpoint.quantize_multiplier(float(s_x * s_wf / s_state))
    output = fixedpoint.quantize_multiplier(float(s_state * s_wt / s_out))
    return feature, output


def svdf(ctx: Emit, op: Op) -> None:
    """Both weights as stored (feature int8, time int16) and the bias in weights.c, and for
    the DSP and MVE variants the input offset folded into each filter's feature product (the
    offset times the sum of the filter's weights, in wrapping int32); the state in the state
    area, where it stays between runs."""
    x, wf, wt = (ctx.tensor(i) for i in op.inputs[:3])
    rank = op.options["rank"]
    (m1, s1), (m2, s2) = svdf_scales(ctx.graph, op)
    fields = {
        "input_size": wf.shape[1],
        "units": wf.shape[0] // rank,
        "rank": rank,
        "memory": wt.shape[1],
        "input_offset": -scale_and_zero(x)[1],
        "feature_multiplier": m1,
        "feature_shift": s1,
        "output_multiplier": m2,
        "output_shift": s2,
        "output_offset": scale_and_zero(ctx.tensor(op.outputs[0]))[1],
    }
    name = f"{ctx.prefix}_op{op.index}"
    params = ctx.struct("ek_svdf_params", name + "_params", fields)
    weights = np.asarray(ctx.graph.constant(op.inputs[1]))
    feature = ctx.data(name + "_weights_feature", "int8_t", weights)
    if not ctx.variant(op).reference:
        sums = weights.astype(np.int64).sum(axis=1) * fields["input_offset"]
        folded = ctx.data(name + "_feature_offsets", "int32_t", sums.astype(np.int32))
        feature = f"{feature}, {folded}"
    time = ctx.data(name + "_weights_time", "int16_t", ctx.graph.constant(op.inputs[2]))
    bias = "NULL"
    if op.inputs[3] >= 0:
        bias = ctx.data(name + "_bias", "int32_t", ctx.graph.constant(op.inputs[3]))
    state = ctx.pointer(op.inputs[4], ctype="int16_t")
    ctx.calls.append(
        ctx.call(
            op, f"&{params}", ctx.pointer(op.inputs[0], True), feature, time, bias, state,
            ctx.pointer(op.outputs[0]),
        )
    )  # fmt: skip


# ---------------------------------------------------------------- LSTM: emitter

LSTM_GATE_SCALE = np.float32(2.0**-12)  # the gates' Q3.12 without layer normalization


def lstm_fields(graph: Graph, op: Op) -> dict[str, object]:
    """The 8x8_16 LSTM's parameters as TFLite's Prepare computes them: each gate's effective
    scales (weights' scale x input's or output state's / 2^-12, in float32), the hidden scale
    (2^-15 / hidden's scale x 2^-15), the cell exponent and the clip in cell units. The 16x8
    LSTM's as TFLite Micro's Prepare computes them: the same gate scales, the hidden scale
    2^-15 x 2^-15 / the output state's scale in double, its zero point added."""
    f32 = np.float32
    x, h, c = (graph.tensor(op.inputs[k]) for k in (0, 18, 19))
    units, features = graph.tensor(op.inputs[1]).shape
    steps = graph.tensor(op.outputs[0]).size // units
    scales = [f32(graph.tensor(op.inputs[k]).quant.scale[0]) for k in range(1, 9)]
    s_x, s_h, s_c = (f32(t.quant.scale[0]) for t in (x, h, c))
    pairs = [fixedpoint.quantize_multiplier(float(w * s_x / LSTM_GATE_SCALE)) for w in scales[:4]]
    pairs += [fixedpoint.quantize_multiplier(float(w * s_h / LSTM_GATE_SCALE)) for w in scales[4:]]
    if x.dtype == "int16":  # TFLite Micro reads the output state, not the intermediates
        hidden_pair = fixedpoint.quantize_multiplier(2.0**-30 / float(s_h))
        hidden_zero = int(h.quant.zero_point[0])
    else:
        hidden = graph.tensor(op.options["intermediates"][4]).quant
        real = f32(2.0**-15) / f32(hidden.scale[0]) * f32(2.0**-15)
        hidden_pair = fixedpoint.quantize_multiplier(float(real))
        hidden_zero = int(hidden.zero_point[0])
    clip = f32(op.options.get("cell_clip", 0.0))
    cell_clip = int(np.clip(clip / s_c, -32768, 32767)) if clip > 0 else 0
    return {
        "steps": steps,
        "input_size": features,
        "units": units,
        "input_multiplier": [m for m, _ in pairs[:4]],
        "input_shift": [s for _, s in pairs[:4]],
        "recurrent_multiplier": [m for m, _ in pairs[4:]],
        "recurrent_shift": [s for _, s in pairs[4:]],
        "hidden_multiplier": hidden_pair[0],
        "hidden_shift": hidden_pair[1],
        "hidden_zero_point": hidden_zero,
        "cell_exponent": int(round(math.log2(float(s_c)))),
        "cell_clip": cell_clip,
    }


def lstm_biases(graph: Graph, op: Op) -> np.ndarray:
    """Eight [units] int32 vectors: each gate's bias plus minus the input zero point times its
    input weights' row sums, then minus the output state's zero point times its recurrent
    weights' row sums (TFLite's PrecomputeZeroPointTimesWeightWithBias). For 16x8 (zero
    points 0) the four int64 gate biases as they are."""
    if graph.tensor(op.inputs[0]).dtype == "int16":
        biases = [graph.constant(op.inputs[k]).astype(np.int64) for k in (12, 13, 14, 15)]
        return np.concatenate(biases)
    x_zero = int(graph.tensor(op.inputs[0]).quant.zero_point[0])
    h_zero = int(graph.tensor(op.inputs[18]).quant.zero_point[0])
    rows = [graph.constant(op.inputs[k]).astype(np.int64).sum(axis=1) for k in range(1, 9)]
    biases = [graph.constant(op.inputs[k]).astype(np.int64) for k in (12, 13, 14, 15)]
    folded = [b - x_zero * r for b, r in zip(biases, rows[:4])]
    folded += [-h_zero * r for r in rows[4:]]
    return np.concatenate(folded).astype(np.int32)


def lstm(ctx: Emit, op: Op) -> None:
    """Gate weights (input ones, then recurrent ones, TFLite's gate order) and folded biases in
    weights.c (int64 gate biases for 16x8); the output and cell states in the state area,
    where they stay between runs."""
    name = f"{ctx.prefix}_op{op.index}"
    act, bias_type = ctx.ctype(op.inputs[0]), "int32_t"
    if act == "int16_t":
        bias_type = "int64_t"
    params = ctx.struct("ek_lstm_params", name + "_params", lstm_fields(ctx.graph, op))
    weights = [np.asarray(ctx.graph.constant(op.inputs[k])) for k in range(1, 9)]
    w_in = ctx.data(name + "_input_weights", "int8_t", np.concatenate(weights[:4]))
    w_rec = ctx.data(name + "_recurrent_weights", "int8_t", np.concatenate(weights[4:]))
    bias = ctx.data(name + "_bias", bias_type, lstm_biases(ctx.graph, op))
    ctx.calls.append(
        ctx.call(
            op, f"&{params}", ctx.pointer(op.inputs[0], True, act), w_in, w_rec, bias,
            ctx.pointer(op.inputs[18], ctype=act), ctx.pointer(op.inputs[19], ctype="int16_t"),
            ctx.pointer(op.outputs[0], ctype=act),
        )
    )  # fmt: skip
