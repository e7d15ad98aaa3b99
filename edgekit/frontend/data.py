"""Data sets: the built-in digits, ImageFolder directories, ``.npz`` arrays, generated inputs.

A ``Dataset`` holds either uint8 RGB (or grey) images already resized to the model's image input
(the built-in digits, an ImageFolder, an ``.npz`` of images), or one array per model input of
exactly its shape (an ``.npz`` of arrays, or seeded generated inputs for a model given without
data); labels are optional. ``splits`` cuts it into deterministic, disjoint train / calibration
/ evaluation parts (stratified by label where there are labels), so a build is a pure function
of its configuration.
"""

from __future__ import annotations

import tomllib
import zipfile
from collections.abc import Sequence
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
    """Samples, with labels (N,) indexing ``class_names`` where the data has them.

    ``images`` (N, H, W, C) uint8 for image data, which the model reads through ``preprocess``;
    otherwise ``arrays``, one (N, *sample shape) array per model input, of the type the data
    gave (float for a float model or one to quantize, int8 for an int8 input). ``origin`` says
    where the samples came from; for generated ones it is why there is no accuracy.
    """

    name: str
    images: np.ndarray | None
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    skipped: tuple[str, ...] = field(default=())
    arrays: tuple[np.ndarray, ...] | None = None
    origin: str = ""

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.arrays[0])

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(
            self.name,
            None if self.images is None else self.images[index],
            None if self.labels is None else self.labels[index],
            self.class_names,
            self.skipped,
            None if self.arrays is None else tuple(a[index] for a in self.arrays),
            self.origin,
        )

    def inputs(self, count: int | None = None) -> tuple[np.ndarray, ...]:
        """The first ``count`` samples (all by default) as the model's inputs: one array per
        input; images through ``preprocess``."""
        if self.images is not None:
            return (preprocess(self.images[:count]),)
        return tuple(a[:count] for a in self.arrays)


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


def load_dataset(spec: str, resolution: int | tuple[int, int], channels: int = 3) -> Dataset:
    """Load ``digits``, an ImageFolder directory, or an ``.npz`` of images, resized to the
    model's image input (``resolution``: a side, or (height, width))."""
    if np.ndim(resolution) == 0:
        resolution = (resolution, resolution)
    size = (int(resolution[0]), int(resolution[1]))
    if channels not in (1, 3):
        raise EdgekitError(f"models with {channels} input channels are not supported; use 1 or 3")
    if spec == "digits":
        return _digits(size, channels)
    path = Path(spec)
    if path.suffix == ".npz":
        return _npz(path, size, channels)
    if path.is_dir():
        return _image_folder(path, size, channels)
    if not path.exists():
        raise EdgekitError(
            f"data '{spec}' not found; pass 'digits', an ImageFolder directory or an .npz file"
        )
    raise EdgekitError(
        f"data '{spec}' is neither a directory nor an .npz file; "
        "pass 'digits', an ImageFolder directory or an .npz file"
    )


def is_image(shape: tuple[int, ...]) -> bool:
    """Whether an input of this sample shape can take images: (H, W, 1 or 3)."""
    return len(shape) == 3 and shape[2] in (1, 3) and min(shape) > 0


def load_samples(spec: str | None, shapes: Sequence[tuple[int, ...]], grids=None) -> Dataset:
    """The data for a model whose inputs have sample ``shapes``: images (``digits``, an
    ImageFolder, an ``.npz`` of images) for a model of one image input, an ``.npz`` of arrays
    of exactly the input shapes, or with ``spec`` None seeded generated inputs (``generated``,
    spread over ``grids``)."""
    shapes = [tuple(s) for s in shapes]
    if spec is None:
        return generated(shapes, grids)
    path = Path(spec)
    if spec != "digits" and not path.exists():
        raise EdgekitError(
            f"data '{spec}' not found; pass 'digits', an ImageFolder directory or an .npz file"
        )
    if path.suffix == ".npz" and path.is_file():
        arrays = _npz_arrays(path, shapes)
        if arrays is not None:
            return arrays
    if len(shapes) != 1 or not is_image(shapes[0]):
        raise EdgekitError(
            f"data '{spec}' holds images, but the model takes "
            f"{', '.join('x'.join(map(str, s)) for s in shapes)}; pass --data FILE.npz with an "
            "array of each input's shape (x, or x0, x1, ...; labels optional), or no --data for "
            "generated inputs"
        )
    h, w, c = shapes[0]
    return load_dataset(spec, (h, w), c)


GENERATED_SAMPLES = 160  # 112 train, 16 calibration, 32 evaluation with the default recipe
GENERATED = (
    "generated inputs (seeded, spread over each input's range): no labels, so no accuracy; "
    "pass --data for it"
)


def generated(shapes: Sequence[tuple[int, ...]], grids=None, count: int = GENERATED_SAMPLES):
    """Seeded inputs for a model given without data. An input with a quantization grid (an int8
    or int16 input, or a float input the model quantizes first) gets values spread uniformly
    over its integer range, as floats on that grid where the input is float; any other float
    input gets values uniform in [-1, 1]."""
    rng = np.random.default_rng(0)
    arrays = []
    for shape, grid in zip(shapes, grids or [None] * len(shapes)):
        if grid is None:
            arrays.append(rng.uniform(-1, 1, (count, *shape)).astype(np.float32))
            continue
        dtype, quant = grid
        limits = np.iinfo(quant.dtype)
        q = rng.integers(limits.min, limits.max + 1, (count, *shape)).astype(quant.dtype)
        arrays.append(q if dtype == quant.dtype else quant.dequantize(q))
    return Dataset("generated", None, None, (), arrays=tuple(arrays), origin=GENERATED)


