"""Float ``.tflite`` files quantized by ai-edge-quantizer (int8, 16x8, a mixed plan) and the
sensitivity pass of ``--precision mixed``, on small Keras models converted to float ``.tflite``
with no optimizations. Every quantized model runs in LiteRT's BUILTIN_REF (the oracle the c
backend is compared with) and has the structure the c backend needs."""

import json

import numpy as np
import pytest

from edgekit.compiler.ir import read_tflite
from edgekit.errors import EdgekitError
from edgekit.interpreter import interpreter
from edgekit.quantization.sensitivity import Judge, plan_mixed
from edgekit.quantization.tflite_ptq import Calibrated, layers, quantize_tflite

SHAPE = (16, 16, 3)


def float_tflite(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.fixture(scope="module")
def keras_cnn():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input(SHAPE, batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.ReLU(6.0, name="relu6")(x)
    x = keras.layers.Add(name="add")([x, keras.layers.Conv2D(8, 1, name="side")(x)])
    x = keras.layers.Conv2D(12, 1, name="project")(x)
    x = keras.layers.Flatten()(keras.layers.AveragePooling2D(4, name="pool")(x))
    x = keras.layers.Dense(5, name="fc", bias_initializer="glorot_uniform")(x)
    return keras.Model(inp, keras.layers.Softmax(name="softmax")(x))


@pytest.fixture(scope="module")
def cnn(keras_cnn):
    """The float .tflite, calibration and test samples, and the model calibrated."""
    rng = np.random.default_rng(0)
    samples = rng.uniform(-1, 1, (48, *SHAPE)).astype(np.float32)
    tflite = float_tflite(keras_cnn)
    return tflite, samples[:32], samples[32:], Calibrated(tflite, [samples[:32]])


def named(cnn, part: str) -> str:
    (name,) = [layer.name for layer in layers(cnn[0]) if f"/{part}_1/" in layer.name]
    return name


@pytest.fixture(scope="module")
def quantized(cnn):
    """int8, 16x8, and mixed (the depthwise conv to the projection in 16x8, the rest int8)."""
    calibrated = cnn[3]
    mixed = {named(cnn, part) for part in ("dw", "side", "add", "project")}
    return {
        "int8": calibrated.quantize("int8"),
        "int16x8": calibrated.quantize("int16x8"),
        "mixed": calibrated.quantize("int8", mixed),
    }


def options(model: bytes) -> list:
    from tensorflow.lite.python import schema_py_generated as s

    return [op.builtinOptions for op in s.ModelT.InitFromPackedBuf(model, 0).subgraphs[0].operators]


def activations(graph, op) -> list:
    return [
        graph.tensor(t)
        for t in (*op.inputs, *op.outputs)
        if t >= 0 and graph.tensor(t).data is None
    ]


FIXED_GRIDS = {  # TFLite's output grids (scale, zero point) by op and activation type
    ("SOFTMAX", "int8"): (1 / 256, -128),
    ("LOGISTIC", "int8"): (1 / 256, -128),
    ("TANH", "int8"): (1 / 128, 0),
    ("SOFTMAX", "int16"): (1 / 32768, 0),
    ("LOGISTIC", "int16"): (1 / 32768, 0),
    ("TANH", "int16"): (1 / 32768, 0),
}
WEIGHTED = {"CONV_2D": (1, 2, 0), "DEPTHWISE_CONV_2D": (1, 2, 3), "FULLY_CONNECTED": (1, 2, 0),
            "TRANSPOSE_CONV": (1, 3, 0)}  # weights, bias, output channel axis  # fmt: skip


def check_structure(model: bytes, types: set[str]) -> None:
    """What the c backend relies on: float I/O around QUANTIZE and DEQUANTIZE, one activation
    type per op (int8 or int16, ``types`` in all), int16 zero points 0, per-channel symmetric
    int8 weights, int32 or int64 bias, TFLite's fixed output grids, general int16 rescaling."""
    graph = read_tflite(model)
    interp = interpreter(model, reference=True)
    # edgekit's reader sees the ops LiteRT runs (QUANTIZE is not read as ADD)
    assert [op.kind for op in graph.ops] == [d["op_name"] for d in interp._get_ops_details()]
    assert graph.tensor(graph.inputs[0]).dtype == "float32"
    assert graph.tensor(graph.outputs[0]).dtype == "float32"
    assert graph.ops[0].kind == "QUANTIZE" and graph.ops[-1].kind == "DEQUANTIZE"
    for op in graph.ops:
        if op.kind in ("QUANTIZE", "DEQUANTIZE"):
            continue
        acts = activations(graph, op)
        (dtype,) = {t.dtype for t in acts if t.dtype != "int32"}  # one type (int32: shapes)
        assert dtype in ("int8", "int16")
        for t in acts:
            if dtype == "int16":
                assert np.all(t.quant.zero_point == 0)
        if op.kind in WEIGHTED:
            w, b, axis = WEIGHTED[op.kind]
            weights = graph.tensor(op.inputs[w])
            assert weights.dtype == "int8" and np.all(weights.quant.zero_point == 0)
            assert weights.quant.scale.size == weights.shape[axis]  # per channel
            assert weights.data.min() >= -127  # symmetric
            if len(op.inputs) > b and op.inputs[b] >= 0:
                bias = graph.tensor(op.inputs[b])
                assert bias.dtype == ("int64" if dtype == "int16" else "int32")
                assert np.all(bias.quant.zero_point == 0)
        if (op.kind, dtype) in FIXED_GRIDS:
            out = graph.tensor(op.outputs[0]).quant
            grid = (float(out.scale[0]), int(out.zero_point[0]))
            assert grid == FIXED_GRIDS[op.kind, dtype]
        if op.kind in ("ADD", "SUB") and dtype == "int16":  # the converter's general rescaling
            assert options(model)[op.index].potScaleInt16 is False
    kinds = {t.dtype for t in graph.tensors if t.data is None} - {"float32", "int32"}
    assert kinds == types


@pytest.mark.parametrize("precision", ["int8", "int16x8", "mixed"])
def test_quantized_models_have_the_structure_the_c_backend_needs(quantized, precision):
    types = {"int8": {"int8"}, "int16x8": {"int16"}, "mixed": {"int8", "int16"}}[precision]
    check_structure(quantized[precision], types)


@pytest.mark.parametrize("precision", ["int8", "int16x8"])
def test_a_1d_encoder_decoder_quantizes_like_the_converter(precision):
    """SEANet's pieces but LEAKY_RELU: strided 1-D conv, TRANSPOSE_CONV, a skip CONCATENATION
    with the model input, TANH; the converter's ops, with one more QUANTIZE of the input."""
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 4), batch_size=1)
    x = keras.layers.Conv1D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.Conv1DTranspose(4, 3, strides=2, padding="same")(x)
    x = keras.layers.Activation("tanh")(keras.layers.Concatenate()([x, inp]))
    model = keras.Model(inp, x)
    samples = np.random.default_rng(1).uniform(-1, 1, (24, 16, 4)).astype(np.float32)
    tflite = float_tflite(model)
    ours = quantize_tflite(tflite, [samples[:16]], precision)
    check_structure(ours, {"int8" if precision == "int8" else "int16"})
    theirs = converter_model(model, samples[:16], precision)

    def computing(model):
        return [op.kind for op in read_tflite(model).ops if op.kind != "QUANTIZE"]

    assert computing(ours) == computing(theirs)
    judge = Judge(tflite, [samples[16:]], None)
    assert judge.score(ours).logits_sqnr_db > (45 if precision == "int16x8" else 30)


