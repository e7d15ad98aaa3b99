"""MAX_POOL_2D, CONCATENATION and the int8 -> int8 table ops against LiteRT's reference kernels.

The table ops (LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU and QUANTIZE's
int8 rescale) are exact by construction only if ``edgekit.compiler.tables`` computes what
TFLite's reference kernels compute: every int8 input of each is checked over several scales and
zero points, on single-op models written directly with the flatbuffer schema (so that scales,
zero points and options are any we choose, not only what the converter picks). The generated
C runs on the host under ASan and UBSan, and a converted Keras model that chains the ops runs
on the Cortex-M7 and Cortex-M55 boards; every layer must match byte for byte.
"""

import numpy as np
import pytest

from edgekit.backends.c import CBackend, build_host, run_host
from edgekit.compiler import tables
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import require_supported
from edgekit.errors import EdgekitError
from edgekit.interpreter import interpreter
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

EVERY_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)
# (input scale, input zero point, output scale, output zero point): small and large scales,
# zero points at both ends of the int8 range, ratios above and below 1
SCALES = [
    (0.05, 3, 0.04, -5),
    (0.1, -128, 0.11, 60),
    (0.5, 127, 0.007, -128),
    (0.0123, -7, 0.3, 10),
    (1 / 16, 0, 0.11, 60),  # a power-of-two scale: rescaled values land on ties
    (0.003, 20, 0.04, -5),
]
FIXED_OUTPUT = {"LOGISTIC": (1 / 256, -128), "TANH": (1 / 128, 0)}  # what the converter sets
TABLE_OPS = ("LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU",
             "QUANTIZE")  # fmt: skip


# ---------------------------------------------------------------- models from the schema


