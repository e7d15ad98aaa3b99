"""The 16x8 UNIDIRECTIONAL_SEQUENCE_LSTM, proven against TFLite Micro.

LiteRT's reference kernels have no 16x8 LSTM; TFLite Micro has one (int16 activations and
states, int8 weights, int64 biases), run here through ``edgekit.validation.micro``. The models
are Keras LSTMs written by ``float_lstm_tflite`` and quantized by ``quantize_recurrent(...,
"int16x8")``: 49 steps of 10 features into 13 units (odd) keeping the last step, one step into
5 units with a tight cell clip, 70 steps into 3 units whose cells grow to the widest cell
scale, and 8 steps into 4 units whose gates saturate at the extreme inputs. Each runs a
sequence of 20 inputs (the last two at the int16 extremes), the state carried from each input
to the next, on the host under ASan and UBSan and on the M4, M7 (DSP gate products) and M55
(MVE) boards, with the reference kernel too; the outputs of every input and every layer of the
first are TFLite Micro's, byte for byte.

The C's other 16x8 kernels follow LiteRT's reference kernels, which rescale FULLY_CONNECTED in
double where TFLite Micro rounds the multiplier to 16 bits, so a classifier with dense layers
after the LSTM is checked against the split reference (``SplitRunner``: the LSTM in TFLite
Micro, the rest in LiteRT), and differs from TFLite Micro's whole-model run by a few steps.
"""

from dataclasses import replace

import numpy as np
import pytest
from test_ops_lstm import _keras_lstm, _samples, _saturating_cell
from test_ops_reduce import same_bytes, sanitized_run

from edgekit.backends.c import CBackend
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import check_graph, require_supported, select_kernels
from edgekit.config import CompileOptions
from edgekit.errors import EdgekitError
from edgekit.interpreter import Runner as LiteRTRunner
from edgekit.interpreter import interpreter
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.quantization.recurrent import (
    _lstm_weights,
    _model,
    float_lstm_tflite,
    quantize_recurrent,
    simulate_lstm,
)
from edgekit.validation.micro import Runner, SplitRunner, needs_micro

INPUTS = 20  # a sequence: the state carries from each input to the next


def _build(steps, features, units, seed, classes=None, last_step=False, cell_clip=0.0, edit=None):
    """(float model, 16x8 model, calibration samples) of an LSTM, returning sequences unless
    ``last_step`` or ``classes``."""
    import keras

    if last_step:
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((steps, features), batch_size=1)])
        model.add(keras.layers.LSTM(units))
    else:
        model = _keras_lstm(steps, features, units, classes, seed)
    if edit:
        lstm = model.layers[0]
        lstm.set_weights(edit(*lstm.get_weights()))
    float_model = float_lstm_tflite(model, cell_clip=cell_clip)
    samples = _samples((steps, features), INPUTS, seed)
    return float_model, quantize_recurrent(float_model, samples, "int16x8"), samples


@pytest.fixture(scope="module")
def kws():
    """49 steps of 10 features into 13 units, the last step kept."""
    return _build(49, 10, 13, seed=3, last_step=True)


@pytest.fixture(scope="module")
def classifier():
    """The keyword model with its dense layers: 13 units, ReLU layer of 8, 4 classes."""
    return _build(49, 10, 13, seed=3, classes=4)


@pytest.fixture(scope="module")
def one_step():
    """One time step, 5 units returned as a sequence, the cell clipped at 0.25."""
    return _build(1, 7, 5, seed=4, cell_clip=0.25)


@pytest.fixture(scope="module")
def long_memory():
    """70 steps into 3 units whose cells grow to about 70 (the cell scale 2^-9)."""
    return _build(70, 4, 3, seed=5, edit=_saturating_cell)


@pytest.fixture(scope="module")
def saturating():
    """8 steps into 4 units with weights scaled up: the extreme inputs drive the gates' Q3.12
    sums past +-8, where the products and their sum saturate."""
    return _build(8, 6, 4, seed=6, edit=lambda k, r, b: (k * 6.0, r * 3.0, b))


