"""CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and TRANSPOSE_CONV in 16x8 (int16 activations
with zero point 0, int8 weights, int64 bias, int32 bias or none) in the c backend, bit-exact
with LiteRT's reference kernels, and their DSP and MVE variants on the boards.

Models written with the flatbuffer schema carry the edge cases: per-channel and per-tensor
weights, int64 biases beyond the int32 range and no bias, accumulators beyond the int32 range
(a wrong 32-bit accumulator or requantization would show), int32 biases (TFLite then
accumulates in int32 and wraps: so do the kernels), SAME and VALID windows at the
borders, strides and dilations, a depth multiplier, fused clamps, channel counts that are not a
multiple of 2, 4, 8 or 16 (the tails of the DSP and MVE loops), and inputs at the int16
extremes. Converted Keras models show what the converter writes for 16x8. Everything runs on
the host under ASan and UBSan and on the M7 and M55 boards, every layer compared byte for byte
with the reference.
"""

import numpy as np
import pytest
from test_ops_reduce import (
    TYPES,
    assert_layers_match,
    same_bytes,
    sanitized_run,
    schema_model,
    tensor,
)

from edgekit.backends.c import CBackend
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import check_graph, require_supported, select_kernels
from edgekit.config import CompileOptions
from edgekit.errors import EdgekitError
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

OPTIONS = {  # each op kind's options table in the schema
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "TRANSPOSE_CONV": "TransposeConvOptions",
}
PADDING = {"SAME": 0, "VALID": 1}
ACTIVATION = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
IN_SCALE, STD = 1 / 4096, 8000  # the input's scale; the spread each layer's output aims at


