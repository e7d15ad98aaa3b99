"""16x8 (int16 activations) element-wise, pooling, data-movement, softmax, activation and
QUANTIZE ops in the c backend, each bit-exact with LiteRT's reference kernels.

Single-op models written with the flatbuffer schema carry the edge cases: saturation at
-32768 and 32767, rounding ties, broadcast shapes, scales that make the rescales shift both
ways, fused clamps, softmax rows of equal logits, pools with padding, power-of-two and other
input scales for LOGISTIC and TANH (TFLite's two paths), QUANTIZE between int8, int16 and
int32 and from and to float32. Everything runs on the host under ASan and UBSan, every layer
compared byte for byte with the reference; the chains run on the M7 and M55 boards too.
"""

import numpy as np
import pytest
from test_ops_reduce import assert_layers_match, same_bytes, schema_model, tensor

from edgekit.backends.c import CBackend, build_host, run_host
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import check_graph, select_kernels
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

ACTIVATIONS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


def with_options(tflite: bytes, options: dict[int, tuple[str, dict]]) -> bytes:
    """``tflite`` with op ``i``'s builtin options set to (options table, fields) of
    ``options[i]`` (schema_model writes options only for the reductions)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT.InitFromPackedBuf(tflite, 0)
    for index, (name, fields) in options.items():
        op = model.subgraphs[0].operators[index]
        op.builtinOptionsType = getattr(s.BuiltinOptions, name)
        op.builtinOptions = getattr(s, name + "T")()
        for key, value in fields.items():
            setattr(op.builtinOptions, key, value)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def t16(shape, scale, data=None) -> dict:
    """An int16 tensor (zero point 0, TFLite's 16x8 scheme)."""
    return tensor(shape, (scale, 0), "int16", data)


def int16_rows(shape, count: int = 2, seed: int = 1, edges: bool = True) -> np.ndarray:
    """Random int16 inputs; with ``edges``, the first row starts with -32768, -32767, 32767,
    0, -1, 1."""
    rows = np.random.default_rng(seed).integers(-32768, 32768, (count, *shape)).astype(np.int16)
    if edges:
        flat = rows[0].reshape(-1)
        flat[:6] = [-32768, -32767, 32767, 0, -1, 1][: flat.size]
    return rows


def check_all_inputs(tflite: bytes, inputs: np.ndarray, tmp_path):
    """The model built once for the host under ASan and UBSan, each input run on its own (a
    run dumps the layers of its first input only), every layer compared; the artifact."""
    artifact = CBackend().compile(Int8Model(tflite), load_target("host"), tmp_path / "c")
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    for x in inputs:
        run = run_host(binary, x[None], artifact.details["layer_bytes"])
        assert_layers_match(run, tflite, x[None])
    return artifact


def _kinds(tflite: bytes) -> list[str]:
    return [op.kind for op in read_tflite(tflite).ops]


def _variants(artifact) -> list[str]:
    return [row["variant"] for row in artifact.details["kernels"]["layers"]]


def _activation(name: str, kind: str = "ADD", pot: bool = False) -> tuple[str, dict]:
    table = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[kind]
    fields = {"fusedActivationFunction": ACTIVATIONS[name]}
    if kind != "MUL":
        fields["potScaleInt16"] = pot
    return table, fields


# ---------------------------------------------------------------- ADD, SUB, MUL

SHAPE = (1, 4, 5, 6)


def binary_model() -> bytes:
    """ADD, SUB and MUL of int16 tensors: equal shapes, every broadcast the int8 ops take (a
    per-channel constant, a column, a single value, both inputs broadcast), each operand
    order, output scales larger and smaller than the inputs' (the rescales shift right and
    left), the fused clamps, and constants at -32768 and 32767."""
    per_channel = np.array([-32768, 32767, 5, -3, 1000, -20000]).reshape(1, 1, 1, 6)
    column = np.arange(-2, 3).reshape(1, 1, 5, 1) * 9000
    tensors = [
        t16(SHAPE, 0.0031),  # 0: the graph input
        t16((1, 1, 1, 6), 0.0007, per_channel),  # 1
        t16((1, 1, 5, 1), 0.0123, column),  # 2
        t16((1,), 0.002, [12345]),  # 3
        t16(SHAPE, 0.0042),  # 4: ADD 0 + 1
        t16(SHAPE, 0.0011),  # 5: SUB 2 - 4 (a larger output scale: shifts left)
        t16(SHAPE, 0.00051),  # 6: MUL 5 * 3
        t16(SHAPE, 0.05),  # 7: ADD 6 + 0, RELU6
        t16(SHAPE, 0.0002),  # 8: SUB 0 - 6, RELU_N1_TO_1
        t16(SHAPE, 0.3),  # 9: MUL 0 * 0, RELU
        t16(SHAPE, 0.0009),  # 10: MUL 1 * 8 (channel broadcast, first operand)
        t16(SHAPE, 0.004),  # 11: ADD 3 + 10 (a single value, first operand)
    ]
    ops = [
        ("ADD", [0, 1], 4, None),
        ("SUB", [2, 4], 5, None),
        ("MUL", [5, 3], 6, None),
        ("ADD", [6, 0], 7, None),
        ("SUB", [0, 6], 8, None),
        ("MUL", [0, 0], 9, None),
        ("MUL", [1, 8], 10, None),
        ("ADD", [3, 10], 11, None),
    ]
    activations = ["NONE", "NONE", "NONE", "RELU6", "RELU_N1_TO_1", "RELU", "NONE", "NONE"]
    options = {n: _activation(a, ops[n][0]) for n, a in enumerate(activations)}
    return with_options(schema_model(tensors, ops), options)


def test_add_sub_mul_with_broadcasting_are_bit_exact_under_sanitizers(tmp_path):
    tflite = binary_model()
    inputs = int16_rows(SHAPE[1:], 3, seed=2)
    inputs[1] //= 64  # a row whose sums and products do not saturate
    artifact = check_all_inputs(tflite, inputs, tmp_path)
    assert artifact.details["in_place_ops"] >= 1
    assert _variants(artifact) == ["add_broadcast_ref", "sub_ref", "mul_ref"] + [
        {"ADD": "add_broadcast_ref", "SUB": "sub_ref", "MUL": "mul_ref"}[k]
        for k in _kinds(tflite)[3:]
    ]


# ---------------------------------------------------------------- pools, MEAN, data movement


def _pool(fh, fw, sh, sw, same: bool, activation: str = "NONE") -> tuple[str, dict]:
    fields = {"padding": 0 if same else 1, "strideH": sh, "strideW": sw, "filterHeight": fh,
              "filterWidth": fw, "fusedActivationFunction": ACTIVATIONS[activation]}  # fmt: skip
    return "Pool2DOptions", fields


def shapes_model() -> bytes:
    """MAX_POOL_2D and AVERAGE_POOL_2D with SAME windows over every border (averages of 4, 6
    and 9 values: ties), even windows, a RELU6 clamp; MEAN over height and width, over the
    channels and over two apart, rescaling both ways; PAD; STRIDED_SLICE with strides and
    begin/end masks; CONCATENATION along the channels (copies) and along the rows (in place,
    2-byte stretches), RESHAPE."""
    q, shape = 0.002, (1, 6, 7, 5)
    i32 = "int32"
    tensors = [
        t16(shape, q),  # 0
        t16((1, 3, 4, 5), q),  # 1: max pool 3x3 / 2 SAME
        t16((1, 3, 4, 5), q),  # 2: avg pool 2x3 / 2 SAME, RELU6
        t16((1, 5, 5, 5), q),  # 3: avg pool 2x3 / 1 VALID
        tensor((2,), dtype=i32, data=[1, 2]),  # 4
        t16((1, 1, 1, 5), 0.0011),  # 5: MEAN over H, W (keep)
        tensor((1,), dtype=i32, data=[-1]),  # 6
        t16((1, 6, 7), 0.0037),  # 7: MEAN over channels
        tensor((2,), dtype=i32, data=[1, 3]),  # 8
        t16((1, 7), 0.0002),  # 9: MEAN over H and C
        tensor((4, 2), dtype=i32, data=[[0, 0], [1, 2], [0, 1], [2, 0]]),  # 10
        t16((1, 9, 8, 7), q),  # 11: PAD
        tensor((4,), dtype=i32, data=[0, 1, 7, 1]),  # 12
        tensor((4,), dtype=i32, data=[1, 8, 0, 6]),  # 13
        tensor((4,), dtype=i32, data=[1, 2, -2, 2]),  # 14
        t16((1, 4, 4, 3), q),  # 15: STRIDED_SLICE, backwards along W
        t16((1, 4, 4, 6), q),  # 16: CONCATENATION along C
        t16((1, 6, 4, 5), q),  # 17: CONCATENATION of the pools along H (in place)
        tensor((2,), dtype=i32, data=[1, 120]),  # 18
        t16((1, 120), q),  # 19: RESHAPE
    ]
    ops = [
        ("MAX_POOL_2D", [0], 1, None),
        ("AVERAGE_POOL_2D", [0], 2, None),
        ("AVERAGE_POOL_2D", [0], 3, None),
        ("MEAN", [0, 4], 5, {"keepDims": True}),
        ("MEAN", [0, 6], 7, {"keepDims": False}),
        ("MEAN", [0, 8], 9, {"keepDims": False}),
        ("PAD", [0, 10], 11, None),
        ("STRIDED_SLICE", [11, 12, 13, 14], 15, None),
        ("CONCATENATION", [15, 15], 16, None),
        ("CONCATENATION", [1, 2], 17, None),
        ("RESHAPE", [17, 18], 19, None),
    ]
    options = {
        0: _pool(3, 3, 2, 2, True),
        1: _pool(2, 3, 2, 2, True, "RELU6"),
        2: _pool(2, 3, 1, 1, False),
        7: ("StridedSliceOptions", {"beginMask": 4, "endMask": 4}),
        8: ("ConcatenationOptions", {"axis": 3}),
        9: ("ConcatenationOptions", {"axis": 1}),
    }
    return with_options(schema_model(tensors, ops, outputs=[19, 16, 3, 5, 7, 9]), options)


def test_pools_mean_and_data_movement_are_bit_exact_under_sanitizers(tmp_path):
    tflite = shapes_model()
    inputs = int16_rows((6, 7, 5), 2, seed=3)
    inputs[0, :2] = 32767  # windows of maxima: averages and means at the top of the range
    inputs[0, 2, :, :] = -32768
    artifact = check_all_inputs(tflite, inputs, tmp_path)
    variants = dict(zip(_kinds(tflite), _variants(artifact), strict=False))
    assert variants["MEAN"] == "reduce_mean_ref" and variants["STRIDED_SLICE"] == "strided_copy_ref"
    # the concatenation along the rows costs nothing: the pools write their stretches of it
    # (2-byte elements: each stretch starts 3 * 4 * 5 * 2 bytes after the last)
    plan = CBackend().compile(Int8Model(tflite), load_target("host"), tmp_path / "plan")
    assert plan.details["in_place_ops"] >= 1
    src = (tmp_path / "plan" / "src" / "model.c").read_text()
    assert src.count("ek_concatenation_s16_ref(") == 2  # the channels' two copies, no more


# ---------------------------------------------------------------- LOGISTIC, TANH, LEAKY_RELU

EVERY_INT16 = np.arange(-32768, 32768, dtype=np.int16)
# input scales: 2^-12 and 2^-11 take TFLite's power-of-two path (multiplier 0), 2^-10 and
# the others its general multiplier; 1e-5 needs the most doublings, 0.01 the fewest
SIGMOID_SCALES = (2.0**-12, 2.0**-11, 2.0**-10, 0.0003, 1e-5, 0.01)


def activations_model(rows: int = 256) -> bytes:
    """LOGISTIC and TANH of ``rows`` x 256 int16 values (every one for 256) at each of
    SIGMOID_SCALES (one graph input per scale), and LEAKY_RELU with alpha below and above 1,
    rescaling up and down."""
    shape = (1, rows, 256)
    tensors, ops, outputs = [], [], []
    for scale in SIGMOID_SCALES:
        tensors.append(t16(shape, scale))
    for n in range(len(SIGMOID_SCALES)):
        for kind in ("LOGISTIC", "TANH"):
            tensors.append(t16(shape, 2.0**-15))
            ops.append((kind, [n], len(tensors) - 1, None))
            outputs.append(len(tensors) - 1)
    options = {}
    for alpha, scale in ((0.2, 0.0007), (1.7, 0.003)):
        tensors.append(t16(shape, scale))
        options[len(ops)] = ("LeakyReluOptions", {"alpha": alpha})
        ops.append(("LEAKY_RELU", [3], len(tensors) - 1, None))
        outputs.append(len(tensors) - 1)
    inputs = tuple(range(len(SIGMOID_SCALES)))
    return with_options(schema_model(tensors, ops, inputs=inputs, outputs=outputs), options)


def test_logistic_tanh_and_leaky_relu_are_bit_exact_for_every_int16_value(tmp_path):
    from edgekit.compiler import tables

    tflite = activations_model()
    assert [tables.sigmoid_s16_params(s)[0] == 0 for s in SIGMOID_SCALES[:3]] == [1, 1, 0]
    inputs = np.tile(EVERY_INT16, len(SIGMOID_SCALES))[None]
    artifact = check_all_inputs(tflite, inputs, tmp_path)
    assert set(_variants(artifact)) == {"logistic_ref", "tanh_ref", "leaky_relu_ref"}


# ---------------------------------------------------------------- SOFTMAX


def softmax_model() -> bytes:
    """SOFTMAX of 33 logits per row at input scales from 3e-6 (differences barely reach exp's
    table) to 0.05 (most fall off its end), and beta 0.5; rows of 4 logits too."""
    shape = (1, 4, 5, 33)
    cases = [(0.001, 1.0), (0.0003, 1.0), (0.01, 0.5), (3e-6, 1.0), (0.05, 1.0)]
    tensors, ops, options = [], [], {}
    for scale, _ in cases:
        tensors.append(t16(shape, scale))
    for n, (_, beta) in enumerate(cases):
        tensors.append(t16(shape, 2.0**-15))
        options[len(ops)] = ("SoftmaxOptions", {"beta": beta})
        ops.append(("SOFTMAX", [n], len(tensors) - 1, None))
    tensors += [t16((1, 2, 4), 0.002), t16((1, 2, 4), 2.0**-15)]  # rows of 4
    options[len(ops)] = ("SoftmaxOptions", {"beta": 1.0})
    ops.append(("SOFTMAX", [len(tensors) - 2], len(tensors) - 1, None))
    inputs = (*range(len(cases)), len(tensors) - 2)
    outputs = [op[2] for op in ops]
    return with_options(schema_model(tensors, ops, inputs=inputs, outputs=outputs), options)


def test_softmax_is_bit_exact_under_sanitizers(tmp_path):
    """Rows of 33 equal logits, of -32768s, of 17 ties at 32767, and random ones."""
    rows = int16_rows((4, 5, 33), 5, seed=4)
    rows[0, 0, 0] = 1234
    rows[1, 0, 1] = -32768
    rows[2, 0, 2, :17] = 32767
    rows[3] //= 256  # logits close together
    small = np.array([[1, 1, 1, 1], [-32768, 32767, 0, 32767]], np.int16)
    inputs = np.concatenate([rows.reshape(1, -1), small.reshape(1, -1)], axis=1)
    tflite = softmax_model()
    artifact = check_all_inputs(tflite, inputs, tmp_path)
    assert set(_variants(artifact)) == {"softmax_ref"}
    assert "ek_softmax_s16_ref" in (tmp_path / "c" / "src" / "model.c").read_text()


# ---------------------------------------------------------------- QUANTIZE, DEQUANTIZE


def quantize_model() -> bytes:
    """QUANTIZE int16 -> int8, int8 -> int16, int16 -> int16 (scale up), int16 -> int32, and
    int16 -> float32 -> int16 through DEQUANTIZE and QUANTIZE, on every int16 value."""
    shape = (1, 256, 256)
    tensors = [
        t16(shape, 0.001),  # 0
        tensor(shape, (0.05, 3)),  # 1: int8
        t16(shape, 0.0007),  # 2: from int8
        t16(shape, 0.0123),  # 3: int16 rescaled (shifts right)
        tensor(shape, (0.0001, 0), "int32"),  # 4: int32 (shifts left)
        t16(shape, 1e-4),  # 5: int16 rescaled (saturates)
        tensor(shape, dtype="float32"),  # 6
        t16(shape, 0.0005),  # 7: float32 to int16
    ]
    ops = [
        ("QUANTIZE", [0], 1, None),
        ("QUANTIZE", [1], 2, None),
        ("QUANTIZE", [2], 3, None),
        ("QUANTIZE", [3], 4, None),
        ("QUANTIZE", [0], 5, None),
        ("DEQUANTIZE", [5], 6, None),
        ("QUANTIZE", [6], 7, None),
    ]
    return schema_model(tensors, ops, outputs=[4, 7])


def test_quantize_between_int8_int16_int32_and_float_is_bit_exact(tmp_path):
    tflite = quantize_model()
    artifact = check_all_inputs(tflite, EVERY_INT16.reshape(1, 256, 256)[None], tmp_path)
    assert _variants(artifact) == ["requantize_ref"] * 5 + [
        "dequantize_ref", "quantize_float16_ref"
    ]  # fmt: skip


def test_float_input_and_output_around_int16_are_bit_exact(tmp_path):
    """QUANTIZE float32 -> int16 at a float graph input and DEQUANTIZE int16 -> float32 at a
    float output, on the float edge values (ties, -0.0, subnormals, beyond int16 and int32,
    inf, NaN) at several scales."""
    from test_ops_reduce import EDGE_FLOATS

    values = np.concatenate([EDGE_FLOATS, EDGE_FLOATS[:20] * 3000.0, EDGE_FLOATS[:20] / 7])
    shape = (1, values.size)
    tensors, ops = [tensor(shape, dtype="float32")], []
    for scale in (0.1, 2.0**-15, 1e-30, 3e30, 1 / 3):
        tensors += [t16(shape, scale), tensor(shape, dtype="float32")]
        ops += [("QUANTIZE", [0], len(tensors) - 2, None),
                ("DEQUANTIZE", [len(tensors) - 2], len(tensors) - 1, None)]  # fmt: skip
    tflite = schema_model(tensors, ops, outputs=[op[2] for op in ops[1::2]])
    check_all_inputs(tflite, np.stack([values, -values]), tmp_path)


# ---------------------------------------------------------------- converted models, boards

KERAS_SHAPE = (8, 9, 6)


def convert_16x8(model, shape, int16_io: bool = False, seed: int = 0) -> bytes:
    """``model`` through the TFLite converter's 16x8 scheme (int16 activations, int8
    weights), calibrated on uniform samples; float32 I/O (QUANTIZE and DEQUANTIZE at the ends)
    unless ``int16_io``."""
    import tensorflow as tf

    samples = np.random.default_rng(seed).uniform(-1, 1, (16, 1, *shape)).astype(np.float32)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s] for s in samples)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]
    if int16_io:
        converter.inference_input_type = converter.inference_output_type = tf.int16
    return converter.convert()


