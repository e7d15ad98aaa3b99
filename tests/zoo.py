"""edgekit's model zoo: small models made the way users make them, for tests and benchmarks.

    .venv/bin/python tests/zoo.py OUT_DIR [NAME...]

Each model is a Keras 3 model converted by the plain TFLite converter
(``TFLiteConverter.from_keras_model``, ``Optimize.DEFAULT`` and a representative data set) with
no fixed batch size, so every shape signature starts with -1. Models listed with int8 I/O are
converted with ``TFLITE_BUILTINS_INT8`` and int8 input and output types; the others keep float
I/O, which the converter gives a QUANTIZE and a DEQUANTIZE at the ends.

The weights are seeded and random, conditioned so that activations stay alive after int8
conversion (DESIGN.md): every BatchNormalization gets momentum 0 and the model is called once
with ``training=True`` on 32 seeded inputs, so its moving statistics become those of the batch;
the models without batch norm scale their initializers to keep unit variance. Inputs, for the
conditioning and the representative data set alike, are seeded uniform noise in [-1, 1).

The four MLPerf Tiny reference models follow the benchmark's training scripts
(github.com/mlcommons/tiny, benchmark/training/*/keras_model.py and v0.1's vww_model.py):
the same layers, kernel sizes, strides and channel counts; their weight regularizers, which do
not change the inference graph, are left out.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

SEED = 0
CONDITIONING_SAMPLES = 32
CALIBRATION_SAMPLES = 16


# ---------------------------------------------------------------- MLPerf Tiny


def vww_mobilenet_v1():
    """Visual wake words: MobileNetV1 alpha 0.25 at 96x96x3, 2 classes (MLPerf Tiny VWW)."""
    import keras

    L = keras.layers
    inputs = keras.Input((96, 96, 3))
    x = _conv_bn_relu(inputs, 8, 3, strides=2)
    # (stride, pointwise filters) of the 13 depthwise separable blocks
    blocks = [(1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128)]
    blocks += [(1, 128)] * 5 + [(2, 256), (1, 256)]
    for stride, filters in blocks:
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", depthwise_initializer="he_normal")(
            x
        )
        x = L.Activation("relu")(L.BatchNormalization()(x))
        x = _conv_bn_relu(x, filters, 1)
    x = L.AveragePooling2D(pool_size=x.shape[1:3])(x)
    outputs = L.Dense(2, activation="softmax")(L.Flatten()(x))
    return keras.Model(inputs, outputs, name="vww_mobilenet_v1")


def ic_resnet8():
    """Image classification: ResNet-8 at 32x32x3, 10 classes (MLPerf Tiny IC, CIFAR-10)."""
    import keras

    L = keras.layers
    inputs = keras.Input((32, 32, 3))
    x = _conv_bn_relu(inputs, 16, 3)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = _conv_bn_relu(x, filters, 3, strides=stride)
        y = L.BatchNormalization()(_conv(y, filters, 3))
        if stride != 1:  # the identity path matches the new shape with a strided 1x1 conv
            x = _conv(x, filters, 1, strides=stride)
        x = L.Activation("relu")(L.Add()([x, y]))
    x = L.AveragePooling2D(pool_size=x.shape[1])(x)
    outputs = L.Dense(10, activation="softmax", kernel_initializer="he_normal")(L.Flatten()(x))
    return keras.Model(inputs, outputs, name="ic_resnet8")


def kws_ds_cnn():
    """Keyword spotting: DS-CNN on a 49x10x1 MFCC spectrogram, 12 classes (MLPerf Tiny KWS)."""
    import keras

    L = keras.layers
    inputs = keras.Input((49, 10, 1))
    x = L.Conv2D(64, (10, 4), strides=2, padding="same")(inputs)
    x = L.Dropout(0.2)(L.Activation("relu")(L.BatchNormalization()(x)))
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same")(x)
        x = L.Activation("relu")(L.BatchNormalization()(x))
        x = L.Conv2D(64, 1, padding="same")(x)
        x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.AveragePooling2D(pool_size=(25, 5))(L.Dropout(0.4)(x))
    outputs = L.Dense(12, activation="softmax")(L.Flatten()(x))
    return keras.Model(inputs, outputs, name="kws_ds_cnn")


def ad_autoencoder():
    """Anomaly detection: the fully connected autoencoder on 640 features, 128-unit layers
    around an 8-unit bottleneck (MLPerf Tiny AD, ToyADMOS)."""
    import keras

    L = keras.layers
    inputs = keras.Input((640,))
    x = inputs
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.Activation("relu")(L.BatchNormalization()(L.Dense(units)(x)))
    return keras.Model(inputs, L.Dense(640)(x), name="ad_autoencoder")


# ---------------------------------------------------------------- other shapes of model


def conv1d_audio():
    """A 1-D convolutional net on 50 frames of 40 audio features (Conv1D layers), 8 classes."""
    import keras

    L = keras.layers
    inputs = keras.Input((50, 40))
    x = inputs
    for filters, stride in ((32, 1), (32, 2), (64, 2)):
        x = L.Conv1D(filters, 5, strides=stride, padding="same")(x)
        x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.MaxPooling1D(2)(x)
    x = L.Conv1D(64, 3, padding="valid", activation=None)(x)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, L.Dense(8, activation="softmax")(x), name="conv1d_audio")


def mobilenet_v3_small():
    """MobileNetV3-Small alpha 0.5 at 64x64x3 (hard-swish, squeeze-and-excite) as
    ``keras.applications`` builds it, with a 10-class head the way transfer learning adds one
    (its own top adds a 1024-channel 1x1 conv: most of the weights at this size)."""
    import keras

    base = keras.applications.MobileNetV3Small(
        input_shape=(64, 64, 3),
        alpha=0.5,
        weights=None,
        include_top=False,
        pooling="avg",
        include_preprocessing=False,
    )
    outputs = keras.layers.Dense(10, activation="softmax")(base.output)
    return keras.Model(base.input, outputs, name="mobilenet_v3_small")


def efficientnet_mbconv():
    """An EfficientNet-B0-style stack at 64x64x3: a stem, MBConv blocks (expand, depthwise,
    squeeze-and-excite, project, residual) with swish written as x * sigmoid(x), 10 classes."""
    import keras

    L = keras.layers

    def swish(x):
        return L.Multiply()([x, L.Activation("sigmoid")(x)])

    def mbconv(x, filters, kernel, stride, expand):
        c = x.shape[-1]
        y = x
        if expand != 1:
            y = swish(L.BatchNormalization()(_conv(y, c * expand, 1)))
        y = L.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False)(y)
        y = swish(L.BatchNormalization()(y))
        se = L.GlobalAveragePooling2D(keepdims=True)(y)
        se = swish(L.Conv2D(max(1, c // 4), 1)(se))
        se = L.Conv2D(y.shape[-1], 1, activation="sigmoid")(se)
        y = L.Multiply()([y, se])
        y = L.BatchNormalization()(_conv(y, filters, 1))
        return L.Add()([x, y]) if stride == 1 and c == filters else y

    inputs = keras.Input((64, 64, 3))
    x = swish(L.BatchNormalization()(_conv(inputs, 16, 3, strides=2)))
    # (filters, kernel, stride, expansion): B0's first four stages at half its width, the
    # second stage's two blocks kept (a residual), one block for each of the others
    for args in ((8, 3, 1, 1), (12, 3, 2, 6), (12, 3, 1, 6), (20, 5, 2, 6), (40, 3, 2, 6)):
        x = mbconv(x, *args)
    x = swish(L.BatchNormalization()(_conv(x, 160, 1)))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10, activation="softmax")(x), name="efficientnet_mbconv")


def detector_head():
    """A two-output detector at 64x64x3: two feature scales, the coarse one upsampled
    (nearest) and concatenated with the fine one; a class map through a sigmoid and a box map
    (4 values per cell), each 16x16 with 3 anchors.

    The upsampling is a Resizing layer: Keras 3's UpSampling2D(interpolation="nearest")
    repeats elements (EXPAND_DIMS, TILE, RESHAPE after conversion), while Resizing becomes
    RESIZE_NEAREST_NEIGHBOR, the op detectors converted from Keras 2 carry."""
    import keras

    L = keras.layers
    inputs = keras.Input((64, 64, 3))
    x = _conv_bn_relu(inputs, 16, 3, strides=2)
    fine = _conv_bn_relu(x, 32, 3, strides=2)  # 16x16
    coarse = _conv_bn_relu(fine, 64, 3, strides=2)  # 8x8
    up = L.Resizing(16, 16, interpolation="nearest")(_conv_bn_relu(coarse, 32, 1))
    x = _conv_bn_relu(L.Concatenate()([fine, up]), 32, 3)
    scores = L.Conv2D(3, 1, activation="sigmoid", name="scores")(x)
    boxes = L.Conv2D(12, 1, name="boxes")(x)
    return keras.Model(inputs, [scores, boxes], name="detector_head")


def two_input():
    """Two inputs: a 32x32x1 spectrogram through convolutions and a 16-value feature vector
    through a dense layer, concatenated, 6 classes. No batch norm: the initializers keep unit
    variance (He normal before each ReLU, Glorot elsewhere)."""
    import keras

    L = keras.layers
    image = keras.Input((32, 32, 1), name="spectrogram")
    features = keras.Input((16,), name="features")
    x = L.Conv2D(
        16, 3, strides=2, padding="same", activation="relu", kernel_initializer="he_normal"
    )(image)
    x = L.Conv2D(
        32, 3, strides=2, padding="same", activation="relu", kernel_initializer="he_normal"
    )(x)
    x = L.GlobalAveragePooling2D()(x)
    f = L.Dense(16, activation="relu", kernel_initializer="he_normal")(features)
    x = L.Concatenate()([x, f])
    x = L.Dense(32, activation="relu", kernel_initializer="he_normal")(x)
    outputs = L.Dense(6, activation="softmax")(x)
    return keras.Model([image, features], outputs, name="two_input")


def unet():
    """A U-Net-like segmenter at 32x32x3: two downsamplings, two Conv2DTranspose upsamplings
    (TRANSPOSE_CONV), each concatenated with the encoder's skip, 3 classes per pixel."""
    import keras

    L = keras.layers
    inputs = keras.Input((32, 32, 3))
    e1 = _conv_bn_relu(inputs, 8, 3)  # 32x32
    e2 = _conv_bn_relu(L.MaxPooling2D(2)(e1), 16, 3)  # 16x16
    b = _conv_bn_relu(L.MaxPooling2D(2)(e2), 32, 3)  # 8x8
    d2 = L.Conv2DTranspose(16, 2, strides=2, padding="same")(b)
    d2 = _conv_bn_relu(L.Concatenate()([d2, e2]), 16, 3)
    d1 = L.Conv2DTranspose(8, 3, strides=2, padding="same")(d2)
    d1 = _conv_bn_relu(L.Concatenate()([d1, e1]), 8, 3)
    return keras.Model(inputs, L.Conv2D(3, 1)(d1), name="unet")


