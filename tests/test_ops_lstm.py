"""UNIDIRECTIONAL_SEQUENCE_LSTM: edgekit's LSTM quantizer and the c backend's 8x8_16 kernels.

The float models are Keras LSTMs written by ``float_lstm_tflite`` (TF 2.21's converter turns a
Keras 3 LSTM into a WHILE loop) and quantized by ``quantize_recurrent`` (the converter crashes
calibrating an LSTM). They carry the edge cases: 49 steps of 10 features into an odd number of
units (a keyword-spotting shape: the DSP kernel's odd last unit, the MVE kernel's partial
vectors), a single time step, and a cell clip tight enough to clip. The quantized model runs in
LiteRT's reference kernels and tracks the float model; the C is bit-exact with those kernels on a
sequence of 20 inputs, the state carried from each to the next, on the host under ASan and UBSan
and on the M4 and M7 (DSP gate products) and M55 (MVE) boards, every layer compared.
"""

from dataclasses import replace

import numpy as np
import pytest
from test_ops_reduce import same_bytes, sanitized_run

from edgekit.backends.c import CBackend
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import check_graph, require_supported, select_kernels
from edgekit.config import CompileOptions
from edgekit.errors import EdgekitError
from edgekit.interpreter import interpreter
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.quantization.recurrent import (
    float_lstm_tflite,
    has_recurrent,
    quantize_recurrent,
)

INPUTS = 20  # a sequence: the state carries from each input to the next


def _keras_lstm(steps: int, features: int, units: int, classes: int | None, seed: int):
    import keras

    keras.utils.set_random_seed(seed)
    layers = [keras.Input((steps, features), batch_size=1)]
    layers.append(keras.layers.LSTM(units, return_sequences=classes is None))
    if classes:
        layers += [keras.layers.Dense(8, activation="relu"), keras.layers.Dense(classes)]
        layers.append(keras.layers.Softmax())
    return keras.Sequential(layers)


def _samples(shape, count: int, seed: int) -> list[np.ndarray]:
    return list(np.random.default_rng(seed).normal(size=(count, 1, *shape)).astype(np.float32))


def _build(steps, features, units, classes, seed, cell_clip=0.0, edit=None):
    model = _keras_lstm(steps, features, units, classes, seed)
    if edit:
        lstm = model.layers[0]
        lstm.set_weights(edit(*lstm.get_weights()))
    float_model = float_lstm_tflite(model, cell_clip=cell_clip)
    samples = _samples((steps, features), INPUTS, seed)
    return model, float_model, quantize_recurrent(float_model, samples), samples


@pytest.fixture(scope="module")
def kws():
    """49 steps of 10 features, 13 units, the last step through a ReLU layer into 4 classes."""
    return _build(49, 10, 13, 4, seed=3)


@pytest.fixture(scope="module")
def one_step():
    """One time step, 5 units returned as a sequence, the cell clipped at 0.25."""
    return _build(1, 7, 5, None, seed=4, cell_clip=0.25)


def _saturating_cell(kernel, recurrent, bias):
    """Input and forget gates open, the cell gate near 1 whatever the input: the cell grows by
    about 1 a step, past 2^6, where the cell state's scale is 2^-9 and its tanh has 6 integer
    bits (gemmlowp's exp clamps below -32 there)."""
    units = recurrent.shape[0]
    kernel[:, 2 * units : 3 * units] *= 0.1
    bias[: 3 * units] = 4.0
    return kernel, recurrent, bias


@pytest.fixture(scope="module")
def long_memory():
    """70 steps into 3 units whose cells grow to about 70 (the widest cell scale)."""
    return _build(70, 4, 3, None, seed=5, edit=_saturating_cell)


def _int8_inputs(tflite: bytes, samples: list[np.ndarray]) -> np.ndarray:
    """The float samples quantized as the model's int8 input, and a few extremes."""
    detail = interpreter(tflite, reference=True).get_input_details()[0]
    scale, zero = detail["quantization"]
    q = np.stack([np.clip(np.round(x / scale) + zero, -128, 127) for x in samples])
    q[-2:] = np.where(np.arange(q[0].size).reshape(q[0].shape) % 2, 127, -128)  # saturate gates
    return q.astype(np.int8)