def _keras_chain():
    """Every op of this file that Keras layers convert to, without CONV_2D or FULLY_CONNECTED
    (another kernel family's): pools, ADD, MUL, SUB, LeakyReLU, tanh and sigmoid, a
    concatenation (whose inputs the converter rescales with int16 QUANTIZE), ZeroPadding2D,
    Cropping2D (STRIDED_SLICE), Reshape, a mean and Softmax."""
    import keras
    from keras import layers, ops

    x = inp = keras.Input(KERAS_SHAPE, batch_size=1)
    a = layers.MaxPooling2D(2, padding="same")(x)
    b = layers.AveragePooling2D(2, padding="same")(x)
    y = layers.Subtract()([layers.Multiply()([layers.Add()([a, b]), a]), b])
    y = layers.LeakyReLU(0.2)(y)
    y = layers.Concatenate()([layers.Activation("tanh")(y), layers.Activation("sigmoid")(y)])
    y = layers.Cropping2D(((0, 1), (1, 0)))(layers.ZeroPadding2D(((1, 0), (0, 2)))(y))
    y = ops.mean(layers.Reshape((4 * 6, 12))(y), axis=1)
    return keras.Model(inp, layers.Softmax()(y))


@pytest.fixture(scope="module")
def keras_16x8() -> bytes:
    return convert_16x8(_keras_chain(), KERAS_SHAPE)


