"""The Helium (MVE) int8 CONV_2D kernels on their edge cases, bit-exact with the reference
kernels on the M55 board, every layer compared byte for byte.

ek_conv2d_mve.c computes K <= 16 four output channels at a time with their weights held in
registers (the usual layer two pixels at a time, an odd count's first alone, K = 8 and 16 apart
from the others), and K > 16 in tiles of two pixels by four output channels (the last tile of a
layer has one or two pixels; K of two runs apart from longer ones, whose runs go two at a time),
a last pair of channels in tiles of three pixels by two and a last one or three channels one
pixel at a time. So the chains cover K = 1, 3, 4, 5, 8, 16 and K above 16 that is not a
multiple of 16 (27 from a 3x3 window on 3 channels, as MobileNet's first layer; 117, 144 and
200 through im2col), odd and even pixel counts, output channel counts of 1, 2, 3, 5, 6, 7, 10,
13 and 33, stride 2, SAME and VALID padding, and clamps narrower than int8. im2col copies the
windows of several narrow output rows at a time (as many as make 48 pixels), so a layer of 20
rows of 5 pixels runs batches of 9, 9 and 2; windows three rows high inside the input are
copied apart where a row is 8 to 16 bytes or whole vectors (the "whole" chain). Weights scaled
up before a ReLU6 give multipliers above one half (shifts of zero or left shifts, the general
requantization) beside the usual ones.

ek_depthwise_conv2d_3x3_mve.c computes a layer of 8 channels at stride 1 two pixels at a time
where the window lies inside the input's columns, so its chains have odd and even numbers of
such pixels (none, one, two, three and more), maps one and two pixels wide, SAME and VALID
padding, and the layers around it (stride 2, clamps, 13 and 20 channels) that take the other
paths.

ek_fully_connected_mve.c computes four units at a time (the last block padded, its store
predicated), the whole runs of 16 inputs two at a time (an odd one first), the last partial run
predicated: its chains have depths that are and are not a multiple of 16, with odd and even
numbers of whole runs (none, one, three, 8, 40), unit counts with each remainder by four,
and scales of one half or more (weights scaled up before a ReLU6), which the kernel rescales
exactly unit by unit.
"""

import numpy as np
import pytest
from test_fc_pool_fast import OUT, _exact_path, _fc_model, _near_ties, _rounding_model
from test_kernels import randomize, samples
from test_ops_fast import _run_on_board, _variants

from edgekit.quantization.converter import quantize

# input h, w, c; then each layer: (filters, kernel, stride, padding, activation, weight gain)
CASES = {
    # 9 x 7 = 63 pixels: whole tiles; K = 3, 1, 4, 5, 8, 16, then 33 and 13 channels
    "small_k": (
        (9, 7, 3),
        [
            (1, 1, 1, "valid", None, 1),  # K = 3, one output channel
            (4, 1, 1, "valid", "relu6", 1),  # K = 1
            (5, 1, 1, "valid", None, 1),  # K = 4
            (8, 1, 1, "valid", "relu6", 40),  # K = 5
            (16, 1, 1, "valid", None, 1),  # K = 8
            (33, 1, 1, "valid", "relu", 1),  # K = 16
            (13, 1, 1, "valid", "relu6", 1),  # K = 33
        ],
    ),
    # MobileNet's first layer at 11 x 13: 6 x 7 = 42 pixels, K = 27; then K > 16 with pixel
    # counts of 42 and 8 (a last tile of three and of two)
    "first": (
        (11, 13, 3),
        [
            (16, 3, 2, "same", "relu6", 1),  # K = 27
            (8, 1, 1, "valid", None, 1),  # K = 16, pixels two at a time and one
            (7, 1, 1, "valid", None, 400),  # K = 8, multipliers above 1/2
            (24, 1, 1, "valid", "relu6", 1),  # K = 7
            (3, 1, 1, "valid", None, 1),  # K = 24, three channels (a pair and one)
            (2, 3, 2, "valid", "relu6", 40),  # K = 27, 2 x 3 = 6 pixels
        ],
    ),
    # im2col at larger K, 5 x 5 = 25 pixels (a last tile of one)
    "deep": (
        (5, 5, 13),
        [
            (16, 3, 1, "same", "relu", 1),  # K = 117
            (33, 3, 1, "same", None, 1),  # K = 144
            (8, 5, 1, "same", "relu6", 1),  # K = 825
            (17, 1, 1, "valid", "relu6", 1),  # K = 8
            (5, 1, 1, "valid", None, 1),  # K = 17
            (6, 3, 1, "valid", None, 1),  # K = 45, 3 x 3 = 9 pixels: whole tiles only
        ],
    ),
    # 4 x 5 = 20 pixels (a last tile of two), no clamp: the usual layer at K > 16
    "tiles": (
        (4, 5, 20),
        [
            (9, 1, 1, "valid", None, 1),  # K = 20, four pairs and one channel
            (18, 1, 1, "valid", None, 1),  # K = 9
            (2, 1, 1, "valid", None, 1),  # K = 18, one pair
            (32, 1, 1, "valid", None, 1),  # K = 2
            (12, 1, 1, "valid", None, 1),  # K = 32, whole runs
            (5, 3, 1, "same", None, 1),  # K = 108 through im2col, rows of 5 pixels
        ],
    ),
    # windows whose rows are whole vectors (C_in a multiple of 16), copied straight where the
    # filter is three rows high and a row two, three, four or six vectors: 99, 30 and 12 pixels
    "whole": (
        (9, 11, 16),
        [
            (16, 3, 1, "same", "relu", 1),  # rows of three vectors
            (32, (3, 2), 2, "same", None, 1),  # two, stride 2
            (64, 3, 1, "same", "relu6", 1),  # six
            (64, (3, 1), 1, "same", None, 1),  # four
            (16, 3, 1, "same", None, 1),  # twelve: the general copy
            (16, 2, 1, "same", None, 1),  # two rows high: the general copy
            (10, 3, 1, "valid", "relu", 1),  # every window inside; two blocks of four and a pair
        ],
    ),
    # narrow rows through im2col, several at a time: 9, 9 and 2 rows of 5 pixels, then 10 of 3
    "rows": (
        (20, 5, 4),
        [
            (10, 3, 1, "same", None, 1),  # K = 36
            (6, 3, 2, "same", None, 1),  # K = 90
        ],
    ),
}


def _model(name: str) -> bytes:
    import keras

    (h, w, c), layers = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x = inp = keras.Input((h, w, c), batch_size=1)
    convs = []
    for filters, kernel, stride, padding, activation, gain in layers:
        layer = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding)
        x = layer(x)
        if activation == "relu6":
            x = keras.layers.ReLU(6.0)(x)
        elif activation == "relu":
            x = keras.layers.ReLU()(x)
        convs.append((layer, gain))
    model = keras.Model(inp, x)
    for layer, gain in convs:
        randomize(layer, rng)
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * gain, bias])
    return quantize(model, samples(rng, (h, w, c), spread=4.0))


# input h, w, c; then each depthwise 3x3 layer: (stride, padding, activation, weight gain)
DEPTHWISE = {
    "eight": (
        (6, 9, 8),
        [
            (1, "same", None, 1),  # 7 pixels inside a row: three pairs and one
            (1, "same", "relu6", 1),
            (1, "valid", None, 1),  # 4 x 7, every pixel inside
            (1, "same", None, 40),  # multipliers above 1/2
            (2, "same", None, 1),
            (1, "same", None, 1),  # 2 x 4: two pixels inside, one pair
        ],
    ),
    "narrow": (
        (5, 3, 8),
        [
            (1, "same", None, 1),  # one pixel inside a row
            (1, "valid", None, 1),  # one pixel wide
            (1, "same", None, 1),  # one pixel wide, none inside
        ],
    ),
    "wider": ((4, 6, 20), [(1, "same", None, 1), (1, "same", "relu6", 1), (2, "valid", None, 1)]),
    # whole blocks only, after ReLU6 (output offset -128: no nudge of negative ties, unsigned
    # saturation) and not; weights scaled up for many outputs above 6
    "blocks": (
        (7, 9, 32),
        [
            (1, "same", "relu6", 1),
            (2, "same", "relu6", 1),
            (1, "same", None, 1),
            (1, "same", "relu6", 4),
            (1, "valid", "relu6", 1),
        ],
    ),
}


def _depthwise_model(name: str) -> bytes:
    import keras

    (h, w, c), layers = DEPTHWISE[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x = inp = keras.Input((h, w, c), batch_size=1)
    convs = []
    for stride, padding, activation, gain in layers:
        layer = keras.layers.DepthwiseConv2D(3, strides=stride, padding=padding)
        x = layer(x)
        if activation == "relu6":
            x = keras.layers.ReLU(6.0)(x)
        convs.append((layer, gain))
    model = keras.Model(inp, x)
    for layer, gain in convs:
        randomize(layer, rng, channel_axes=2)
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * gain, bias])
    return quantize(model, samples(rng, (h, w, c), spread=4.0))


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    return {name: _model(name) for name in CASES}


@pytest.mark.parametrize("name", list(DEPTHWISE))
def test_depthwise_mve_is_bit_exact_on_the_m55(tmp_path, name):
    tflite = _depthwise_model(name)
    assert set(_variants(tflite, "cortex-m55")) == {"depthwise_conv2d_3x3_mve"}
    shape = DEPTHWISE[name][0]
    inputs = np.random.default_rng(5).integers(-128, 128, (2, *shape)).astype(np.int8)
    _run_on_board(tflite, "cortex-m55", inputs, tmp_path)


@pytest.mark.parametrize("name", list(CASES))
def test_conv_mve_is_bit_exact_on_the_m55(models, tmp_path, name):
    tflite = models[name]
    assert set(_variants(tflite, "cortex-m55")) <= {"conv2d_1x1_mve", "conv2d_im2col_mve"}
    shape = CASES[name][0]
    inputs = np.random.default_rng(3).integers(-128, 128, (2, *shape)).astype(np.int8)
    _run_on_board(tflite, "cortex-m55", inputs, tmp_path)


