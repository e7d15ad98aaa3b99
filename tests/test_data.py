"""Data sets: the built-in digits, ImageFolder directories, .npz arrays, and their splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgekit.errors import EdgekitError
from edgekit.frontend.data import Dataset, Recipe, load_dataset, load_recipe, preprocess, splits

# Solid colours per class, so a test can tell from the pixels which folder an image came from.
COLOURS = {"circle": (255, 0, 0), "square": (0, 255, 0), "triangle": (0, 0, 255)}
# (suffix, PIL format, width, height): every accepted format, none at the target size.
IMAGE_FILES = (("png", "PNG", 20, 30), ("jpg", "JPEG", 50, 40), ("bmp", "BMP", 64, 64))


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", 96)


@pytest.fixture(scope="module")
def digit_splits(digits):
    return splits(digits)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """Three class folders in deliberately unsorted creation order, each with a .png, .jpg
    and .bmp of different sizes; plus a .txt note, a corrupt .png and a hidden folder."""
    root = tmp_path_factory.mktemp("data") / "shapes"
    root.mkdir()
    for name in ("triangle", "circle", "square"):
        folder = root / name
        folder.mkdir()
        for suffix, fmt, width, height in IMAGE_FILES:
            Image.new("RGB", (width, height), COLOURS[name]).save(folder / f"img.{suffix}", fmt)
    (root / "circle" / "notes.txt").write_text("not an image\n")
    (root / "square" / "broken.png").write_bytes(np.random.default_rng(0).bytes(300))
    hidden = root / ".cache"
    hidden.mkdir()
    Image.new("RGB", (8, 8)).save(hidden / "thumb.png")
    return root


def error(spec: str | Path, resolution: int = 16, channels: int = 3) -> str:
    with pytest.raises(EdgekitError) as info:
        load_dataset(str(spec), resolution, channels)
    return str(info.value)


def save_npz(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def grey_images(n: int, height: int = 10, width: int = 12) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, (n, height, width), dtype=np.uint8)


# ---------------------------------------------------------------- digits and preprocessing


def test_digits_are_resized_rgb_uint8_with_ten_named_classes(digits):
    assert digits.name == "digits"
    assert digits.images.shape == (1797, 96, 96, 3)
    assert digits.images.dtype == np.uint8
    assert len(digits) == 1797
    assert digits.class_names == tuple(str(c) for c in range(10))
    assert np.array_equal(np.unique(digits.labels), np.arange(10))
    # Grey digits repeated to 3 channels, using the full 0..255 range (scaled from 0..16).
    assert np.array_equal(digits.images[..., 0], digits.images[..., 2])
    assert digits.images.min() == 0 and digits.images.max() == 255


def test_preprocess_maps_uint8_pixels_onto_minus_one_to_one():
    out = preprocess(np.array([0, 127, 128, 255], dtype=np.uint8))
    assert out.dtype == np.float32
    assert out[0] == -1.0 and out[-1] == 1.0
    assert np.all(np.diff(out) > 0)
    assert abs(out[1]) < 0.01 and abs(out[2]) < 0.01


def test_preprocessed_digits_stay_within_minus_one_to_one(digits):
    out = preprocess(digits.images[:50])
    assert out.dtype == np.float32 and out.shape == (50, 96, 96, 3)
    assert out.min() == -1.0 and out.max() <= 1.0


# ---------------------------------------------------------------- splits


def parts_of(s):
    return (s.train, s.calibration, s.evaluation)


def test_digits_recipe_is_read_from_the_shipped_toml():
    assert load_recipe("digits") == Recipe(seed=0, train=0.7, calibration=0.1, evaluation=0.2)
    assert load_recipe("no-such-dataset") == Recipe()


def test_splits_are_the_same_on_every_call(digits, digit_splits):
    again = splits(digits)
    for first, second in zip(parts_of(digit_splits), parts_of(again)):
        assert np.array_equal(first.labels, second.labels)
        assert np.array_equal(first.images, second.images)


def test_splits_are_disjoint_and_cover_every_image(digits, digit_splits):
    # The same labels with each image replaced by its index show which images went where.
    tagged = splits(Dataset("digits", np.arange(len(digits)), digits.labels, digits.class_names))
    train, cal, evaluation = (set(part.images.tolist()) for part in parts_of(tagged))
    assert not train & cal and not train & evaluation and not cal & evaluation
    assert train | cal | evaluation == set(range(len(digits)))
    for real, index in zip(parts_of(digit_splits), parts_of(tagged)):
        assert np.array_equal(real.images, digits.images[index.images])
        assert np.array_equal(real.labels, digits.labels[index.images])


def test_every_class_is_in_every_split(digit_splits):
    for part in parts_of(digit_splits):
        assert np.array_equal(np.unique(part.labels), np.arange(10))
        assert part.class_names == tuple(str(c) for c in range(10))


def test_split_sizes_follow_the_recipe_fractions(digits, digit_splits):
    recipe = load_recipe("digits")
    for part, fraction in zip(
        parts_of(digit_splits), (recipe.train, recipe.calibration, recipe.evaluation)
    ):
        assert abs(len(part) / len(digits) - fraction) < 0.01


def test_a_custom_recipe_changes_the_split_sizes(digits, digit_splits):
    half = splits(digits, Recipe(seed=0, train=0.5, calibration=0.25, evaluation=0.25))
    for part, fraction in zip(parts_of(half), (0.5, 0.25, 0.25)):
        assert abs(len(part) / len(digits) - fraction) < 0.01
    reseeded = splits(digits, Recipe(seed=1))
    assert len(reseeded.evaluation) == len(digit_splits.evaluation)
    assert not np.array_equal(reseeded.evaluation.images, digit_splits.evaluation.images)


def test_too_few_images_for_the_splits_is_an_error(tmp_path):
    one_per_class = save_npz(tmp_path / "tiny.npz", images=grey_images(3), labels=np.arange(3))
    with pytest.raises(EdgekitError, match="too few") as info:
        splits(load_dataset(one_per_class, 16))
    assert "3 samples" in str(info.value) and "per class" in str(info.value)


# ---------------------------------------------------------------- ImageFolder


def test_image_folder_loads_every_format_resized_with_sorted_class_labels(image_folder):
    data = load_dataset(str(image_folder), 32)
    assert data.name == "shapes"
    assert data.class_names == ("circle", "square", "triangle")  # sorted; hidden folder ignored
    assert data.images.shape == (9, 32, 32, 3) and data.images.dtype == np.uint8
    assert np.array_equal(np.bincount(data.labels), [3, 3, 3])
    for image, label in zip(data.images, data.labels):
        expected = COLOURS[data.class_names[label]]
        assert np.abs(image.reshape(-1, 3).mean(axis=0) - expected).max() < 4  # jpeg tolerance


def test_image_folder_reports_the_files_it_skipped_and_why(image_folder):
    skipped = load_dataset(str(image_folder), 32).skipped
    assert len(skipped) == 2
    (note,) = [s for s in skipped if "notes.txt" in s]
    (broken,) = [s for s in skipped if "broken.png" in s]
    assert "not a .jpg/.png/.bmp" in note
    assert "unreadable" in broken


def test_image_folder_with_one_channel_gives_grey_images(image_folder):
    data = load_dataset(str(image_folder), 24, channels=1)
    assert data.images.shape == (9, 24, 24, 1)
    red = data.images[data.labels == data.class_names.index("circle")]
    assert np.abs(red.astype(int) - 76).max() <= 3  # ITU-R 601 luma of pure red


def test_image_folder_rejects_unsupported_channel_counts(image_folder):
    assert "channels" in error(image_folder, 16, channels=2)


def test_missing_image_folder_is_an_error(tmp_path):
    message = error(tmp_path / "nowhere")
    assert "not found" in message and "ImageFolder" in message


def test_folder_without_class_subfolders_is_an_error(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "loose.png")
    message = error(tmp_path)
    assert "no class subfolders" in message and "subfolder named after the class" in message


def test_class_folders_without_readable_images_is_an_error(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "readme.txt").write_text("no images here")
    (tmp_path / "b" / "fake.jpg").write_bytes(b"not a jpeg")
    message = error(tmp_path)
    assert "no readable" in message and ".jpg/.png/.bmp" in message


# ---------------------------------------------------------------- .npz arrays


def test_npz_rgb_images_are_loaded_and_resized(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 10, 12, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    data = load_dataset(save_npz(tmp_path / "colour.npz", images=rgb, labels=labels), 16)
    assert data.name == "colour"
    assert data.images.shape == (6, 16, 16, 3) and data.images.dtype == np.uint8
    assert np.array_equal(data.labels, labels) and data.labels.dtype == np.int64
    assert data.class_names == ("0", "1", "2")


def test_npz_accepts_x_and_y_keys(tmp_path):
    data = load_dataset(save_npz(tmp_path / "xy.npz", x=grey_images(4), y=[0, 1, 0, 1]), 16)
    assert data.images.shape == (4, 16, 16, 3)
    assert np.array_equal(data.labels, [0, 1, 0, 1])


def test_npz_grey_images_load_as_three_or_one_channels(tmp_path):
    path = save_npz(tmp_path / "grey.npz", images=grey_images(4), labels=[0, 1, 0, 1])
    rgb = load_dataset(path, 16)
    assert rgb.images.shape == (4, 16, 16, 3)
    assert np.array_equal(rgb.images[..., 0], rgb.images[..., 1])
    grey = load_dataset(path, 16, channels=1)
    assert grey.images.shape == (4, 16, 16, 1)
    assert np.array_equal(grey.images[..., 0], rgb.images[..., 0])


def test_npz_without_image_and_label_arrays_names_the_keys(tmp_path):
    message = error(save_npz(tmp_path / "keys.npz", pixels=grey_images(2), targets=[0, 1]))
    assert "'images'" in message and "'labels'" in message
    assert "pixels" in message and "targets" in message  # what the file has instead


def test_npz_float_images_are_an_error(tmp_path):
    images = grey_images(2).astype(np.float32) / 255
    message = error(save_npz(tmp_path / "float.npz", images=images, labels=[0, 1]))
    assert "uint8" in message and "float32" in message


def test_npz_with_more_images_than_labels_is_an_error(tmp_path):
    message = error(save_npz(tmp_path / "short.npz", images=grey_images(4), labels=[0, 1, 0]))
    assert "one label each" in message and "3 labels" in message


def test_corrupt_npz_is_an_error(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(1).bytes(500))
    message = error(path)
    assert "cannot read" in message and ".npz" in message


def test_truncated_npz_is_an_error(tmp_path):
    whole = tmp_path / "whole.npz"
    np.savez(whole, images=grey_images(4), labels=[0, 1, 0, 1])
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[:200])
    assert "cannot read" in error(cut)


def test_empty_npz_is_an_error(tmp_path):
    empty = np.zeros((0, 10, 12), dtype=np.uint8)
    error(save_npz(tmp_path / "empty.npz", images=empty, labels=np.zeros(0, dtype=np.int64)))


def test_missing_npz_is_an_error(tmp_path):
    message = error(tmp_path / "absent.npz")
    assert "not found" in message and ".npz" in message


def test_unsupported_data_file_is_an_error(tmp_path):
    table = tmp_path / "table.csv"
    table.write_text("pixel,label\n0,1\n")
    message = error(table)
    assert "neither a directory nor an .npz" in message and "'digits'" in message
