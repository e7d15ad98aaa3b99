"""The IR read from an int8 .tflite is what LiteRT sees in the same bytes, and damaged files
are one-line errors."""

import numpy as np
import pytest

from edgekit.compiler.ir import Graph, padding_amounts, read_tflite, short_name
from edgekit.errors import EdgekitError
from edgekit.interpreter import interpreter

WINDOWED = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D")


def _int8(model) -> bytes:
    from edgekit.quantization.converter import quantize

    shape = (4, *model.input_shape[1:])
    return quantize(model, np.random.default_rng(0).standard_normal(shape).astype(np.float32))


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    """Two small int8 models covering the ops and window geometries MobileNetV2-like CNNs use."""
    import keras
    from keras import layers

    x = inp = keras.Input((12, 12, 3), batch_size=1)
    x = layers.ZeroPadding2D(((1, 0), (1, 0)))(x)
    x = layers.Conv2D(8, 3, strides=2, padding="valid", activation="relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")(x)
    x = layers.Add()([x, layers.Conv2D(8, 1)(y)])
    x = layers.Flatten()(layers.AveragePooling2D(2)(x))
    x = layers.Softmax()(layers.Dense(5, bias_initializer="ones")(x))
    mixed = keras.Model(inp, x)

    x = inp = keras.Input((13, 13, 3), batch_size=1)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)  # 13 -> 7
    x = layers.Conv2D(8, 5, strides=3, padding="same")(x)  # 7 -> 3
    x = layers.Conv2D(8, (3, 1), strides=(2, 1), padding="same")(x)  # 3x3 -> 2x3
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 2x3 -> 1x2
    x = layers.Softmax()(layers.Dense(4)(layers.GlobalAveragePooling2D()(x)))
    strided = keras.Model(inp, x)
    return {"mixed": _int8(mixed), "strided": _int8(strided)}


@pytest.mark.parametrize("name", ["mixed", "strided"])
def test_ir_matches_litert(models, name):
    data = models[name]
    graph, interp = read_tflite(data), interpreter(data)
    ops = interp._get_ops_details()
    assert [op.kind for op in graph.ops] == [d["op_name"] for d in ops]
    for op, detail in zip(graph.ops, ops, strict=True):
        assert op.inputs == tuple(detail["inputs"]) and op.outputs == tuple(detail["outputs"])
    assert graph.inputs == tuple(d["index"] for d in interp.get_input_details())
    assert graph.outputs == tuple(d["index"] for d in interp.get_output_details())

    constants = 0
    for detail in interp.get_tensor_details():
        if detail["index"] >= len(graph.tensors):
            continue  # LiteRT's own scratch tensors (im2col, ...) follow the model's
        t = graph.tensor(detail["index"])
        assert (t.name, t.shape, np.dtype(t.dtype)) == (
            detail["name"],
            tuple(detail["shape"]),
            np.dtype(detail["dtype"]),
        )
        q = detail["quantization_parameters"]
        if t.quant is None:
            assert q["scales"].size == 0
        else:
            np.testing.assert_array_equal(t.quant.scale, q["scales"].astype(np.float64))
            np.testing.assert_array_equal(t.quant.zero_point, q["zero_points"])
            assert t.quant.axis == q["quantized_dimension"]
        if t.data is not None:
            constants += 1
            expected = interp.get_tensor(detail["index"])
            assert t.data.dtype == expected.dtype
            np.testing.assert_array_equal(t.data, expected)
    weights = sum(1 for op in graph.ops if op.kind in (*WINDOWED[:2], "FULLY_CONNECTED"))
    assert constants >= weights


