"""Where the float model comes from: the built-in builder with shipped or fetched weights,
or a user's own Keras model, SavedModel or already-quantized int8 ``.tflite``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError, first_line
from edgekit.frontend.mobilenet import MobileNetConfig

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
TFLITE_MAGIC = b"TFL3"


@dataclass(frozen=True, eq=False, kw_only=True)
class SourceModel:
    """A model to deploy: a float Keras model, an int8 flatbuffer, or both.

    ``float_model`` is None for an int8 ``.tflite`` given by the user: there is then no float
    reference and the stages that need one are skipped.
    """

    name: str
    float_model: object | None
    tflite: bytes | None
    input_shape: tuple[int, int, int]
    classes: int
    source: str
    weights: str
    config: MobileNetConfig | None = None


# ---------------------------------------------------------------- built-in weights


def checkpoint_stem(config: MobileNetConfig, dataset: str) -> str:
    return f"{config.tag}_{dataset}"


def shipped_checkpoint(config: MobileNetConfig, dataset: str = "digits") -> Path | None:
    """The trained weights shipped for ``config`` on ``dataset``, if there are any."""
    path = resources.files("edgekit.checkpoints") / f"{checkpoint_stem(config, dataset)}.npz"
    return Path(str(path)) if path.is_file() else None


def save_checkpoint(model, path: Path, manifest: dict) -> None:
    """Store a model's weights compactly: float16 where it represents them to 1e-3 relative
    error (else float32), in one compressed ``.npz``, with a JSON manifest beside it."""
    arrays = {}
    for i, weight in enumerate(model.weights):
        value = np.asarray(weight.numpy(), dtype=np.float32)
        with np.errstate(over="ignore"):
            half = value.astype(np.float16)
        close = np.all(np.isfinite(half)) and np.allclose(half, value, rtol=1e-3, atol=1e-6)
        arrays[f"{i:04d}"] = half if close else value
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    path.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")


def load_checkpoint(model, path: Path) -> None:
    """Load weights saved by ``save_checkpoint`` into a model of the same architecture."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            values = [arrays[f"{i:04d}"] for i in range(len(arrays.files))]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise EdgekitError(
            f"cannot read checkpoint '{path}' ({exc}); pass a checkpoint written by 'edgekit train'"
        ) from None
    if len(values) != len(model.weights) or any(
        v.shape != tuple(w.shape) for v, w in zip(values, model.weights)
    ):
        raise EdgekitError(
            f"checkpoint '{path}' does not match the model's architecture; "
            "check --alpha, --resolution and --classes"
        )
    for weight, value in zip(model.weights, values):
        weight.assign(value.astype(np.float32))


def builtin_model(
    config: MobileNetConfig,
    weights: str,
    dataset: str = "digits",
    conditioning_samples: np.ndarray | None = None,
) -> SourceModel:
    """The built-in MobileNetV2 with ``weights``: 'digits' (the shipped checkpoint), 'random'
    (fresh, with batch norm conditioned on samples so int8 stays meaningful), 'imagenet'
    (Keras's download) or the path of a checkpoint written by ``edgekit train``."""
    from edgekit.frontend.mobilenet import build_mobilenet_v2, condition_batchnorm, imagenet_model

    if weights == "imagenet":
        model = imagenet_model(config)
    else:
        model = build_mobilenet_v2(config)
        if weights == "random":
            if conditioning_samples is not None:
                condition_batchnorm(model, conditioning_samples)
        else:
            path = shipped_checkpoint(config, dataset) if weights == dataset else Path(weights)
            if path is None or not path.is_file():
                raise EdgekitError(
                    f"no trained weights for MobileNetV2 {config.alpha:g}@{config.resolution} "
                    f"with {config.classes} classes on '{dataset}'; train them with 'edgekit "
                    "train' or pass --weights random|imagenet|PATH"
                )
            load_checkpoint(model, path)
    return SourceModel(
        name="mobilenet_v2",
        float_model=model,
        tflite=None,
        input_shape=(config.resolution, config.resolution, 3),
        classes=config.classes,
        source="built-in",
        weights=weights,
        config=config,
    )


# ---------------------------------------------------------------- users' models


