"""Where the float model comes from: checkpoints, the built-in model and users' model files."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from edgekit.errors import EdgekitError
from edgekit.frontend.data import load_dataset, preprocess, splits
from edgekit.frontend.mobilenet import MobileNetConfig
from edgekit.frontend.modelio import (
    builtin_model,
    load_checkpoint,
    load_user_model,
    save_checkpoint,
    shipped_checkpoint,
)

SHAPE = (32, 32, 3)

# Keras 3 saving a model under TensorFlow 2.21 and numpy 2 warns about np.array(tensor); noise.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def tiny_cnn(classes: int = 10, shape=SHAPE, seed: int = 0):
    """The op set of MobileNetV2 in a few thousand parameters."""
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input(shape)
    x = layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(classes)(x)
    return keras.Model(inputs, layers.Softmax()(x))


def samples(n: int = 4, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(n).uniform(-1, 1, (n, *shape)).astype(np.float32)


def predict(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False))


def load_error(path: Path) -> str:
    with pytest.raises(EdgekitError) as info:
        load_user_model(path)
    return str(info.value)


@pytest.fixture(scope="module")
def model():
    """A tiny CNN with non-default batch norm statistics, so every weight matters."""
    net = tiny_cnn()
    bn = next(layer for layer in net.layers if isinstance(layer, keras.layers.BatchNormalization))
    rng = np.random.default_rng(0)
    bn.moving_mean.assign(rng.normal(0, 0.1, bn.moving_mean.shape))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, bn.moving_variance.shape))
    return net


@pytest.fixture(scope="module")
def files(model, tmp_path_factory) -> dict[str, Path]:
    """The tiny model saved in every format a user may hand to edgekit."""
    root = tmp_path_factory.mktemp("models")
    paths = {
        "keras": root / "tiny.keras",
        "h5": root / "tiny.h5",
        "saved_model": root / "saved",
        "batch1": root / "saved_batch1",
    }
    model.save(paths["keras"])
    model.save(paths["h5"])
    model.export(str(paths["saved_model"]), format="tf_saved_model", verbose=False)
    model.export(
        str(paths["batch1"]),
        format="tf_saved_model",
        verbose=False,
        input_signature=[tf.TensorSpec([1, *SHAPE], tf.float32)],
    )
    paths["int8"] = root / "tiny_int8.tflite"
    paths["float"] = root / "tiny_float.tflite"
    paths["int8"].write_bytes(convert(paths["batch1"], int8=True))
    paths["float"].write_bytes(convert(paths["batch1"], int8=False))
    return paths


def convert(saved_model: Path, int8: bool) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if int8:

        def representative():
            for x in samples(16):
                yield [x[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_restores_the_outputs(model, tmp_path):
    path = tmp_path / "ckpt" / "tiny.npz"
    manifest = {"model": "tiny", "epochs": 3}
    save_checkpoint(model, path, manifest)
    assert json.loads(path.with_suffix(".json").read_text()) == manifest

    fresh = tiny_cnn(seed=1)
    x = samples()
    assert not np.allclose(predict(fresh, x), predict(model, x), atol=1e-3)
    load_checkpoint(fresh, path)
    np.testing.assert_allclose(predict(fresh, x), predict(model, x), atol=1e-3)
    for restored, original in zip(fresh.weights, model.weights):
        np.testing.assert_allclose(restored.numpy(), original.numpy(), rtol=1e-3, atol=1e-6)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_checkpoint_keeps_float32_where_float16_would_overflow(tmp_path):
    net = tiny_cnn()
    dense = next(layer for layer in net.layers if isinstance(layer, keras.layers.Dense))
    bias = np.linspace(-1e6, 1e6, 10).astype(np.float32)  # beyond float16's 65504
    dense.bias.assign(bias)
    save_checkpoint(net, tmp_path / "big.npz", {})
    fresh = tiny_cnn(seed=1)
    load_checkpoint(fresh, tmp_path / "big.npz")
    fresh_dense = next(layer for layer in fresh.layers if isinstance(layer, keras.layers.Dense))
    assert np.array_equal(fresh_dense.bias.numpy(), bias)


def test_checkpoint_for_another_architecture_is_an_error(model, tmp_path):
    save_checkpoint(model, tmp_path / "ten.npz", {})
    with pytest.raises(EdgekitError, match="does not match") as info:
        load_checkpoint(tiny_cnn(classes=7), tmp_path / "ten.npz")
    for option in ("--alpha", "--resolution", "--classes"):
        assert option in str(info.value)


def test_corrupt_checkpoint_is_an_error(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).bytes(400))
    with pytest.raises(EdgekitError, match="cannot read checkpoint") as info:
        load_checkpoint(tiny_cnn(), path)
    assert "edgekit train" in str(info.value)


# ---------------------------------------------------------------- the built-in model


@pytest.fixture(scope="module")
def builtin():
    config = MobileNetConfig(0.35, 96, 10)
    return builtin_model(config, "random", conditioning_samples=samples(8, (96, 96, 3)))


def test_builtin_random_model_describes_itself(builtin):
    assert builtin.image_input == (96, 96, 3)
    assert builtin.classes == 10
    assert builtin.source == "built-in"
    assert builtin.weights == "random"
    assert builtin.tflite is None
    assert builtin.config == MobileNetConfig(0.35, 96, 10)
    assert builtin.float_model.input_shape == (None, 96, 96, 3)
    assert builtin.float_model.output_shape == (None, 10)


def test_builtin_random_model_is_conditioned_on_the_samples(builtin):
    bns = [
        layer
        for layer in builtin.float_model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    # Fresh batch norms have moving variance 1 everywhere; conditioning replaces it.
    assert all(not np.allclose(bn.moving_variance.numpy(), 1.0) for bn in bns)
    out = predict(builtin.float_model, samples(2, (96, 96, 3)))
    assert not np.allclose(out[0], out[1])  # activations did not die out


def test_builtin_model_loads_a_checkpoint_path(builtin, tmp_path):
    path = tmp_path / "trained.npz"
    save_checkpoint(builtin.float_model, path, {})
    loaded = builtin_model(MobileNetConfig(0.35, 96, 10), str(path))
    assert loaded.weights == str(path)
    for restored, original in zip(loaded.float_model.weights, builtin.float_model.weights):
        np.testing.assert_allclose(restored.numpy(), original.numpy(), rtol=1e-3, atol=1e-6)
    # float16 rounding through ~50 layers moves probabilities by a few thousandths at most.
    x = samples(2, (96, 96, 3))
    expected = predict(builtin.float_model, x)
    np.testing.assert_allclose(predict(loaded.float_model, x), expected, atol=1e-2)


def test_builtin_digits_weights_are_the_shipped_checkpoint_and_classify_digits():
    assert shipped_checkpoint(MobileNetConfig(0.35, 96, 10)) is not None
    assert shipped_checkpoint(MobileNetConfig(1.0, 224, 10)) is not None
    source = builtin_model(MobileNetConfig(0.35, 96, 10), "digits")
    assert source.weights == "digits"
    evaluation = splits(load_dataset("digits", 96)).evaluation
    x, labels = preprocess(evaluation.images[:100]), evaluation.labels[:100]
    top1 = np.mean(predict(source.float_model, x).argmax(axis=1) == labels)
    assert top1 >= 0.9  # the manifest records 0.98 on the whole evaluation split


def test_builtin_model_with_a_missing_weights_path_says_to_train(tmp_path):
    with pytest.raises(EdgekitError, match="edgekit train") as info:
        builtin_model(MobileNetConfig(0.35, 96, 10), str(tmp_path / "missing.npz"))
    assert "--weights" in str(info.value)


def test_builtin_model_without_a_shipped_checkpoint_for_the_config_is_an_error():
    config = MobileNetConfig(alpha=0.35, resolution=128, classes=7)
    with pytest.raises(EdgekitError, match="no trained weights") as info:
        builtin_model(config, "digits")
    message = str(info.value)
    assert "0.35@128" in message and "7 classes" in message and "edgekit train" in message


# ---------------------------------------------------------------- users' models


@pytest.mark.parametrize("kind", ["keras", "h5", "saved_model"])
def test_user_float_model_loads_with_its_shape_and_predictions(kind, model, files):
    source = load_user_model(files[kind])
    assert source.image_input == SHAPE
    assert source.classes == 10
    assert source.tflite is None
    assert source.source == str(files[kind])
    x = samples()
    np.testing.assert_allclose(predict(source.float_model, x), predict(model, x), atol=1e-6)


def test_batch1_saved_model_loads_and_predicts(model, files):
    source = load_user_model(files["batch1"])
    assert source.image_input == SHAPE and source.classes == 10
    x = samples(1)
    np.testing.assert_allclose(predict(source.float_model, x), predict(model, x), atol=1e-6)


def test_int8_tflite_loads_without_a_float_model(files):
    source = load_user_model(files["int8"])
    assert source.float_model is None
    assert source.tflite == files["int8"].read_bytes()
    assert source.image_input == SHAPE
    assert source.classes == 10


def test_a_float_tflite_is_a_float_model_for_edgekit_to_quantize(files):
    source = load_user_model(files["float"])
    assert source.tflite is None and source.float_model is None
    assert source.float_tflite == files["float"].read_bytes()
    assert all(p.dtype == "float32" for p in (*source.signature.inputs, *source.signature.outputs))


def test_keras_file_of_random_bytes_is_a_one_line_error(tmp_path):
    path = tmp_path / "noise.keras"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    message = load_error(path)
    assert "cannot load Keras model" in message
    assert "\n" not in message


def test_tflite_of_random_bytes_is_an_error(tmp_path):
    path = tmp_path / "noise.tflite"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    message = load_error(path)
    assert "not a TFLite flatbuffer" in message and "re-export" in message


def test_truncated_tflite_is_an_error(files, tmp_path):
    path = tmp_path / "cut.tflite"
    path.write_bytes(files["int8"].read_bytes()[:600])  # header intact, body missing
    assert "re-export it with the TFLite converter" in load_error(path)


def test_missing_model_is_an_error(tmp_path):
    message = load_error(tmp_path / "absent.keras")
    assert "not found" in message and ".tflite" in message


def test_unknown_model_format_is_an_error(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")
    message = load_error(path)
    assert "unknown format" in message and ".keras" in message


def test_folder_without_saved_model_pb_is_an_error(tmp_path):
    (tmp_path / "variables").mkdir()
    message = load_error(tmp_path)
    assert "not a SavedModel" in message and "saved_model.pb" in message


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_layer_is_refused_without_running_its_code(suffix, tmp_path):
    marker = tmp_path / "lambda-ran"
    # Built from source so the saved function refers to no closure: unsafe loading would run it.
    touch = eval(f"lambda z: (__import__('pathlib').Path({str(marker)!r}).touch(), z)[1]")
    inputs = keras.Input(SHAPE)
    x = keras.layers.Lambda(touch)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10)(x)
    path = tmp_path / f"lambda{suffix}"
    keras.Model(inputs, outputs).save(path)
    marker.unlink()  # building the model ran the lambda once

    message = load_error(path)
    assert "Lambda" in message and "\n" not in message
    assert not marker.exists()


def test_model_with_two_inputs_and_two_outputs_loads(tmp_path):
    a, b = keras.Input(SHAPE, name="left"), keras.Input((7,), name="side")
    x = keras.layers.GlobalAveragePooling2D()(a)
    x = keras.layers.Concatenate()([x, keras.layers.Dense(3)(b)])
    path = tmp_path / "two.keras"
    keras.Model([a, b], [keras.layers.Dense(10)(x), keras.layers.Dense(1)(x)]).save(path)
    source = load_user_model(path)
    shapes = [p.sample_shape for p in source.signature.inputs]
    assert shapes == [SHAPE, (7,)]
    assert [p.sample_shape for p in source.signature.outputs] == [(10,), (1,)]
    assert source.image_input is None and source.classes is None  # not one class-score output


def test_model_with_a_variable_input_size_is_an_error(tmp_path):
    path = tmp_path / "any_size.keras"
    tiny_cnn(shape=(None, None, 3)).save(path)
    message = load_error(path)
    assert "fixed sizes" in message and "None" in message


def test_model_of_any_output_loads_as_no_classifier(tmp_path):
    inputs = keras.Input(SHAPE)
    path = tmp_path / "features.keras"
    keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs)).save(path)
    source = load_user_model(path)
    assert source.classes is None and source.image_input == SHAPE