def _int16_inputs(tflite: bytes, samples) -> np.ndarray:
    """The float samples quantized as the model's int16 input, the last two at the extremes."""
    detail = Runner(tflite).inputs[0]
    scale = detail["quantization_parameters"]["scales"][0]
    q = np.stack([np.clip(np.round(x / scale), -32768, 32767) for x in samples])
    q[-2:] = np.where(np.arange(q[0].size).reshape(q[0].shape) % 2, 32767, -32768)
    return q.astype(np.int16)


def micro_sequence(tflite: bytes, inputs: np.ndarray):
    """TFLite Micro on ``inputs`` in order from a fresh state: every output, and every op's
    output for the first input."""
    graph = read_tflite(tflite)
    outputs, kept = Runner(tflite, preserve_all=True).run(
        inputs.reshape(len(inputs), -1).view(np.int8), [op.outputs[0] for op in graph.ops]
    )
    return outputs, [k[0] for k in kept]


def _assert_matches(run, tflite, inputs, layer_ops=None, oracle=micro_sequence) -> None:
    outputs, layers = oracle(tflite, inputs)
    same_bytes(run.outputs, outputs, "outputs")
    order = range(len(layers)) if layer_ops is None else layer_ops
    assert len(run.layers) == len(order)
    for n, got in zip(order, run.layers, strict=True):
        same_bytes(got, layers[n], f"op {n}")


# ---------------------------------------------------------------- the TFLite Micro runner


def test_needs_micro_only_for_a_16x8_lstm(kws):
    float_model, wide, samples = kws
    assert needs_micro(wide)
    assert not needs_micro(quantize_recurrent(float_model, samples, "int8"))


def test_micro_runner_carries_the_state_and_resets_it(one_step):
    tflite, inputs = one_step[1], _int16_inputs(one_step[1], one_step[2])
    rows = inputs.reshape(len(inputs), -1).view(np.int8)
    runner = Runner(tflite)
    first, _ = runner.run(rows[:1])
    again, _ = runner.run(rows[:1])
    assert not np.array_equal(first, again)  # the state carried
    runner.reset()
    same_bytes(runner.run(rows[:1])[0], first)


def test_tflm_int8_lstm_differs_from_litert_reference(kws):
    """TFLite Micro's 8x8_16 LSTM is not LiteRT's: its gates use TFLite's int16 LOGISTIC and
    TANH tables, not gemmlowp's fixed point, and it rounds the cell products otherwise. The
    int8 C kernels match LiteRT's reference kernels (tests/test_ops_lstm.py)."""
    float_model, _, samples = kws
    tflite = quantize_recurrent(float_model, samples, "int8")
    detail = interpreter(tflite, reference=True).get_input_details()[0]
    scale, zero = detail["quantization"]
    inputs = np.stack([np.clip(np.round(x / scale) + zero, -128, 127) for x in samples])
    rows = inputs.astype(np.int8).reshape(INPUTS, -1)
    litert, _ = LiteRTRunner(tflite, reference=True).run(rows)
    micro, _ = Runner(tflite).run(rows)
    assert litert.shape == micro.shape and not np.array_equal(litert, micro)
    assert np.abs(litert.astype(int) - micro.astype(int)).max() <= 2


# ---------------------------------------------------------------- the quantizer


