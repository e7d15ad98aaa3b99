"""The DSP 3x3 depthwise kernel (Cortex-M4, M7) on its edge cases, bit-exact with the reference
kernels on the M7 board, every layer compared byte for byte.

The kernel takes the interior pixels of a row two at a time and the border pixels one at a
time, so the cases are widths of 1, 2 and 3 (no interior pair, one pair, a pair and a border),
odd widths (an interior pixel left after the pairs), both strides, SAME and VALID padding and
MobileNetV2's padding before a stride-2 layer, channel counts below four and not a multiple of
four (the one-channel tail), and layers run in place, one after the other. Multipliers above
one half (weights scaled up) take the general requantization rather than the fast one.
"""

import numpy as np
import pytest
from test_kernels import randomize, samples
from test_ops_fast import _run_on_board, _variants

from edgekit.quantization.converter import quantize

# input h, w, c; then each layer: stride, padding ("same", "valid" or "pad": zero padding after,
# then valid), weight gain
CASES = {
    "narrow": ((5, 1, 6), [(1, "same", 1), (1, "same", 40), (2, "same", 1)]),
    "two_three": ((4, 3, 13), [(1, "same", 1), (1, "valid", 1), (1, "same", 1)]),
    "wide": ((7, 11, 9), [(1, "same", 1), (2, "same", 1), (1, "valid", 40), (1, "same", 1)]),
    "stride2": ((9, 12, 3), [(2, "pad", 1), (1, "same", 1), (2, "valid", 1)]),
    "blocks": ((6, 8, 20), [(1, "same", 1), (2, "pad", 1), (1, "same", 1)]),
}


def _model(name: str) -> bytes:
    import keras

    (h, w, c), layers = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x = inp = keras.Input((h, w, c), batch_size=1)
    convs = []
    for stride, padding, gain in layers:
        if padding == "pad":
            x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
        layer = keras.layers.DepthwiseConv2D(
            3, strides=stride, padding="valid" if padding == "pad" else padding
        )
        x = keras.layers.ReLU(6.0)(layer(x))
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


@pytest.mark.parametrize("name", list(CASES))
def test_depthwise_dsp_is_bit_exact_on_the_m7(models, tmp_path, name):
    tflite = models[name]
    assert set(_variants(tflite, "cortex-m7")) - {"pad_ref"} == {"depthwise_conv2d_3x3_dsp"}
    shape = CASES[name][0]
    inputs = np.random.default_rng(3).integers(-128, 128, (2, *shape)).astype(np.int8)
    _run_on_board(tflite, "cortex-m7", inputs, tmp_path)