def test_a_mixed_plan_changes_precision_with_quantize_ops(cnn, quantized):
    graph = read_tflite(quantized["mixed"])
    by_name = {graph.tensor(op.outputs[0]).name: op for op in graph.ops}
    assert graph.tensor(by_name[named(cnn, "dw")].outputs[0]).dtype == "int16"
    assert graph.tensor(by_name[named(cnn, "project")].outputs[0]).dtype == "int16"
    assert graph.tensor(by_name[named(cnn, "conv")].outputs[0]).dtype == "int8"
    switches = [
        (graph.tensor(op.inputs[0]).dtype, graph.tensor(op.outputs[0]).dtype)
        for op in graph.ops
        if op.kind == "QUANTIZE" and graph.tensor(op.inputs[0]).dtype != "float32"
    ]
    assert switches == [("int8", "int16"), ("int16", "int8")]  # into dw, out of project
    # between two 16x8 layers the tensor stays int16: no round trip through int8
    dw_out = by_name[named(cnn, "dw")].outputs[0]
    assert [op.kind for op in graph.consumers(dw_out)] != ["QUANTIZE"]


def test_first_and_last_layers_in_16x8_keep_float_io(cnn):
    ends = [layers(cnn[0])[0].name, layers(cnn[0])[-1].name]  # the first conv, the softmax
    graph = read_tflite(cnn[3].quantize("int8", ends))
    kinds = [(op.kind, graph.tensor(op.inputs[0]).dtype, graph.tensor(op.outputs[0]).dtype)
             for op in graph.ops]  # fmt: skip
    assert kinds[:2] == [("QUANTIZE", "float32", "int16"), ("CONV_2D", "int16", "int16")]
    assert kinds[-2:] == [("SOFTMAX", "int16", "int16"), ("DEQUANTIZE", "int16", "float32")]


