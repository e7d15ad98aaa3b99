"""The build: model -> quantize -> report, one stage after another, each checked.

Each stage is a function from artifact to artifact and is also a CLI subcommand. A build is a
pure function of its ``BuildConfig``; its outputs go into one folder, written under a temporary
name and renamed into place, so a failed build never leaves a half-written folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .data import Dataset, Splits, load_dataset, preprocess, splits
from .errors import CannotRun, EdgekitError
from .mobilenet import MobileNetConfig
from .modelio import SourceModel, builtin_model, load_user_model
from .targets import Target, load_target

FLOAT_MODEL = "model_float.keras"
# ONNX Runtime's static calibration methods (edgekit.onnx_int8.METHODS, kept here so that
# checking a configuration imports no ONNX code)
ONNX_METHODS = ("minmax", "entropy", "percentile")
INT8_MODEL = "model_int8.tflite"
BUILD_FILE = "build.json"


@dataclass(frozen=True)
class ModelSpec:
    """Which model to deploy: a user's file, or the built-in MobileNetV2.

    For the built-in model, unset fields take the target's defaults (alpha, resolution) and the
    data set's class count; ``weights`` defaults to the checkpoint trained on the data set.
    """

    path: str | None = None
    alpha: float | None = None
    resolution: int | None = None
    classes: int | None = None
    weights: str | None = None


@dataclass(frozen=True)
class BuildConfig:
    target: str
    model: ModelSpec = field(default_factory=ModelSpec)
    data: str = "digits"
    calibration_samples: int = 128
    max_drop: float | None = None
    validate_inputs: int = 20
    force: bool = False
    tune_trials: int = 0  # MetaSchedule candidates for the tvm backend; 0: TVM's defaults
    # ONNX Runtime calibration methods (the onnx stage makes one int8 model per method)
    onnx_calibration: tuple[str, ...] = ONNX_METHODS

    def __post_init__(self) -> None:
        for name in ("calibration_samples", "validate_inputs"):
            if getattr(self, name) < 1:
                option = "--" + name.replace("_", "-")
                raise EdgekitError(f"{option} must be at least 1, got {getattr(self, name)}")
        unknown = [m for m in self.onnx_calibration if m not in ONNX_METHODS]
        if unknown or not self.onnx_calibration:
            raise EdgekitError(
                f"--onnx-calibration takes a comma-separated list of {', '.join(ONNX_METHODS)}; "
                f"got '{','.join(self.onnx_calibration)}'"
            )
        object.__setattr__(self, "onnx_calibration", tuple(self.onnx_calibration))
        if self.tune_trials < 0:
            raise EdgekitError(f"--tune-trials must be 0 or more, got {self.tune_trials}")

    @staticmethod
    def from_dict(values: dict) -> BuildConfig:
        return BuildConfig(**{**values, "model": ModelSpec(**values["model"])})


@dataclass
class Stage:
    name: str
    status: str
    detail: str
    seconds: float


class Log:
    """Stage-by-stage progress on stderr; the stage records go into the report."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.stages: list[Stage] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[list[str]]:
        """Time a stage; the body appends its one-line outcome to the yielded list."""
        detail: list[str] = []
        start = time.perf_counter()
        self.say(f"{name}: ...")
        yield detail
        seconds = time.perf_counter() - start
        self.stages.append(Stage(name, "done", "; ".join(detail), round(seconds, 2)))
        self.say(f"{name}: {'; '.join(detail)} ({seconds:.1f} s)")

    def fail(self, name: str, why: str) -> None:
        self.stages.append(Stage(name, "failed", why, 0.0))
        self.say(f"{name}: failed, {why}")

    def skip(self, name: str, why: str) -> None:
        self.stages.append(Stage(name, "skipped", why, 0.0))
        self.say(f"{name}: skipped, {why}")

    def say(self, line: str) -> None:
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- stages


def builtin_config(spec: ModelSpec, target: Target, classes: int) -> MobileNetConfig:
    return MobileNetConfig(
        alpha=spec.alpha or target.alpha,
        resolution=spec.resolution or target.resolution,
        classes=spec.classes or classes,
    )


def resolve_model(config: BuildConfig, target: Target, dataset: Dataset) -> SourceModel:
    """The model stage for the built-in MobileNetV2: the target's default size, the data
    set's classes, and weights trained on the data set unless others are named."""
    spec = config.model
    weights = spec.weights or dataset.name
    samples = preprocess(dataset.images[:32]) if weights == "random" else None
    return builtin_model(
        builtin_config(spec, target, len(dataset.class_names)), weights, dataset.name, samples
    )