def with_options(tflite: bytes, options: dict[int, dict], scales: dict[int, tuple]) -> bytes:
    """``tflite`` (from ``schema_model``) with op ``i``'s options table set to ``options[i]``
    and tensor ``t``'s quantization to the per-channel ``scales[t]`` = (scales, axis)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(tflite, 0))
    graph = model.subgraphs[0]
    kinds = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    for i, fields in options.items():
        op = graph.operators[i]
        name = OPTIONS[kinds[model.operatorCodes[op.opcodeIndex].builtinCode]]
        op.builtinOptionsType = getattr(s.BuiltinOptions, name)
        op.builtinOptions = getattr(s, name + "T")()
        for key, value in fields.items():
            setattr(op.builtinOptions, key, value)
    for t, (values, axis) in scales.items():
        q = graph.tensors[t].quantization
        q.scale, q.zeroPoint, q.quantizedDimension = list(values), [0] * len(values), axis
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class Chain:
    """A 16x8 model grown op by op: each op adds its weights, bias and output tensor, the
    output's scale chosen so that its values spread over about +-STD."""

    def __init__(self, shape, seed: int = 0, bias_type: str = "int64"):
        self.rng, self.bias_type = np.random.default_rng(seed), bias_type
        self.tensors = [tensor(shape, (IN_SCALE, 0), "int16")]
        self.ops, self.options, self.scales = [], {}, {}
        self.spread = {0: 18900.0}  # the input: uniform over int16

    def _add(self, spec) -> int:
        self.tensors.append(spec)
        return len(self.tensors) - 1

    def _weights(self, shape, axis: int, per_channel: bool, extreme: bool = False):
        """int8 weights (all +-127 by output channel where ``extreme``) and their scales."""
        w = self.rng.integers(-127, 128, shape)
        channels = shape[axis]
        if extreme:
            signs = np.where(np.arange(channels) % 2, -127, 127)
            w = np.moveaxis(np.broadcast_to(signs, (*np.delete(shape, axis), channels)), -1, axis)
        scales = self.rng.uniform(0.004, 0.02, channels) if per_channel else [0.01]
        index = self._add(tensor(shape, (0.01, 0), "int8", w))
        if per_channel:
            self.scales[index] = (scales, axis)
        return index, np.mean(scales), float(np.std(w)) or 1.0

    def _bias(self, channels: int, size: float | None):
        if size is None:
            return -1
        values = self.rng.uniform(-size, size, channels).astype(np.int64)
        return self._add(tensor((channels,), (1e-6, 0), self.bias_type, values))

    def _output(self, x, shape, w_scale, w_std, depth, extreme=None) -> int:
        """The output tensor; ``extreme`` (the bias bound) scales it so that the largest
        accumulator, every input at 32767 times 127, lands near 15000."""
        spread = np.sqrt(depth) * self.spread[x] * w_std
        if extreme is not None:
            spread = (depth * 32767 * 127 + extreme) * STD / 15000
        scale = self.tensors[x]["quant"][0] * w_scale * spread / STD
        out = self._add(tensor(shape, (scale, 0), "int16"))
        self.spread[out] = STD
        return out

    def conv(self, x, out_c, kernel, stride=(1, 1), padding="SAME", dilation=(1, 1),
             activation="NONE", per_channel=True, bias=1e6, extreme=False) -> int:  # fmt: skip
        _, h, w, c = self.tensors[x]["shape"]
        weights, w_scale, w_std = self._weights((out_c, *kernel, c), 0, per_channel, extreme)
        b = self._bias(out_c, bias)
        shape = (1, *_spatial((h, w), kernel, stride, dilation, padding), out_c)
        depth = kernel[0] * kernel[1] * c
        out = self._output(x, shape, w_scale, w_std, depth, bias if extreme else None)
        self.options[len(self.ops)] = {
            "padding": PADDING[padding], "strideH": stride[0], "strideW": stride[1],
            "dilationHFactor": dilation[0], "dilationWFactor": dilation[1],
            "fusedActivationFunction": ACTIVATION[activation],
        }  # fmt: skip
        self.ops.append(("CONV_2D", [x, weights, b], out, None))  # TFLite wants 3 inputs
        return out

    def depthwise(self, x, kernel, multiplier=1, stride=(1, 1), padding="SAME",
                  dilation=(1, 1), activation="NONE", bias=1e6, big_bias=False) -> int:  # fmt: skip
        _, h, w, c = self.tensors[x]["shape"]
        weights, w_scale, w_std = self._weights((1, *kernel, c * multiplier), 3, True)
        b = self._bias(c * multiplier, bias)
        shape = (1, *_spatial((h, w), kernel, stride, dilation, padding), c * multiplier)
        taps = kernel[0] * kernel[1]
        out = self._output(x, shape, w_scale, w_std, taps, bias if big_bias else None)
        self.options[len(self.ops)] = {
            "padding": PADDING[padding], "strideH": stride[0], "strideW": stride[1],
            "dilationHFactor": dilation[0], "dilationWFactor": dilation[1],
            "depthMultiplier": multiplier, "fusedActivationFunction": ACTIVATION[activation],
        }  # fmt: skip
        self.ops.append(("DEPTHWISE_CONV_2D", [x, weights, b], out, None))
        return out

    def transpose(self, x, out_c, kernel, stride, padding="SAME", bias=1e6) -> int:
        _, h, w, c = self.tensors[x]["shape"]
        weights, w_scale, w_std = self._weights((out_c, *kernel, c), 0, True)
        b = self._bias(out_c, bias)
        size = [n * s if padding == "SAME" else (n - 1) * s + k
                for n, k, s in zip((h, w), kernel, stride)]  # fmt: skip
        shape = self._add(tensor((4,), dtype="int32", data=[1, *size, out_c]))
        depth = kernel[0] * kernel[1] * c / (stride[0] * stride[1])
        out = self._output(x, (1, *size, out_c), w_scale, w_std, max(depth, 1))
        self.options[len(self.ops)] = {
            "padding": PADDING[padding], "strideH": stride[0], "strideW": stride[1],
        }  # fmt: skip
        inputs = [shape, weights, x] + ([b] if b >= 0 else [])
        self.ops.append(("TRANSPOSE_CONV", inputs, out, None))
        return out

    def dense(self, x, units, per_channel=True, bias=1e6, activation="NONE", extreme=False):
        depth = int(np.prod(self.tensors[x]["shape"]))
        weights, w_scale, w_std = self._weights((units, depth), 0, per_channel, extreme)
        b = self._bias(units, bias)
        out = self._output(x, (1, units), w_scale, w_std, depth, bias if extreme else None)
        self.options[len(self.ops)] = {"fusedActivationFunction": ACTIVATION[activation]}
        self.ops.append(("FULLY_CONNECTED", [x, weights, b], out, None))
        return out

    def model(self, outputs) -> bytes:
        if self.bias_type == "int32":  # TFLite reads an int32 bias where the options say so
            for i, (kind, *_) in enumerate(self.ops):
                if kind != "DEPTHWISE_CONV_2D":
                    self.options[i]["quantizedBiasType"] = TYPES["int32"]
        tflite = schema_model(self.tensors, self.ops, outputs=outputs)
        return with_options(tflite, self.options, self.scales)


