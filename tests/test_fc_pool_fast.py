"""The fast FULLY_CONNECTED, SOFTMAX, AVERAGE_POOL_2D and PAD kernels, bit-exact with the
reference kernels on the boards (DSP: Cortex-M4, M7, M33; Helium: M55).

ek_fully_connected_s8_dsp runs four units per pass over an input row widened to int16, two
units sharing each weight word (their sum recovered from a difference every 512 inputs), and
rescales in LiteRT's double precision through a fast path that must agree with the exact one.
The models carry its edge cases: input lengths of 1, 3, 5, 17, 37 and more than 512 (a second
run of the odd units' sums), unit counts that are not a multiple of 4 (1, 3, 5, 17, 33), fused
RELU and RELU6, a multiplier above one half (the exact rescaling), per-channel and per-tensor
weights, the sums at their largest (weights of +-127 against inputs of -128 and 127, 512 inputs
per run), ties and near-ties of the rescaling, and a weight of -128 (the two-unit kernel).

ek_softmax_s8_dsp looks up the exp of each difference to the row maximum in a table the build
computes (tables.softmax_exp_table); softmaxes of the same logits as rows of 1020, 2, 3, 5, 17,
60 and 255 entries, with betas from 0.05 to 1e5 (differences below diff_min, a capped
multiplier), ties for the maximum and rows of nearly equal entries, prove it.

The average pools sum in int16 (DSP: SXTB16 + SADD16; Helium: VLDRB.S16) and divide (Helium:
by a high multiply); windows at every border with SAME padding, global windows of 234, 256 and
306 values (the int32 loop), channel counts of 1, 3, 13, 17, 18 and 221, RELU and RELU6. PAD
copies whole rows: paddings of height and width, of the channels, of 2-D and 3-D tensors.

Every model runs on the boards, each layer compared with LiteRT's reference kernels byte for
byte (every output for every input).
"""

import numpy as np
import pytest
from test_kernels import convert, randomize, samples
from test_ops_unary import pool

from edgekit.backends.c import CBackend
from edgekit.compiler import fixedpoint as fp
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import select_kernels
from edgekit.config import CompileOptions
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

DSP_BOARDS = ("cortex-m4", "cortex-m7", "cortex-m33")


def _bytes(values) -> np.ndarray:
    return np.ascontiguousarray(values).ravel().view(np.uint8)


def _run_on_board(tflite: bytes, core: str, inputs: np.ndarray, tmp_path):
    """The model built for ``core``, run on its board, every layer compared with the reference;
    the variants picked."""
    target = load_target(core)
    artifact = CBackend().compile(
        Int8Model(tflite), target, tmp_path, CompileOptions(patches="off")
    )
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(tflite, inputs, layers=True)
    for got, expected in zip(run.outputs, want.outputs, strict=True):
        np.testing.assert_array_equal(_bytes(got), _bytes(expected))
    order = artifact.details["layer_ops"]
    assert len(run.layers) == len(order)
    for n, got in zip(order, run.layers, strict=True):
        np.testing.assert_array_equal(_bytes(got), _bytes(want.layers[n]), err_msg=f"op {n}")
    return artifact


def _picked(tflite: bytes, core: str, kind: str) -> list[str]:
    graph = read_tflite(tflite)
    picks = select_kernels(graph, load_target(core))
    return [picks[op.index].variant.name for op in graph.ops if op.kind == kind]


OPTIONS = {
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "SOFTMAX": "SoftmaxOptions",
    "RESHAPE": "ReshapeOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
}