def test_16x8_lstm_runs_in_tflm_and_tracks_the_float_model(classifier):
    float_model, wide, _ = classifier
    runner = Runner(wide)
    (detail,), (out,) = runner.inputs, runner.outputs
    s_in = detail["quantization_parameters"]["scales"][0]
    s_out = out["quantization_parameters"]["scales"][0]
    f = interpreter(float_model)
    diffs, agree = [], []
    for x in _samples((49, 10), 40, seed=99):  # 40 inputs in sequence
        q = np.clip(np.round(x / s_in), -32768, 32767).astype(np.int16)
        got, _ = runner.run(q.reshape(1, -1).view(np.int8))
        y = got.view(np.int16).astype(np.float32) * s_out
        f.set_tensor(f.get_input_details()[0]["index"], x)
        f.invoke()
        want = f.get_tensor(f.get_output_details()[0]["index"])
        diffs.append(np.abs(y - want).max())
        agree.append(y.argmax() == want.argmax())
    assert max(diffs) < 0.03 and np.mean(agree) == 1.0, (max(diffs), np.mean(agree))


def test_16x8_lstm_has_tflm_tensor_types(classifier):
    graph = read_tflite(classifier[1])
    op = graph.ops[0]
    assert op.kind == "UNIDIRECTIONAL_SEQUENCE_LSTM"
    x, h, c, y = (
        graph.tensor(i) for i in (op.inputs[0], op.inputs[18], op.inputs[19], op.outputs[0])
    )
    assert [t.dtype for t in (x, h, c, y)] == ["int16"] * 4 and h.is_variable and c.is_variable
    assert all(t.quant.zero_point[0] == 0 for t in (x, h, c, y))
    assert [graph.tensor(op.inputs[k]).dtype for k in range(1, 9)] == ["int8"] * 8
    assert [graph.tensor(op.inputs[k]).dtype for k in range(12, 16)] == ["int64"] * 4
    assert all(graph.tensor(i).shape == (0,) for i in op.options["intermediates"])
    kinds = {o.kind: graph.tensor(o.outputs[0]) for o in graph.ops}
    assert kinds["SOFTMAX"].dtype == "int16" and kinds["SOFTMAX"].quant.scale[0] == 2.0**-15
    dense = [o for o in graph.ops if o.kind == "FULLY_CONNECTED"]
    assert all(graph.tensor(o.inputs[2]).dtype == "int64" for o in dense)


# ---------------------------------------------------------------- the C, host and boards


@pytest.mark.parametrize("model", ["kws", "one_step", "long_memory", "saturating"])
def test_lstm16_sequence_is_bit_exact_with_tflm_under_sanitizers(model, request, tmp_path):
    _, tflite, samples = request.getfixturevalue(model)
    inputs = _int16_inputs(tflite, samples)
    run, _ = sanitized_run(tflite, inputs, tmp_path)
    _assert_matches(run, tflite, inputs)


def test_lstm16_edge_cases_happen(one_step, long_memory, saturating):
    """The clip clips (cells sit at it), the long sequence's cells need the widest scale, and
    the saturating model's gates leave the Q3.12 range at the extreme inputs."""
    tflite = one_step[1]
    graph = read_tflite(tflite)
    cell_index = graph.ops[0].inputs[19]
    runner = Runner(tflite, preserve_all=True)
    runner.run(_int16_inputs(tflite, one_step[2]).reshape(INPUTS, -1).view(np.int8))
    limit = int(np.float32(0.25) / np.float32(graph.tensor(cell_index).quant.scale[0]))
    assert np.abs(runner.tensor(cell_index).astype(int)).max() == limit
    graph = read_tflite(long_memory[1])
    assert graph.tensor(graph.ops[0].inputs[19]).quant.scale[0] == 2.0**-9
    float_model, tflite, samples = saturating
    model = _model(float_model)
    weights = _lstm_weights(model.subgraphs[0], model.buffers, model.subgraphs[0].operators[0])
    scale = Runner(tflite).inputs[0]["quantization_parameters"]["scales"][0]
    x = _int16_inputs(tflite, samples)[-1][0].astype(np.float64) * scale
    _, gates, *_ = simulate_lstm(weights, x, np.zeros(4), np.zeros(4))
    assert np.abs(gates).max() > 8.0


@pytest.fixture(scope="module")
def classifier_on_host(classifier, tmp_path_factory):
    """The classifier's sequence in the C on the host (sanitized), and its int16 inputs."""
    _, tflite, samples = classifier
    inputs = _int16_inputs(tflite, samples)
    run, _ = sanitized_run(tflite, inputs, tmp_path_factory.mktemp("classifier"))
    return run, inputs


def split_sequence(tflite: bytes, inputs: np.ndarray):
    """The split reference (the 16x8 LSTM in TFLite Micro, the rest in LiteRT) on ``inputs``
    in order: every output, and every op's output for the first input."""
    graph = read_tflite(tflite)
    outputs, kept = SplitRunner(tflite).run(
        inputs.reshape(len(inputs), -1).view(np.int8), [op.outputs[0] for op in graph.ops]
    )
    return outputs, [k[0] for k in kept]


def test_16x8_classifier_is_bit_exact_with_the_split_reference(classifier, classifier_on_host):
    run, inputs = classifier_on_host
    tflite = classifier[1]
    outputs, layers = split_sequence(tflite, inputs)
    same_bytes(run.outputs, outputs, "outputs")
    for n, got in enumerate(run.layers):
        same_bytes(got, layers[n], f"op {n}")


def test_tflm_16x8_dense_layers_round_otherwise_than_litert(classifier, classifier_on_host):
    """TFLite Micro's 16x8 FULLY_CONNECTED rounds its multiplier to 16 bits; LiteRT's (and the
    C's) rescales in double: the whole model in TFLite Micro is within a few steps of the C,
    not equal, which is why the reference splits the model."""
    run, inputs = classifier_on_host
    outputs, _ = micro_sequence(classifier[1], inputs)
    got, want = (np.asarray(a).reshape(INPUTS, -1).view(np.int16) for a in (run.outputs, outputs))
    assert not np.array_equal(got, want)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 4


BOARDS = [("cortex-m4", "lstm_dsp"), ("cortex-m7", "lstm_dsp"), ("cortex-m55", "lstm_mve")]


@pytest.mark.parametrize("model", ["kws", "long_memory", "saturating", "classifier"])
@pytest.mark.parametrize("core, variant", BOARDS)
@pytest.mark.parametrize("kernels", ["auto", "ref"])
def test_lstm16_sequence_is_bit_exact_on_the_boards(
    model, core, variant, kernels, request, tmp_path
):
    """TFLite Micro's bytes for the LSTM models, the split reference's for the classifier."""
    _, tflite, samples = request.getfixturevalue(model)
    target = load_target(core)
    picked = select_kernels(read_tflite(tflite), target, kernels)
    expected = variant if kernels == "auto" else "lstm_ref"
    assert (picked[0].variant.name, picked[0].variant.dtype) == (expected, "int16")
    inputs = _int16_inputs(tflite, samples)
    options = CompileOptions(patches="off", kernels=kernels)
    artifact = CBackend().compile(Int8Model(tflite), target, tmp_path, options)
    run = CBackend().run(artifact, target, inputs, layers=True)
    oracle = split_sequence if model == "classifier" else micro_sequence
    _assert_matches(run, tflite, inputs, artifact.details["layer_ops"], oracle)


# ---------------------------------------------------------------- the rules


def _bias_type(graph, op):
    tensors = list(graph.tensors)
    k = op.inputs[12]
    tensors[k] = replace(tensors[k], dtype="int32", data=tensors[k].data.astype(np.int32))
    return replace(graph, tensors=tuple(tensors))


def test_lstm16_types_reject_an_int32_bias_in_one_line(kws):
    graph = read_tflite(kws[1])
    graph = _bias_type(graph, graph.ops[0])
    target = load_target("cortex-m7")
    failures = [f for f in check_graph(graph, target) if not f.ok]
    assert [f.rule for f in failures] == ["lstm_types"]
    with pytest.raises(EdgekitError, match="its bias 12 is int32, not int64") as error:
        require_supported(graph, target)
    assert "\n" not in str(error.value)
