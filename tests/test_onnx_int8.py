"""The ONNX backend on the shipped MobileNetV2 0.35@96 digits model: export, ORT static int8
quantization with each calibration method, accuracy, and the precision ORT really runs in."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgekit.data import preprocess
from edgekit.errors import EdgekitError
from edgekit.onnx_int8 import METHODS, onnx_section, quantize_onnx
from edgekit.pipeline import load_data


@pytest.fixture(scope="module")
def model(host_build):
    import keras

    return keras.models.load_model(host_build[0] / "model_float.keras")


@pytest.fixture(scope="module")
def data(model):
    return load_data("digits", tuple(model.input_shape[1:]))


@pytest.fixture(scope="module")
def section(model, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    return out, onnx_section(model, data, 128, out)


def rows(section):
    return {row["method"]: row for row in section[1]["methods"]}


def test_float_onnx_matches_keras(model, data, section, host_build):
    import onnxruntime as ort

    out, block = section
    images = preprocess(data.evaluation.images[:32])
    session = ort.InferenceSession(
        str(out / block["float_path"]), providers=["CPUExecutionProvider"]
    )
    (name,) = [i.name for i in session.get_inputs()]
    assert session.get_inputs()[0].shape == [1, 96, 96, 3]
    got = np.concatenate([session.run(None, {name: x[None]})[0] for x in images])
    np.testing.assert_allclose(got, model.predict(images, verbose=0), rtol=0, atol=1e-4)
    assert block["float_top1"] == host_build[1]["accuracy"]["float_top1"]


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gives_an_int8_qdq_model_with_per_channel_weights(section, method):
    out, _ = section
    graph = onnx.load(out / rows(section)[method]["path"]).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {o: node for node in graph.node for o in node.output}
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    for q in (node for node in graph.node if node.op_type == "QuantizeLinear"):
        assert weights[q.input[2]].dtype == np.int8  # int8 activations
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert len(convs) == 52
    for conv in convs:
        dq = producer[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        kernel, scale = weights[dq.input[0]], weights[dq.input[1]]
        assert kernel.dtype == np.int8
        assert scale.shape == (kernel.shape[0],)  # one scale per output channel


@pytest.mark.parametrize("method", METHODS)
def test_each_method_keeps_float_accuracy(section, method):
    block = section[1]
    row = rows(section)[method]
    assert row["top1"] >= 0.9
    assert abs(block["float_top1"] - row["top1"]) <= 0.03
    assert row["top1_agreement_with_float"] >= 0.97
    assert row["model_bytes"] == (section[0] / row["path"]).stat().st_size
    assert row["model_bytes"] < 0.5 * block["float_bytes"]


def test_report_counts_every_conv_on_integer_or_float_kernels(section):
    for row in section[1]["methods"]:
        ops = row["executed_ops"]
        assert ops["integer"].get("QLinearConv", 0) + ops["float"].get("Conv", 0) == 52
        assert row["computes_in"].startswith("mixed" if ops["float"] else "int8")


def test_unknown_calibration_method_is_a_one_line_error(section, tmp_path):
    out, block = section
    with pytest.raises(EdgekitError) as caught:
        quantize_onnx(
            out / block["float_path"],
            np.zeros((1, 96, 96, 3), np.float32),
            "kl",
            tmp_path / "m.onnx",
        )
    message = str(caught.value)
    assert "\n" not in message
    assert "'kl'" in message and "minmax, entropy, percentile" in message
    assert not (tmp_path / "m.onnx").exists()
