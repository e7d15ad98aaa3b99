"""RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR and TRANSPOSE_CONV in the c backend, each bit-exact
with LiteRT's reference kernels.

Tiny Keras models converted by the TFLite converter carry the edge cases: resizing up and down
by whole and fractional factors, non-square and odd sizes, each of TFLite's coordinate modes
(align_corners, half_pixel_centers, neither); transposed convolutions with strides 2 and 3,
kernels 2, 3 and 4, SAME and VALID padding, odd channels, with and without bias. They run on the
host under ASan and UBSan and, chained, on the M7 and M55 boards, every layer compared with the
reference.
"""

import numpy as np
import pytest

from edgekit.backends.c import CBackend, build_host, run_host
from edgekit.compiler.ir import read_tflite
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

RESIZE_SHAPE = (5, 7, 3)  # H, W, C: odd and unequal
CONV_SHAPE = (4, 5, 3)


def _quantize(build, shape, seed: int = 0) -> bytes:
    import keras

    from edgekit.quantization.converter import quantize

    inp = keras.Input(shape, batch_size=1)
    samples = np.random.default_rng(seed).uniform(-1, 1, (16, *shape)).astype(np.float32)
    return quantize(keras.Model(inp, build(inp)), samples)


def _inputs(shape, count: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (count, *shape)).astype(np.int8)


def _resize(size, method: str, **flags):
    """tf.compat.v1's resize with its own align_corners / half_pixel_centers flags."""
    import keras
    import tensorflow as tf

    image = tf.compat.v1.image
    fn = image.resize_bilinear if method == "bilinear" else image.resize_nearest_neighbor
    return keras.layers.Lambda(lambda t: fn(t, size, **flags))


def _modes(tflite: bytes, kind: str) -> set[tuple[bool, bool]]:
    ops = [op for op in read_tflite(tflite).ops if op.kind == kind]
    return {(op.options["align_corners"], op.options["half_pixel_centers"]) for op in ops}


@pytest.fixture(scope="module")
def bilinear() -> bytes:
    """UpSampling2D by 2 and by (3, 2), Resizing down to odd sizes, and tf.compat.v1 resizes
    with align_corners and with neither flag, up and down, to one row and from it by 54 (by
    55, TFLite's last position would fall past the row: the rule bilinear_positions)."""
    import keras

    layers = keras.layers

    def build(x):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)  # 10 x 14
        x = layers.Resizing(7, 9)(x)  # down, fractional
        x = _resize((13, 5), "bilinear", align_corners=True)(x)
        x = _resize((6, 11), "bilinear")(x)
        x = layers.UpSampling2D((3, 2), interpolation="bilinear")(x)  # 18 x 22
        x = _resize((1, 3), "bilinear", align_corners=True)(x)  # one row: no corner to align
        return _resize((54, 4), "bilinear")(x)  # the largest upscale of one row inside it

    return _quantize(build, RESIZE_SHAPE)


@pytest.fixture(scope="module")
def nearest() -> bytes:
    """Resizing(interpolation='nearest') up and down (half-pixel centers), and tf.compat.v1
    nearest-neighbor resizes with align_corners, with half_pixel_centers and with neither."""
    import keras

    layers = keras.layers

    def build(x):
        x = layers.Resizing(11, 14, interpolation="nearest")(x)  # up by 2.2 and 2
        x = layers.Resizing(4, 9, interpolation="nearest")(x)  # down
        x = _resize((9, 13), "nearest", align_corners=True)(x)
        x = _resize((7, 5), "nearest", half_pixel_centers=True)(x)
        x = _resize((15, 10), "nearest")(x)
        return _resize((6, 1), "nearest", align_corners=True)(x)

    return _quantize(build, RESIZE_SHAPE)