def load_data(spec: str, shape: tuple[int, int, int]) -> Splits:
    """The data for a build, at the input size of the model it will feed."""
    if shape[0] != shape[1]:
        raise EdgekitError(
            f"the model takes {shape[0]}x{shape[1]} images; only square inputs are supported"
        )
    return splits(load_dataset(spec, shape[0], shape[2]))


def builtin_shape(spec: ModelSpec, target: Target) -> tuple[int, int, int]:
    resolution = spec.resolution or target.resolution
    return (resolution, resolution, 3)


def quantize_model(source: SourceModel, calibration: Dataset, count: int) -> bytes:
    """The quantize stage: the int8 flatbuffer (the user's own one when given as .tflite)."""
    from .quantize import check_int8, quantize, representative_samples

    if source.tflite is not None:
        tflite = source.tflite
    else:
        tflite = quantize(
            source.float_model, representative_samples(calibration, min(count, len(calibration)))
        )
    check_int8(tflite)
    return tflite


def accuracy_report(
    config: BuildConfig,
    target: Target,
    source: SourceModel,
    tflite: bytes,
    data: Splits,
    log: Log,
    out_dir: Path,
) -> tuple[dict, object]:
    """The report stage: compare float and int8 on the evaluation split; the report dict and
    the float model's top-1 predictions (a numpy array; None without a float model)."""
    from tqdm import tqdm

    from .evaluate import accuracy_section, compare

    evaluation = data.evaluation
    with tqdm(total=len(evaluation), desc="evaluate", unit="img", disable=None, leave=False) as bar:
        result = compare(source.float_model, tflite, evaluation, progress=bar.update)
    accuracy = accuracy_section(result, source.classes)
    passed = None
    if config.max_drop is not None and accuracy["top1_drop_points"] is not None:
        passed = accuracy["top1_drop_points"] <= config.max_drop
    report = {
        "edgekit_version": __version__,
        "target": target.name,
        "target_info": {"cpu": target.cpu, "board": target.board, "family": target.family},
        "model": model_section(source),
        "dataset": {
            "name": data.train.name,
            "calibration_samples": (
                0
                if source.tflite is not None
                else min(config.calibration_samples, len(data.calibration))
            ),
            "eval_samples": len(evaluation),
            "class_names": list(evaluation.class_names),
            "skipped_files": list(data.train.skipped),
        },
        "accuracy": accuracy,
        "gate": {"max_drop": config.max_drop, "passed": passed},
        "stages": [asdict(s) for s in log.stages],
        "artifacts": artifacts_section(out_dir),
        "validation": [],
        "benchmark": [],
    }
    # the float model's top-1 class of each evaluation input: what artifacts are checked against
    floats = None if result.float_outputs is None else result.float_outputs.argmax(axis=1)
    return report, floats


def model_section(source: SourceModel) -> dict:
    from .mobilenet import count_macs, count_params

    model = source.float_model
    counted = model is not None and not wraps_saved_model(model)
    return {
        "name": source.name,
        "alpha": source.config.alpha if source.config else None,
        "resolution": source.input_shape[0],
        "input_shape": list(source.input_shape),
        "classes": source.classes,
        "params": count_params(model) if counted else None,
        "macs": count_macs(model) if counted else None,
        "weights": source.weights,
        "source": source.source,
    }


def wraps_saved_model(model) -> bool:
    """A user's SavedModel runs as one opaque layer: no per-layer view, no .keras copy."""
    return any(layer.__class__.__name__ == "TFSMLayer" for layer in model.layers)


def artifacts_section(out_dir: Path) -> list[dict]:
    rows = []
    for name, backend, precision in (
        (FLOAT_MODEL, "keras", "float32"),
        (INT8_MODEL, "tflite", "int8"),
    ):
        path = out_dir / name
        if path.exists():
            rows.append(
                {
                    "backend": backend,
                    "path": name,
                    "precision": precision,
                    "bytes": path.stat().st_size,
                    "flash_bytes": None,
                    "ram_bytes": None,
                }
            )
    return rows


# ---------------------------------------------------------------- drivers


@contextmanager
def atomic_folder(out: Path) -> Iterator[Path]:
    """A temporary sibling of ``out`` that replaces ``out`` only if the body succeeds."""
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