def test_quantized_models_run_in_builtin_ref_and_stay_close_to_float(cnn, quantized):
    tflite, _, test, _ = cnn
    judge = Judge(tflite, [test], None)  # BUILTIN_REF, against float's predictions
    scores = {p: judge.score(m) for p, m in quantized.items()}
    for p, score in scores.items():
        assert score.top1 >= 90, p
    sqnr = {p: score.logits_sqnr_db for p, score in scores.items()}
    # int8 weights bound all three (about 40 dB here); int16 activations still gain
    assert sqnr["int8"] > 30 and sqnr["int16x8"] > sqnr["int8"] + 1
    assert sqnr["int8"] - 1 < sqnr["mixed"] < sqnr["int16x8"] + 1


def converter_model(keras_model, samples, precision: str) -> bytes:
    """The TFLite converter's full-integer model (float I/O) of ``keras_model``."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in samples)
    ops = tf.lite.OpsSet
    converter.target_spec.supported_ops = [
        ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        if precision == "int16x8"
        else ops.TFLITE_BUILTINS_INT8
    ]
    return converter.convert()


@pytest.mark.parametrize("precision", ["int8", "int16x8"])
def test_the_tflite_converter_writes_the_same_model(keras_cnn, cnn, quantized, precision):
    """Same ops, types and shapes, and the same activation grids (its min-max calibration)."""
    ours = read_tflite(quantized[precision])
    theirs = read_tflite(converter_model(keras_cnn, cnn[1], precision))

    def layout(graph):
        return [
            (op.kind, [(graph.tensor(t).dtype, graph.tensor(t).shape) for t in op.inputs if t >= 0])
            for op in graph.ops
        ]

    assert layout(ours) == layout(theirs)
    side = named(cnn, "side")
    for a, b in zip(ours.ops, theirs.ops):
        mine, its = ours.tensor(a.outputs[0]).quant, theirs.tensor(b.outputs[0]).quant
        # the converter stretches the max of the 1x1 conv beside the ADD to the ADD's max;
        # ai-edge-quantizer keeps that tensor's own min-max
        if its is not None and ours.tensor(a.outputs[0]).name != side:
            np.testing.assert_allclose(mine.scale, its.scale, rtol=1e-5)
            assert np.array_equal(mine.zero_point, its.zero_point)


def test_int8_io_on_request(cnn):
    model = cnn[3].quantize("int16x8", float_io=False)
    interp = interpreter(model, reference=True)
    assert interp.get_input_details()[0]["dtype"] == np.int16
    assert interp.get_output_details()[0]["dtype"] == np.int16
    assert "QUANTIZE" not in {d["op_name"] for d in interp._get_ops_details()}


def test_a_model_zoo_file_without_signature_or_old_op_codes_is_quantized(cnn):
    from tensorflow.lite.python import schema_py_generated as s

    from edgekit.quantization.tflite_ptq import _pack

    bare = s.ModelT.InitFromPackedBuf(cnn[0], 0)
    bare.signatureDefs = []
    for code in bare.operatorCodes:  # builtin_code alone, as some exporters write
        code.deprecatedBuiltinCode = 0
    bare = _pack(bare)
    assert [layer.kind for layer in Calibrated(bare, [cnn[1]]).layers.values()] == [
        layer.kind for layer in layers(cnn[0])
    ]
    judge = Judge(cnn[0], [cnn[2]], None)
    assert judge.score(quantize_tflite(bare, [cnn[1]])).top1 >= 90


def test_ops_left_in_float_are_refused_in_one_line():
    import keras

    inp = keras.Input(SHAPE, batch_size=1)
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = keras.layers.LeakyReLU(0.2)(x)
    tflite = float_tflite(keras.Model(inp, keras.layers.Flatten()(x)))
    samples = np.random.default_rng(1).uniform(-1, 1, (4, *SHAPE)).astype(np.float32)
    with pytest.raises(EdgekitError) as err:
        quantize_tflite(tflite, [samples])
    message = str(err.value)
    assert "\n" not in message and "LEAKY_RELU" in message and "Keras" in message


def test_bad_requests_are_refused_in_one_line(cnn, quantized):
    with pytest.raises(EdgekitError, match="not a float model"):
        quantize_tflite(quantized["int8"], [cnn[1]])
    with pytest.raises(EdgekitError, match="cannot read the .tflite"):
        quantize_tflite(b"TFL3 is not enough", [cnn[1]])
    with pytest.raises(EdgekitError, match="no layer named 'nope'"):
        cnn[3].quantize("int8", {"nope"})
    with pytest.raises(EdgekitError, match="unknown precision"):
        cnn[3].quantize("int4")
    with pytest.raises(EdgekitError, match="shape"):
        quantize_tflite(cnn[0], [cnn[1][:, :8]])


# ---------------------------------------------------------------- sensitivity


@pytest.fixture(scope="module")
def sensitive():
    """A classifier of 8 features whose 'wide' layer carries 15 small values beside one huge
    one: int8 spends its 256 steps on the huge one and rounds the small ones away; the next
    layer reads only the small ones. The rest of the model is at ease in int8."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(2)
    inp = keras.Input((8,), batch_size=1)
    x = keras.layers.Dense(8, activation="relu", name="front")(inp)
    x = keras.layers.Dense(16, name="wide")(x)
    x = keras.layers.Dense(8, activation="relu", name="read")(x)
    x = keras.layers.Dense(4, name="head")(x)
    model = keras.Model(inp, keras.layers.Softmax(name="probs")(x))
    front = rng.normal(size=(8, 8)).astype(np.float32)
    model.get_layer("front").set_weights([front, np.full(8, 0.5, np.float32)])
    wide = rng.normal(size=(8, 16)).astype(np.float32) * 0.3
    wide[:, 15] = 100.0 * np.abs(rng.normal(size=8))
    model.get_layer("wide").set_weights([wide, np.zeros(16, np.float32)])
    read = rng.normal(size=(16, 8)).astype(np.float32)
    read[15] = 0.0
    model.get_layer("read").set_weights([read, np.zeros(8, np.float32)])
    head = rng.normal(size=(8, 4)).astype(np.float32)
    model.get_layer("head").set_weights([head, np.zeros(4, np.float32)])
    samples = rng.uniform(-1, 1, (200, 8)).astype(np.float32)
    return float_tflite(model), samples