def schema_model(tensors, ops) -> bytes:
    """An int8 .tflite: ``tensors`` as (shape, (scale, zero point)), the first the graph input
    and the last its output; ``ops`` as (kind, input indices, output index, options dict)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT()
    model.version, model.buffers, model.operatorCodes = 3, [s.BufferT()], []
    graph = s.SubGraphT()
    graph.tensors = []
    for n, (shape, (scale, zero)) in enumerate(tensors):
        t = s.TensorT()
        t.shape, t.type, t.name, t.buffer = list(shape), s.TensorType.INT8, f"t{n}", 0
        t.quantization = s.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [scale], [zero]
        graph.tensors.append(t)
    kinds = list(dict.fromkeys(kind for kind, *_ in ops))
    for kind in kinds:
        code = s.OperatorCodeT()
        code.builtinCode = getattr(s.BuiltinOperator, kind)
        code.deprecatedBuiltinCode, code.version = min(code.builtinCode, 127), 1
        model.operatorCodes.append(code)
    graph.operators = []
    for kind, inputs, output, options in ops:
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = kinds.index(kind), list(inputs), [output]
        if options:
            name = {"MAX_POOL_2D": "Pool2DOptions", "CONCATENATION": "ConcatenationOptions"}.get(
                kind, "LeakyReluOptions"
            )
            op.builtinOptionsType = getattr(s.BuiltinOptions, name)
            op.builtinOptions = getattr(s, name + "T")()
            for key, value in options.items():
                setattr(op.builtinOptions, key, value)
        graph.operators.append(op)
    graph.inputs, graph.outputs = [0], [len(tensors) - 1]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def table_op_model(kind: str, scales) -> bytes:
    in_scale, in_zero, out_scale, out_zero = scales
    output = FIXED_OUTPUT.get(kind, (out_scale, out_zero))
    options = {"alpha": 0.2} if kind == "LEAKY_RELU" else None
    shape = EVERY_INT8.shape
    return schema_model([(shape, (in_scale, in_zero)), (shape, output)], [(kind, [0], 1, options)])


def reference_outputs(tflite: bytes, x: np.ndarray) -> np.ndarray:
    interp = interpreter(tflite, reference=True)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def sanitized_run(tflite: bytes, inputs: np.ndarray, tmp_path):
    """The model's C folder built for the host under ASan and UBSan (every finding fatal) and
    run on ``inputs``, every layer kept; and the compiled artifact."""
    artifact = CBackend().compile(Int8Model(tflite), load_target("host"), tmp_path / "c")
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    return run_host(binary, inputs, artifact.details["layer_bytes"]), artifact


def assert_layers_match(run, tflite: bytes, inputs: np.ndarray) -> None:
    want = reference(tflite, inputs, layers=True)
    np.testing.assert_array_equal(run.outputs, want.outputs)
    kinds = [op.kind for op in read_tflite(tflite).ops]
    for kind, got, expected in zip(kinds, run.layers, want.layers, strict=True):
        np.testing.assert_array_equal(got, expected, err_msg=kind)


# ---------------------------------------------------------------- the tables


@pytest.mark.parametrize("kind", TABLE_OPS)
def test_every_int8_input_of_each_table_op_matches_the_reference(kind):
    for scales in SCALES:
        tflite = table_op_model(kind, scales)
        graph = read_tflite(tflite)
        want = reference_outputs(tflite, EVERY_INT8).ravel()
        np.testing.assert_array_equal(
            tables.op_table(graph, graph.ops[0]), want, err_msg=f"{kind} {scales}"
        )


def test_table_ops_chained_in_c_are_bit_exact_under_sanitizers_and_in_place(tmp_path):
    """Each op's output has its own scale and zero point; the planner writes each over its
    input, of which it is the last reader."""
    shape = EVERY_INT8.shape
    kinds = ["QUANTIZE", "RELU", "LEAKY_RELU", "LOGISTIC", "QUANTIZE", "TANH", "RELU6",
             "RELU_N1_TO_1", "HARD_SWISH"]  # fmt: skip
    quant = [(0.05, 3), (0.04, -5), (0.11, 60), (0.02, -100), (1 / 256, -128), (0.06, 9),
             (1 / 128, 0), (0.03, -128), (0.01, 0), (0.013, -20)]  # fmt: skip
    ops = [
        (k, [n], n + 1, {"alpha": 0.3} if k == "LEAKY_RELU" else None) for n, k in enumerate(kinds)
    ]
    tflite = schema_model([(shape, q) for q in quant], ops)
    inputs = np.stack([EVERY_INT8[0], np.flip(EVERY_INT8[0])])
    run, artifact = sanitized_run(tflite, inputs, tmp_path)
    assert_layers_match(run, tflite, inputs)
    assert artifact.details["in_place_ops"] == len(ops)


# ---------------------------------------------------------------- MAX_POOL_2D


def pool(filter_hw, stride_hw, padding, activation=0):
    """Pool2DOptions fields (tflite enums: padding SAME 0, VALID 1; activation RELU 1,
    RELU_N1_TO_1 2, RELU6 3)."""
    return {
        "filterHeight": filter_hw[0], "filterWidth": filter_hw[1], "strideH": stride_hw[0],
        "strideW": stride_hw[1], "padding": padding, "fusedActivationFunction": activation,
    }  # fmt: skip


def test_max_pool_edge_cases_are_bit_exact_under_sanitizers(tmp_path):
    """Odd channels, windows at the borders with SAME padding (odd padding after), stride
    larger than the window, non-square windows and inputs, fused clamps narrower than int8."""
    q, narrow = (0.05, -3), (0.02, 10)
    tensors = [((1, 11, 9, 5), q), ((1, 6, 5, 5), q), ((1, 6, 5, 5), narrow),
               ((1, 2, 2, 5), narrow), ((1, 2, 1, 5), q)]  # fmt: skip
    ops = [
        ("MAX_POOL_2D", [0], 1, pool((3, 3), (2, 2), 0)),  # SAME: windows over every border
        ("MAX_POOL_2D", [1], 2, pool((4, 2), (1, 1), 0, activation=3)),  # even window, RELU6
        ("MAX_POOL_2D", [2], 3, pool((2, 2), (3, 3), 1, activation=2)),  # stride > window
        ("MAX_POOL_2D", [3], 4, pool((1, 2), (1, 2), 0, activation=1)),
    ]
    tflite = schema_model(tensors, ops)
    inputs = np.random.default_rng(3).integers(-128, 128, (4, 11, 9, 5)).astype(np.int8)
    run, _ = sanitized_run(tflite, inputs, tmp_path)
    assert_layers_match(run, tflite, inputs)


# ---------------------------------------------------------------- CONCATENATION


@pytest.fixture(scope="module")
def concatenations() -> bytes:
    """Keras concatenations along the channels (odd counts), the height and the width, each of
    inputs whose ranges differ: the converter gives them the output's scale and zero point,
    adding QUANTIZE (int8 rescale) ops where an input's scale is fixed (LOGISTIC, TANH)."""
    import keras

    from edgekit.quantization.converter import quantize

    layers = keras.layers
    x = inp = keras.Input((6, 5, 3), batch_size=1)
    a, b = layers.Conv2D(4, 1)(x), layers.Conv2D(3, 3, padding="same")(x)
    x = layers.Concatenate(axis=3)([a, layers.Lambda(lambda t: 4.0 * t)(b)])  # 7 channels
    x = layers.Concatenate(axis=1)([x, layers.Activation("sigmoid")(x)])  # height 12
    x = layers.Concatenate(axis=-2)([layers.Activation("tanh")(x), x, x])  # width 15
    x = layers.Dense(3)(layers.Flatten()(x))
    samples = np.random.default_rng(0).uniform(-1, 1, (16, 6, 5, 3)).astype(np.float32)
    return quantize(keras.Model(inp, x), samples)