def load_splits(spec: str | None, shapes: Sequence[tuple[int, ...]], grids=None) -> Splits:
    """The data for a build, split, for a model whose inputs have sample ``shapes``."""
    return splits(load_samples(spec, shapes, grids))


def splits(dataset: Dataset, recipe: Recipe | None = None) -> Splits:
    """Train / calibration / evaluation splits, the same on every run; stratified by label."""
    recipe = recipe or load_recipe(dataset.name)
    rng = np.random.default_rng(recipe.seed)
    parts: list[list[int]] = [[], [], []]
    total = recipe.train + recipe.calibration + recipe.evaluation
    labels = dataset.labels if dataset.labels is not None else np.zeros(len(dataset), np.int64)
    for label in np.unique(labels):
        index = rng.permutation(np.flatnonzero(labels == label))
        n_cal = int(round(len(index) * recipe.calibration / total))
        n_eval = int(round(len(index) * recipe.evaluation / total))
        parts[1] += index[:n_cal].tolist()
        parts[2] += index[n_cal : n_cal + n_eval].tolist()
        parts[0] += index[n_cal + n_eval :].tolist()
    train, cal, evaluation = (np.sort(np.array(p, dtype=np.int64)) for p in parts)
    if len(cal) == 0 or len(evaluation) == 0:
        raise EdgekitError(
            f"data set '{dataset.name}' has {len(dataset)} samples: too few for calibration and "
            "evaluation splits; provide at least a few samples per class"
        )
    return Splits(dataset.subset(train), dataset.subset(cal), dataset.subset(evaluation))


def _resize(image: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(image)
    img = img.convert("RGB" if channels == 3 else "L")
    if img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    out = np.asarray(img, dtype=np.uint8)
    return out if out.ndim == 3 else out[..., None]


def _stack(images, size: tuple[int, int], channels: int) -> np.ndarray:
    return np.stack([_resize(img, size, channels) for img in images])


def _digits(size: tuple[int, int], channels: int) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.clip(digits.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    return Dataset(
        "digits",
        _stack(pixels, size, channels),
        digits.target.astype(np.int64),
        tuple(str(c) for c in range(10)),
        origin="the built-in digits",
    )


def _image_folder(root: Path, size: tuple[int, int], channels: int) -> Dataset:
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
                    images.append(_resize(np.asarray(img.convert("RGB")), size, channels))
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
        origin=f"ImageFolder {root}",
    )


def _npz(path: Path, size: tuple[int, int], channels: int) -> Dataset:
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
    return Dataset(path.stem, _stack(images, size, channels), labels, names, origin=str(path))


def _npz_arrays(path: Path, shapes: list[tuple[int, ...]]) -> Dataset | None:
    """An ``.npz`` of one array per input, each of exactly that input's sample shape (keys x
    for one input, else x0, x1, ...), with optional labels; None when it holds images instead
    (an ``images`` array, or an ``x`` that is not of the input's shape)."""
    keys = ["x"] if len(shapes) == 1 else [f"x{k}" for k in range(len(shapes))]
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if "images" in arrays.files:
                return None
            if not all(k in arrays.files for k in keys):
                raise EdgekitError(
                    f"'{path}' needs an array {' and '.join(keys)} of the model's input "
                    f"shape{'s' if len(keys) > 1 else ''} (and optionally labels); it has "
                    f"{sorted(arrays.files)}"
                )
            xs = [arrays[k] for k in keys]
            y_key = next((k for k in ("labels", "y") if k in arrays.files), None)
            labels = arrays[y_key] if y_key else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EdgekitError(
            f"cannot read '{path}' as .npz ({exc}); pass a numpy .npz file"
        ) from None
    if len(shapes) == 1 and xs[0].shape[1:] != shapes[0] and labels is not None:
        return None  # images of another size, to resize
    for key, x, shape in zip(keys, xs, shapes):
        if x.shape[1:] != shape or not (
            np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)
        ):
            raise EdgekitError(
                f"'{path}': {key} must be numbers of shape (N, {', '.join(map(str, shape))}) "
                f"for the model's input; got {x.dtype} {x.shape}"
            )
    if len(xs[0]) == 0 or any(len(x) != len(xs[0]) for x in xs):
        raise EdgekitError(f"'{path}': the arrays must hold the same number of samples, N > 0")
    if labels is not None and (
        labels.shape != (len(xs[0]),)
        or not np.issubdtype(labels.dtype, np.integer)
        or labels.min() < 0
    ):
        raise EdgekitError(
            f"'{path}': labels must be non-negative integers, one per sample; got "
            f"{labels.dtype} {labels.shape}"
        )
    names = () if labels is None else tuple(str(c) for c in range(int(labels.max()) + 1))
    xs = [x.astype(np.float32) if np.issubdtype(x.dtype, np.floating) else x for x in xs]
    return Dataset(
        path.stem,
        None,
        None if labels is None else labels.astype(np.int64),
        names,
        arrays=tuple(xs),
        origin=str(path),
    )