def _model(tensors, ops, outputs=None) -> bytes:
    """An int8 .tflite: ``tensors`` as (shape, (scale, zero point)) or, for an int32 constant,
    (shape, its values); the first the graph input, ``outputs`` the graph outputs (the last
    tensor by default); ``ops`` as (kind, input indices, output index, options dict)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT()
    model.version, model.buffers, model.operatorCodes = 3, [s.BufferT()], []
    graph = s.SubGraphT()
    graph.tensors = []
    for n, (shape, quant) in enumerate(tensors):
        t = s.TensorT()
        t.shape, t.type, t.name, t.buffer = list(shape), s.TensorType.INT8, f"t{n}", 0
        if isinstance(quant, np.ndarray):  # a constant (PAD's paddings)
            t.type, t.buffer = s.TensorType.INT32, len(model.buffers)
            model.buffers.append(s.BufferT())
            model.buffers[-1].data = list(quant.astype("<i4").tobytes())
        else:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [quant[0]], [quant[1]]
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
        if kind in OPTIONS:
            op.builtinOptionsType = getattr(s.BuiltinOptions, OPTIONS[kind])
            op.builtinOptions = getattr(s, OPTIONS[kind] + "T")()
            for key, value in options.items():
                setattr(op.builtinOptions, key, value)
        graph.operators.append(op)
    graph.inputs = [0]
    graph.outputs = [len(tensors) - 1] if outputs is None else list(outputs)
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def dense_chain() -> bytes:
    """Per-channel weights: 520 inputs through units of 601, 37 (RELU), 17 (RELU6, weights
    scaled up: a multiplier above one half), 5, 3, 1, 33 and 6; beside it 7 units on the 520
    inputs with every weight of a unit at +-127."""
    import keras

    rng = np.random.default_rng(20)
    L = keras.layers
    inp = keras.Input((520,), batch_size=1)
    x = inp
    stack = [L.Dense(601), L.Dense(37, activation="relu"), L.Dense(17, activation="relu6")]
    stack += [L.Dense(n) for n in (5, 3, 1, 33, 6)]
    for layer in stack:
        x = layer(x)
    extreme = L.Dense(7)
    y = extreme(inp)
    model = keras.Model(inp, [x, y])
    for layer in stack:
        randomize(layer, rng)
    kernel, bias = stack[2].get_weights()
    stack[2].set_weights([kernel * 400, bias])
    signs = np.where(np.arange(7) % 2 == 0, -1.0, 1.0).astype(np.float32)
    extreme.set_weights([np.ones((520, 7), np.float32) * signs, np.zeros(7, np.float32)])
    return convert(model, [samples(rng, (520,), spread=2.0)])


@pytest.fixture(scope="module")
def dense_rows() -> bytes:
    """Per-tensor weights: 45 inputs, units of 30 (RELU) then 13."""
    import keras

    rng = np.random.default_rng(21)
    L = keras.layers
    inp = keras.Input((45,), batch_size=1)
    first, second = L.Dense(30, activation="relu"), L.Dense(13)
    model = keras.Model(inp, second(first(inp)))
    randomize(first, rng)
    randomize(second, rng)
    flags = {"_experimental_disable_per_channel_quantization_for_dense_layers": True}
    return convert(model, [samples(rng, (45,))], **flags)


@pytest.mark.parametrize("core", DSP_BOARDS)
def test_dsp_fully_connected_is_bit_exact_on_the_boards(dense_chain, dense_rows, tmp_path, core):
    assert _picked(dense_chain, core, "FULLY_CONNECTED") == ["fully_connected_dsp"] * 9
    assert _picked(dense_rows, core, "FULLY_CONNECTED") == ["fully_connected_dsp"] * 2
    inputs = np.random.default_rng(2).integers(-128, 128, (4, 520)).astype(np.int8)
    inputs[0], inputs[1] = -128, 127  # the largest sums of the +-127 units
    _run_on_board(dense_chain, core, inputs, tmp_path / "chain")
    rows = np.random.default_rng(3).integers(-128, 128, (2, 45)).astype(np.int8)
    _run_on_board(dense_rows, core, rows, tmp_path / "rows")


@pytest.fixture(scope="module")
def softmaxes() -> bytes:
    """SOFTMAX of 1020 logits (beta 1), and of the same logits as rows of 2, 3, 5, 17, 60 and
    255 (each a RESHAPE away), with betas 300, 0.05, 2000, 1e5 (a multiplier capped at
    2^31 - 1), 1 and 20: seven outputs."""
    logits, prob = (0.1, 3), (1 / 256, -128)
    shapes = [(1, 510, 2), (1, 340, 3), (1, 204, 5), (1, 60, 17), (1, 17, 60), (1, 4, 255)]
    betas = [300.0, 0.05, 2000.0, 1e5, 1.0, 20.0]
    tensors = [((1, 1020), logits), ((1, 1020), prob)]
    ops = [("SOFTMAX", [0], 1, {"beta": 1.0})]
    for shape, beta in zip(shapes, betas, strict=True):
        n = len(tensors)
        tensors += [(shape, logits), (shape, prob)]
        ops.append(("RESHAPE", [0], n, {"newShape": list(shape)}))
        ops.append(("SOFTMAX", [n], n + 1, {"beta": beta}))
    return _model(tensors, ops, outputs=[1, *range(3, len(tensors), 2)])


@pytest.mark.parametrize("core", [*DSP_BOARDS, "cortex-m55"])
def test_dsp_softmax_is_bit_exact_on_the_boards(softmaxes, tmp_path, core):
    assert _picked(softmaxes, core, "SOFTMAX") == ["softmax_dsp"] * 7
    inputs = np.random.default_rng(4).integers(-128, 128, (12, 1020)).astype(np.int8)
    inputs[1, ::3] = 127  # 340 ties for the maximum (TFLite aborts once the exps sum to 512)
    inputs[2, :] = -128
    inputs[2, :400] = np.random.default_rng(5).integers(-2, 2, 400)  # nearly equal entries
    inputs[3, :] = -128
    inputs[3, 7] = 127  # one entry far above the rest (the rest below diff_min)
    inputs[4:8] //= 8  # narrower ranges: more of each row within reach of its maximum
    _run_on_board(softmaxes, core, inputs, tmp_path)


# (input shape, window, stride, padding SAME 0 / VALID 1, fused activation, output shape)
AVG_POOLS = [
    ((1, 18, 17, 13), (3, 3), (2, 2), 0, 0, (1, 9, 9, 13)),  # windows over every border
    ((1, 13, 17, 18), (2, 2), (2, 2), 1, 0, (1, 6, 8, 18)),  # eight channels, then two
    ((1, 9, 26, 17), (9, 26), (1, 1), 1, 0, (1, 1, 1, 17)),  # global, 234 values
    ((1, 17, 18, 13), (17, 18), (1, 1), 1, 0, (1, 1, 1, 13)),  # global, 306 values: int32
    ((1, 17, 18, 13), (16, 16), (1, 1), 1, 0, (1, 2, 3, 13)),  # 256 values: int16 at its limit
    ((1, 34, 39, 3), (4, 3), (1, 2), 0, 3, (1, 34, 20, 3)),  # RELU6, three channels
    ((1, 78, 51, 1), (5, 5), (3, 3), 0, 0, (1, 26, 17, 1)),  # one channel
    ((1, 6, 3, 221), (2, 2), (3, 3), 1, 1, (1, 2, 1, 221)),  # stride > window, RELU
]


@pytest.fixture(scope="module")
def avg_pools() -> bytes:
    """AVERAGE_POOL_2D on one input of 3978 values seen as each AVG_POOLS shape (a RESHAPE
    away), one output each."""
    q = (0.05, -3)
    tensors, ops, outputs = [((1, 18, 17, 13), q)], [], []
    for shape, window, stride, padding, act, out_shape in AVG_POOLS:
        source = 0
        if shape != tensors[0][0]:
            source = len(tensors)
            tensors.append((shape, q))
            ops.append(("RESHAPE", [0], source, {"newShape": list(shape)}))
        outputs.append(len(tensors))
        tensors.append((out_shape, q))
        ops.append(("AVERAGE_POOL_2D", [source], outputs[-1], pool(window, stride, padding, act)))
    return _model(tensors, ops, outputs=outputs)


@pytest.mark.parametrize(
    "core, feature", [(c, "dsp") for c in DSP_BOARDS] + [("cortex-m55", "mve")]
)
def test_fast_avg_pool_is_bit_exact_on_the_boards(avg_pools, tmp_path, core, feature):
    assert _picked(avg_pools, core, "AVERAGE_POOL_2D") == [f"avg_pool2d_{feature}"] * len(AVG_POOLS)
    inputs = np.random.default_rng(6).integers(-128, 128, (4, 18, 17, 13)).astype(np.int8)
    inputs[1], inputs[2] = -128, 127  # the largest sums
    _run_on_board(avg_pools, core, inputs, tmp_path)


# (input shape, paddings per dimension (before, after)); the input seen as each shape
PADS = [
    ((1, 18, 17, 13), ((0, 0), (0, 1), (0, 1), (0, 0))),  # MobileNetV2's: whole rows
    ((1, 18, 17, 13), ((0, 0), (1, 2), (3, 1), (0, 0))),
    ((1, 17, 18, 13), ((0, 0), (2, 0), (0, 0), (1, 2))),  # the channels too: row by row
    ((1, 6, 3, 221), ((0, 0), (1, 1), (0, 2), (3, 0))),
    ((1, 78, 51), ((0, 0), (1, 0), (0, 5))),  # 3-D
    ((1, 3978), ((0, 0), (7, 0))),  # 2-D
]


@pytest.fixture(scope="module")
def pads() -> bytes:
    """PAD of one input of 3978 values seen as each PADS shape (a RESHAPE away), one output
    each; the pad value is the output zero point."""
    q = (0.05, -3)
    tensors, ops, outputs = [((1, 18, 17, 13), q)], [], []
    for shape, amounts in PADS:
        source = 0
        if shape != tensors[0][0]:
            source = len(tensors)
            tensors.append((shape, q))
            ops.append(("RESHAPE", [0], source, {"newShape": list(shape)}))
        padded = tuple(n + a + b for n, (a, b) in zip(shape, amounts, strict=True))
        tensors.append(((len(shape), 2), np.array(amounts, np.int32)))
        outputs.append(len(tensors))
        tensors.append((padded, q))
        ops.append(("PAD", [source, outputs[-1] - 1], outputs[-1], None))
    return _model(tensors, ops, outputs=outputs)


@pytest.mark.parametrize("core", [*DSP_BOARDS, "cortex-m55"])
def test_pad_is_bit_exact_on_the_boards(pads, tmp_path, core):
    inputs = np.random.default_rng(7).integers(-128, 128, (2, 18, 17, 13)).astype(np.int8)
    _run_on_board(pads, core, inputs, tmp_path)


OUT = 393216.0  # 3 * 2^17: the output scale of _rounding_model


def _fc_model(weights: np.ndarray, bias: np.ndarray, weight_scales, out_scale: float) -> bytes:
    """A FULLY_CONNECTED from the flatbuffer schema: input [1, K] of scale 1 and zero point 0,
    int8 ``weights`` [units, K] with per-unit ``weight_scales``, int32 ``bias``, output
    [1, units] of scale ``out_scale``, zero point 0."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    units, depth = weights.shape
    model = s.ModelT()
    model.version, model.operatorCodes = 3, [s.OperatorCodeT()]
    model.operatorCodes[0].builtinCode = s.BuiltinOperator.FULLY_CONNECTED
    model.operatorCodes[0].deprecatedBuiltinCode, model.operatorCodes[0].version = 9, 1
    model.buffers = [s.BufferT() for _ in range(3)]
    model.buffers[1].data = list(np.asarray(weights, np.int8).tobytes())
    model.buffers[2].data = list(np.asarray(bias, "<i4").tobytes())
    graph = s.SubGraphT()
    graph.tensors = []
    w = [float(v) for v in weight_scales]
    int8, int32 = s.TensorType.INT8, s.TensorType.INT32
    specs = [((1, depth), int8, 0, [1.0]), ((units, depth), int8, 1, w), ((units,), int32, 2, w),
             ((1, units), int8, 0, [out_scale])]  # fmt: skip
    for n, (shape, kind, buffer, scale) in enumerate(specs):
        t = s.TensorT()
        t.shape, t.type, t.name, t.buffer = list(shape), kind, f"t{n}", buffer
        t.quantization = s.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = scale, [0] * len(scale)
        graph.tensors.append(t)
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType = s.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = s.FullyConnectedOptionsT()
    graph.operators, graph.inputs, graph.outputs = [op], [0], [3]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _rounding_model(weight_scales: np.ndarray, accs: np.ndarray) -> bytes:
    """One input into one unit per weight scale, each weight 1, each bias its accumulator, the
    output of scale OUT: for the input 0, unit u outputs round(accs[u] * weight_scales[u] /
    OUT) clamped, the rescaling alone."""
    return _fc_model(np.ones((len(accs), 1), np.int8), accs, weight_scales, OUT)


