"""Dilated CONV_2D and DEPTHWISE_CONV_2D against LiteRT's reference kernels.

The converter never writes a dilated convolution with a stride (Keras and TensorFlow refuse the
pair), but TFLite's reference kernels run it, so the edge cases are single-op models written
with the flatbuffer schema: stride and dilation together, each different along height and
width, SAME and VALID padding (odd padding after), odd sizes, even windows, depth multipliers,
a 1x1 filter (which the fast pointwise kernels run whatever the dilation) and fused clamps.
They run on the host under ASan and UBSan (layer by layer and patch by patch, a patch reading
the input its dilated windows span) and on the M7 and M55 boards, every layer compared byte for
byte; a converted Keras model checks that the converter's dilated layers read as such.
Dilated convolutions run the im2col kernels on the DSP and MVE cores (a window copy that
dilates, then the same matrix multiply); dilated depthwise convolutions run the reference
kernel everywhere.
"""

import numpy as np
import pytest

from edgekit.backends.c import CBackend, build_host, run_host
from edgekit.compiler.ir import padding_amounts, read_tflite
from edgekit.compiler.ops import require_supported, select_kernels
from edgekit.config import CompileOptions
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

INPUT = (21, 19, 3)  # H, W, C: odd and unequal
PADDING = {"SAME": 0, "VALID": 1}
ACTIVATION = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


