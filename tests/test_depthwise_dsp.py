"""The DSP depthwise kernels (Cortex-M4, M7) on their edge cases, bit-exact with the reference
kernels on both boards, every layer compared byte for byte.

For each output row and group of four channels the kernels gather the input rows the row reads
into scratch, padding included, then run the row's pixels without padding checks. So the cases
are maps one pixel wide or tall (every tap row or column but one in the padding), widths of 2
and 3, odd sizes at stride 2, SAME and VALID padding and MobileNetV2's padding before a stride-2
layer; channel counts below four and not a multiple of four (the last group zero-padded, stored
channel by channel), up to 99 channels (the scratch row is sized per layer); layers run in
place, one after the other. Multipliers above one half (weights scaled up) take the general
requantization rather than the one-step one. The 3x3 kernel takes 3x3 layers with equal strides
of 1 or 2; the other kernel every other window (5x5, 7x7, 1x1, 3x1, 1x3, 1x5, 4x2, 2x2: odd and
even filter heights) and strides (3, unequal ones).
"""

import numpy as np
import pytest
from test_kernels import randomize, samples
from test_ops_fast import _run_on_board, _variants

from edgekit.quantization.converter import quantize

# input h, w, c; then each layer: window, strides (an int for both), padding ("same", "valid"
# or "pad": zero padding after, then valid), weight gain. The 3x3 layers with equal strides of 1
# or 2 run ek_depthwise_conv2d_3x3_dsp.c, the others ek_depthwise_conv2d_dsp.c (odd filter
# heights there add a row of zero weights).
CASES = {
    "narrow": ((5, 1, 6), [(3, 1, "same", 1), (3, 1, "same", 40), ((3, 1), 1, "same", 1),
                           ((1, 3), 1, "same", 1), (3, 2, "same", 1)]),
    "two_three": ((4, 3, 13), [(3, 1, "same", 1), (3, 1, "valid", 1), (3, 1, "same", 1)]),
    "wide": ((7, 11, 9), [(3, 1, "same", 1), ((1, 5), (1, 2), "valid", 1), (3, 2, "same", 1),
                          (3, 1, "same", 40), ((4, 2), 1, "same", 1)]),
    "stride2": ((9, 12, 3), [(3, 2, "pad", 1), (3, 1, "same", 1), (3, 2, "valid", 1)]),
    "blocks": ((6, 8, 20), [(3, 1, "same", 1), (3, 2, "pad", 1), (3, 1, "same", 1),
                            (3, (2, 1), "same", 1), (1, 1, "same", 1)]),
    "flat": ((1, 5, 24), [(3, 1, "same", 1), (3, 2, "same", 1), (3, 1, "same", 1)]),
    "deep": ((9, 11, 37), [(5, 2, "same", 1), (3, 1, "same", 1), (5, 1, "same", 40),
                           (3, 2, "same", 1), (3, 1, "valid", 1)]),
    "wider": ((10, 13, 99), [(7, 3, "same", 1), (3, 2, "pad", 1), (3, 1, "same", 1),
                             (2, 1, "valid", 1)]),
}  # fmt: skip
CORES = ("cortex-m7", "cortex-m4")


def _variant(window, strides) -> str:
    """The DSP variant a layer of this window and these strides runs."""
    three = window in (3, (3, 3)) and strides in (1, 2)
    return "depthwise_conv2d_3x3_dsp" if three else "depthwise_conv2d_dsp"


def _model(name: str, bias: float = 0.0) -> bytes:
    import keras

    (h, w, c), layers = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    x = inp = keras.Input((h, w, c), batch_size=1)
    convs = []
    for window, strides, padding, gain in layers:
        if padding == "pad":
            x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
        layer = keras.layers.DepthwiseConv2D(
            window, strides=strides, padding="valid" if padding == "pad" else padding
        )
        x = keras.layers.ReLU(6.0)(layer(x))
        convs.append((layer, gain))
    model = keras.Model(inp, x)
    for layer, gain in convs:
        randomize(layer, rng, channel_axes=2)
        kernel, b = layer.get_weights()
        layer.set_weights([kernel * gain, b + bias])
    return quantize(model, samples(rng, (h, w, c), spread=4.0))


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    return {name: _model(name) for name in CASES}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", list(CASES))
def test_depthwise_dsp_is_bit_exact_on_the_boards(models, tmp_path, name, core):
    tflite = models[name]
    picked = [v for v in _variants(tflite, core) if v != "pad_ref"]
    assert picked == [_variant(window, strides) for window, strides, *_ in CASES[name][1]]
    shape = CASES[name][0]
    inputs = np.random.default_rng(3).integers(-128, 128, (2, *shape)).astype(np.int8)
    _run_on_board(tflite, core, inputs, tmp_path)


def test_a_huge_bias_keeps_the_reference_kernel():
    """A folded bias beyond 2^24 would overflow the kernels' doubled sums: the layer runs the
    reference kernel instead."""
    tflite = _model("two_three", bias=1e7)
    assert set(_variants(tflite, "cortex-m7")) == {"depthwise_conv2d_ref"}