def test_concatenation_along_each_axis_is_bit_exact_under_sanitizers(concatenations, tmp_path):
    graph = read_tflite(concatenations)
    axes = [op.options["axis"] % 4 for op in graph.ops if op.kind == "CONCATENATION"]
    assert sorted(axes) == [1, 2, 3]
    assert "QUANTIZE" in {op.kind for op in graph.ops}
    inputs = np.random.default_rng(4).integers(-128, 128, (3, 6, 5, 3)).astype(np.int8)
    run, _ = sanitized_run(concatenations, inputs, tmp_path)
    assert_layers_match(run, concatenations, inputs)


def test_concatenation_of_inputs_with_other_scales_is_refused_as_the_reference_does():
    """TFLite's int8 CONCATENATION refuses inputs whose quantization differs from the output's
    (the converter rescales them first); edgekit says so in one line."""
    shape = (1, 4, 4, 2)
    tensors = [(shape, (0.1, 3)), (shape, (0.1, 3)), (shape, (0.05, -7)), ((1, 4, 4, 4), (0.1, 3))]
    ops = [
        ("RELU", [0], 1, None),
        ("QUANTIZE", [0], 2, None),
        ("CONCATENATION", [1, 2], 3, {"axis": 3}),
    ]
    tflite = schema_model(tensors, ops)
    with pytest.raises(EdgekitError) as err:
        require_supported(read_tflite(tflite), load_target("cortex-m7"))
    message = str(err.value)
    assert "\n" not in message and "CONCATENATION" in message and "scale 0.05" in message
    with pytest.raises(Exception, match="scale"):
        reference_outputs(tflite, np.zeros(shape, np.int8))


# ---------------------------------------------------------------- on the boards


@pytest.fixture(scope="module")
def chain() -> bytes:
    """A converted Keras model through every new op: max pooling with SAME padding at the
    borders, each activation as its own op, a concatenation of them all (with the QUANTIZE ops
    the converter adds behind LOGISTIC and TANH), then a dense layer."""
    import keras
    import tensorflow as tf

    from edgekit.quantization.converter import quantize

    layers = keras.layers
    x = inp = keras.Input((9, 9, 3), batch_size=1)
    p = layers.MaxPooling2D(3, strides=2, padding="same")(layers.Conv2D(5, 3, padding="same")(x))
    branches = [
        layers.Activation("sigmoid")(p),
        layers.Activation("tanh")(p),
        layers.Activation("hard_swish")(p),
        layers.LeakyReLU(negative_slope=0.2)(p),
        layers.ReLU(max_value=6)(p),
        layers.Lambda(lambda t: tf.clip_by_value(t, -1.0, 1.0))(p),
        layers.ReLU()(p),
        layers.MaxPooling2D(2, strides=1, padding="same")(p),
    ]
    x = layers.Dense(4)(layers.Flatten()(layers.Concatenate()(branches)))
    samples = np.random.default_rng(0).uniform(-1, 1, (16, 9, 9, 3)).astype(np.float32)
    return quantize(keras.Model(inp, x), samples)


@pytest.mark.parametrize("core", ["cortex-m7", "cortex-m55"])
def test_chain_of_the_new_ops_is_bit_exact_on_the_board(chain, tmp_path, core):
    kinds = {op.kind for op in read_tflite(chain).ops}
    assert kinds >= {"MAX_POOL_2D", "CONCATENATION", *TABLE_OPS}
    target = load_target(core)
    inputs = np.random.default_rng(5).integers(-128, 128, (3, 9, 9, 3)).astype(np.int8)
    artifact = CBackend().compile(Int8Model(chain), target, tmp_path)
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(chain, inputs, layers=True)
    np.testing.assert_array_equal(run.outputs, want.outputs)
    layers = [want.layers[i] for i in artifact.details["layer_ops"]]
    for got, expected in zip(run.layers, layers, strict=True):
        np.testing.assert_array_equal(got, expected)