@pytest.fixture(scope="module")
def transposed() -> bytes:
    """Conv2DTranspose branches of the same input, flattened and concatenated: strides 2, 3 and
    (2, 3); kernels 2, 3, 4 and (4, 3); SAME and VALID; odd channels; biases that are not zero
    (a zero bias the converter drops) and none."""
    import keras

    layers = keras.layers
    bias = keras.initializers.RandomUniform(-0.3, 0.3, seed=2)

    def conv(filters, kernel, strides, padding, use_bias=True):
        return layers.Conv2DTranspose(
            filters, kernel, strides=strides, padding=padding, use_bias=use_bias,
            bias_initializer=bias,
        )  # fmt: skip

    def build(x):
        branches = [
            conv(5, 3, 2, "same")(x),
            conv(3, 2, 3, "valid", use_bias=False)(x),
            conv(7, 4, 2, "valid")(x),
            conv(1, 4, 3, "same", use_bias=False)(x),
            conv(4, (4, 3), (2, 3), "same")(x),
            conv(3, 3, 3, "valid")(x),
        ]
        x = layers.Concatenate()([layers.Flatten()(b) for b in branches])
        return layers.Dense(4)(x)

    return _quantize(build, CONV_SHAPE)


@pytest.fixture(scope="module")
def chain() -> bytes:
    """The three ops in a row, as a small decoder makes them."""
    import keras

    layers = keras.layers

    def build(x):
        x = layers.Conv2DTranspose(
            5, 3, strides=2, padding="same", bias_initializer="random_uniform"
        )(x)  # 12 x 10
        x = layers.Resizing(7, 9, interpolation="nearest")(x)
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        return layers.Conv2D(3, 3, strides=2)(x)

    return _quantize(build, (6, 5, 3))


def test_the_models_hold_the_cases_under_test(bilinear, nearest, transposed, chain):
    assert _modes(bilinear, "RESIZE_BILINEAR") == {(False, True), (True, False), (False, False)}
    assert _modes(nearest, "RESIZE_NEAREST_NEIGHBOR") == {
        (False, True), (True, False), (False, False)
    }  # fmt: skip
    graph = read_tflite(transposed)
    convs = [op for op in graph.ops if op.kind == "TRANSPOSE_CONV"]
    assert len(convs) == 6
    assert {op.options["padding"] for op in convs} == {"SAME", "VALID"}
    assert {len(op.inputs) > 3 and op.inputs[3] >= 0 for op in convs} == {True, False}
    weights = [graph.tensor(op.inputs[1]) for op in convs]
    assert all(w.quant.scale.size == w.shape[0] for w in weights)  # per channel
    kinds = {op.kind for op in read_tflite(chain).ops}
    assert kinds >= {"TRANSPOSE_CONV", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"}


@pytest.mark.parametrize("name", ["bilinear", "nearest", "transposed", "chain"])
def test_host_build_is_sanitizer_clean_and_bit_exact_on_every_layer(name, request, tmp_path):
    tflite = request.getfixturevalue(name)
    shape = read_tflite(tflite).tensor(read_tflite(tflite).inputs[0]).shape[1:]
    inputs = _inputs(shape)
    artifact = CBackend().compile(Int8Model(tflite), load_target("host"), tmp_path / "c")
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    run = run_host(binary, inputs, artifact.details["layer_bytes"])
    want = reference(tflite, inputs, layers=True)
    np.testing.assert_array_equal(run.outputs, want.outputs)
    kinds = [op.kind for op in read_tflite(tflite).ops]
    for kind, got, expected in zip(kinds, run.layers, want.layers, strict=True):
        np.testing.assert_array_equal(got, expected, err_msg=kind)


@pytest.mark.parametrize("core", ["cortex-m7", "cortex-m55"])
def test_chain_is_bit_exact_on_every_layer_on_the_board(chain, tmp_path, core):
    target = load_target(core)
    inputs = _inputs((6, 5, 3), seed=5)
    artifact = CBackend().compile(Int8Model(chain), target, tmp_path)
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(chain, inputs, layers=True)
    np.testing.assert_array_equal(run.outputs, want.outputs)
    layers = [want.layers[i] for i in artifact.details["layer_ops"]]
    for got, expected in zip(run.layers, layers, strict=True):
        np.testing.assert_array_equal(got, expected)
