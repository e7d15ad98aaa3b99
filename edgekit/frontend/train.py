"""Training and fine-tuning of the float model on a data set's train split."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgekit.config import (
    Checked,
    ModelSpec,
    at_least,
    data_option,
    nested,
    option,
    target_option,
)
from edgekit.errors import EdgekitError, InternalError
from edgekit.frontend.data import Dataset, preprocess


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 2e-3
    seed: int = 0
    augment: bool = True


def train(model, data: Dataset, options: TrainOptions, verbose: int = 1) -> list[float]:
    """Fit ``model`` in place on ``data`` (Adam, cosine-decayed rate, light shift/zoom
    augmentation); returns the training accuracy after each epoch.

    Keras prints its progress bar when ``verbose`` is 1.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(options.seed)
    steps = int(np.ceil(len(data) / options.batch_size)) * options.epochs
    schedule = keras.optimizers.schedules.CosineDecay(options.learning_rate, max(steps, 1))
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=_ends_in_logits(model)),
        metrics=["accuracy"],
    )
    augment = keras.Sequential(
        [
            keras.layers.RandomTranslation(
                0.08, 0.08, fill_mode="constant", fill_value=-1.0, seed=options.seed
            ),
            keras.layers.RandomZoom(0.08, fill_mode="constant", fill_value=-1.0, seed=options.seed),
        ]
    )
    pipeline = (
        tf.data.Dataset.from_tensor_slices((data.images, data.labels))
        .shuffle(len(data), seed=options.seed, reshuffle_each_iteration=True)
        .batch(options.batch_size)
        .map(lambda x, y: (preprocess_tf(x), y))
    )
    if options.augment:
        pipeline = pipeline.map(lambda x, y: (augment(x, training=True), y))
    # Batch norm's default momentum (0.999) suits long ImageNet runs; over a few hundred steps
    # the moving statistics would stay near their initial values, so follow the batches faster.
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [bn.momentum for bn in norms]
    for bn in norms:
        bn.momentum = 0.9
    try:
        history = model.fit(
            pipeline.prefetch(2), epochs=options.epochs, verbose=verbose, shuffle=False
        )
    finally:
        for bn, momentum in zip(norms, saved):
            bn.momentum = momentum
    return [float(a) for a in history.history["accuracy"]]


def preprocess_tf(images):
    """``data.preprocess`` as a TensorFlow op for input pipelines."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 127.5 - 1.0


def predict(model, data: Dataset, batch_size: int = 64) -> np.ndarray:
    """Float model outputs for every image of ``data``."""
    outputs = [
        model(preprocess(data.images[i : i + batch_size]), training=False).numpy()
        for i in range(0, len(data), batch_size)
    ]
    return np.concatenate(outputs)


def _ends_in_logits(model) -> bool:
    import keras

    last = model.layers[-1]
    return (
        not isinstance(last, keras.layers.Softmax)
        and getattr(last, "activation", None) is not keras.activations.softmax
    )


@dataclass(frozen=True)
class TrainRun(Checked):
    """One ``edgekit train`` invocation. The model's alpha and resolution must be set before
    training (the command line takes the target's when they are not given)."""

    target: str = target_option()
    data: str = data_option()
    model: ModelSpec = nested(ModelSpec)  # alpha, resolution, classes (None: the data's)
    init: str | None = option(
        None,
        "start from these weights: a checkpoint .npz (any resolution of the same alpha and "
        "classes) or 'imagenet'",
        metavar="W",
    )
    epochs: int = option(15, "training epochs", metavar="N", check=at_least(1))
    batch_size: int = option(32, "images per training step", metavar="N", check=at_least(1))
    learning_rate: float = option(2e-3, "the optimizer's initial learning rate", metavar="LR")
    seed: int = option(0, "random seed (initial weights, data order)")


def run_training(run: TrainRun, out: Path | None, *, command: str, quiet: bool = False) -> Path:
    """Train the built-in MobileNetV2 and write its checkpoint and manifest (atomically).

    The manifest records the command, the training accuracy per epoch and the float top-1 of
    the stored (float16-compacted) weights on the evaluation split.
    """
    from edgekit import __version__
    from edgekit.frontend.data import load_dataset, splits
    from edgekit.frontend.mobilenet import MobileNetConfig, build_mobilenet_v2, imagenet_model
    from edgekit.frontend.modelio import checkpoint_stem, load_checkpoint, save_checkpoint

    spec = run.model
    if spec.alpha is None or spec.resolution is None:
        raise InternalError("run_training needs the model's alpha and resolution set")
    MobileNetConfig(alpha=spec.alpha, resolution=spec.resolution)  # fail fast
    data = splits(load_dataset(run.data, spec.resolution, 3))
    config = MobileNetConfig(
        spec.alpha, spec.resolution, spec.classes or len(data.train.class_names)
    )
    if run.init == "imagenet":
        model = imagenet_model(config)
    else:
        model = build_mobilenet_v2(config)
        if run.init:
            load_checkpoint(model, Path(run.init))
    start = time.perf_counter()
    history = train(
        model,
        data.train,
        TrainOptions(run.epochs, run.batch_size, run.learning_rate, run.seed),
        verbose=0 if quiet else 1,
    )
    seconds = time.perf_counter() - start
    out = out or Path(f"{checkpoint_stem(config, data.train.name)}.npz")
    if out.suffix != ".npz":
        raise EdgekitError(f"--out must name a .npz file, got '{out}'")
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}.npz")
    manifest = {
        "edgekit_version": __version__,
        "command": command,
        "model": {"name": "mobilenet_v2", **asdict(config)},
        "dataset": data.train.name,
        "train_samples": len(data.train),
        "init": run.init,
        "epochs": run.epochs,
        "seconds": round(seconds, 1),
        "train_accuracy": [round(a, 4) for a in history],
    }
    if run.init and Path(run.init).with_suffix(".json").is_file():
        manifest["init_manifest"] = json.loads(Path(run.init).with_suffix(".json").read_text())
    save_checkpoint(model, tmp, manifest)
    stored = build_mobilenet_v2(config)
    load_checkpoint(stored, tmp)
    outputs = predict(stored, data.evaluation)
    manifest["eval_samples"] = len(data.evaluation)
    manifest["eval_float_top1"] = round(
        float(np.mean(outputs.argmax(axis=1) == data.evaluation.labels)), 4
    )
    tmp.with_suffix(".json").write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, out)
    os.replace(tmp.with_suffix(".json"), out.with_suffix(".json"))
    return out