def _spatial(size, kernel, stride, dilation, padding: str) -> list[int]:
    """A convolution's output height and width, as TFLite computes them."""
    out = []
    for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
        out.append(-(-n // s) if padding == "SAME" else (n - (k - 1) * d - 1) // s + 1)
    return out


def edge_model() -> bytes:
    """Every 16x8 kernel of this file with an int64 bias or none, in one model: CONV_2D 3x3
    SAME under RELU (13 output channels); DEPTHWISE_CONV_2D 3x3 SAME, then with depth
    multiplier 2 and stride 2 under RELU6; CONV_2D 1x1 with per-tensor weights (TFLite's
    CONV_2D always has a bias); TRANSPOSE_CONV stride 2 SAME, and stride (1, 2) VALID without
    bias; DEPTHWISE_CONV_2D 3x2 with strides (1, 2) VALID and a bias beyond +-2^30 (the fast
    kernels' general path) and CONV_2D 1x1 from 3 channels to 2 under RELU (less than one word
    or vector); a dilated CONV_2D with strides (2, 1)
    VALID; a dilated DEPTHWISE_CONV_2D; FULLY_CONNECTED per channel without bias. And from the
    input, with every weight +-127: a CONV_2D whose int64 bias is beyond the int32 range and a
    FULLY_CONNECTED (per-tensor weights) whose accumulators are."""
    c = Chain((1, 6, 5, 37))
    x = c.conv(0, 13, (3, 3), activation="RELU")
    x = c.depthwise(x, (3, 3))
    x = c.depthwise(x, (3, 3), multiplier=2, stride=(2, 2), activation="RELU6")
    x = c.conv(x, 7, (1, 1), per_channel=False, bias=1e4)
    x = c.transpose(x, 5, (3, 3), (2, 2))
    x = c.transpose(x, 3, (2, 3), (1, 2), padding="VALID", bias=None)
    narrow = c.depthwise(x, (3, 2), stride=(1, 2), padding="VALID", bias=2e9, big_bias=True)
    narrow = c.conv(narrow, 2, (1, 1), activation="RELU")
    x = c.conv(x, 9, (2, 3), stride=(2, 1), padding="VALID", dilation=(1, 2))
    x = c.depthwise(x, (2, 2), dilation=(2, 2))
    first = c.dense(x, 10, bias=None)
    wide = c.conv(0, 17, (3, 3), bias=6e9, extreme=True)
    big = c.dense(0, 6, per_channel=False, bias=3e10, extreme=True)
    return c.model([first, narrow, wide, big])


def edge_inputs(count: int = 3, seed: int = 4) -> np.ndarray:
    """Random int16 rows, the first at the extremes: every value 32767 but one -32768."""
    x = np.random.default_rng(seed).integers(-32768, 32768, (count, 6, 5, 37)).astype(np.int16)
    x[0] = 32767
    x[0, 0, 0, 0] = -32768
    return x


def int32_bias_model() -> bytes:
    """The layers TFLite runs with an int32 bias in 16x8 (quantized_bias_type INT32: int32
    accumulators, wrapping): CONV_2D 3x3 under RELU, a dilated CONV_2D, TRANSPOSE_CONV stride 2,
    FULLY_CONNECTED; and from the input, with every weight +-127, a CONV_2D and a
    FULLY_CONNECTED whose sums wrap past the int32 range."""
    c = Chain((1, 6, 5, 37), seed=1, bias_type="int32")
    x = c.conv(0, 13, (3, 3), activation="RELU")
    x = c.conv(x, 6, (2, 2), dilation=(2, 2))
    x = c.transpose(x, 5, (3, 3), (2, 2))
    first = c.dense(x, 7)
    wide = c.conv(0, 9, (3, 3), bias=2e9, extreme=True)
    big = c.dense(0, 5, per_channel=False, bias=2e9, extreme=True)
    return c.model([first, wide, big])


@pytest.fixture(scope="module")
def edges() -> bytes:
    return edge_model()


@pytest.fixture(scope="module")
def narrow_bias() -> bytes:
    return int32_bias_model()


def test_the_edge_model_is_16x8_with_int64_bias_beyond_int32(edges):
    graph = read_tflite(edges)
    assert all(f.ok for f in check_graph(graph, load_target("host")))
    biases = [op.inputs[2] for op in graph.ops if op.kind == "CONV_2D" and op.inputs[2] >= 0]
    assert {graph.tensor(t).dtype for t in biases} == {"int64"}
    assert max(abs(graph.constant(t)).max() for t in biases) > 2**31
    names = {c.variant.symbol for c in select_kernels(graph, load_target("host")).values()}
    assert names == {
        "ek_conv2d_s16_ref", "ek_conv2d_dilated_s16_ref", "ek_depthwise_conv2d_s16_ref",
        "ek_depthwise_conv2d_dilated_s16_ref", "ek_transpose_conv_s16_ref",
        "ek_fully_connected_s16_ref",
    }  # fmt: skip


def test_edge_cases_are_bit_exact_under_sanitizers(edges, tmp_path):
    inputs = edge_inputs()
    want = reference(edges, inputs, layers=True)
    wide = want.layers[-2].view(np.int16)
    assert np.abs(wide).max() < 32767  # the extreme accumulators are not merely clamped
    run, _ = sanitized_run(edges, inputs, tmp_path)
    assert_layers_match(run, edges, inputs)


def test_int32_bias_layers_are_bit_exact_under_sanitizers(narrow_bias, tmp_path):
    graph = read_tflite(narrow_bias)
    names = {c.variant.symbol for c in select_kernels(graph, load_target("cortex-m55")).values()}
    assert names == {
        "ek_conv2d_b32_s16_ref", "ek_conv2d_b32_dilated_s16_ref", "ek_transpose_conv_b32_s16_ref",
        "ek_fully_connected_b32_s16_ref",
    }  # fmt: skip
    inputs = edge_inputs()
    run, _ = sanitized_run(narrow_bias, inputs, tmp_path)
    assert_layers_match(run, narrow_bias, inputs)


def test_a_layer_without_bias_takes_its_accumulators_from_quantized_bias_type(tmp_path):
    """No bias tensor to say int32 or int64: the option quantized_bias_type INT32 makes TFLite
    accumulate in int32 (wrapping), and the c backend reads it the same way."""
    c = Chain((1, 6, 5, 37), seed=2, bias_type="int32")
    x = c.dense(0, 9, bias=None, extreme=True)
    tflite = c.model([x])
    graph = read_tflite(tflite)
    (op,) = graph.ops
    assert op.inputs[2] == -1 and op.options["quantized_bias_type"] == "int32"
    (choice,) = select_kernels(graph, load_target("host")).values()
    assert choice.variant.symbol == "ek_fully_connected_b32_s16_ref"
    inputs = edge_inputs()
    run, _ = sanitized_run(tflite, inputs, tmp_path)
    assert_layers_match(run, tflite, inputs)


# ---------------------------------------------------------------- the boards

BOARDS = [("cortex-m7", "dsp"), ("cortex-m55", "mve")]


def run_on_board(tflite: bytes, core: str, inputs: np.ndarray, tmp_path):
    """The model built for ``core``, run on its board, its outputs and every layer compared
    with the reference byte for byte; the artifact."""
    target = load_target(core)
    options = CompileOptions(patches="off")
    artifact = CBackend().compile(Int8Model(tflite), target, tmp_path, options)
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(tflite, inputs, layers=True)
    same_bytes(run.outputs, want.outputs, "outputs")
    order = artifact.details["layer_ops"]
    assert len(run.layers) == len(order)
    for n, got in zip(order, run.layers, strict=True):
        same_bytes(got, want.layers[n], f"op {n}")
    return artifact


@pytest.mark.parametrize("core, feature", BOARDS)
def test_edge_cases_are_bit_exact_on_the_boards(edges, tmp_path, core, feature):
    artifact = run_on_board(edges, core, edge_inputs(2), tmp_path)
    picked = {row["variant"] for row in artifact.details["kernels"]["layers"]}
    fast = {f"conv2d_1x1_{feature}", f"conv2d_im2col_{feature}", f"fully_connected_{feature}",
            f"depthwise_conv2d_{feature}", f"transpose_conv_{feature}"}  # fmt: skip
    assert fast <= picked


@pytest.mark.parametrize("core", ["cortex-m7", "cortex-m55"])
def test_int32_bias_layers_are_bit_exact_on_the_boards(narrow_bias, tmp_path, core):
    run_on_board(narrow_bias, core, edge_inputs(2), tmp_path)


# ---------------------------------------------------------------- converted from Keras


def convert_16x8(model, seed: int = 0) -> bytes:
    """A one-input Keras model through the TFLite converter's 16x8 path (int16 activations,
    int8 weights, int64 bias) with int16 input and output."""
    import tempfile

    import tensorflow as tf

    shape = (1, *model.inputs[0].shape[1:])
    samples = np.random.default_rng(seed).uniform(-1, 1, (16, *shape)).astype(np.float32)
    with tempfile.TemporaryDirectory() as saved:
        spec = [tf.TensorSpec(shape, tf.float32)]
        model.export(saved, "tf_saved_model", verbose=False, input_signature=spec)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        converter.inference_input_type = converter.inference_output_type = tf.int16
        converter.representative_dataset = lambda: ([sample] for sample in samples)
        return converter.convert()


@pytest.fixture(scope="module")
def keras_16x8() -> bytes:
    """Conv2D 3x3 SAME under ReLU, DepthwiseConv2D stride 2 with depth multiplier 2, a
    dilated Conv2D, a 1x1 Conv2D, Conv2DTranspose stride 2, Dense, as the converter writes
    them in 16x8 (odd sizes and channel counts)."""
    import keras

    layers = keras.layers
    init = keras.initializers.RandomUniform(-0.3, 0.3, seed=3)
    x = inp = keras.Input((9, 7, 5), batch_size=1)
    x = layers.Conv2D(11, 3, padding="same", activation="relu", bias_initializer=init)(x)
    x = layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, bias_initializer=init)(x)
    x = layers.Conv2D(6, 2, dilation_rate=2, padding="same", bias_initializer=init)(x)
    x = layers.Conv2D(9, 1, bias_initializer=init)(x)
    x = layers.Conv2DTranspose(3, 3, strides=2, padding="same", bias_initializer=init)(x)
    x = layers.Dense(5, bias_initializer=init)(layers.Flatten()(x))
    return convert_16x8(keras.Model(inp, x))


def keras_inputs(tflite: bytes, count: int = 3) -> np.ndarray:
    graph = read_tflite(tflite)
    shape = graph.tensor(graph.inputs[0]).shape[1:]
    return np.random.default_rng(5).integers(-32768, 32768, (count, *shape)).astype(np.int16)


def test_converted_16x8_layers_are_bit_exact_under_sanitizers(keras_16x8, tmp_path):
    graph = read_tflite(keras_16x8)
    kinds = [op.kind for op in graph.ops]
    assert kinds.count("CONV_2D") == 3 and "TRANSPOSE_CONV" in kinds
    convs = [op for op in graph.ops if op.kind in OPTIONS]
    data = [op.inputs[2 if op.kind == "TRANSPOSE_CONV" else 0] for op in convs]
    assert {graph.tensor(t).dtype for t in data} == {"int16"}
    inputs = keras_inputs(keras_16x8)
    run, _ = sanitized_run(keras_16x8, inputs, tmp_path)
    assert_layers_match(run, keras_16x8, inputs)


@pytest.mark.parametrize("core, feature", BOARDS)
def test_converted_16x8_layers_are_bit_exact_on_the_boards(keras_16x8, tmp_path, core, feature):
    artifact = run_on_board(keras_16x8, core, keras_inputs(keras_16x8, 2), tmp_path)
    picked = {row["variant"] for row in artifact.details["kernels"]["layers"]}
    fast = ("conv2d_1x1", "conv2d_im2col", "transpose_conv", "fully_connected")
    assert {f"{kernel}_{feature}" for kernel in fast} <= picked


def test_a_16x8_depthwise_int32_bias_is_refused_in_one_line():
    """TFLite's 16x8 DEPTHWISE_CONV_2D takes no int32 bias (its Prepare fails)."""
    c = Chain((1, 5, 4, 6), bias_type="int32")
    c.depthwise(0, (3, 3))
    graph = read_tflite(c.model(None))
    with pytest.raises(EdgekitError) as error:
        require_supported(graph, load_target("cortex-m55"))
    message = str(error.value)
    assert "\n" not in message and "its bias is a constant int32 tensor of shape [6]" in message
