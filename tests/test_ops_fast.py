"""The DSP (Cortex-M4, M7) and MVE (Cortex-M55) variants of the table ops, MAX_POOL_2D, the
squeeze-and-excite MUL and ADD and TRANSPOSE_CONV, each bit-exact with the reference kernels on
the boards.

Models written with the flatbuffer schema (and converted Keras transposed convolutions) carry
the edge cases: element and channel counts that are not a multiple of 4, 8 or 16 (the tails of
each vector loop), fewer channels than one vector, windows at the borders with SAME padding,
fused clamps narrower than int8, in-place outputs, each operand order of a broadcast, odd
output channels. Each model runs on the M4, M7 and M55 boards, every layer compared with
LiteRT's reference kernels byte for byte, after checking that the fast variant is the one
picked.
"""

import numpy as np
import pytest
from test_ops_unary import pool, schema_model

from edgekit.backends.c import CBackend
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import select_kernels
from edgekit.config import CompileOptions
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

BOARDS = [("cortex-m4", "dsp"), ("cortex-m7", "dsp"), ("cortex-m55", "mve")]
TABLE_OPS = ("LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU",
             "QUANTIZE")  # fmt: skip


def _bytes(values) -> np.ndarray:
    return np.ascontiguousarray(values).ravel().view(np.uint8)


def _inputs(shape, count: int = 2, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (count, *shape)).astype(np.int8)


def _run_on_board(tflite: bytes, core: str, inputs: np.ndarray, tmp_path):
    """The model built for ``core`` layer by layer, run on its board, every layer compared with
    the reference; the variants picked."""
    target = load_target(core)
    options = CompileOptions(patches="off")
    artifact = CBackend().compile(Int8Model(tflite), target, tmp_path, options)
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(tflite, inputs, layers=True)
    np.testing.assert_array_equal(_bytes(run.outputs), _bytes(want.outputs))
    order = artifact.details["layer_ops"]
    assert len(run.layers) == len(order)
    for n, got in zip(order, run.layers, strict=True):
        np.testing.assert_array_equal(_bytes(got), _bytes(want.layers[n]), err_msg=f"op {n}")
    return artifact


def _variants(tflite: bytes, core: str) -> list[str]:
    graph = read_tflite(tflite)
    return [c.variant.name for c in select_kernels(graph, load_target(core)).values()]


# ---------------------------------------------------------------- the table ops


@pytest.fixture(scope="module")
def tables() -> bytes:
    """Every table op in a chain over 7 x 5 x 11 = 385 elements (tails of 1 after 16-element
    vectors and of 1 after 8-element words), each output with its own scale, in place."""
    shape = (1, 7, 5, 11)
    quant = [(0.05, 3), (0.04, -5), (0.11, 60), (0.02, -100), (1 / 256, -128), (0.06, 9),
             (1 / 128, 0), (0.03, -128), (0.01, 0), (0.013, -20)]  # fmt: skip
    kinds = ["QUANTIZE", "RELU", "LEAKY_RELU", "LOGISTIC", "QUANTIZE", "TANH", "RELU6",
             "RELU_N1_TO_1", "HARD_SWISH"]  # fmt: skip
    ops = [
        (k, [n], n + 1, {"alpha": 0.3} if k == "LEAKY_RELU" else None) for n, k in enumerate(kinds)
    ]
    return schema_model([(shape, q) for q in quant], ops)


@pytest.mark.parametrize("core, feature", BOARDS)
def test_table_ops_are_bit_exact_on_the_boards(tables, tmp_path, core, feature):
    assert _variants(tables, core) == [f"lut_{feature}"] * 9
    inputs = _inputs((7, 5, 11))
    inputs[0].ravel()[:256] = np.arange(-128, 128)  # every table entry
    artifact = _run_on_board(tables, core, inputs, tmp_path)
    assert artifact.details["in_place_ops"] == 9


# ---------------------------------------------------------------- MAX_POOL_2D


@pytest.fixture(scope="module")
def pools() -> bytes:
    """Channel counts 37 (16 + 16 + 5; 8 + 8 + 8 + 8 + 4 + 1) and 3 (less than one word), SAME
    borders, stride larger than the window, non-square windows, RELU6 and RELU_N1_TO_1 clamps."""
    q, narrow = (0.05, -3), (0.02, 10)
    tensors = [((1, 11, 9, 37), q), ((1, 6, 5, 37), q), ((1, 6, 5, 37), narrow),
               ((1, 2, 2, 37), narrow)]  # fmt: skip
    ops = [
        ("MAX_POOL_2D", [0], 1, pool((3, 3), (2, 2), 0)),  # SAME: windows over every border
        ("MAX_POOL_2D", [1], 2, pool((4, 2), (1, 1), 0, activation=3)),  # even window, RELU6
        ("MAX_POOL_2D", [2], 3, pool((2, 2), (3, 3), 1, activation=2)),  # stride > window
    ]
    return schema_model(tensors, ops)