def _conv(x, filters, kernel, strides=1):
    import keras

    return keras.layers.Conv2D(
        filters, kernel, strides=strides, padding="same", kernel_initializer="he_normal"
    )(x)


def _conv_bn_relu(x, filters, kernel, strides=1):
    import keras

    L = keras.layers
    return L.Activation("relu")(L.BatchNormalization()(_conv(x, filters, kernel, strides)))


# name -> (builder, int8 I/O: True, float I/O: False)
ZOO: dict[str, tuple[Callable, bool]] = {
    "vww_mobilenet_v1": (vww_mobilenet_v1, True),
    "ic_resnet8": (ic_resnet8, True),
    "kws_ds_cnn": (kws_ds_cnn, True),
    "ad_autoencoder": (ad_autoencoder, True),
    "conv1d_audio": (conv1d_audio, False),
    "mobilenet_v3_small": (mobilenet_v3_small, False),
    "efficientnet_mbconv": (efficientnet_mbconv, True),
    "detector_head": (detector_head, False),
    "two_input": (two_input, True),
    "unet": (unet, False),
}


def samples(model, count: int, seed: int) -> list[np.ndarray]:
    """``count`` seeded inputs for each of the model's inputs, uniform in [-1, 1)."""
    rng = np.random.default_rng(seed)
    return [
        rng.uniform(-1, 1, (count, *tensor.shape[1:])).astype(np.float32) for tensor in model.inputs
    ]