def reference_sequence(tflite: bytes, inputs: np.ndarray):
    """LiteRT's reference kernels on ``inputs`` in order from a fresh state (the state carries,
    as on the device): every output, and every op's output for the first input."""
    interp = interpreter(tflite, reference=True, preserve_all=True)
    graph = read_tflite(tflite)
    index = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    outputs, layers = [], None
    for x in inputs:
        interp.set_tensor(index, x)
        interp.invoke()
        outputs.append(interp.get_tensor(out).copy())
        if layers is None:
            layers = [interp.get_tensor(op.outputs[0]).copy() for op in graph.ops]
    return np.stack(outputs), layers


def _assert_matches(run, tflite: bytes, inputs: np.ndarray, layer_ops=None) -> None:
    outputs, layers = reference_sequence(tflite, inputs)
    same_bytes(run.outputs, outputs, "outputs")
    order = range(len(layers)) if layer_ops is None else layer_ops
    assert len(run.layers) == len(order)
    for n, got in zip(order, run.layers, strict=True):
        same_bytes(got, layers[n], f"op {n}")


# ---------------------------------------------------------------- the quantizer


def test_quantized_lstm_runs_in_the_reference_and_tracks_the_float_model(kws):
    keras_model, float_model, int8_model, samples = kws
    assert has_recurrent(float_model) and has_recurrent(int8_model)
    # the float file is the Keras model (fresh state)
    f = interpreter(float_model)
    f.set_tensor(f.get_input_details()[0]["index"], samples[0])
    f.invoke()
    got = f.get_tensor(f.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, keras_model(samples[0]).numpy(), atol=1e-5)
    # the int8 model in the reference kernels against the float one, 40 inputs in sequence
    test = _samples((49, 10), 40, seed=99)
    q = interpreter(int8_model, reference=True)
    (qi,), (qo,) = q.get_input_details(), q.get_output_details()
    (s_in, z_in), (s_out, z_out) = qi["quantization"], qo["quantization"]
    f = interpreter(float_model)
    diffs, agree = [], []
    for x in test:
        q.set_tensor(qi["index"], np.clip(np.round(x / s_in) + z_in, -128, 127).astype(np.int8))
        q.invoke()
        y = (q.get_tensor(qo["index"]).astype(np.float32) - z_out) * s_out
        f.set_tensor(f.get_input_details()[0]["index"], x)
        f.invoke()
        want = f.get_tensor(f.get_output_details()[0]["index"])
        diffs.append(np.abs(y - want).max())
        agree.append(y.argmax() == want.argmax())
    assert max(diffs) < 0.08 and np.mean(agree) >= 0.9, (max(diffs), np.mean(agree))


def test_quantized_lstm_has_tflites_integer_lstm_tensors(kws):
    graph = read_tflite(kws[2])
    op = graph.ops[0]
    assert op.kind == "UNIDIRECTIONAL_SEQUENCE_LSTM"
    h, c = graph.tensor(op.inputs[18]), graph.tensor(op.inputs[19])
    assert h.is_variable and c.is_variable and (h.dtype, c.dtype) == ("int8", "int16")
    exponent = np.log2(c.quant.scale[0])
    assert exponent == round(exponent) and c.quant.zero_point[0] == 0
    assert [graph.tensor(op.inputs[k]).dtype for k in range(1, 9)] == ["int8"] * 8
    assert [graph.tensor(op.inputs[k]).dtype for k in range(12, 16)] == ["int32"] * 4
    intermediates = [graph.tensor(i) for i in op.options["intermediates"]]
    assert [t.dtype for t in intermediates] == ["int16"] * 4 + ["int8"]
    assert intermediates[4].quant.scale[0] == h.quant.scale[0]


def test_quantizer_takes_samples_as_one_array_per_input(kws):
    """The build passes one array per model input with a row per sample: the same model."""
    _, float_model, int8_model, samples = kws
    assert quantize_recurrent(float_model, [np.concatenate(samples)]) == int8_model