def _dense_model() -> bytes:
    """640 features through units of 128, 8, 17, 3 and 640: depths 640, 128, 8, 17 and 3."""
    import keras

    rng = np.random.default_rng(11)
    x = inp = keras.Input((640,), batch_size=1)
    layers = []
    for units, activation in ((128, "relu"), (8, None), (17, "relu"), (3, None), (640, None)):
        layer = keras.layers.Dense(units, activation=activation)
        x = layer(x)
        layers.append(layer)
    model = keras.Model(inp, x)
    for layer in layers:
        randomize(layer, rng)
    return quantize(model, samples(rng, (640,), spread=2.0))


def _scaled_dense_model() -> bytes:
    """24 features through units of 5 (scales above one half), 13, 48 and 6: depths 24, 5, 13
    and 48 (three whole runs)."""
    import keras

    rng = np.random.default_rng(13)
    x = inp = keras.Input((24,), batch_size=1)
    layers = []
    for units, activation, gain in (
        (5, "relu6", 400),
        (13, None, 1),
        (48, "relu", 1),
        (6, "relu6", 1),
    ):
        layer = keras.layers.Dense(units, activation=activation)
        x = layer(x)
        layers.append((layer, gain))
    model = keras.Model(inp, x)
    for layer, gain in layers:
        randomize(layer, rng)
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * gain, bias])
    return quantize(model, samples(rng, (24,), spread=2.0))


def test_fully_connected_mve_is_bit_exact_on_the_m55(tmp_path):
    tflite = _dense_model()
    assert set(_variants(tflite, "cortex-m55")) == {"fully_connected_mve"}
    inputs = np.random.default_rng(7).integers(-128, 128, (2, 640)).astype(np.int8)
    _run_on_board(tflite, "cortex-m55", inputs, tmp_path)


def test_fully_connected_mve_large_scales_and_odd_runs_on_the_m55(tmp_path):
    tflite = _scaled_dense_model()
    assert set(_variants(tflite, "cortex-m55")) == {"fully_connected_mve"}
    inputs = np.random.default_rng(9).integers(-128, 128, (3, 24)).astype(np.int8)
    _run_on_board(tflite, "cortex-m55", inputs, tmp_path)


def test_fully_connected_mve_rescaling_meets_the_double_rounding_on_the_m55(tmp_path):
    """test_fc_pool_fast's rounding cases on the M55, one unit per scale, each unit's accumulator
    its bias, either sign: ties (k + 1/2 exactly), the products nearest a tie of 2^22
    accumulators with 53-bit scales, products within the fast rescaling's margin of a rounding
    boundary (found by a search over float32 scales: the lanes it flags and rounds exactly) and
    ordinary scales in one layer (70 units: the per-unit constants in lanes, a last block of
    two), scales of one half and more in another (9 units, rescaled exactly unit by unit)."""
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
    margin = [(4382.3681640625, 9197), (4026.94384765625, -7177), (4611.18359375, 9167),
              (4327.12109375, -11041)]  # fmt: skip
    assert all(_exact_path(a, w) for w, a in margin)  # x.5 within 2^-26 (102.5000000124, ...)
    scales += [w for w, _ in margin] + list(OUT * 10.0 ** rng.uniform(-9, -0.5, 16))
    accs += [a for _, a in margin] + [int(a) for a in rng.integers(-(2**20), 2**20, 16)]
    large = [OUT * scale for scale in (0.5, 0.75, 3.0) for _ in range(3)]
    for n, (w, a) in enumerate([(scales, accs), (large, [1, -3, 77] * 3)]):
        tflite = _rounding_model(np.float32(w).astype(np.float64), np.array(a))
        assert _variants(tflite, "cortex-m55") == ["fully_connected_mve"]
        _run_on_board(tflite, "cortex-m55", np.zeros((1, 1), np.int8), tmp_path / str(n))


def test_fully_connected_mve_takes_weights_of_minus_128(tmp_path):
    """Any int8 weight, -128 included (fc_rows4 stores them as they are), seven units of 13
    inputs with a scale each: one whole block, a last block of three, one partial run."""
    rng = np.random.default_rng(10)
    weights = rng.integers(-128, 128, (7, 13)).astype(np.int8)
    weights[3, 5] = weights[6, 12] = -128
    bias = rng.integers(-5000, 5000, 7)
    tflite = _fc_model(weights, bias, 10.0 ** rng.uniform(-2.5, -1.5, 7), 40.0)
    assert _variants(tflite, "cortex-m55") == ["fully_connected_mve"]
    inputs = rng.integers(-128, 128, (6, 13)).astype(np.int8)
    inputs[0], inputs[1] = -128, 127  # the largest sums
    _run_on_board(tflite, "cortex-m55", inputs, tmp_path)