def test_options_of_strided_and_padded_layers(models):
    strided, mixed = read_tflite(models["strided"]), read_tflite(models["mixed"])
    conv = {"dilation_h": 1, "dilation_w": 1, "padding": "SAME"}
    assert [op.options for op in strided.ops[:4]] == [
        {**conv, "stride_h": 2, "stride_w": 2, "activation": "RELU6"},
        {**conv, "stride_h": 3, "stride_w": 3, "activation": "NONE"},
        {**conv, "stride_h": 2, "stride_w": 1, "activation": "NONE"},
        {**conv, "stride_h": 2, "stride_w": 2, "activation": "NONE", "depth_multiplier": 1},
    ]
    assert [op.kind for op in strided.ops[4:]] == ["MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    mean, dense, softmax = strided.ops[4:]
    assert mean.options == {"keep_dims": False}
    assert sorted(strided.constant(mean.inputs[1]).reshape(-1).tolist()) == [1, 2]
    assert dense.options == {
        "activation": "NONE",
        "keep_num_dims": False,
        "weights_format": "DEFAULT",
    }
    assert softmax.options == {"beta": 1.0}

    by_kind = {op.kind: op for op in mixed.ops}
    pad = by_kind["PAD"]
    assert pad.options == {}
    assert mixed.constant(pad.inputs[1]).tolist() == [[0, 0], [1, 0], [1, 0], [0, 0]]
    assert by_kind["CONV_2D"].options["padding"] == "VALID"
    depthwise = by_kind["DEPTHWISE_CONV_2D"].options
    assert (depthwise["depth_multiplier"], depthwise["activation"]) == (2, "RELU")
    assert by_kind["AVERAGE_POOL_2D"].options == {
        "stride_h": 2,
        "stride_w": 2,
        "filter_h": 2,
        "filter_w": 2,
        "padding": "VALID",
        "activation": "NONE",
    }
    assert by_kind["ADD"].options == {"activation": "NONE"}
    assert set(by_kind["RESHAPE"].options) <= {"new_shape"}


def test_weights_bias_and_absent_bias_as_the_converter_writes_them(models):
    for name in models:
        graph = read_tflite(models[name])
        for op in graph.ops:
            if op.kind not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                continue
            weights = graph.tensor(op.inputs[1])
            out_channels = graph.tensor(op.outputs[0]).shape[-1]
            axis = 3 if op.kind == "DEPTHWISE_CONV_2D" else 0
            assert weights.data.dtype == np.int8 and not weights.data.flags.writeable
            assert weights.quant.axis == axis and weights.quant.scale.size == out_channels
            assert not weights.quant.zero_point.any()
            if op.inputs[2] >= 0:
                bias = graph.tensor(op.inputs[2])
                assert bias.data.dtype == np.int32 and bias.shape == (out_channels,)
                assert bias.quant.scale.size == out_channels
    # A Dense whose bias is still all zeros loses it in conversion: the input is then -1.
    dense = read_tflite(models["strided"]).ops[5]
    assert dense.inputs[2] == -1


def test_constants_cannot_be_modified(models):
    graph = read_tflite(models["mixed"])
    weights = graph.constant(graph.ops[1].inputs[1])
    with pytest.raises(ValueError):
        weights[0, 0, 0, 0] = 1
    with pytest.raises(ValueError):
        graph.tensor(graph.ops[1].inputs[1]).quant.scale[0] = 1.0
    assert graph.constant(graph.inputs[0]) is None and graph.constant(-1) is None


def test_producers_consumers_and_layer_names(models):
    graph = read_tflite(models["mixed"])
    by_kind = {op.kind: op for op in graph.ops}
    conv, add = graph.ops[1], by_kind["ADD"]
    residual = conv.outputs[0]
    assert graph.producer(residual) is conv
    assert [op.kind for op in graph.consumers(residual)] == ["DEPTHWISE_CONV_2D", "ADD"]
    assert graph.producer(add.inputs[1]).kind == "CONV_2D"
    assert graph.producer(graph.inputs[0]) is None
    assert graph.consumers(graph.outputs[0]) == ()
    for op in graph.ops:
        name = graph.layer_name(op)
        assert ";" not in name and graph.tensor(op.outputs[0]).name.startswith(name)
    assert "conv2d" in graph.layer_name(conv)
    assert short_name("m/block_1_expand_relu/Relu6;m/block_1_expand/Conv2D") == (
        "m/block_1_expand_relu/Relu6"
    )


def test_padding_amounts_give_the_converters_output_shapes(models):
    checked = 0
    for data in models.values():
        graph = read_tflite(data)
        for op in graph.ops:
            if op.kind not in WINDOWED:
                continue
            o, x, y = op.options, graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
            window = (
                (o["filter_h"], o["filter_w"])
                if "filter_h" in o
                else graph.tensor(op.inputs[1]).shape[1:3]
            )
            for axis, (size, stride) in enumerate(((1, o["stride_h"]), (2, o["stride_w"]))):
                dilation = o.get(("dilation_h", "dilation_w")[axis], 1)
                _, _, out = padding_amounts(
                    x.shape[size], window[axis], stride, dilation, o["padding"]
                )
                assert out == y.shape[size], (graph.layer_name(op), axis)
            checked += 1
    assert checked == 8


@pytest.mark.parametrize(
    "size, kernel, stride, dilation, expected",
    [
        (13, 3, 2, 1, (1, 1, 7)),
        (12, 3, 2, 1, (0, 1, 6)),  # even input, stride 2: the odd padding element goes after
        (7, 5, 3, 1, (2, 2, 3)),
        (3, 3, 2, 1, (1, 1, 2)),
        (10, 3, 1, 2, (2, 2, 10)),
        (5, 1, 1, 1, (0, 0, 5)),
        (96, 3, 2, 1, (0, 1, 48)),
    ],
)
def test_same_padding_matches_tensorflow(size, kernel, stride, dilation, expected):
    import tensorflow as tf

    assert padding_amounts(size, kernel, stride, dilation, "SAME") == expected
    before, after, out = expected
    x = tf.random.stateless_normal((1, size, size, 2), seed=(1, 2))
    w = tf.random.stateless_normal((kernel, kernel, 2, 3), seed=(3, 4))
    same = tf.nn.conv2d(x, w, stride, "SAME", dilations=dilation)
    padded = tf.pad(x, [[0, 0], [before, after], [before, after], [0, 0]])
    valid = tf.nn.conv2d(padded, w, stride, "VALID", dilations=dilation)
    assert same.shape[1] == out
    np.testing.assert_allclose(same.numpy(), valid.numpy(), rtol=1e-5, atol=1e-5)


def test_valid_padding_pads_nothing_and_bad_geometry_is_refused():
    assert padding_amounts(13, 3, 2, 1, "VALID") == (0, 0, 6)
    assert padding_amounts(12, 2, 2, 1, "VALID") == (0, 0, 6)
    assert padding_amounts(10, 3, 1, 2, "VALID") == (0, 0, 6)
    with pytest.raises(ValueError):
        padding_amounts(12, 3, 0, 1, "SAME")
    with pytest.raises(ValueError):
        padding_amounts(12, 3, 1, 1, "CAUSAL")


def _one_line_invalid(data) -> str:
    with pytest.raises(EdgekitError) as info:
        read_tflite(data)
    message = str(info.value)
    assert "\n" not in message and "not a valid .tflite" in message
    return message


def test_random_bytes_half_files_and_wrong_identifier_are_one_line_errors(models):
    data = models["mixed"]
    rng = np.random.default_rng(1)
    _one_line_invalid(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _one_line_invalid(data[: len(data) // 2])
    _one_line_invalid(data[:4] + b"TFL2" + data[8:])
    _one_line_invalid(b"")
    noise = bytearray(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    noise[4:8] = b"TFL3"
    assert "re-export" in _one_line_invalid(bytes(noise))


def test_damaged_files_never_escape_as_other_exceptions(models):
    data = models["mixed"]
    rng = np.random.default_rng(2)
    outcomes = set()
    for trial in range(150):
        damaged = bytearray(data)
        if trial % 3 == 0:
            damaged = damaged[: int(rng.integers(8, len(data)))]
        else:
            for at in rng.integers(8, len(data), int(rng.integers(1, 16))):
                damaged[at] = int(rng.integers(0, 256))
        try:
            outcomes.add(type(read_tflite(bytes(damaged))).__name__)
        except EdgekitError as exc:
            assert "\n" not in str(exc)
            outcomes.add("EdgekitError")
    assert "EdgekitError" in outcomes


def test_a_path_is_read_and_a_missing_path_is_an_error(models, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(models["strided"])
    assert isinstance(read_tflite(path), Graph)
    with pytest.raises(EdgekitError, match="cannot read model"):
        read_tflite(tmp_path / "missing.tflite")
    path.write_bytes(b"not a model")
    assert str(path) in _one_line_invalid(path)


def test_control_flow_into_other_subgraphs_is_refused():
    import tensorflow as tf

    class Loop(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def run(self, x):
            _, y = tf.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2.0), (0, x))
            return y

    loop = Loop()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [loop.run.get_concrete_function()], loop
    )
    with pytest.raises(EdgekitError, match="WHILE") as info:
        read_tflite(converter.convert())
    assert "subgraphs" in str(info.value) and "\n" not in str(info.value)
