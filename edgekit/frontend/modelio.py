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
from edgekit.frontend.data import is_image
from edgekit.frontend.mobilenet import MobileNetConfig
from edgekit.signature import Port, Signature

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
# float32 where the model quantizes and dequantizes itself; int32/int64 outputs from ARG_MAX
IO_TYPES = ("int8", "int16", "float32")
OUTPUT_TYPES = (*IO_TYPES, "int32", "int64")
TFLITE_MAGIC = b"TFL3"


@dataclass(frozen=True, eq=False, kw_only=True)
class SourceModel:
    """A model to deploy: a float Keras model, a quantized flatbuffer, or a float one.

    ``float_model`` is None for a ``.tflite`` given by the user. A quantized one (``tflite``)
    then has no float reference and the stages that need one are skipped; a float one
    (``float_tflite``) is quantized by edgekit and is the float reference. ``signature``: its
    inputs and outputs (a float model's are float32 and unquantized).
    """

    name: str
    float_model: object | None
    tflite: bytes | None
    signature: Signature
    source: str
    weights: str
    config: MobileNetConfig | None = None
    float_tflite: bytes | None = None

    @property
    def classes(self) -> int | None:
        """The class count of a classifier: one output of K >= 2 scores; None otherwise."""
        outputs = self.signature.outputs
        if len(outputs) == 1 and len(outputs[0].sample_shape) == 1:
            count = outputs[0].sample_shape[0]
            return count if count >= 2 else None
        return None

    @property
    def image_input(self) -> tuple[int, int, int] | None:
        """(H, W, C) of a model whose one input takes images; None otherwise."""
        inputs = self.signature.inputs
        if len(inputs) == 1 and is_image(inputs[0].sample_shape):
            return inputs[0].sample_shape
        return None


def keras_signature(model) -> Signature:
    """A Keras model's inputs and outputs, batch 1, float32: sizes other than the batch must
    be fixed."""

    def port(tensor, what: str) -> Port:
        shape = tuple(tensor.shape[1:])
        if None in shape:
            raise EdgekitError(
                f"{what} '{tensor.name}' has an unknown size {tuple(tensor.shape)}; build the "
                "model with fixed sizes, keras.Input((H, W, C))"
            )
        return Port(tensor.name, (1, *map(int, shape)), "float32", None)

    return Signature(
        tuple(port(t, "input") for t in model.inputs),
        tuple(port(t, "output") for t in model.outputs),
    )


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
        signature=keras_signature(model),
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
    return SourceModel(
        name=path.stem,
        float_model=model,
        tflite=None,
        signature=keras_signature(model),
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
    inputs = {name: keras.Input(tuple(spec.shape[1:]), name=name) for name, spec in specs.items()}
    outputs = layer(inputs if len(inputs) > 1 else next(iter(inputs.values())))
    if isinstance(outputs, dict):
        outputs = (
            [outputs[k] for k in sorted(outputs)] if len(outputs) > 1 else [*outputs.values()][0]
        )
    given = list(inputs.values()) if len(inputs) > 1 else next(iter(inputs.values()))
    return _from_keras(keras.Model(given, outputs, name=path.name), path)


def _tflite(path: Path) -> SourceModel:
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != TFLITE_MAGIC:
        raise EdgekitError(
            f"'{path}' is not a TFLite flatbuffer (corrupted or truncated?); "
            "re-export it with the TFLite converter"
        )
    from edgekit.interpreter import interpreter

    details = interpreter(data, allocate=False).get_tensor_details()
    signature = Signature.of(data)
    if not any(t["dtype"] in (np.int8, np.int16) and t["quantization"][0] for t in details):
        return _float_tflite(path, data, signature)
    for port in (*signature.inputs, *signature.outputs):
        if port.dtype not in (IO_TYPES if port in signature.inputs else OUTPUT_TYPES):
            raise EdgekitError(
                f"'{path}' has a {port.dtype} {'input' if port in signature.inputs else 'output'} "
                f"'{port.name}'; edgekit runs quantized models with int8, int16 or float32 "
                "inputs and outputs: pass the float model and let edgekit quantize it"
            )
    return SourceModel(
        name=path.stem,
        float_model=None,
        tflite=data,
        signature=signature,
        source=str(path),
        weights=str(path),
    )


def _float_tflite(path: Path, data: bytes, signature: Signature) -> SourceModel:
    """A float ``.tflite`` (an ai-edge-torch export, a model zoo's file): edgekit quantizes it
    with the build's data and precision, and it is the float reference."""
    for port in (*signature.inputs, *signature.outputs):
        if port.dtype != "float32":
            raise EdgekitError(
                f"'{path}' is a float model with a {port.dtype} port '{port.name}'; edgekit "
                "quantizes float .tflite files whose inputs and outputs are float32"
            )
    return SourceModel(
        name=path.stem,
        float_model=None,
        tflite=None,
        signature=signature,
        source=str(path),
        weights=str(path),
        float_tflite=data,
    )