@pytest.fixture(scope="module")
def keras_16x8_int16_io() -> bytes:
    return convert_16x8(_keras_chain(), KERAS_SHAPE, int16_io=True, seed=1)


KERAS_KINDS = {"QUANTIZE", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "MUL", "SUB", "LEAKY_RELU",
               "TANH", "LOGISTIC", "CONCATENATION", "PAD", "STRIDED_SLICE", "RESHAPE", "MEAN",
               "SOFTMAX", "DEQUANTIZE"}  # fmt: skip


def test_converted_16x8_models_are_bit_exact_under_sanitizers(
    keras_16x8, keras_16x8_int16_io, tmp_path
):
    """The converter's 16x8 model with float I/O (QUANTIZE float32 -> int16 first,
    DEQUANTIZE last) and with int16 I/O."""
    graph = read_tflite(keras_16x8)
    assert set(_kinds(keras_16x8)) == KERAS_KINDS
    assert graph.tensor(graph.inputs[0]).dtype == "float32"
    inputs = np.random.default_rng(5).uniform(-1.5, 1.5, (2, *KERAS_SHAPE)).astype(np.float32)
    check_all_inputs(keras_16x8, inputs, tmp_path / "float")
    graph = read_tflite(keras_16x8_int16_io)
    assert graph.tensor(graph.inputs[0]).dtype == "int16"
    assert graph.tensor(graph.outputs[0]).dtype == "int16"
    check_all_inputs(keras_16x8_int16_io, int16_rows(KERAS_SHAPE, 2, seed=6), tmp_path / "int16")