def quantize_stage(config: BuildConfig, out: Path, log: Log) -> tuple[SourceModel, Splits, bytes]:
    """Model and quantize stages into ``out`` (which must exist): the float model, the int8
    model and ``build.json``, from which ``edgekit report`` can rebuild the rest."""
    target = load_target(config.target)
    source = None
    if config.model.path is not None:
        with log.stage("model") as detail:
            source = load_user_model(config.model.path)
            detail.append(f"{source.name} {describe(source)}, from {source.source}")
    with log.stage("data") as detail:
        data = load_data(
            config.data, source.input_shape if source else builtin_shape(config.model, target)
        )
        detail.append(
            f"{data.train.name}: {len(data.train)} train, {len(data.calibration)} "
            f"calibration, {len(data.evaluation)} evaluation"
        )
        if data.train.skipped:
            detail.append(f"{len(data.train.skipped)} files skipped")
    if source is None:
        with log.stage("model") as detail:
            source = resolve_model(config, target, data.train)
            detail.append(f"{source.name} {describe(source)}, weights {source.weights}")
    classes = len(data.train.class_names)
    if classes > source.classes:
        raise EdgekitError(
            f"data '{config.data}' has {classes} classes but the model outputs "
            f"{source.classes}; pass matching data or model"
        )
    if source.float_model is not None and not wraps_saved_model(source.float_model):
        source.float_model.save(out / FLOAT_MODEL)
    if source.tflite is not None:
        log.skip("quantize", "the model is already an int8 .tflite")
        tflite = source.tflite
    else:
        with log.stage("quantize") as detail:
            tflite = quantize_model(source, data.calibration, config.calibration_samples)
            detail.append(f"int8 .tflite, {len(tflite) / 1024:.0f} KiB")
    (out / INT8_MODEL).write_bytes(tflite)
    meta = {"config": asdict(config), "model": model_section(source)}
    (out / BUILD_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return source, data, tflite


def report_stage(
    config: BuildConfig, source: SourceModel, data: Splits, tflite: bytes, out: Path, log: Log
) -> dict:
    from .report import write_reports

    target = load_target(config.target)
    with log.stage("report") as detail:
        report, floats = accuracy_report(config, target, source, tflite, data, log, out)
        acc = report["accuracy"]
        detail.append(summary(acc))
    if "onnx" in target.backends:
        onnx_stage(config, source, data, out, log, report)
    backend_stages(config, target, tflite, data, out, log, report, floats)
    report["stages"] = [asdict(s) for s in log.stages]
    write_reports(report, out)
    return report


@dataclass
class BuildFolder:
    """A finished build, read back: what ``edgekit validate`` and ``edgekit deploy`` start from."""

    folder: Path
    config: BuildConfig
    target: Target
    report: dict
    tflite: bytes
    data: Splits

    def artifacts(self) -> list:
        """The compiled artifacts (folders with an ``artifact.json``), in name order."""
        from .backends import Artifact

        found = [Artifact.load(p.parent) for p in sorted(self.folder.glob("*/artifact.json"))]
        if not found:
            raise EdgekitError(
                f"'{self.folder}' holds no compiled artifacts; build for a target whose "
                "backends edgekit can compile (see 'edgekit targets')"
            )
        return found

    def float_predictions(self, count: int):
        """The float model's top-1 class of the first ``count`` evaluation inputs (None when the
        build has no float model)."""
        from .validate import float_predictions

        path = self.folder / FLOAT_MODEL
        model = load_user_model(path).float_model if path.is_file() else None
        return float_predictions(model, self.data.evaluation, count)


def load_build(folder: Path) -> BuildFolder:
    folder = Path(folder)
    try:
        meta = json.loads((folder / BUILD_FILE).read_text())
        report = json.loads((folder / "report.json").read_text())
        tflite = (folder / INT8_MODEL).read_bytes()
        config = BuildConfig.from_dict(meta["config"])
        shape = tuple(meta["model"]["input_shape"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise EdgekitError(
            f"'{folder}' is not a build folder ({exc}); run 'edgekit build' first"
        ) from None
    target = load_target(config.target)
    return BuildFolder(folder, config, target, report, tflite, load_data(config.data, shape))


def validate_folder(folder: Path, inputs: int, layers: bool, quiet: bool = False) -> dict:
    """``edgekit validate``: run a build's compiled artifacts again, on ``inputs`` evaluation
    inputs (and with ``layers``, every intermediate tensor of the first); the report is
    updated with the new validation and benchmark rows."""
    from .backends import registry
    from .ir import macs, read_tflite
    from .report import write_reports
    from .validate import validate

    build = load_build(folder)
    report, tflite, target, data = build.report, build.tflite, build.target, build.data
    log = Log(quiet)
    backends = registry()
    count = min(inputs, len(data.evaluation))
    floats = build.float_predictions(count)
    for artifact in build.artifacts():
        try:
            with log.stage(f"validate {artifact.backend}") as detail:
                row, bench = validate(
                    backends[artifact.backend],
                    artifact,
                    target,
                    tflite,
                    data.evaluation,
                    count,
                    layers,
                    macs(read_tflite(tflite)),
                    floats,
                )
                detail.append(f"bit-exact {row['bit_exact']}, max abs diff {row['max_abs_diff']}")
                if "layers_compared" in row:  # the backends that can dump every layer
                    detail.append(f"first differing layer: {row['first_differing_layer']}")
        except CannotRun as exc:
            log.skip(f"validate {artifact.backend}", str(exc))
            continue
        for key, new in (("validation", row), ("benchmark", bench)):
            report[key] = [r for r in report[key] if r["backend"] != artifact.backend] + [new]
    write_reports(report, folder)
    return report


def onnx_stage(
    config: BuildConfig, source: SourceModel, data: Splits, out: Path, log: Log, report: dict
) -> None:
    """ONNX Runtime's int8 path beside TFLite's: the float model exported to ONNX, quantized
    statically (QDQ, per-channel) with each calibration method, evaluated on the same split."""
    if source.float_model is None or wraps_saved_model(source.float_model):
        log.skip("onnx", "needs the float Keras model")
        return
    from .onnx_int8 import onnx_section

    with log.stage("onnx") as detail:
        section = onnx_section(
            source.float_model, data, config.calibration_samples, out, config.onnx_calibration
        )
        detail.append(
            ", ".join(f"{m['method']} top-1 {100 * m['top1']:.2f}%" for m in section["methods"])
        )
    report["onnx"] = section
    for m in section["methods"]:
        report["artifacts"].append(
            {
                "backend": "onnx",
                "path": m["path"],
                "precision": m["computes_in"],
                "bytes": m["model_bytes"],
                "flash_bytes": None,
                "ram_bytes": None,
                "calibration": m["method"],
            }
        )


def backend_stages(
    config: BuildConfig,
    target: Target,
    tflite: bytes,
    data: Splits,
    out: Path,
    log: Log,
    report: dict,
    float_predictions=None,
) -> None:
    """Compile and validate each of the target's default backends that this edgekit has;
    ``float_predictions``: the float model's top-1 class of each evaluation input."""
    from .backends import registry
    from .ir import macs, read_tflite
    from .validate import validate

    backends = registry()
    # asking for tuning asks for the tvm backend, also where the target does not build it
    tuned = ("tvm",) if config.tune_trials else ()
    for name in dict.fromkeys((*target.backends, *tuned)):
        backend = backends.get(name)
        if name == "onnx" and "onnx" not in report:
            log.skip("backend onnx", "the onnx stage made no ONNX int8 model to run")
            continue
        if backend is None:
            log.skip(f"backend {name}", "not available in this edgekit version")
            continue
        if not backend.supports(target):
            log.skip(f"backend {name}", f"does not build for {target.family} targets yet")
            continue
        try:
            with log.stage(f"compile {name}") as detail:
                tuning = {"tune_trials": config.tune_trials} if tuned and name == "tvm" else {}
                artifact = backend.compile(tflite, target, out / name, force=config.force, **tuning)
                artifact.save()
                detail.append(artifact_summary(artifact, target))
            report["artifacts"].append(artifact_row(artifact, target, out))
            count = min(config.validate_inputs, len(data.evaluation))
            with log.stage(f"validate {name}") as detail:
                row, bench = validate(
                    backend,
                    artifact,
                    target,
                    tflite,
                    data.evaluation,
                    count,
                    macs=macs(read_tflite(tflite)),
                    float_predictions=float_predictions,
                )
                detail.append(
                    f"{row['runner']}: {row['inputs']} inputs, bit-exact "
                    f"{row['bit_exact']}, max abs diff {row['max_abs_diff']}"
                )
        except CannotRun as exc:  # built, kept and listed; only its run is not possible here
            log.skip(f"validate {name}", str(exc))
            continue
        except EdgekitError as exc:
            if name == "c":  # edgekit's own backend: its failures are the user's to fix
                raise
            # another backend's failure must not cost the artifacts the others made
            log.fail(f"backend {name}", str(exc))
            continue
        report["validation"].append(row)
        report["benchmark"].append(bench)


def artifact_row(artifact, target: Target, out: Path) -> dict:
    d = artifact.details
    row = {
        "backend": artifact.backend,
        "path": str(artifact.path.relative_to(out)),
        "precision": artifact.precision,
        "bytes": d.get("executable_bytes"),
        "flash_bytes": artifact.flash_bytes,
        "ram_bytes": artifact.ram_bytes,
        "arena_bytes": d.get("arena_bytes"),
        "arena_lower_bound": d.get("arena_lower_bound"),
        "peak_layer": d.get("peak_layer"),
    }
    if "tuning" in d:  # MetaSchedule's record, for a tuned tvm library
        row["tuning"] = d["tuning"]
    if target.family in ("mcu", "npu"):
        measured = artifact.ram_bytes is not None and artifact.flash_bytes is not None
        row["fits"] = {
            "ram_budget": target.ram_bytes,
            "flash_budget": target.flash_bytes,
            "ok": (
                artifact.ram_bytes <= target.ram_bytes
                and artifact.flash_bytes <= (target.flash_bytes or artifact.flash_bytes)
            )
            if measured
            else None,
        }
    return row


def artifact_summary(artifact, target: Target) -> str:
    d = artifact.details
    if "tuning" in d:
        t = d["tuning"]
        return (
            f"{artifact.path.name}/, tuned: {t['trials_valid']} of {t['tune_trials']} trials "
            f"timed, {t['tasks_tuned']} of {t['tasks']} tasks, {t['seconds']:.0f} s"
        )
    if "arena_bytes" not in d:
        return f"{artifact.path.name}/ ({artifact.precision})"
    text = (
        f"arena {d['arena_bytes']} B (lower bound {d['arena_lower_bound']} B, peak at "
        f"{d['peak_layer']})"
    )
    if artifact.flash_bytes is not None:
        text += f"; flash {artifact.flash_bytes} B, RAM {artifact.ram_bytes} B"
    return text


def build(config: BuildConfig, out: Path, quiet: bool = False) -> dict:
    """``edgekit build``: every stage into ``out``, replaced atomically; the report dict."""
    log = Log(quiet)
    if config.tune_trials:
        from .tvm_tune import check_tunable

        check_tunable(load_target(config.target), config.tune_trials)  # before any stage runs
    with atomic_folder(out) as tmp:
        source, data, tflite = quantize_stage(config, tmp, log)
        report = report_stage(config, source, data, tflite, tmp, log)
    return report


def quantize_only(config: BuildConfig, out: Path, quiet: bool = False) -> None:
    """``edgekit quantize``: the float and int8 models and build.json into ``out``."""
    log = Log(quiet)
    with atomic_folder(out) as tmp:
        quantize_stage(config, tmp, log)


def report_only(folder: Path, max_drop: float | None, quiet: bool = False) -> dict:
    """``edgekit report``: the accuracy report of a folder written by ``edgekit quantize``."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / BUILD_FILE).read_text())
        config = BuildConfig.from_dict({**meta["config"], "max_drop": max_drop})
        model = meta["model"]
        tflite = (folder / INT8_MODEL).read_bytes()
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise EdgekitError(
            f"'{folder}' is not a complete quantize output folder ({exc}); run "
            "'edgekit quantize --out DIR' first"
        ) from None
    target = load_target(config.target)
    data = load_data(config.data, tuple(model["input_shape"]))
    if (folder / FLOAT_MODEL).is_file():
        float_model = load_user_model(folder / FLOAT_MODEL).float_model
    elif config.model.path is not None:
        float_model = load_user_model(config.model.path).float_model
    else:
        float_model = None
    mconfig = (
        builtin_config(config.model, target, model["classes"])
        if config.model.path is None
        else None
    )
    source = SourceModel(
        model["name"],
        float_model,
        None,
        tuple(model["input_shape"]),
        model["classes"],
        model["source"],
        model["weights"],
        mconfig,
    )
    return report_stage(config, source, data, tflite, folder, Log(quiet))


def describe(source: SourceModel) -> str:
    if source.config is not None:
        c = source.config
        return f"{c.alpha:g}@{c.resolution}, {c.classes} classes"
    h, w, ch = source.input_shape
    return f"{h}x{w}x{ch} input, {source.classes} classes"


def summary(acc: dict) -> str:
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    line = f"int8 top-1 {pct(acc['int8_top1'])}"
    if acc["float_top1"] is not None:
        line = (
            f"float top-1 {pct(acc['float_top1'])}, {line}, agreement "
            f"{pct(acc['top1_agreement'])}, logits SQNR {acc['logits_sqnr_db']:.1f} dB"
        )
    return line
