"""MobileNetV2 written from the paper's Table 2 (Sandler et al., 2018).

Each row of ``BOTTLENECKS`` is (t, c, n, s): expansion factor, output channels, repeats and the
stride of the first repeat. A block is an inverted residual with a linear bottleneck:
1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 project with no activation, and a residual add
when the stride is 1 and the channel count is unchanged. Layer names and weight order follow
``keras.applications.MobileNetV2`` so its weights (ImageNet or otherwise) load one to one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.errors import EdgekitError

ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MIN_RESOLUTION, MAX_RESOLUTION = 96, 224

# Table 2: t (expansion), c (channels), n (repeats), s (first stride).
STEM_CHANNELS = 32
BOTTLENECKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
HEAD_CHANNELS = 1280
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.999


@dataclass(frozen=True)
class MobileNetConfig:
    """Width multiplier, square input resolution and number of classes."""

    alpha: float = 0.35
    resolution: int = 96
    classes: int = 10

    def __post_init__(self) -> None:
        if self.alpha not in ALPHAS:
            raise EdgekitError(
                f"alpha {self.alpha} is not supported; use one of {', '.join(map(str, ALPHAS))}"
            )
        r = self.resolution
        if not (MIN_RESOLUTION <= r <= MAX_RESOLUTION and r % 32 == 0):
            raise EdgekitError(
                f"resolution {r} is not supported; use 96, 224 or a multiple of 32 in between"
            )
        if self.classes < 2:
            raise EdgekitError(f"classes must be at least 2, got {self.classes}")

    @property
    def tag(self) -> str:
        return f"mobilenet_v2_{self.alpha:g}_{self.resolution}_c{self.classes}"


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% below ``value``.

    This is the rounding of the paper's reference code, which the width multiplier relies on.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def build_mobilenet_v2(config: MobileNetConfig, softmax: bool = True):
    """The float Keras model: stem, 17 bottleneck blocks, 1x1 head, global pool, classifier.

    The classifier is a ``logits`` Dense layer followed by a separate ``predictions`` softmax,
    so the pre-softmax logits keep a name of their own in the float and the int8 graphs.
    """
    import keras
    from keras import layers

    def conv_bn(x, filters, kernel, stride, name, bn_name, act_name=None):
        x = layers.Conv2D(
            filters, kernel, strides=stride, padding="same", use_bias=False, name=name
        )(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn_name)(x)
        return layers.ReLU(6.0, name=act_name)(x) if act_name else x

    def bottleneck(x, t, channels, stride, block):
        in_channels = x.shape[-1]
        prefix = f"block_{block}_" if block else "expanded_conv_"
        out = x
        if t != 1:
            out = conv_bn(
                out,
                in_channels * t,
                1,
                1,
                prefix + "expand",
                prefix + "expand_BN",
                prefix + "expand_relu",
            )
        out = layers.DepthwiseConv2D(
            3, strides=stride, padding="same", use_bias=False, name=prefix + "depthwise"
        )(out)
        out = layers.BatchNormalization(
            epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=prefix + "depthwise_BN"
        )(out)
        out = layers.ReLU(6.0, name=prefix + "depthwise_relu")(out)
        out = conv_bn(out, channels, 1, 1, prefix + "project", prefix + "project_BN")
        if stride == 1 and in_channels == channels:
            out = layers.Add(name=prefix + "add")([x, out])
        return out

    alpha = config.alpha
    inputs = keras.Input((config.resolution, config.resolution, 3), name="input")
    x = conv_bn(
        inputs, make_divisible(STEM_CHANNELS * alpha), 3, 2, "Conv1", "bn_Conv1", "Conv1_relu"
    )
    block = 0
    for t, c, n, s in BOTTLENECKS:
        for i in range(n):
            x = bottleneck(x, t, make_divisible(int(c * alpha)), s if i == 0 else 1, block)
            block += 1
    head = make_divisible(HEAD_CHANNELS * alpha) if alpha > 1.0 else HEAD_CHANNELS
    x = conv_bn(x, head, 1, 1, "Conv_1", "Conv_1_bn", "out_relu")
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    x = layers.Dense(config.classes, name="logits")(x)
    if softmax:
        x = layers.Softmax(name="predictions")(x)
    return keras.Model(inputs, x, name="mobilenet_v2")


def count_macs(model) -> int:
    """Multiply-accumulates of one inference (batch 1): convolutions and dense layers."""
    from keras import layers

    macs = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            _, h, w, _ = layer.output.shape
            kh, kw, c, m = layer.kernel.shape
            macs += h * w * kh * kw * c * m
        elif isinstance(layer, layers.Conv2D):
            _, h, w, _ = layer.output.shape
            kh, kw, cin, cout = layer.kernel.shape
            macs += h * w * kh * kw * cin * cout
        elif isinstance(layer, layers.Dense):
            cin, cout = layer.kernel.shape
            macs += cin * cout
    return int(macs)


def count_params(model) -> int:
    """Weights and biases of the convolutions and the classifier: the figure the paper's
    published table counts. Batch-norm parameters are left out; they fold into the int8 model's
    per-channel requantization and biases."""
    from keras import layers

    weighted = (layers.Conv2D, layers.DepthwiseConv2D, layers.Dense)
    return int(
        sum(
            int(np.prod(w.shape))
            for layer in model.layers
            if isinstance(layer, weighted)
            for w in layer.weights
        )
    )


def transfer_weights(source, target) -> None:
    """Copy weights layer by layer between two models with the same weighted-layer sequence.

    Used to load ``keras.applications.MobileNetV2`` weights (e.g. ImageNet's) into the builder's
    model. Layers without weights (padding, activations) may differ between the two.
    """
    src = [layer for layer in source.layers if layer.weights]
    dst = [layer for layer in target.layers if layer.weights]
    if len(src) != len(dst):
        raise EdgekitError(
            f"cannot load weights: source has {len(src)} weighted layers, model has {len(dst)}"
        )
    for s, d in zip(src, dst):
        shapes_s = [tuple(w.shape) for w in s.get_weights()]
        shapes_d = [tuple(w.shape) for w in d.get_weights()]
        if shapes_s != shapes_d:
            raise EdgekitError(
                f"cannot load weights: layer {s.name} has shapes {shapes_s}, "
                f"{d.name} expects {shapes_d}"
            )
        d.set_weights(s.get_weights())


def imagenet_model(config: MobileNetConfig):
    """The builder's model with Keras's ImageNet weights (downloaded by Keras; needs network).

    The backbone comes from ImageNet; with 1000 classes the classifier does too, otherwise the
    classifier keeps its fresh initialization and needs ``edgekit train``.
    """
    import keras

    model = build_mobilenet_v2(config)
    top = config.classes == 1000
    try:
        reference = keras.applications.MobileNetV2(
            input_shape=(config.resolution, config.resolution, 3),
            alpha=config.alpha,
            include_top=top,
            weights="imagenet",
            pooling=None if top else "avg",
        )
    except Exception as exc:  # network or cache failure: tell the user what to do instead
        raise EdgekitError(
            f"could not fetch ImageNet weights ({type(exc).__name__}: {exc}); "
            "connect to the internet or use --weights digits|random|PATH"
        ) from None
    if top:
        transfer_weights(reference, model)
    else:
        backbone = keras.Model(model.input, model.get_layer("global_average_pooling2d").output)
        transfer_weights(reference, backbone)
    return model


def condition_batchnorm(model, samples) -> None:
    """Make a model without trained weights numerically well conditioned.

    Every batch norm takes the statistics of ``samples`` as its moving statistics, so each
    layer's output is normalized and activations stay alive through the network; without this,
    int8 conversion of random weights collapses (scales near 1e-8, one output for all inputs).
    """
    from keras import layers

    bns = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0
    model(samples, training=True)
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum
