import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.frontend.mobilenet import (
    MobileNetConfig,
    build_mobilenet_v2,
    count_macs,
    count_params,
    make_divisible,
    transfer_weights,
)


@pytest.mark.parametrize(
    "alpha, resolution, params, macs",
    [
        # The paper's Table 3 / the published MobileNetV2 table (1000 classes).
        (1.0, 224, 3.47e6, 300e6),
        (1.4, 224, 6.06e6, 582e6),
        (0.35, 96, 1.66e6, 11e6),
    ],
)
def test_params_and_macs_match_published_figures(alpha, resolution, params, macs):
    model = build_mobilenet_v2(MobileNetConfig(alpha, resolution, 1000))
    assert count_params(model) == pytest.approx(params, rel=0.01)
    # 0.35@96 is published as "11M" (rounded); the count including the classifier is 11.9M.
    assert count_macs(model) == pytest.approx(macs, rel=0.01 if alpha >= 1 else 0.1)


def test_structure_follows_table_2():
    from keras import layers

    model = build_mobilenet_v2(MobileNetConfig(1.0, 224, 1000))
    depthwise = [lay for lay in model.layers if isinstance(lay, layers.DepthwiseConv2D)]
    assert len(depthwise) == 17  # sum of n over the bottleneck rows
    assert [d.strides[0] for d in depthwise].count(2) == 4  # rows with s=2 (the stem has one more)
    adds = [lay for lay in model.layers if isinstance(lay, layers.Add)]
    assert len(adds) == 10  # every repeat after the first of each row
    relus = [lay for lay in model.layers if isinstance(lay, layers.ReLU)]
    # stem + 16 expansions + 17 depthwise + head; projections stay linear
    assert len(relus) == 35 and all(float(r.max_value) == 6.0 for r in relus)
    assert not any("project" in r.name for r in relus)
    outputs = [model.get_layer(f"block_{i}_project_BN").output.shape[-1] for i in range(1, 17)]
    assert outputs == [24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320]
    assert model.get_layer("block_1_expand").output.shape[-1] == 16 * 6  # t = 6
    assert model.get_layer("out_relu").output.shape[1:] == (7, 7, 1280)


def test_width_multiplier_rounds_channels_to_multiples_of_8():
    assert make_divisible(32 * 0.35) == 16
    assert make_divisible(16 * 0.35) == 8
    assert make_divisible(24 * 0.75) == 24
    assert make_divisible(1280 * 1.4) == 1792
    model = build_mobilenet_v2(MobileNetConfig(0.35, 96, 10))
    convs = [lay for lay in model.layers if lay.__class__.__name__ == "Conv2D"]
    assert all(c.filters % 8 == 0 for c in convs)
    assert model.get_layer("out_relu").output.shape[-1] == 1280  # head is not narrowed below 1


@pytest.mark.parametrize("alpha, resolution, classes", [(0.35, 96, 10), (1.3, 160, 1000)])
def test_keras_applications_weights_load_and_give_identical_outputs(alpha, resolution, classes):
    import keras

    reference = keras.applications.MobileNetV2(
        input_shape=(resolution, resolution, 3), alpha=alpha, classes=classes, weights=None
    )
    rng = np.random.default_rng(0)
    for weight in reference.weights:  # random but well-scaled weights, made here
        if "variance" in weight.path:
            value = rng.uniform(0.5, 2.0, weight.shape)
        else:
            value = rng.normal(0.0, 0.1, weight.shape)
        weight.assign(value.astype("float32"))
    model = build_mobilenet_v2(MobileNetConfig(alpha, resolution, classes))
    transfer_weights(reference, model)
    x = rng.uniform(-1, 1, (2, resolution, resolution, 3)).astype("float32")
    expected = reference(x, training=False).numpy()
    np.testing.assert_array_equal(model(x, training=False).numpy(), expected)
    assert expected.std() > 0


def test_transfer_weights_rejects_a_different_architecture():
    small = build_mobilenet_v2(MobileNetConfig(0.35, 96, 10))
    wide = build_mobilenet_v2(MobileNetConfig(0.5, 96, 10))
    with pytest.raises(EdgekitError, match="cannot load weights"):
        transfer_weights(wide, small)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 0.6}, "alpha 0.6 is not supported"),
        ({"resolution": 100}, "resolution 100"),
        ({"resolution": 256}, "resolution 256"),
        ({"resolution": 64}, "resolution 64"),
        ({"classes": 1}, "classes must be at least 2"),
    ],
)
def test_bad_configurations_are_user_errors(kwargs, message):
    with pytest.raises(EdgekitError, match=message):
        MobileNetConfig(**kwargs)


@pytest.mark.parametrize("resolution", [96, 128, 160, 192, 224])
def test_every_multiple_of_32_from_96_to_224_is_accepted(resolution):
    assert MobileNetConfig(resolution=resolution).resolution == resolution


def test_conditioning_keeps_random_activations_alive():
    import keras

    from edgekit.frontend.mobilenet import condition_batchnorm

    keras.utils.set_random_seed(0)
    model = build_mobilenet_v2(MobileNetConfig(0.35, 96, 10), softmax=False)
    x = np.random.default_rng(1).uniform(-1, 1, (16, 96, 96, 3)).astype("float32")
    condition_batchnorm(model, x)
    probe = model.get_layer("out_relu").output
    features = keras.Model(model.input, probe)(x, training=False).numpy()
    assert features.std() > 0.05  # alive: not collapsed to a constant
    logits = model(x, training=False).numpy()
    assert logits.std(axis=0).mean() > 0.01 * np.abs(logits).mean()  # inputs are told apart


def _random_keras_mobilenet(original):
    """keras.applications.MobileNetV2 with local random weights in place of the download."""

    def make(**kwargs):
        assert kwargs.pop("weights") == "imagenet"
        model = original(weights=None, **kwargs)
        rng = np.random.default_rng(3)
        for weight in model.weights:
            low = 0.5 if "variance" in weight.path else -0.2
            weight.assign(rng.uniform(low, low + 1.5 if low > 0 else 0.2, weight.shape))
        return model

    return make


def test_imagenet_weights_load_into_the_backbone(monkeypatch):
    import keras

    from edgekit.frontend.mobilenet import imagenet_model

    fake = _random_keras_mobilenet(keras.applications.MobileNetV2)
    monkeypatch.setattr(keras.applications, "MobileNetV2", fake)
    model = imagenet_model(MobileNetConfig(0.35, 96, 10))
    reference = fake(
        input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights="imagenet", pooling="avg"
    )
    x = np.random.default_rng(4).uniform(-1, 1, (2, 96, 96, 3)).astype("float32")
    pooled = keras.Model(model.input, model.get_layer("global_average_pooling2d").output)
    np.testing.assert_array_equal(pooled(x).numpy(), reference(x).numpy())
    assert model.output_shape == (None, 10)


def test_imagenet_weights_offline_is_a_user_error(monkeypatch):
    import keras

    from edgekit.frontend.mobilenet import imagenet_model

    def offline(**kwargs):
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    with pytest.raises(EdgekitError, match="connect to the internet or use --weights"):
        imagenet_model(MobileNetConfig(0.35, 96, 10))