def board_model() -> bytes:
    """What the converted model does not hold, small enough for the boards' memory: QUANTIZE
    int16 -> int8 -> int16 and int16 -> int32, SUB and MUL broadcasting a constant, a MEAN over
    height and width, a softmax of equal logits."""
    shape = (1, 5, 6, 7)
    tensors = [
        t16(shape, 0.001),  # 0
        tensor(shape, (0.05, 3)),  # 1: int8
        t16(shape, 0.0007),  # 2
        t16((1, 1, 1, 7), 0.002, [-32768, 32767, 0, 1, -1, 20000, -777]),  # 3
        t16(shape, 0.004),  # 4: SUB 2 - 3
        t16(shape, 0.0009),  # 5: MUL 3 * 4
        tensor((2,), dtype="int32", data=[1, 2]),  # 6
        t16((1, 7), 0.0003),  # 7: MEAN over H and W
        t16((1, 7), 2.0**-15),  # 8: SOFTMAX
        tensor(shape, (0.0001, 0), "int32"),  # 9: int32
    ]
    ops = [
        ("QUANTIZE", [0], 1, None),
        ("QUANTIZE", [1], 2, None),
        ("SUB", [2, 3], 4, None),
        ("MUL", [3, 4], 5, None),
        ("MEAN", [5, 6], 7, {"keepDims": False}),
        ("SOFTMAX", [7], 8, None),
        ("QUANTIZE", [5], 9, None),
    ]
    options = {2: _activation("NONE", "SUB"), 3: _activation("RELU", "MUL"),
               5: ("SoftmaxOptions", {"beta": 1.0})}  # fmt: skip
    return with_options(schema_model(tensors, ops, outputs=[8, 9]), options)


def _run_on_board(tflite: bytes, core: str, inputs: np.ndarray, tmp_path):
    target = load_target(core)
    artifact = CBackend().compile(Int8Model(tflite), target, tmp_path)
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(tflite, inputs, layers=True)
    same_bytes(run.outputs, want.outputs, "outputs")
    for i, got in zip(artifact.details["layer_ops"], run.layers, strict=True):
        same_bytes(got, want.layers[i], f"op {i}")
    return artifact


@pytest.mark.parametrize("core", ["cortex-m7", "cortex-m55"])
def test_16x8_models_are_bit_exact_on_every_layer_on_the_board(keras_16x8, core, tmp_path):
    """The converted model, the chain above, and the host's edge-case models (the activations
    on every 16th int16 value, to fit the boards' memory)."""
    inputs = np.random.default_rng(7).uniform(-1.5, 1.5, (2, *KERAS_SHAPE)).astype(np.float32)
    _run_on_board(keras_16x8, core, inputs, tmp_path / "keras")
    rows = int16_rows((5, 6, 7), 2, seed=8)
    rows[0, 0] = 1234  # a row of equal values
    _run_on_board(board_model(), core, rows, tmp_path / "chain")
    _run_on_board(binary_model(), core, int16_rows(SHAPE[1:], 2, seed=2), tmp_path / "binary")
    _run_on_board(shapes_model(), core, int16_rows((6, 7, 5), 2, seed=3), tmp_path / "shapes")
    every_16th = np.tile(EVERY_INT16[::16], len(SIGMOID_SCALES))[None]
    _run_on_board(activations_model(16), core, every_16th, tmp_path / "activations")
    softmax_rows = int16_rows((1, 4 * 5 * 33 * 5 + 8), 1, seed=4).reshape(1, -1)
    _run_on_board(softmax_model(), core, softmax_rows, tmp_path / "softmax")


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "tensors, ops, rule, what",
    [
        (  # all three scales powers of two: TFLite's shift-only int16 ADD, not run here
            [t16((1, 4), 2.0**-10), t16((1, 4), 2.0**-9, [1, 2, 3, 4]), t16((1, 4), 2.0**-8)],
            [("ADD", [0, 1], 2, None)], "int16_general_add", "powers of two",
        ),
        (  # TFLite's int16 LOGISTIC writes scale 2^-15
            [t16((1, 4), 0.001), t16((1, 4), 2.0**-14)],
            [("LOGISTIC", [0], 1, None)], "logistic_output", "scale 6.10352e-05",
        ),
        (
            [t16((1, 4), 0.001), t16((1, 4), 1 / 256)],
            [("TANH", [0], 1, None)], "tanh_output", "scale 0.00390625",
        ),
        (  # float32 converts to int8 or int16 only
            [tensor((1, 4), dtype="float32"), tensor((1, 4), (0.01, 0), "int32")],
            [("QUANTIZE", [0], 1, None)], "float_conversion", "float32 to int32",
        ),
        (  # TFLite's int16 SOFTMAX writes [0, 32767] at scale 2^-15
            [t16((1, 4), 0.001), t16((1, 4), 1 / 256)],
            [("SOFTMAX", [0], 1, None)], "softmax_output", "scale 0.00390625",
        ),
    ],
)  # fmt: skip
def test_what_tflite_runs_otherwise_is_refused_in_one_line(tensors, ops, rule, what):
    graph = read_tflite(schema_model(tensors, ops))
    failures = [f for f in check_graph(graph, load_target("cortex-m7")) if not f.ok]
    assert [f.rule for f in failures] == [rule]
    message = failures[0].message
    assert "\n" not in message and message.startswith(ops[0][0]) and what in message


def test_int16_ops_pick_no_int8_kernel_on_the_boards(keras_16x8):
    """The DSP and MVE variants are int8 kernels: a 16x8 layer runs its reference kernel."""
    graph = read_tflite(keras_16x8)
    for core in ("cortex-m7", "cortex-m55"):
        for index, choice in select_kernels(graph, load_target(core)).items():
            assert choice.variant.reference, (core, graph.ops[index].kind, choice.variant.name)


def test_the_planner_puts_2_byte_outputs_in_place_only_where_the_bytes_line_up(tmp_path):
    """Element-wise in place needs equal byte sizes: int16 -> int16 ops (LOGISTIC, the
    rescale, ADD) write over their input; int16 -> int8 and int8 -> int16 QUANTIZE do not
    (their elements are of other sizes); SOFTMAX keeps its exps in its output, never in place;
    CONCATENATION along the first non-unit axis takes each input's bytes as its stretch."""
    from edgekit.compiler.ops import plan_inputs, reference_kernels
    from edgekit.compiler.planner import plan_memory

    shape = (1, 3, 6)  # 36 bytes: the second stretch starts on a word
    tensors = [t16(shape, 0.001), t16(shape, 2.0**-15), tensor(shape, (0.05, 3)),
               t16(shape, 0.0007), t16(shape, 0.0011), t16(shape, 0.002), t16(shape, 2.0**-15),
               t16(shape, 0.002), t16((1, 6, 6), 0.002)]  # fmt: skip
    ops = [("LOGISTIC", [0], 1, None), ("QUANTIZE", [1], 2, None), ("QUANTIZE", [2], 3, None),
           ("QUANTIZE", [3], 4, None), ("ADD", [4, 4], 5, None), ("SOFTMAX", [5], 6, None),
           ("QUANTIZE", [6], 7, None), ("CONCATENATION", [5, 7], 8, None)]  # fmt: skip
    options = {4: _activation("NONE"), 5: ("SoftmaxOptions", {"beta": 1.0}),
               7: ("ConcatenationOptions", {"axis": 1})}  # fmt: skip
    tflite = with_options(schema_model(tensors, ops), options)
    graph = read_tflite(tflite)
    rules, scratch = plan_inputs(graph, reference_kernels(graph))
    plan = plan_memory(graph, rules=rules, scratch=scratch)
    placed = {(graph.ops[p.op].kind, p.op) for p in plan.in_place}
    assert {("LOGISTIC", 0), ("QUANTIZE", 3), ("CONCATENATION", 7)} <= placed
    assert not placed & {("QUANTIZE", 1), ("QUANTIZE", 2), ("SOFTMAX", 5)}
    assert plan.offset(5) == plan.offset(8) and plan.offset(7) == plan.offset(8) + 36
    check_all_inputs(tflite, int16_rows(shape[1:], 2, seed=9), tmp_path)  # and the bytes agree


def as_int16(tflite: bytes) -> bytes:
    """``tflite`` with every int8 tensor made int16 with zero point 0 (its scale kept): an
    int8 edge-case model of another file, as 16x8."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT.InitFromPackedBuf(tflite, 0)
    for t in model.subgraphs[0].tensors:
        if t.type == s.TensorType.INT8:
            t.type = s.TensorType.INT16
            t.quantization.zeroPoint = [0]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.mark.parametrize("name", ["parts_chain", "slices_chain"])
def test_every_data_movement_op_moves_int16_elements(name, tmp_path):
    """test_ops_shape's chains of TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK,
    UNPACK, RESHAPE, SQUEEZE, EXPAND_DIMS and CONCATENATION, as int16: the same strided
    copies over 2-byte elements."""
    import test_ops_shape

    tflite = as_int16(getattr(test_ops_shape, name)())
    graph = read_tflite(tflite)
    shape = graph.tensor(graph.inputs[0]).shape
    assert graph.tensor(graph.inputs[0]).dtype == "int16"
    check_all_inputs(tflite, int16_rows(shape[1:], 2, seed=10), tmp_path)
