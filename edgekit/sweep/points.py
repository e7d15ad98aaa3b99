"""A sweep's points: which builds it is made of, how one is built, and its row in the table.

A point is one MobileNetV2 width and resolution for the sweep's target. Its weights come from
the nearest checkpoint (same width and classes, the closest resolution, one trained on the same
data set first): used as is when it is the point's own model, fine-tuned from otherwise, and
trained from scratch when there is none. Then the build driver (``edgekit.pipeline.build``)
builds it as it builds anything else. A point is a pure function of its ``Point``, so it can
run in any process on any machine; ``run_point`` never raises: an error is the point's row.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import chdir, contextmanager
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path

from edgekit import __version__
from edgekit.config import BuildConfig, ModelSpec, command_line
from edgekit.errors import EdgekitError, first_line
from edgekit.frontend.train import TrainRun

POINT_DIR = "point"  # inside a point's work folder: what becomes DIR/points/<name>
POINT_FILE = "point.json"  # the point's configuration and row, written last
ROW_FILE = "row.json"  # a finished run's row, beside POINT_DIR in the work folder
LOG_FILE = "point.log"  # everything the point's build printed
WEIGHTS = "weights.npz"  # the point's float weights (with a .json manifest beside them)

FINE_TUNE = (3, 5e-4)  # epochs, learning rate from a checkpoint of the same width
SCRATCH = (15, 2e-3)  # epochs, learning rate without one
_CHECKPOINT = re.compile(
    r"mobilenet_v2_(?P<alpha>[0-9.]+)_(?P<resolution>\d+)_c(?P<classes>\d+)_(?P<dataset>.+)\.npz"
)


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    alpha: float
    resolution: int
    classes: int
    dataset: str


@dataclass(frozen=True)
class Point:
    """One build of the sweep; every field is part of its configuration."""

    build: BuildConfig  # its model: the point's width and resolution, weights WEIGHTS
    init: str | None  # absolute path of the checkpoint its weights start from
    init_sha256: str | None
    train: TrainRun | None  # how its weights are trained; None: the checkpoint as is

    @property
    def alpha(self) -> float:
        return self.build.model.alpha

    @property
    def resolution(self) -> int:
        return self.build.model.resolution

    @property
    def name(self) -> str:
        return f"a{self.alpha:g}_r{self.resolution}"

    @property
    def weights_from(self) -> str:
        return "as is" if self.train is None else "fine-tuned" if self.init else "from scratch"

    def key(self) -> dict:
        """What makes two builds the same build: a finished folder with the same key is kept.
        The checkpoint counts by content, not by where it lies."""
        named = self.relocated(Path(self.init).name if self.init else None, None)
        return json.loads(json.dumps({"edgekit_version": __version__, **asdict(named)}))

    def relocated(self, init: str | None, data: str | None) -> Point:
        """This point with its checkpoint and data at other paths (None: where they are)."""
        init = init if init is not None else self.init
        data = data if data is not None else self.build.data
        train = self.train and replace(self.train, data=data, init=init)
        return replace(self, build=replace(self.build, data=data), init=init, train=train)


def shipped_checkpoints() -> Path:
    return Path(str(resources.files("edgekit.checkpoints")))


def find_checkpoints(folder: Path) -> list[Checkpoint]:
    """The checkpoints in ``folder`` named as ``edgekit train`` names them."""
    found = []
    for path in sorted(Path(folder).glob("*.npz")):
        match = _CHECKPOINT.fullmatch(path.name)
        if match:
            found.append(
                Checkpoint(
                    path.resolve(),
                    float(match["alpha"]),
                    int(match["resolution"]),
                    int(match["classes"]),
                    match["dataset"],
                )
            )
    return found


def nearest_checkpoint(
    checkpoints: list[Checkpoint], alpha: float, resolution: int, classes: int, dataset: str
) -> Checkpoint | None:
    """The checkpoint a model's weights start from: the same width and class count (so that
    the weights load), trained on the same data set if there is one, the closest resolution."""
    same = [c for c in checkpoints if c.alpha == alpha and c.classes == classes]
    return min(
        same, key=lambda c: (c.dataset != dataset, abs(c.resolution - resolution)), default=None
    )


def make_point(
    base: BuildConfig,
    alpha: float,
    resolution: int,
    *,
    dataset: tuple[str, int],
    checkpoints: list[Checkpoint],
    epochs: int | None,
) -> Point:
    """The point for one width and resolution of a sweep whose points share ``base``;
    ``dataset`` is the data's (name, classes)."""
    init = nearest_checkpoint(checkpoints, alpha, resolution, dataset[1], dataset[0])
    own = init is not None and init.resolution == resolution and init.dataset == dataset[0]
    default_epochs, rate = FINE_TUNE if init else SCRATCH
    model = ModelSpec(alpha=alpha, resolution=resolution)
    train = None
    if not own:
        train = TrainRun(
            target=base.target,
            data=base.data,
            model=model,
            init=str(init.path) if init else None,
            epochs=epochs or default_epochs,
            learning_rate=rate,
        )
    return Point(
        # force: measure a model that misses the board; the row says by how much
        build=replace(
            base,
            model=replace(model, weights=WEIGHTS),
            compile=replace(base.compile, force=True),
        ),
        init=str(init.path) if init else None,
        init_sha256=_sha256(init.path) if init else None,
        train=train,
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------- building one point


def run_point(point: Point, work: Path, threads: int) -> dict:
    """Build ``point`` into ``work/point`` with ``threads`` threads and return its row (also
    written to ``work/row.json``). Everything the build prints goes to ``point.log`` in the
    folder; an error, the user's or edgekit's own, is the row's reason, never raised."""
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    folder = work / POINT_DIR
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(threads)  # read when TensorFlow starts, in this fresh process
    start = time.perf_counter()
    # in work, so that the build records the weights as 'weights.npz', their name in the folder
    with _output_to(work / LOG_FILE), chdir(work):
        try:
            _weights(point)
            from edgekit.pipeline import build

            row = result_row(point, build(point.build, folder))
        except EdgekitError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            row = failed_row(point, str(exc))
        except Exception as exc:  # a bug in one point must not end the sweep: keep its trace
            traceback.print_exc()
            row = failed_row(point, f"internal error: {type(exc).__name__}: {first_line(exc)}")
    folder.mkdir(exist_ok=True)
    for name in (WEIGHTS, Path(WEIGHTS).with_suffix(".json").name, LOG_FILE):
        if (work / name).exists():
            os.replace(work / name, folder / name)
    row["seconds"] = round(time.perf_counter() - start, 1)
    (work / ROW_FILE).write_text(json.dumps(row, indent=2) + "\n")
    return row


def _weights(point: Point) -> None:
    """``weights.npz`` in the current folder: the checkpoint as is, or trained from it."""
    if point.init:
        _check_checkpoint(Path(point.init))
    if point.train is None:
        shutil.copyfile(point.init, WEIGHTS)
        manifest = Path(point.init).with_suffix(".json")
        if manifest.is_file():
            shutil.copyfile(manifest, Path(WEIGHTS).with_suffix(".json"))
        return
    import keras

    from edgekit.frontend.train import run_training
    from edgekit.progress import Log

    keras.utils.set_random_seed(0)  # the initial weights too: a point trains the same anywhere
    # the command that trains the same weights, with the checkpoint named as the sweep names it
    shown = replace(point.train, init=Path(point.init).name if point.init else None)
    command = command_line("train", shown)
    with Log().stage("train") as detail:
        run_training(point.train, Path(WEIGHTS), command=command, quiet=True)
        detail.append(command)


def _check_checkpoint(path: Path) -> None:
    """Fail before TensorFlow starts on a checkpoint that is not an ``.npz`` of arrays."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as arrays:
            arrays.files  # noqa: B018 (reads the archive's index)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise EdgekitError(
            f"cannot read checkpoint '{path.name}' ({first_line(exc)}); pass a checkpoint "
            "folder holding checkpoints written by 'edgekit train'"
        ) from None


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """This process's stdout and stderr (TensorFlow's C++ logs too) into ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