def load_user_model(path: str | Path) -> SourceModel:
    """A user's model: ``.keras`` / ``.h5`` (loaded in safe mode: no code from the file runs),
    a SavedModel folder, or an int8 ``.tflite``; the input size is read from the model."""
    path = Path(path)
    if not path.exists():
        raise EdgekitError(
            f"model '{path}' not found; pass a .keras, .h5, SavedModel folder or int8 .tflite path"
        )
    if path.is_dir():
        return _saved_model(path)
    if path.suffix.lower() == ".tflite":
        return _tflite(path)
    if path.suffix.lower() in KERAS_SUFFIXES:
        return _keras(path)
    raise EdgekitError(
        f"model '{path}' has an unknown format; pass a .keras, .h5, SavedModel "
        "folder or int8 .tflite file"
    )


def _keras(path: Path) -> SourceModel:
    import keras

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # keras raises many types for a bad file; one line for the user
        if "safe_mode" in str(exc):
            raise EdgekitError(
                f"model '{path}' contains Python code (a Lambda or custom layer), which edgekit "
                "will not run; replace it with built-in Keras layers"
            ) from None
        reason = first_line(exc)
        raise EdgekitError(
            f"cannot load Keras model '{path}' ({reason}); check that the file "
            "is a complete .keras/.h5 model saved by Keras"
        ) from None
    return _from_keras(model, path)


def _from_keras(model, path: Path) -> SourceModel:
    shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if shape is None or len(shape) != 3 or None in shape:
        raise EdgekitError(
            f"model '{path}' must take one image input of fixed size (H, W, C); "
            f"it takes {model.input_shape}"
        )
    out = model.output_shape
    if isinstance(out, list) or len(out) != 2:
        raise EdgekitError(
            f"model '{path}' must have one output of class scores (N, classes); it has {out}"
        )
    return SourceModel(
        name=path.stem,
        float_model=model,
        tflite=None,
        input_shape=tuple(int(d) for d in shape),
        classes=int(out[-1]),
        source=str(path),
        weights=str(path),
    )


def _saved_model(path: Path) -> SourceModel:
    import keras
    import tensorflow as tf

    if not (path / "saved_model.pb").is_file():
        raise EdgekitError(
            f"folder '{path}' is not a SavedModel (no saved_model.pb); pass a "
            "SavedModel folder or a model file"
        )
    try:
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    except Exception as exc:
        reason = first_line(exc)
        raise EdgekitError(
            f"cannot load SavedModel '{path}' ({reason}); export it with a "
            "'serving_default' signature"
        ) from None
    specs = signature.structured_input_signature[1]
    if len(specs) != 1:
        raise EdgekitError(f"SavedModel '{path}' must take one image input; it takes {len(specs)}")
    spec = next(iter(specs.values()))
    inputs = keras.Input(tuple(spec.shape[1:]), name="input")
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise EdgekitError(f"SavedModel '{path}' must have one output; it has {len(outputs)}")
        outputs = next(iter(outputs.values()))
    return _from_keras(keras.Model(inputs, outputs, name=path.name), path)


def _tflite(path: Path) -> SourceModel:
    from edgekit.interpreter import interpreter

    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != TFLITE_MAGIC:
        raise EdgekitError(
            f"'{path}' is not a TFLite flatbuffer (corrupted or truncated?); "
            "re-export it with the TFLite converter"
        )
    interp = interpreter(data)
    inputs, outputs = interp.get_input_details(), interp.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise EdgekitError(
            f"'{path}' must have one input and one output; it has {len(inputs)} and {len(outputs)}"
        )
    inp, out = inputs[0], outputs[0]
    if inp["dtype"] != np.int8 or out["dtype"] != np.int8:
        raise EdgekitError(
            f"'{path}' is not an int8 model (input {inp['dtype'].__name__}, "
            f"output {out['dtype'].__name__}); pass the float Keras model "
            "and let edgekit quantize it"
        )
    shape = tuple(int(d) for d in inp["shape"])
    if len(shape) != 4 or shape[0] != 1:
        raise EdgekitError(f"'{path}' must take one batch-1 image (1, H, W, C); it takes {shape}")
    return SourceModel(
        name=path.stem,
        float_model=None,
        tflite=data,
        input_shape=shape[1:],
        classes=int(out["shape"][-1]),
        source=str(path),
        weights=str(path),
    )