def test_the_sensitivity_pass_keeps_the_sensitive_layer_in_16x8(sensitive):
    tflite, samples = sensitive
    plan = plan_mixed(tflite, [samples[:100]], max_drop=2.0, evaluation=[samples[100:]])
    kept = [layer.name for layer in plan.sixteen_bit]
    assert plan.int8.drop_points > 10  # int8 alone is hopeless here
    assert plan.met and plan.mixed.drop_points <= 2.0
    assert any("/wide_1/" in name for name in kept)
    assert len(plan.sixteen_bit) < len(plan.layers)  # not everything: front and head stay int8
    assert not any("/front_1/" in name for name in kept)
    # the detail lost in the wide tensor shows as loss in the layer that reads it (SQNR,
    # weighted by energy, barely sees it in the wide tensor); taking the reader takes its writer
    worst = max(plan.layers, key=lambda layer: layer.added_loss_db)
    assert "/read_1/" in worst.name and worst.added_loss_db > 20
    assert plan.mixed.logits_sqnr_db > plan.int8.logits_sqnr_db + 10
    assert "within 2" in plan.summary()
    row = json.loads(json.dumps(plan.as_dict()))
    assert [r["name"] for r in row["sixteen_bit"]] == [layer.name for layer in plan.sixteen_bit]
    assert row["int8"]["drop_points"] == plan.int8.drop_points and row["met"]
    # the plan's model is the mixed model it measured: int16 only where asked
    graph = read_tflite(plan.model)
    sixteen = {
        graph.tensor(op.outputs[0]).name
        for op in graph.ops
        if op.kind != "QUANTIZE" and graph.tensor(op.outputs[0]).dtype == "int16"
    }
    assert sixteen == {layer.name for layer in plan.sixteen_bit}


def test_a_drop_int8_meets_keeps_everything_in_int8(cnn):
    tflite, calibration, test, _ = cnn
    plan = plan_mixed(tflite, [calibration], max_drop=100.0, evaluation=[test])
    assert plan.sixteen_bit == () and plan.met and plan.mixed == plan.int8
    assert plan.model == plan.int8_model != plan.int16x8_model


def test_a_drop_16x8_cannot_meet_says_by_how_much(sensitive):
    tflite, samples = sensitive
    # judged against float's own predictions a drop is never negative
    plan = plan_mixed(tflite, [samples[:100]], max_drop=-1.0, evaluation=[samples[100:]])
    assert not plan.met
    assert len(plan.sixteen_bit) == len(plan.layers)
    assert plan.missed_by == pytest.approx(plan.int16x8.drop_points + 1.0)
    assert "more than -1" in plan.summary()
