"""The build folder: where each stage's output lives, ``build.json``, writing a folder
atomically, and reading a finished build back (``edgekit report``, ``validate``, ``deploy``
and ``flash`` start from one)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgekit.artifacts import Artifact
from edgekit.config import BuildConfig
from edgekit.errors import EdgekitError, Terminated
from edgekit.frontend.data import Splits, load_splits
from edgekit.platforms.targets import Target, load_target

FLOAT_MODEL = "model_float.keras"
INT8_MODEL = "model_int8.tflite"
FLOAT_TFLITE = "model_float.tflite"  # the float reference, where it is a .tflite
BUILD_FILE = "build.json"
REPORT_FILE = "report.json"
LOG_FILE = "build.log"  # tracebacks of what failed inside edgekit (its bugs), per backend


@contextmanager
def atomic_folder(out: Path) -> Iterator[Path]:
    """A temporary sibling of ``out`` that replaces ``out`` only if the body succeeds; removed
    whatever ends the body (an exception, Ctrl-C, SIGTERM: see ``unwind_on_sigterm``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def unwind_on_sigterm() -> None:
    """SIGTERM (a job killed, a CI timeout) raises ``Terminated``, which unwinds like Ctrl-C, so
    that ``atomic_folder`` and every other cleanup runs; called once by the command line."""

    def terminate(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, terminate)


def read_config(folder: Path) -> tuple[BuildConfig, dict]:
    """The configuration and the model section recorded in ``folder/build.json``."""
    meta = json.loads((Path(folder) / BUILD_FILE).read_text())
    return BuildConfig.from_dict(meta["config"]), meta["model"]


def build_data(spec: str | None, shapes: list[tuple[int, ...]], tflite: bytes | None) -> Splits:
    """The data a build runs on, split: ``spec`` (``BuildConfig.data_spec``) for a model whose
    inputs have sample ``shapes``; without data, generated inputs spread over the input grids of
    ``tflite`` (a user's int8 model, which has no float model to calibrate) or over [-1, 1]."""
    grids = None
    if spec is None and tflite is not None:
        from edgekit.compiler.ir import input_grids, read_tflite

        grids = input_grids(read_tflite(tflite))
    return load_splits(spec, shapes, grids)


def load_artifacts(folder: Path) -> list[Artifact]:
    """The compiled artifacts of a build folder (folders with an ``artifact.json``), by name."""
    return [Artifact.load(p.parent) for p in sorted(Path(folder).glob("*/artifact.json"))]


@dataclass
class BuildFolder:
    """A finished build, read back: what ``edgekit validate``, ``deploy`` and ``flash`` start
    from. The target is loaded once, here."""

    folder: Path
    config: BuildConfig
    target: Target
    report: dict
    tflite: bytes
    data: Splits

    def artifacts(self) -> list[Artifact]:
        """The compiled artifacts, in name order; an error when there are none."""
        found = load_artifacts(self.folder)
        if not found:
            raise EdgekitError(
                f"'{self.folder}' holds no compiled artifacts; build for a target whose "
                "backends edgekit can compile (see 'edgekit targets')"
            )
        return found

    def float_model(self):
        """The build's float reference: a float .tflite where the model was quantized from
        one, else the float Keras model, or None when it has none (an int8 .tflite input)."""
        from edgekit.frontend.modelio import load_user_model

        if (self.folder / FLOAT_TFLITE).is_file():
            from edgekit.interpreter import FloatTflite

            return FloatTflite((self.folder / FLOAT_TFLITE).read_bytes())
        path = self.folder / FLOAT_MODEL
        return load_user_model(path).float_model if path.is_file() else None

    def expected(self, count: int) -> dict:
        """What a run of the first ``count`` evaluation inputs is compared with beside the
        reference (``validation.artifacts.compare_outputs``' keywords): a classifier's float
        predictions and labels, where the build has them."""
        from edgekit.validation.artifacts import classifier_classes, float_predictions

        evaluation = self.data.evaluation
        if classifier_classes(self.report["model"]["classes"], self.tflite, evaluation) is None:
            return {"classifier": False}
        labels = evaluation.labels
        return {
            "float_predictions": float_predictions(self.float_model(), evaluation, count),
            "labels": None if labels is None else labels[:count],
            "classifier": True,
        }

    def write_report(self) -> None:
        """``report`` (changed by a command that ran the build again) back into the folder."""
        from edgekit.report import write_reports

        write_reports(self.report, self.folder)


def load_build(folder: Path) -> BuildFolder:
    folder = Path(folder)
    try:
        config, model = read_config(folder)
        report = json.loads((folder / REPORT_FILE).read_text())
        tflite = (folder / INT8_MODEL).read_bytes()
        shapes = [tuple(p["shape"]) for p in model["inputs"]]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise EdgekitError(
            f"'{folder}' is not a build folder ({exc}); run 'edgekit build' first"
        ) from None
    target = load_target(config.target)
    data = build_data(config.data_spec, shapes, tflite if given_int8(config) else None)
    return BuildFolder(folder, config, target, report, tflite, data)


def given_int8(config: BuildConfig) -> bool:
    """Whether the build's model is a user's int8 ``.tflite`` (no float model)."""
    return config.model.path is not None and config.model.path.lower().endswith(".tflite")