def test_quantizer_refuses_other_precisions_in_one_line(kws):
    with pytest.raises(EdgekitError, match="quantizes to int8, int16x8 only, not float16"):
        quantize_recurrent(kws[1], kws[3], "float16")


# ---------------------------------------------------------------- the C, host and boards


@pytest.mark.parametrize("model", ["kws", "one_step", "long_memory"])
def test_lstm_sequence_is_bit_exact_under_sanitizers(model, request, tmp_path):
    _, _, tflite, samples = request.getfixturevalue(model)
    inputs = _int8_inputs(tflite, samples)
    run, _ = sanitized_run(tflite, inputs, tmp_path)
    _assert_matches(run, tflite, inputs)


def test_long_memory_has_the_widest_cell_scale(long_memory):
    graph = read_tflite(long_memory[2])
    assert graph.tensor(graph.ops[0].inputs[19]).quant.scale[0] == 2.0**-9


def test_cell_clip_clips(one_step):
    """The clip is tight: some cell values sit at it after the sequence."""
    tflite = one_step[2]
    graph = read_tflite(tflite)
    op = graph.ops[0]
    interp = interpreter(tflite, reference=True)
    for x in _int8_inputs(tflite, one_step[3]):
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
    cell = interp.get_tensor(op.inputs[19]).astype(np.int32)
    limit = int(np.float32(0.25) / np.float32(graph.tensor(op.inputs[19]).quant.scale[0]))
    assert np.abs(cell).max() == limit


BOARDS = [("cortex-m4", "lstm_dsp"), ("cortex-m7", "lstm_dsp"), ("cortex-m55", "lstm_mve")]


@pytest.mark.parametrize("model", ["kws", "long_memory"])  # long_memory: the state matters
@pytest.mark.parametrize("core, variant", BOARDS)
def test_lstm_sequence_is_bit_exact_on_the_boards(model, core, variant, request, tmp_path):
    _, _, tflite, samples = request.getfixturevalue(model)
    target = load_target(core)
    picked = select_kernels(read_tflite(tflite), target)
    assert picked[0].variant.name == variant
    inputs = _int8_inputs(tflite, samples)
    artifact = CBackend().compile(
        Int8Model(tflite), target, tmp_path, CompileOptions(patches="off")
    )
    run = CBackend().run(artifact, target, inputs, layers=True)
    _assert_matches(run, tflite, inputs, artifact.details["layer_ops"])


# ---------------------------------------------------------------- the rules


def _peephole(graph, op):
    inputs = list(op.inputs)
    inputs[9] = inputs[12]  # a cell-to-input weight vector: a peephole LSTM
    return _edit_op(graph, op, inputs=tuple(inputs))


def _cell_scale(graph, op):
    tensors = list(graph.tensors)
    cell = tensors[op.inputs[19]]
    tensors[op.inputs[19]] = replace(cell, quant=replace(cell.quant, scale=np.array([3e-5])))
    return replace(graph, tensors=tuple(tensors))


def _edit_op(graph, op, **changes):
    ops = list(graph.ops)
    ops[op.index] = replace(op, **changes)
    return replace(graph, ops=tuple(ops))


REJECTED = {  # rule -> an edit of the keyword model's LSTM that breaks it, and the message
    "lstm_shapes": (_peephole, "peepholes, projection or layer normalization"),
    "lstm_types": (_cell_scale, "power-of-two scale"),
    "lstm_activation": (
        lambda g, op: _edit_op(g, op, options={**op.options, "activation": "RELU"}),
        "its activation is RELU",
    ),
}


@pytest.mark.parametrize("rule", list(REJECTED))
def test_lstm_rule_rejects_in_one_line(kws, rule):
    edit, message = REJECTED[rule]
    graph = read_tflite(kws[2])
    graph = edit(graph, graph.ops[0])
    target = load_target("cortex-m7")
    failures = [f for f in check_graph(graph, target) if not f.ok]
    assert [f.rule for f in failures] == [rule]
    with pytest.raises(EdgekitError, match=message) as error:
        require_supported(graph, target)
    assert "\n" not in str(error.value)