def condition(model, inputs: list[np.ndarray]) -> None:
    """Make the moving statistics of every batch norm those of ``inputs`` (DESIGN.md)."""
    import keras

    for layer in _layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(inputs if len(inputs) > 1 else inputs[0], training=True)


def _layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def convert(model, int8_io: bool, samples: list[np.ndarray]) -> bytes:
    """The int8 ``.tflite`` of ``model`` by the plain TFLite converter, calibrated on
    ``samples`` (one array per input, a row per sample); int8 input and output when
    ``int8_io``, else float I/O."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    names = [tensor.name for tensor in model.inputs]

    def representative():
        # several inputs by name: the converter orders a model's inputs by name, not as Keras
        for i in range(len(samples[0])):
            rows = [inp[i : i + 1] for inp in samples]
            yield dict(zip(names, rows, strict=True)) if len(rows) > 1 else rows

    converter.representative_dataset = representative
    if int8_io:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # Keras prints every traced variable; the converter warns that int8 inputs come
        # without statistics, which the representative data set makes needless
        warnings.filterwarnings("ignore", "Statistics for quantized inputs")
        return converter.convert()


def make(name: str, folder: Path | str) -> Path:
    """Build, condition and convert zoo model ``name``; write ``folder/<name>.tflite``."""
    import keras

    builder, int8_io = ZOO[name]
    keras.backend.clear_session()  # layer names (kept in the file) count from 0 again
    keras.utils.set_random_seed(SEED)
    model = builder()
    condition(model, samples(model, CONDITIONING_SAMPLES, SEED))
    tflite = convert(model, int8_io, samples(model, CALIBRATION_SAMPLES, SEED + 1))
    path = Path(folder) / f"{name}.tflite"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tflite)
    return path


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    out, names = Path(argv[0]), argv[1:] or list(ZOO)
    unknown = [name for name in names if name not in ZOO]
    if unknown:
        print(
            f"Error: no zoo model {', '.join(unknown)}; choose from {', '.join(ZOO)}",
            file=sys.stderr,
        )
        return 2
    for name in names:
        print(make(name, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
