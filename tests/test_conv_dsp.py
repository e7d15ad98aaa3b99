"""The DSP convolutions (Cortex-M4, M7: ek_conv2d_dsp.c, 1x1 and im2col) on their edge cases,
bit-exact with the reference kernels on both boards, every layer compared byte for byte.

The kernels take two pixels by two output channels at a time over K padded to a multiple of
four, so the cases are odd pixel counts (the last pixel alone), odd channel counts (the last
channel alone), K = 1, 3, 4, 5, 8, 16, 27 and 40 (every remainder of four, and the depths that
run unrolled), stride 2, SAME and VALID padding, non-square windows (10x4, as keyword
spotting's first layer) and windows wider than the input. Each layer's requantization takes
one of three modes (layouts.pair_constant_words): fast (every shift a right one), general
(multipliers above one half, where weights scaled up meet a ReLU6 cap) and undoubled (a bias
near 2^30, edited into the file); the fast mode also meets a clamp narrower than int8 (an
output zero point edited above -128 under a fused ReLU).
"""

import numpy as np
import pytest
from test_kernels import randomize, samples
from test_ops_fast import _run_on_board, _variants

from edgekit.compiler.ir import read_tflite
from edgekit.compiler.layouts import PAIRS_DOUBLED, PAIRS_FAST, pair_constant_words
from edgekit.quantization.converter import quantize

BOARDS = ("cortex-m4", "cortex-m7")
FAST, GENERAL, UNDOUBLED = PAIRS_DOUBLED | PAIRS_FAST, PAIRS_DOUBLED, 0

# input h, w, c; then each layer: filters, kernel (h, w), stride, padding, weight gain (> 1:
# with a ReLU6 after it, multipliers above one half)
CASES = {
    # 15 pixels; K = 1, 3, 4, 5, 8, 16, 40, 27 in turn, with 3, 5, 7 and 27 channels
    "pointwise": (
        (5, 3, 1),
        [
            (3, (1, 1), 1, "same", 1),
            (4, (1, 1), 1, "same", 1),
            (5, (1, 1), 1, "same", 1),
            (8, (1, 1), 1, "same", 1),
            (16, (1, 1), 1, "same", 1),
            (40, (1, 1), 1, "same", 1),
            (27, (1, 1), 1, "same", 1),
            (7, (1, 1), 1, "same", 1000),
        ],
    ),
    # K = 27 (MobileNet's first layer) at stride 2, then odd windows, VALID, a 5x5 wider than
    # the 3-pixel-wide input it reads with SAME padding
    "windows": (
        (9, 7, 3),
        [
            (16, (3, 3), 2, "same", 1),
            (9, (2, 3), 1, "same", 1),
            (7, (3, 3), 1, "valid", 1000),
            (5, (5, 5), 1, "same", 1),
        ],
    ),
    # keyword spotting's first layer (10x4, stride 2 on 49x10x1), then a 1x1
    "spectrogram": (
        (49, 10, 1),
        [(12, (10, 4), 2, "same", 1), (13, (1, 1), 1, "same", 1)],
    ),
}


def _model(name: str) -> bytes:
    import keras

    (h, w, c), layers = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x = inp = keras.Input((h, w, c), batch_size=1)
    convs = []
    for filters, kernel, stride, padding, gain in layers:
        layer = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding)
        x = keras.layers.ReLU(6.0)(layer(x))
        convs.append((layer, gain))
    model = keras.Model(inp, x)
    for layer, gain in convs:
        randomize(layer, rng)
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * gain, bias])
    return quantize(model, samples(rng, (h, w, c), spread=4.0))


def _edited() -> bytes:
    """A 1x1 then a 3x3 layer under ReLU, then a 1x1 without activation, 7 x 5 pixels; in the
    file, the first 1x1's output zero point raised to -20 (its clamp becomes [-20, 127]), the
    3x3's first two biases set to +-2^30 (its accumulators no longer double in 32 bits), and
    the last 1x1's weights set to +-1 with one scale and its biases to small values, its output
    scale so that the multiplier is 0.45 (a right shift of 1: an output in two is a tie, which
    rounds away from zero, and none saturates)."""
    import flatbuffers
    import keras
    from tensorflow.lite.python import schema_py_generated as s

    rng = np.random.default_rng(7)
    x = inp = keras.Input((7, 5, 6), batch_size=1)
    first = keras.layers.Conv2D(9, 1, activation="relu")
    second = keras.layers.Conv2D(6, 3, padding="same", activation="relu")
    third = keras.layers.Conv2D(5, 1)
    model = keras.Model(inp, third(second(first(x))))
    for layer in (first, second, third):
        randomize(layer, rng)
    tflite = quantize(model, samples(rng, (7, 5, 6)))

    m = s.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    graph = m.subgraphs[0]
    codes = [c.builtinCode for c in m.operatorCodes]
    convs = [op for op in graph.operators if codes[op.opcodeIndex] == s.BuiltinOperator.CONV_2D]
    graph.tensors[convs[0].outputs[0]].quantization.zeroPoint = [-20]
    bias = m.buffers[graph.tensors[convs[1].inputs[2]].buffer]
    values = np.frombuffer(bytes(bias.data), np.int32).copy()
    values[:2] = [2**30, -(2**30)]
    bias.data = list(values.view(np.uint8))
    t_in, t_w, t_b, t_out = (graph.tensors[i] for i in (*convs[2].inputs, convs[2].outputs[0]))
    product = 0.01 * float(t_in.quantization.scale[0])  # input scale x the weights' one scale
    t_w.quantization.scale = [0.01] * t_w.shape[0]
    t_b.quantization.scale = [product] * t_w.shape[0]
    t_out.quantization.scale = [product / 0.45]
    weights = rng.choice(np.array([-1, 1], np.int8), size=np.prod(t_w.shape))
    m.buffers[t_w.buffer].data = list(weights.view(np.uint8))
    small = rng.integers(-40, 40, size=t_w.shape[0]).astype(np.int32)
    m.buffers[t_b.buffer].data = list(small.view(np.uint8))
    builder = flatbuffers.Builder(0)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    built = {name: _model(name) for name in CASES}
    built["edited"] = _edited()
    return built


def _modes(tflite: bytes) -> list[int]:
    graph = read_tflite(tflite)
    return [int(pair_constant_words(graph, op)[0]) for op in graph.ops if op.kind == "CONV_2D"]


def test_the_cases_take_every_requantization_mode(models):
    assert _modes(models["pointwise"]) == [FAST, GENERAL, FAST, FAST, FAST, FAST, FAST, GENERAL]
    assert _modes(models["windows"]) == [FAST, FAST, GENERAL, FAST]
    assert _modes(models["spectrogram"]) == [FAST, FAST]
    assert _modes(models["edited"]) == [FAST, UNDOUBLED, FAST]


@pytest.mark.parametrize("core", BOARDS)
def test_conv_dsp_is_bit_exact_on_the_board(models, tmp_path, core):
    for name, tflite in models.items():
        assert set(_variants(tflite, core)) <= {"conv2d_1x1_dsp", "conv2d_im2col_dsp"}, name
        graph = read_tflite(tflite)
        shape = graph.tensor(graph.inputs[0]).shape[1:]
        inputs = np.random.default_rng(3).integers(-128, 128, (2, *shape)).astype(np.int8)
        _run_on_board(tflite, core, inputs, tmp_path / name)