def conv_model(layers, input_shape=INPUT, seed: int = 0) -> bytes:
    """An int8 .tflite chaining ``layers``, each (kind, filter (h, w), output channels or depth
    multiplier, stride (h, w), dilation (h, w), padding, activation), with random per-channel
    weights and biases and its own output quantization."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    rng = np.random.default_rng(seed)
    model = s.ModelT()
    model.version, model.buffers, model.operatorCodes = 3, [s.BufferT()], []
    graph = s.SubGraphT()
    graph.tensors, graph.operators = [], []

    def tensor(shape, ttype, scale, zero, data=None, axis=0):
        t = s.TensorT()
        t.shape, t.type, t.name = list(shape), ttype, f"t{len(graph.tensors)}"
        t.buffer = 0
        if data is not None:
            buffer = s.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        t.quantization = s.QuantizationParametersT()
        t.quantization.scale = list(np.atleast_1d(scale).astype(float))
        t.quantization.zeroPoint = list(np.atleast_1d(zero).astype(int))
        t.quantization.quantizedDimension = axis
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    kinds = list(dict.fromkeys(layer[0] for layer in layers))
    for kind in kinds:
        code = s.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = getattr(s.BuiltinOperator, kind)
        code.version = 1
        model.operatorCodes.append(code)

    h, w, c = input_shape
    in_scale = 0.05
    x = tensor((1, h, w, c), s.TensorType.INT8, in_scale, 3)
    for kind, (kh, kw), n, (sh, sw), (dh, dw), padding, activation in layers:
        depthwise = kind == "DEPTHWISE_CONV_2D"
        out_c = c * n if depthwise else n
        shape = (1, kh, kw, out_c) if depthwise else (out_c, kh, kw, c)
        w_scale = rng.uniform(0.002, 0.02, out_c)
        weights = rng.integers(-127, 128, shape).astype(np.int8)
        wt = tensor(shape, s.TensorType.INT8, w_scale, [0] * out_c, weights, 3 if depthwise else 0)
        bias = rng.integers(-3000, 3000, out_c).astype(np.int32)
        bt = tensor((out_c,), s.TensorType.INT32, in_scale * w_scale, [0] * out_c, bias)
        oh = padding_amounts(h, kh, sh, dh, padding)[2]
        ow = padding_amounts(w, kw, sw, dw, padding)[2]
        out_scale = float(rng.uniform(0.02, 0.2))
        y = tensor((1, oh, ow, out_c), s.TensorType.INT8, out_scale, int(rng.integers(-20, 20)))
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = kinds.index(kind), [x, wt, bt], [y]
        name = "DepthwiseConv2DOptions" if depthwise else "Conv2DOptions"
        op.builtinOptionsType = getattr(s.BuiltinOptions, name)
        options = getattr(s, name + "T")()
        options.padding, options.strideH, options.strideW = PADDING[padding], sh, sw
        options.dilationHFactor, options.dilationWFactor = dh, dw
        options.fusedActivationFunction = ACTIVATION[activation]
        if depthwise:
            options.depthMultiplier = n
        op.builtinOptions = options
        graph.operators.append(op)
        x, h, w, c, in_scale = y, oh, ow, out_c, out_scale
    graph.inputs, graph.outputs = [0], [x]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# kind, filter, channels (CONV_2D) or depth multiplier, stride, dilation, padding, activation
EDGE_CASES = [
    ("CONV_2D", (3, 2), 4, (1, 2), (2, 1), "VALID", "NONE"),  # 21x19 -> 17x9
    ("DEPTHWISE_CONV_2D", (2, 2), 3, (1, 1), (1, 2), "VALID", "RELU_N1_TO_1"),  # -> 16x7
    ("CONV_2D", (3, 3), 5, (2, 2), (2, 2), "SAME", "NONE"),  # -> 8x4, odd padding after
    ("DEPTHWISE_CONV_2D", (3, 3), 2, (1, 2), (2, 3), "SAME", "RELU"),  # multiplier 2
    ("CONV_2D", (2, 3), 7, (2, 1), (3, 2), "SAME", "RELU6"),  # an even window
    ("DEPTHWISE_CONV_2D", (3, 3), 1, (2, 2), (2, 2), "SAME", "NONE"),  # the fast 3x3's shape
    ("CONV_2D", (1, 1), 6, (1, 1), (2, 3), "SAME", "NONE"),  # 1x1: the pointwise kernels
]


@pytest.fixture(scope="module")
def edge_cases() -> bytes:
    return conv_model(EDGE_CASES)


def _inputs(shape=INPUT, count: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (count, *shape)).astype(np.int8)


def _bytes(values) -> np.ndarray:
    return np.ascontiguousarray(values).ravel().view(np.uint8)


def _assert_layers_match(outputs, layers, tflite: bytes, inputs: np.ndarray, order=None) -> None:
    """The outputs and every layer (the first input's) byte for byte; ``order``: the reference
    layer each of ``layers`` is (a board run's ``layer_ops``)."""
    want = reference(tflite, inputs, layers=True)
    np.testing.assert_array_equal(_bytes(outputs), _bytes(want.outputs))
    expected = want.layers if order is None else [want.layers[i] for i in order]
    assert len(layers) == len(expected)
    for n, (got, wanted) in enumerate(zip(layers, expected, strict=True)):
        np.testing.assert_array_equal(_bytes(got), _bytes(wanted), err_msg=f"layer {n}")


def test_the_models_hold_the_cases_under_test(edge_cases):
    graph = read_tflite(edge_cases)
    geometry = {
        (op.kind, op.options["stride_h"], op.options["stride_w"], op.options["dilation_h"],
         op.options["dilation_w"], op.options["padding"])
        for op in graph.ops
    }  # fmt: skip
    assert ("CONV_2D", 2, 2, 2, 2, "SAME") in geometry
    assert ("DEPTHWISE_CONV_2D", 1, 2, 2, 3, "SAME") in geometry
    assert ("CONV_2D", 1, 2, 2, 1, "VALID") in geometry
    assert padding_amounts(16, 3, 2, 2, "SAME")[:2] == (1, 2)  # the odd padding element after
    require_supported(graph, load_target("cortex-m7"))


def test_dilated_layers_pick_their_own_kernels_and_undilated_ones_keep_theirs(edge_cases):
    """Dilated convolutions run im2col on the DSP and MVE cores (the reference kernel on the
    host), dilated depthwise convolutions the reference kernel; a 1x1 filter stays pointwise."""
    graph = read_tflite(edge_cases)
    for core, feature in (("host", None), ("cortex-m7", "dsp"), ("cortex-m55", "mve")):
        conv = f"conv2d_im2col_dilated_{feature}" if feature else "conv2d_dilated_ref"
        pointwise = f"conv2d_1x1_{feature}" if feature else conv
        depthwise = "depthwise_conv2d_dilated_ref"
        names = [c.variant.name for c in select_kernels(graph, load_target(core)).values()]
        assert names == [conv, depthwise, conv, depthwise, conv, depthwise, pointwise]
        undilated = conv_model([(k, f, n, st, (1, 1), p, a) for k, f, n, st, _, p, a in EDGE_CASES])
        graph_1 = read_tflite(undilated)
        names = [c.variant.name for c in select_kernels(graph_1, load_target(core)).values()]
        assert "dilated" not in " ".join(names)
        if feature:
            assert names[2] == f"conv2d_im2col_{feature}"
            assert names[5] == f"depthwise_conv2d_3x3_{feature}"


def test_edge_cases_are_bit_exact_under_sanitizers(edge_cases, tmp_path):
    artifact = CBackend().compile(Int8Model(edge_cases), load_target("host"), tmp_path / "c")
    model_c = (artifact.path / "src" / "model.c").read_text()
    assert "ek_dilated_conv_params" in model_c and "ek_dilated_depthwise_conv_params" in model_c
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    inputs = _inputs()
    run = run_host(binary, inputs, artifact.details["layer_bytes"])
    _assert_layers_match(run.outputs, run.layers, edge_cases, inputs)


@pytest.fixture(scope="module")
def converted() -> bytes:
    """Keras layers with dilation_rate, SAME and VALID, as the TFLite converter writes them."""
    import keras

    layers = keras.layers
    x = inp = keras.Input((15, 12, 4), batch_size=1)
    x = layers.Conv2D(6, 3, dilation_rate=(2, 3), padding="same", activation="relu")(x)
    x = layers.DepthwiseConv2D(3, dilation_rate=2, padding="valid")(x)
    x = layers.DepthwiseConv2D((2, 3), dilation_rate=(3, 1), padding="same", depth_multiplier=2)(x)
    x = layers.Conv2D(5, (3, 2), dilation_rate=(1, 2), padding="valid")(x)
    return convert(keras.Model(inp, x))


def convert(model, seed: int = 0) -> bytes:
    """A one-input Keras model through the TFLite converter's full-integer int8 path (batch 1,
    int8 input and output), as edgekit's quantize stage runs it."""
    import tempfile

    import tensorflow as tf

    shape = (1, *model.inputs[0].shape[1:])
    samples = np.random.default_rng(seed).uniform(-1, 1, (16, *shape)).astype(np.float32)
    with tempfile.TemporaryDirectory() as saved:
        spec = [tf.TensorSpec(shape, tf.float32)]
        model.export(saved, "tf_saved_model", verbose=False, input_signature=spec)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
        converter.representative_dataset = lambda: ([sample] for sample in samples)
        return converter.convert()


def test_converted_dilated_layers_are_bit_exact_under_sanitizers(converted, tmp_path):
    graph = read_tflite(converted)
    dilations = [(op.options["dilation_h"], op.options["dilation_w"]) for op in graph.ops]
    assert [op.kind for op in graph.ops] == ["CONV_2D", *["DEPTHWISE_CONV_2D"] * 2, "CONV_2D"]
    assert dilations == [(2, 3), (2, 2), (3, 1), (1, 2)]
    artifact = CBackend().compile(Int8Model(converted), load_target("host"), tmp_path / "c")
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    inputs = _inputs((15, 12, 4))
    run = run_host(binary, inputs, artifact.details["layer_bytes"])
    _assert_layers_match(run.outputs, run.layers, converted, inputs)


@pytest.mark.parametrize("core, board", [("cortex-m7", "mps2-an500"), ("cortex-m55", "mps3-an547")])
def test_edge_cases_are_bit_exact_on_the_boards(edge_cases, tmp_path, core, board):
    target = load_target(core)
    inputs = _inputs()
    options = CompileOptions(patches="off")  # layer by layer: every layer's bytes to compare
    artifact = CBackend().compile(Int8Model(edge_cases), target, tmp_path, options)
    run = CBackend().run(artifact, target, inputs, layers=True)
    assert run.runner == f"qemu-system-arm {board}"
    _assert_layers_match(run.outputs, run.layers, edge_cases, inputs, artifact.details["layer_ops"])


@pytest.mark.parametrize("cut", [2, 4])
def test_dilated_layers_run_patch_by_patch(edge_cases, tmp_path, cut):
    """A patch reads the input rows and columns its dilated windows span (the stage's regions
    walk back through each window at its dilated size)."""
    options = CompileOptions(patches="3x2", patch_cut=str(cut))
    artifact = CBackend().compile(Int8Model(edge_cases), load_target("host"), tmp_path, options)
    graph = read_tflite(edge_cases)
    assert artifact.details["patches"]["cut"] == graph.layer_name(graph.ops[cut])
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    inputs = _inputs()
    run = run_host(binary, inputs, artifact.details["layer_bytes"])
    order = artifact.details["layer_ops"]
    _assert_layers_match(run.outputs, run.layers, edge_cases, inputs, order)