# ---------------------------------------------------------------- rows


def result_row(point: Point, report: dict) -> dict:
    """The point's row from its build's report.json: accuracy and the c artifact's figures."""

    def mine(key: str) -> dict:
        return next((r for r in report.get(key, []) if r.get("backend") == "c"), {})

    artifact, validation, bench = mine("artifacts"), mine("validation"), mine("benchmark")
    accuracy = report.get("accuracy") or {}
    fits = artifact.get("fits") or {}
    ram, flash = artifact.get("ram_bytes"), artifact.get("flash_bytes")
    failures = report.get("failures", [])
    reason = (
        f"backend {failures[0]['backend']} failed ({failures[0]['stage']}): {failures[0]['reason']}"
        if failures
        else None
    )
    return {
        **_identity(point),
        "status": "failed" if failures else "ok",
        "reason": reason,
        "macs": (report.get("model") or {}).get("macs"),
        "params": (report.get("model") or {}).get("params"),
        "float_top1": accuracy.get("float_top1"),
        "int8_top1": accuracy.get("int8_top1"),
        "instructions": bench.get("instructions"),
        "arena_bytes": artifact.get("arena_bytes"),
        "flash_bytes": flash,
        "ram_bytes": ram,
        "fits": {
            "ok": fits.get("ok"),
            "ram_over_bytes": _over(ram, fits.get("ram_budget")),
            "flash_over_bytes": _over(flash, fits.get("flash_budget")),
        },
        "bit_exact": validation.get("bit_exact"),
    }