@pytest.fixture(scope="module")
def narrow_pools() -> bytes:
    q = (0.05, -3)
    tensors = [((1, 9, 7, 3), q), ((1, 5, 4, 3), q), ((1, 5, 4, 3), (0.02, 10))]
    ops = [
        ("MAX_POOL_2D", [0], 1, pool((3, 2), (2, 2), 0)),
        ("MAX_POOL_2D", [1], 2, pool((2, 3), (1, 1), 0, activation=1)),  # RELU
    ]
    return schema_model(tensors, ops)


@pytest.mark.parametrize("core, feature", BOARDS)
def test_max_pool_is_bit_exact_on_the_boards(pools, narrow_pools, tmp_path, core, feature):
    for n, tflite in enumerate((pools, narrow_pools)):
        graph = read_tflite(tflite)
        assert set(_variants(tflite, core)) == {f"max_pool2d_{feature}"}
        shape = graph.tensor(graph.inputs[0]).shape[1:]
        _run_on_board(tflite, core, _inputs(shape, seed=n), tmp_path / str(n))


# ---------------------------------------------------------------- squeeze-and-excite MUL and ADD


def graph_model(tensors, ops) -> bytes:
    """An int8 .tflite: ``tensors`` as (shape, (scale, zero point) or None, constant values or
    None), the first the graph input and the last its output; ``ops`` as (kind, input indices,
    output index, fused activation for MUL and ADD / keep_dims for MEAN)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT()
    model.version, model.buffers, model.operatorCodes = 3, [s.BufferT()], []
    graph = s.SubGraphT()
    graph.tensors, graph.operators = [], []
    for n, (shape, quant, data) in enumerate(tensors):
        t = s.TensorT()
        t.shape, t.name, t.buffer = list(shape), f"t{n}", 0
        t.type = s.TensorType.INT8 if quant else s.TensorType.INT32
        if data is not None:
            buffer = s.BufferT()
            values = np.asarray(data, np.int8 if quant else np.int32)
            buffer.data = np.frombuffer(values.tobytes(), np.uint8)
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        if quant:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [quant[0]], [quant[1]]
        graph.tensors.append(t)
    kinds = list(dict.fromkeys(kind for kind, *_ in ops))
    for kind in kinds:
        code = s.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = getattr(s.BuiltinOperator, kind)
        code.version = 1
        model.operatorCodes.append(code)
    for kind, inputs, output, option in ops:
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = kinds.index(kind), list(inputs), [output]
        name = {"MUL": "MulOptions", "ADD": "AddOptions", "MEAN": "ReducerOptions"}[kind]
        op.builtinOptionsType = getattr(s.BuiltinOptions, name)
        op.builtinOptions = getattr(s, name + "T")()
        if kind == "MEAN":
            op.builtinOptions.keepDims = option
        else:
            op.builtinOptions.fusedActivationFunction = {"NONE": 0, "RELU": 1, "RELU6": 3}[option]
        graph.operators.append(op)
    graph.inputs, graph.outputs = [0], [len(tensors) - 1]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def excite_model(shape) -> bytes:
    """MUL and ADD of an H x W x C tensor and its 1 x 1 x 1 x C mean, in both orders, with
    fused ReLU and ReLU6 clamps narrower than int8, a MUL multiplier above 1 (a left shift),
    ADDs whose per-pixel input has the larger scale and the smaller, and constant per-channel
    operands of rank 1 and 4."""
    h, w, c = shape
    rng = np.random.default_rng(c)
    full, vector = (1, h, w, c), (1, 1, 1, c)
    constant = rng.integers(-128, 128, c)
    tensors = [
        (full, (0.05, 3), None),  # 0: input
        ((2,), None, [1, 2]),  # 1: MEAN's axes
        (vector, (0.02, -4), None),  # 2: the per-channel mean
        (full, (0.03, 7), None),  # 3: MUL(input, mean)
        (full, (0.05, -20), None),  # 4: MUL(mean, 3), RELU6: [-20, 100]
        (full, (0.04, 5), None),  # 5: ADD(4, mean)
        (full, (0.05, -10), None),  # 6: ADD(mean, 5), RELU
        ((c,), (0.1, 2), constant),  # 7: a constant of rank 1
        (full, (0.06, 0), None),  # 8: ADD(6, 7)
        (vector, (0.03, -1), np.flip(constant)),  # 9: a constant of rank 4
        (full, (0.02, 3), None),  # 10: MUL(9, 8)
        (full, (0.0004, -2), None),  # 11: MUL(10, mean): multiplier 1.0, shift 1
    ]
    ops = [
        ("MEAN", [0, 1], 2, True),
        ("MUL", [0, 2], 3, "NONE"),
        ("MUL", [2, 3], 4, "RELU6"),
        ("ADD", [4, 2], 5, "NONE"),
        ("ADD", [2, 5], 6, "RELU"),
        ("ADD", [6, 7], 8, "NONE"),
        ("MUL", [9, 8], 10, "NONE"),
        ("MUL", [10, 2], 11, "NONE"),
    ]
    return graph_model(tensors, ops)


@pytest.fixture(scope="module")
def excite() -> list[bytes]:
    """37 channels (9 groups of 4 and 1), 3 (less than one group), 16 (groups only)."""
    return [excite_model(shape) for shape in ((7, 5, 37), (6, 4, 3), (3, 2, 16))]


def test_squeeze_and_excite_picks_the_channel_kernels_only_where_they_apply(excite):
    graph = read_tflite(excite[0])
    for core, feature in BOARDS:
        names = {
            graph.ops[i].kind: c.variant.name
            for i, c in select_kernels(graph, load_target(core)).items()
            if graph.ops[i].kind in ("MUL", "ADD")
        }
        assert names == {"MUL": f"mul_channels_{feature}", "ADD": f"add_channels_{feature}"}
    names = [c.variant.name for c in select_kernels(graph, load_target("host")).values()]
    assert "mul_ref" in names and "add_broadcast_ref" in names


@pytest.mark.parametrize("core, feature", BOARDS)
def test_squeeze_and_excite_is_bit_exact_on_the_boards(excite, tmp_path, core, feature):
    for n, tflite in enumerate(excite):
        graph = read_tflite(tflite)
        shape = graph.tensor(graph.inputs[0]).shape[1:]
        artifact = _run_on_board(tflite, core, _inputs(shape, seed=n), tmp_path / str(n))
        kernels = {row["variant"] for row in artifact.details["kernels"]["layers"]}
        assert {f"mul_channels_{feature}", f"add_channels_{feature}"} <= kernels


# ---------------------------------------------------------------- TRANSPOSE_CONV


@pytest.fixture(scope="module")
def transposed() -> bytes:
    """Conv2DTranspose branches: strides 2, 3 and (2, 3); kernels 2, 3, 4 and (4, 3); SAME and
    VALID; 3 and 19 input channels (tails after 4-byte words and 16-byte vectors); odd output
    channel counts (an odd last channel after the DSP kernel's pairs), one output channel; with
    and without bias."""
    import keras
    from test_ops_dilation import convert

    layers = keras.layers
    bias = keras.initializers.RandomUniform(-0.3, 0.3, seed=2)

    def conv(filters, kernel, strides, padding, use_bias=True):
        return layers.Conv2DTranspose(
            filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
            bias_initializer=bias,
        )  # fmt: skip

    x = inp = keras.Input((5, 4, 3), batch_size=1)
    wide = layers.Conv2D(19, 1)(x)
    branches = [
        conv(5, 3, 2, "same")(wide),
        conv(3, 2, 3, "valid", use_bias=False)(x),
        conv(7, 4, 2, "valid")(wide),
        conv(1, 4, 3, "same", use_bias=False)(x),
        conv(4, (4, 3), (2, 3), "same")(wide),
        conv(6, 3, 3, "valid")(wide),
    ]
    x = layers.Concatenate()([layers.Flatten()(b) for b in branches])
    return convert(keras.Model(inp, layers.Dense(4)(x)))


@pytest.mark.parametrize("core, feature", BOARDS)
def test_transpose_conv_is_bit_exact_on_the_boards(transposed, tmp_path, core, feature):
    graph = read_tflite(transposed)
    ops = [op for op in graph.ops if op.kind == "TRANSPOSE_CONV"]
    assert len(ops) == 6 and {graph.tensor(op.inputs[2]).shape[-1] for op in ops} == {3, 19}
    choices = select_kernels(graph, load_target(core))
    assert {choices[op.index].variant.name for op in ops} == {f"transpose_conv_{feature}"}
    _run_on_board(transposed, core, _inputs((5, 4, 3)), tmp_path)