def _exact_path(acc: int, weight_scale: float) -> bool:
    """Whether ek_fully_connected_dsp.c's fast rescaling leaves ``acc`` times the unit's scale
    to the exact rounding (its s out of range, or the accumulator within the fast path's margin
    of a rounding boundary)."""
    [mantissa], [exponent] = fp.fully_connected_scales(1.0, [weight_scale], OUT)
    s = -int(exponent) - 53
    if mantissa == 0 or not 1 <= s <= 30:
        return True
    r = abs(acc) * (int(mantissa) >> 21) + (1 << (s + 31))
    return (r >> (s + 32)) != ((r + abs(acc) + 2048) >> (s + 32))


def _near_ties(weight_scale: float, count: int) -> list[int]:
    """The accumulators in [2^22, 2^23) whose product with the unit's scale lies closest to
    some k + 1/2 (within about 2^-23 of it)."""
    scale = weight_scale / OUT
    accs = np.arange(2**22, 2**23, dtype=np.int64)
    distance = np.abs((accs * scale) % 1.0 - 0.5)
    return [int(a) for a in accs[np.argpartition(distance, count)[:count]]]


def test_dsp_fully_connected_rescaling_meets_the_double_rounding_on_the_boards(tmp_path):
    """Ties (k + 1/2 exactly: power-of-two scales), the products nearest a tie of 2^22
    accumulators with 53-bit scales, scales of one half and more (the exact rounding throughout)
    and ordinary ones, each unit's accumulator its bias, either sign, on the M4 and M7 boards.

    (An accumulator inside the fast path's margin, about value / 2^31.5 from a boundary, is too
    rare to construct here: one in 2^24 or so of those near a tie; its branch calls the exact
    rounding the large scales exercise.)"""
    rng = np.random.default_rng(8)
    scales, accs = [], []  # the unit's scale * OUT (a float32), its accumulator
    for n in (2, 8, 13, 20, 27):  # ties: (2k + 1) 2^(n - 1) * 2^-n = k + 1/2
        for k in [*rng.integers(0, 100, 4).tolist(), 0, 119]:
            scales.append(OUT * 2.0**-n)
            accs.append(int(rng.choice([-1, 1])) * ((2 * k + 1) * 2 ** (n - 1) % 2**31))
    for w in (5.1, 4.3, 3.7, 2.9, 2.3):  # 53-bit scales of 6e-6 to 1.3e-5
        for acc in _near_ties(w, 4):
            scales.append(w)
            accs.append(acc * int(rng.choice([-1, 1])))
    for scale in (0.5, 0.75, 3.0):
        scales += [OUT * scale] * 3
        accs += [1, -3, 77]
    scales += list(OUT * 10.0 ** rng.uniform(-9, -0.5, 16))
    accs += [int(a) for a in rng.integers(-(2**20), 2**20, 16)]
    scales = np.float32(scales).astype(np.float64)
    taken = [_exact_path(a, w) for a, w in zip(accs, scales, strict=True)]
    assert sum(taken) == 9 and all(taken[50:59])
    tflite = _rounding_model(scales, np.array(accs))
    assert _picked(tflite, "cortex-m7", "FULLY_CONNECTED") == ["fully_connected_dsp"]
    for core in DSP_BOARDS:
        _run_on_board(tflite, core, np.zeros((1, 1), np.int8), tmp_path / core)


def test_a_weight_of_minus_128_takes_the_two_unit_dsp_kernel(tmp_path):
    """fc_quads cannot hold a weight of -128 (TFLite's converter never writes one): such a layer
    runs ek_fully_connected_x2_s8_dsp, bit-exact too, its odd last unit and a depth tail
    included."""
    rng = np.random.default_rng(10)
    weights = rng.integers(-128, 128, (7, 13)).astype(np.int8)
    weights[3, 5] = -128
    bias = rng.integers(-5000, 5000, 7)
    tflite = _fc_model(weights, bias, 10.0 ** rng.uniform(-2.5, -1.5, 7), 40.0)
    assert _picked(tflite, "cortex-m7", "FULLY_CONNECTED") == ["fully_connected_x2_dsp"]
    inputs = rng.integers(-128, 128, (6, 13)).astype(np.int8)
    for core in DSP_BOARDS:
        _run_on_board(tflite, core, inputs, tmp_path / core)
