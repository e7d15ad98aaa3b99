"""Data sets: the built-in digits, ImageFolder directories and ``.npz`` arrays.

Every loader returns a ``Dataset`` of uint8 RGB (or grey) images already resized to the model's
input, with integer labels. ``splits`` cuts it into deterministic, stratified, disjoint
train / calibration / evaluation parts, so a build is a pure function of its configuration.
"""

from __future__ import annotations

import tomllib
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class Recipe:
    """How a data set is cut into splits (see ``calibration/*.toml``)."""

    seed: int = 0
    train: float = 0.7
    calibration: float = 0.1
    evaluation: float = 0.2


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images (N, H, W, C) uint8 with labels (N,) and the class names they index."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    skipped: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(
            self.name, self.images[index], self.labels[index], self.class_names, self.skipped
        )


@dataclass(frozen=True, eq=False)
class Splits:
    train: Dataset
    calibration: Dataset
    evaluation: Dataset


def preprocess(images: np.ndarray) -> np.ndarray:
    """MobileNetV2's input convention: uint8 pixels to float32 in [-1, 1]."""
    return images.astype(np.float32) / 127.5 - 1.0


def load_recipe(name: str) -> Recipe:
    """The split recipe shipped for a data set, or the default one."""
    path = resources.files("edgekit.calibration") / f"{name}.toml"
    if not path.is_file():
        return Recipe()
    return Recipe(**tomllib.loads(path.read_text())["split"])


def load_dataset(spec: str, resolution: int, channels: int = 3) -> Dataset:
    """Load ``digits``, an ImageFolder directory, or an ``.npz`` file, resized to the model."""
    if channels not in (1, 3):
        raise EdgekitError(f"models with {channels} input channels are not supported; use 1 or 3")
    if spec == "digits":
        return _digits(resolution, channels)
    path = Path(spec)
    if path.suffix == ".npz":
        return _npz(path, resolution, channels)
    if path.is_dir():
        return _image_folder(path, resolution, channels)
    if not path.exists():
        raise EdgekitError(
            f"data '{spec}' not found; pass 'digits', an ImageFolder directory or an .npz file"
        )
    raise EdgekitError(
        f"data '{spec}' is neither a directory nor an .npz file; "
        "pass 'digits', an ImageFolder directory or an .npz file"
    )


def load_splits(spec: str, shape: tuple[int, ...]) -> Splits:
    """The data for a build, at the input size (height, width, channels) of the model it feeds."""
    if shape[0] != shape[1]:
        raise EdgekitError(
            f"the model takes {shape[0]}x{shape[1]} images; only square inputs are supported"
        )
    return splits(load_dataset(spec, shape[0], shape[2]))


def splits(dataset: Dataset, recipe: Recipe | None = None) -> Splits:
    """Stratified train / calibration / evaluation splits, the same on every run."""
    recipe = recipe or load_recipe(dataset.name)
    rng = np.random.default_rng(recipe.seed)
    parts: list[list[int]] = [[], [], []]
    total = recipe.train + recipe.calibration + recipe.evaluation
    for label in np.unique(dataset.labels):
        index = rng.permutation(np.flatnonzero(dataset.labels == label))
        n_cal = int(round(len(index) * recipe.calibration / total))
        n_eval = int(round(len(index) * recipe.evaluation / total))
        parts[1] += index[:n_cal].tolist()
        parts[2] += index[n_cal : n_cal + n_eval].tolist()
        parts[0] += index[n_cal + n_eval :].tolist()
    train, cal, evaluation = (np.sort(np.array(p, dtype=np.int64)) for p in parts)
    if len(cal) == 0 or len(evaluation) == 0:
        raise EdgekitError(
            f"data set '{dataset.name}' has {len(dataset)} images: too few for calibration and "
            "evaluation splits; provide at least a few images per class"
        )
    return Splits(dataset.subset(train), dataset.subset(cal), dataset.subset(evaluation))


def _resize(image: np.ndarray, resolution: int, channels: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(image)
    img = img.convert("RGB" if channels == 3 else "L")
    if img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), Image.Resampling.BILINEAR)
    out = np.asarray(img, dtype=np.uint8)
    return out if out.ndim == 3 else out[..., None]


def _stack(images, resolution: int, channels: int) -> np.ndarray:
    return np.stack([_resize(img, resolution, channels) for img in images])


def _digits(resolution: int, channels: int) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.clip(digits.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    return Dataset(
        "digits",
        _stack(pixels, resolution, channels),
        digits.target.astype(np.int64),
        tuple(str(c) for c in range(10)),
    )


def _image_folder(root: Path, resolution: int, channels: int) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise EdgekitError(
            f"ImageFolder '{root}' has no class subfolders; put each class's images in "
            "a subfolder named after the class"
        )
    images, labels, skipped = [], [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name).rglob("*")):
            if not path.is_file():
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(f"{path}: not a .jpg/.png/.bmp file")
                continue
            try:
                with Image.open(path) as img:
                    images.append(_resize(np.asarray(img.convert("RGB")), resolution, channels))
            except (UnidentifiedImageError, OSError) as exc:
                skipped.append(f"{path}: unreadable image ({exc})")
                continue
            labels.append(label)
    if not images:
        raise EdgekitError(
            f"ImageFolder '{root}' has no readable .jpg/.png/.bmp images in its class folders"
        )
    return Dataset(
        root.name,
        np.stack(images),
        np.array(labels, dtype=np.int64),
        tuple(classes),
        tuple(skipped),
    )


def _npz(path: Path, resolution: int, channels: int) -> Dataset:
    if not path.is_file():
        raise EdgekitError(f"data '{path}' not found; pass an existing .npz file")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            keys = set(arrays.files)
            x_key = next((k for k in ("images", "x") if k in keys), None)
            y_key = next((k for k in ("labels", "y") if k in keys), None)
            if x_key is None or y_key is None:
                raise EdgekitError(
                    f"'{path}' needs arrays 'images' (N,H,W[,C] uint8) and 'labels' (N,); "
                    f"it has {sorted(keys)}"
                )
            images, labels = arrays[x_key], arrays[y_key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EdgekitError(
            f"cannot read '{path}' as .npz ({exc}); pass a numpy .npz file"
        ) from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) != len(labels):
        raise EdgekitError(
            f"'{path}': images must be uint8 (N,H,W[,C]) with one label each; got "
            f"{images.dtype} {images.shape} and {len(labels)} labels"
        )
    if len(images) == 0:
        raise EdgekitError(f"'{path}' holds no images; pass an .npz with images of every class")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise EdgekitError(
            f"'{path}': labels must be non-negative integers, one per image; got "
            f"{labels.dtype} {labels.shape}"
        )
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    labels = labels.astype(np.int64)
    names = tuple(str(c) for c in range(int(labels.max()) + 1))
    return Dataset(path.stem, _stack(images, resolution, channels), labels, names)