def failed_row(point: Point, reason: str) -> dict:
    """The row of a point that has no build: every figure unmeasured."""
    return {
        **_identity(point),
        "status": "failed",
        "reason": reason,
        **dict.fromkeys(
            ("macs", "params", "float_top1", "int8_top1", "instructions", "arena_bytes")
        ),
        "flash_bytes": None,
        "ram_bytes": None,
        "fits": {"ok": None, "ram_over_bytes": None, "flash_over_bytes": None},
        "bit_exact": None,
    }


def _identity(point: Point) -> dict:
    return {
        "name": point.name,
        "alpha": point.alpha,
        "resolution": point.resolution,
        "weights": {
            "from": point.weights_from,
            "init": Path(point.init).name if point.init else None,
            "epochs": point.train.epochs if point.train else 0,
        },
    }


def _over(used: int | None, budget: int | None) -> int | None:
    """How many bytes past the budget (0 when within it); None when either is unknown."""
    return None if used is None or budget is None else max(0, used - budget)


# ---------------------------------------------------------------- the point's folder


def finished_row(folder: Path, point: Point) -> dict | None:
    """The row of ``folder`` when it holds this configuration's finished build, else None.
    A point that ended in an error has no build and is tried again."""
    try:
        record = json.loads((Path(folder) / POINT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if record.get("point") != point.key() or not (Path(folder) / "report.json").is_file():
        return None
    return {**record["row"], "reused": True}


def install(point: Point, row: dict, built: Path, folder: Path) -> None:
    """Make ``built`` the point's folder: its configuration and row go in last, then it
    replaces ``folder`` whole (an interrupted sweep leaves the old one or the new one).
    ``built`` must be on the file system of ``folder``, so that its files move by rename."""
    from edgekit.buildfolder import atomic_folder

    built.mkdir(parents=True, exist_ok=True)
    (built / POINT_FILE).write_text(json.dumps({"point": point.key(), "row": row}, indent=2) + "\n")
    with atomic_folder(folder) as tmp:
        for path in built.iterdir():
            os.replace(path, tmp / path.name)
