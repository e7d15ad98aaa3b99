"""The build: model -> quantize -> evaluate -> compile -> validate -> report.

``build`` is the short driver; each stage is a function with its own inputs and outputs, and the
stages are also the CLI's subcommands (``quantize``, ``report``, ``validate``). A build is a pure
function of its ``BuildConfig``; its outputs go into one folder, written under a temporary name
and renamed into place, so a failed build never leaves a half-written folder.

A backend that fails does not stop the build: its error is recorded, the other backends still
compile and run, the report is written, and the command exits 1 naming each failed backend.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edgekit import __version__
from edgekit.artifacts import Artifact, Backend
from edgekit.buildfolder import (
    BUILD_FILE,
    FLOAT_MODEL,
    FLOAT_TFLITE,
    INT8_MODEL,
    LOG_FILE,
    REPORT_FILE,
    atomic_folder,
    build_data,
    given_int8,
    load_artifacts,
    load_build,
    read_config,
)
from edgekit.config import BuildConfig, CompileOptions, ModelSpec, ValidateOptions
from edgekit.errors import CannotRun, CannotTake, EdgekitError, first_line
from edgekit.frontend.data import Dataset, Splits, preprocess
from edgekit.frontend.mobilenet import MobileNetConfig
from edgekit.frontend.modelio import (
    SourceModel,
    builtin_model,
    keras_signature,
    load_user_model,
)
from edgekit.platforms.targets import Target, load_target
from edgekit.progress import Log
from edgekit.quantization import Int8Model
from edgekit.signature import Port, Signature

__all__ = ["BuildConfig", "ModelSpec", "build", "quantize_only", "report_only", "validate_folder"]


# ---------------------------------------------------------------- model


def builtin_config(spec: ModelSpec, target: Target, classes: int) -> MobileNetConfig:
    return MobileNetConfig(
        alpha=spec.alpha or target.alpha,
        resolution=spec.resolution or target.resolution,
        classes=spec.classes or classes,
    )


def resolve_model(config: BuildConfig, target: Target, dataset: Dataset) -> SourceModel:
    """The built-in MobileNetV2: the target's default size, the data set's classes, and
    weights trained on the data set unless others are named."""
    spec = config.model
    weights = spec.weights or dataset.name
    samples = preprocess(dataset.images[:32]) if weights == "random" else None
    return builtin_model(
        builtin_config(spec, target, len(dataset.class_names)), weights, dataset.name, samples
    )


def builtin_shape(spec: ModelSpec, target: Target) -> tuple[int, int, int]:
    resolution = spec.resolution or target.resolution
    return (resolution, resolution, 3)


def model_stage(config: BuildConfig, target: Target, log: Log) -> tuple[SourceModel, Splits]:
    """The model to deploy and the data split at its input size."""
    source = None
    if config.model.path is not None:
        with log.stage("model") as detail:
            source = load_user_model(config.model.path)
            detail.append(f"{source.name} {describe(source)}, from {source.source}")
    with log.stage("data") as detail:
        if source is None:
            shapes = [builtin_shape(config.model, target)]
        else:
            shapes = [p.sample_shape for p in source.signature.inputs]
        data = build_data(config.data_spec, shapes, source.tflite if source else None)
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
    if data.train.labels is not None and source.classes is not None and classes > source.classes:
        raise EdgekitError(
            f"data '{config.data_spec}' has {classes} classes but the model outputs "
            f"{source.classes}; pass matching data, or no --data for generated inputs"
        )
    if source.float_model is not None and any(
        not np.issubdtype(x.dtype, np.floating) for x in data.train.inputs(1)
    ):
        raise EdgekitError(
            f"data '{config.data_spec}' holds integer arrays, but the Keras model takes floats; "
            "pass float arrays"
        )
    return source, data


def model_section(source: SourceModel, signature: Signature) -> dict:
    """report.json's "model": ``source``, with the ports of its int8 model (``signature``)."""
    from edgekit.frontend.mobilenet import count_macs, count_params

    model = source.float_model
    counted = model is not None and not wraps_saved_model(model)
    image = source.image_input
    first = signature.inputs[0].sample_shape if signature.inputs else ()
    return {
        "name": source.name,
        "alpha": source.config.alpha if source.config else None,
        "resolution": image[0] if image and image[0] == image[1] else None,
        "input_shape": list(first),
        "classes": source.classes,
        "inputs": [port_row(p) for p in signature.inputs],
        "outputs": [port_row(p) for p in signature.outputs],
        "params": count_params(model) if counted else None,
        "macs": count_macs(model) if counted else None,
        "weights": source.weights,
        "source": source.source,
    }


def port_row(port: Port) -> dict:
    q = port.quantization
    return {
        "name": port.name,
        "shape": list(port.sample_shape),
        "dtype": port.dtype,
        "scale": q.scale if q else None,
        "zero_point": q.zero_point if q else None,
    }


def wraps_saved_model(model) -> bool:
    """A user's SavedModel runs as one opaque layer: no per-layer view, no .keras copy."""
    return any(layer.__class__.__name__ == "TFSMLayer" for layer in model.layers)


# ---------------------------------------------------------------- quantize


def quantize_stage(
    config: BuildConfig, source: SourceModel, data: Splits, *, out: Path, log: Log, onnx: bool
) -> Int8Model:
    """The float model, the quantized TFLite model (``--precision``), with ``onnx`` ONNX
    Runtime's int8 models too, and ``build.json``, into ``out`` (which must exist)."""
    from edgekit.quantization.converter import check_int8, representative_samples

    if source.float_model is not None and not wraps_saved_model(source.float_model):
        source.float_model.save(out / FLOAT_MODEL)
    plan = reference = None
    if source.tflite is not None:
        computes = model_precision(source.tflite)
        if config.precision not in ("int8", computes):
            raise EdgekitError(
                f"--precision {config.precision} quantizes a float model; '{source.source}' is "
                f"already quantized ({computes}): leave --precision out, or pass the float model"
            )
        log.skip("quantize", "the model is already a quantized .tflite")
        tflite = source.tflite
    else:
        with log.stage("quantize") as detail:
            count = min(config.calibration_samples, len(data.calibration))
            samples = representative_samples(data.calibration, count)
            tflite, plan, reference = quantized(config, source, samples, data.evaluation)
            detail.append(f"{config.precision} .tflite, {len(tflite) / 1024:.0f} KiB")
            if plan is not None:
                detail.append(plan.summary())
    check_int8(tflite)
    (out / INT8_MODEL).write_bytes(tflite)
    if reference is not None:
        (out / FLOAT_TFLITE).write_bytes(reference)
    models = None
    if onnx:
        models = onnx_quantize_stage(config, source, data, out=out, log=log)
    model = model_section(source, Signature.of(tflite))
    model["precision"] = precision_section(config, tflite, plan)
    meta = {"config": asdict(config), "model": model}
    (out / BUILD_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return Int8Model(tflite, models, reference, plan)


def quantized(config: BuildConfig, source: SourceModel, samples, evaluation: Dataset):
    """(the quantized .tflite of a float model, the mixed plan where ``--precision mixed`` made
    one, the float .tflite that is the float reference where a Keras model is not). A Keras
    model goes through the TFLite converter where it can (int8, int16x8); recurrent models,
    mixed plans and float .tflite files go through a float .tflite to edgekit's recurrent
    quantizer or ai-edge-quantizer."""
    from edgekit.quantization import converter, recurrent

    precision, keras_model = config.precision, source.float_model
    stateful = keras_model is not None and converter.recurrent_layers(keras_model)
    if keras_model is not None and precision != "mixed" and not stateful:
        return converter.quantize(keras_model, samples, precision), None, None
    if stateful:
        float_tflite = recurrent.float_lstm_tflite(keras_model)
    else:
        float_tflite = source.float_tflite or converter.float_tflite(keras_model)
    reference = None if keras_model is not None and not stateful else float_tflite
    if recurrent.has_recurrent(float_tflite):
        if precision == "mixed":
            raise EdgekitError(
                "--precision mixed does not take recurrent models yet: use int8 or int16x8"
            )
        return recurrent.quantize_recurrent(float_tflite, list(samples), precision), None, reference
    if precision == "mixed":
        from edgekit.quantization.sensitivity import plan_mixed

        max_drop = 1.0 if config.max_drop is None else config.max_drop
        # judged on the evaluation split, where the report's top-1 and the --max-drop gate are
        # a Keras model gets integer I/O, as the converter's int8 and 16x8 models have
        plan = plan_mixed(
            float_tflite,
            list(samples),
            evaluation.labels,
            max_drop,
            list(evaluation.inputs()),
            float_io=keras_model is None,
        )
        return plan.model, plan, reference
    from edgekit.quantization.tflite_ptq import quantize_tflite

    return quantize_tflite(float_tflite, list(samples), precision), None, reference


def precisions_stage(
    plan, target: Target, options: CompileOptions, data: Splits, *, out: Path, log: Log
) -> None:
    """The int8, 16x8 and mixed models of a mixed plan each compiled by the c backend for
    ``target`` and, where it runs there, run on one evaluation input: their arena, flash and
    instructions go beside their accuracy in build.json's precision section."""
    import tempfile

    from edgekit.backends.c import CBackend
    from edgekit.validation.artifacts import input_rows

    models = {"int8": plan.int8_model, "int16x8": plan.int16x8_model, "mixed": plan.model}
    costs = {}
    with log.stage("precisions") as detail:
        for name, tflite in models.items():
            with tempfile.TemporaryDirectory(prefix="edgekit-precision-") as tmp:
                try:
                    artifact = CBackend().compile(Int8Model(tflite), target, Path(tmp), options)
                    run = CBackend().run(artifact, target, input_rows(tflite, data.evaluation, 1))
                except EdgekitError as exc:
                    log.fail(f"precisions ({name})", str(exc))
                    continue
            counts = run.instructions if run.native is False and run.instructions else None
            costs[name] = {
                "arena_bytes": artifact.details.get("arena_bytes"),
                "flash_bytes": artifact.flash_bytes,
                "instructions": counts[0] if counts else None,
            }
        detail.append(
            ", ".join(f"{n} {fmt_count(c['instructions'])} instructions" for n, c in costs.items())
        )
    meta = json.loads((out / BUILD_FILE).read_text())
    for row in meta["model"]["precision"]["mixed"]["precisions"]:
        row.update(costs.get(row["precision"], {}))
    (out / BUILD_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def fmt_count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def precision_section(config: BuildConfig, tflite: bytes, plan) -> dict:
    """report.json's "precision": what was asked, what the model computes in, and for a mixed
    plan the three precisions side by side and the layers kept in 16x8."""
    section = {"asked": config.precision, "computes": model_precision(tflite), "mixed": None}
    if plan is not None:
        section["mixed"] = mixed_section(plan)
    return section


def mixed_section(plan) -> dict:
    def score(name: str, s) -> dict:
        return {
            "precision": name,
            "top1": s.top1 / 100,
            "top1_drop_points": s.drop_points,
            "logits_sqnr_db": s.logits_sqnr_db,
            # measured by the c backend where the build has it (``precisions_stage``)
            "arena_bytes": None,
            "flash_bytes": None,
            "instructions": None,
        }

    return {
        "max_drop": plan.max_drop,
        "met": plan.met,
        "missed_by_points": plan.missed_by,
        "float_top1": plan.float_top1 / 100,
        "measured_on": "evaluation samples",
        "precisions": [
            score("int8", plan.int8),
            score("int16x8", plan.int16x8),
            score("mixed", plan.mixed),
        ],
        "sixteen_bit": [{"layer": loss.name, "reason": loss.reason()} for loss in plan.sixteen_bit],
        "layers": len(plan.layers),
    }


def onnx_quantize_stage(
    config: BuildConfig, source: SourceModel, data: Splits, *, out: Path, log: Log
):
    """ONNX Runtime's quantizer beside TFLite's: the float model exported to ONNX and quantized
    statically (QDQ, per-channel) with each calibration method; None where it cannot run."""
    if source.float_model is None or wraps_saved_model(source.float_model):
        log.skip("quantize onnx", "needs the float Keras model")
        return None
    if source.image_input is None:
        log.skip("quantize onnx", "edgekit's ONNX path takes models of one image input")
        return None
    from edgekit.quantization.onnx_ptq import quantize_methods, save_models

    try:
        with log.stage("quantize onnx") as detail:
            models = quantize_methods(
                source.float_model, data, config.calibration_samples, out, config.onnx_calibration
            )
            save_models(models)
            detail.append(", ".join(models.methods))
    except EdgekitError as exc:
        log.fail("quantize onnx", str(exc))
        return None
    return models


# ---------------------------------------------------------------- evaluate


@dataclass(frozen=True)
class Evaluation:
    """The evaluate stage's result: float against int8 on the evaluation split."""

    accuracy: dict  # report.json's "accuracy"
    onnx: dict | None  # report.json's "onnx": ONNX Runtime's int8 models, where made
    float_predictions: object  # the float model's top-1 class per evaluation input, or None
    classes: int | None = None  # a classifier's class count; None for other models


def evaluate_stage(source: SourceModel, model: Int8Model, data: Splits, log: Log) -> Evaluation:
    """Float (Keras) against int8 (LiteRT on the host) on the evaluation split, and ONNX
    Runtime's int8 models where the quantize stage made them."""
    from tqdm import tqdm

    from edgekit.validation.accuracy import accuracy_section, evaluate_int8
    from edgekit.validation.artifacts import classifier_classes

    evaluation = data.evaluation
    with log.stage("evaluate") as detail:
        with tqdm(
            total=len(evaluation), desc="evaluate", unit="sample", disable=None, leave=False
        ) as bar:
            result = evaluate_int8(
                float_reference(source, model), model.tflite, evaluation, progress=bar.update
            )
        classes = classifier_classes(source.classes, model.tflite, evaluation)
        accuracy = accuracy_section(result, classes, absent_accuracy(classes, evaluation))
        detail.append(summary(accuracy, model_precision(model.tflite)))
    onnx = None
    if model.onnx is not None and source.image_input is not None:
        from edgekit.validation.onnx import onnx_section

        with log.stage("evaluate onnx") as detail:
            onnx = onnx_section(model.onnx, evaluation)
            detail.append(
                ", ".join(f"{m['method']} top-1 {100 * m['top1']:.2f}%" for m in onnx["methods"])
            )
    floats = None
    if result.float_outputs is not None and classes is not None:
        floats = result.float_outputs[0].argmax(axis=1)
    return Evaluation(accuracy, onnx, floats, classes)


def float_reference(source: SourceModel, model: Int8Model):
    """What the quantized model is compared with: the float .tflite it was quantized from where
    that is the reference (run in LiteRT, float32 kernels), else the float Keras model; None
    for a quantized .tflite given alone."""
    if model.reference is not None:
        from edgekit.interpreter import FloatTflite

        return FloatTflite(model.reference)
    return source.float_model


def absent_accuracy(classes: int | None, data: Dataset) -> str | None:
    """Why the report has no top-1 accuracy; None when it has one."""
    if data.labels is None:
        return data.origin if data.name == "generated" else f"data '{data.name}' has no labels"
    if classes is None:
        return (
            "the model's output is not class scores (one output of K >= 2 values); each output "
            "is compared with the float model's instead"
        )
    return None


# ---------------------------------------------------------------- compile and validate


@dataclass
class Outcome:
    """One backend's way through compile and validate."""

    backend: str
    artifact: Artifact | None = None  # once compiled
    validation: dict | None = None
    benchmark: dict | None = None
    failures: list[dict] = field(default_factory=list)  # {"stage", "reason"}

    def fail(self, stage: str, exc: BaseException, out: Path, log: Log) -> None:
        """Record ``exc`` as this backend's failure in ``stage``: a user's mistake as its
        message, anything else as a bug in edgekit, its traceback appended to the build log.
        The other backends and the report go on either way."""
        if isinstance(exc, EdgekitError):
            reason = str(exc)
        else:
            with open(out / LOG_FILE, "a") as file:
                file.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {stage} {self.backend}\n")
                traceback.print_exception(exc, file=file)
            reason = (
                f"internal error in edgekit ({type(exc).__name__}: {first_line(exc)}); this is "
                f"a bug, its traceback is in {LOG_FILE}"
            )
        log.fail(f"{stage} {self.backend}", reason)
        self.failures.append({"stage": stage, "reason": reason})


def selected_backends(config: BuildConfig, target: Target, log: Log) -> dict[str, Backend]:
    """The backends this build compiles: the target's list and those the options ask for,
    that build for the target (the others are logged as skipped). The registry is the one list
    of backends: a target file naming another is an error."""
    from edgekit.backends import registry

    known = registry()
    unknown = [n for n in target.backends if n not in known]
    if unknown:
        raise EdgekitError(
            f"target '{target.name}' names backend '{unknown[0]}', which edgekit does not have; "
            f"fix its target file's 'backends' (known: {', '.join(known)})"
        )
    names = [*target.backends, *(n for n, b in known.items() if b.requested(config.compile))]
    chosen = {}
    for name in dict.fromkeys(names):
        backend = known[name]
        if not backend.supports(target):
            log.skip(f"backend {name}", f"does not build for {target.family} targets yet")
        else:
            chosen[name] = backend
    return chosen


def compile_stage(
    backends: dict[str, Backend],
    model: Int8Model,
    target: Target,
    *,
    options: CompileOptions,
    out: Path,
    log: Log,
) -> list[Outcome]:
    """Each backend compiled into ``out/<name>``, built aside and renamed into place, so a
    backend that fails leaves no folder; its error is recorded, not raised."""
    outcomes = []
    for name, backend in backends.items():
        outcome = Outcome(name)
        outcomes.append(outcome)
        final, work = out / name, out / f".{name}.tmp"
        try:
            with log.stage(f"compile {name}") as detail:
                artifact = backend.compile(model, target, work, options)
                artifact.save()
                os.replace(work, final)
                outcome.artifact = replace(artifact, path=final)
                detail.append(artifact_summary(outcome.artifact))
        except CannotTake as exc:  # not this backend's kind of model: skipped, not failed
            shutil.rmtree(work, ignore_errors=True)
            log.skip(f"compile {name}", str(exc))
        except Exception as exc:  # one backend's failure, whatever it is, is only its own
            shutil.rmtree(work, ignore_errors=True)
            outcome.fail("compile", exc, out, log)
    return outcomes


def validate_stage(
    outcomes: list[Outcome],
    backends: dict[str, Backend],
    tflite: bytes,
    *,
    target: Target,
    data: Dataset,
    count: int,
    out: Path,
    log: Log,
    float_predictions=None,
    layers: bool = False,
    classifier: bool = True,
) -> None:
    """Run each compiled artifact where it will run on the first ``count`` evaluation inputs
    and compare it with TFLite's reference kernels (``edgekit.validation.artifacts``); the
    rows go into each outcome. An artifact that cannot run here is skipped, not failed."""
    from edgekit.compiler.ir import macs, read_tflite
    from edgekit.validation.artifacts import validate

    total = macs(read_tflite(tflite))
    count = min(count, len(data))
    for outcome in outcomes:
        if outcome.artifact is None:
            continue
        name = outcome.backend
        try:
            with log.stage(f"validate {name}") as detail:
                row, bench = validate(
                    backends[name],
                    outcome.artifact,
                    target,
                    tflite=tflite,
                    data=data,
                    count=count,
                    layers=layers,
                    macs=total,
                    float_predictions=float_predictions,
                    classifier=classifier,
                )
                detail.append(
                    f"{row['runner']}: {row['inputs']} inputs, bit-exact "
                    f"{row['bit_exact']}, max abs diff {row['max_abs_diff']}"
                )
                if "layers_compared" in row:  # the backends that can dump every layer
                    detail.append(f"first differing layer: {row['first_differing_layer']}")
        except CannotRun as exc:  # built, kept and listed; only its run is not possible here
            log.skip(f"validate {name}", str(exc))
            continue
        except Exception as exc:  # one backend's failure, whatever it is, is only its own
            outcome.fail("validate", exc, out, log)
            continue
        outcome.validation, outcome.benchmark = row, bench
        if backends[name].bit_exact and not row["bit_exact"]:
            where = row.get("first_differing_layer")
            outcome.failures.append(
                {
                    "stage": "validate",
                    "reason": "differs from TFLite's reference kernels"
                    + (
                        f", first at layer {where}"
                        if where
                        else "; run 'edgekit validate --layers'"
                    ),
                }
            )


# ---------------------------------------------------------------- report


def report_stage(
    config: BuildConfig,
    target: Target,
    *,
    source: SourceModel,
    data: Splits,
    evaluation: Evaluation,
    outcomes: list[Outcome],
    out: Path,
    log: Log,
    earlier: list[dict] | tuple = (),
    float32: dict | None = None,
) -> dict:
    """report.json, report.md and report.html from what the stages returned; ``earlier``: stage
    records of a previous run that this one did not repeat (``edgekit report``); ``float32``:
    the float32 stage's section (``float32_stage``)."""
    from edgekit.report import write_reports

    accuracy = evaluation.accuracy
    passed = None
    if config.max_drop is not None and accuracy["top1_drop_points"] is not None:
        passed = accuracy["top1_drop_points"] <= config.max_drop
    report = {
        "edgekit_version": __version__,
        "target": target.name,
        "target_info": {"cpu": target.cpu, "board": target.board, "family": target.family},
        "model": read_config(out)[1],  # what the quantize stage recorded
        "dataset": {
            "name": data.train.name,
            "calibration_samples": (
                0
                if source.tflite is not None
                else min(config.calibration_samples, len(data.calibration))
            ),
            "eval_samples": len(data.evaluation),
            "origin": data.evaluation.origin,
            "class_names": list(data.evaluation.class_names),
            "skipped_files": list(data.train.skipped),
        },
        "accuracy": accuracy,
        "gate": {"max_drop": config.max_drop, "passed": passed},
        "stages": [
            *(s for s in earlier if s["name"] not in {t.name for t in log.stages}),
            *(asdict(s) for s in log.stages),
        ],
        "artifacts": model_rows(out),
        "validation": [o.validation for o in outcomes if o.validation is not None],
        "benchmark": [o.benchmark for o in outcomes if o.benchmark is not None],
        "failures": [{"backend": o.backend, **f} for o in outcomes for f in o.failures],
        "float32": float32,
    }
    if evaluation.onnx is not None:
        report["onnx"] = evaluation.onnx
        report["artifacts"] += onnx_rows(evaluation.onnx)
    report["artifacts"] += [
        artifact_row(o.artifact, target, out) for o in outcomes if o.artifact is not None
    ]
    write_reports(report, out)
    return report


def model_precision(tflite: bytes | Path) -> str:
    """The precision a quantized .tflite (its bytes or path) computes in: int8, int16x8 (int16
    activations, int8 weights) or mixed (both)."""
    from edgekit.compiler.ir import read_tflite

    graph = read_tflite(tflite)
    types = {graph.tensor(i).dtype for op in graph.ops for i in op.outputs} & {"int8", "int16"}
    return "mixed" if len(types) == 2 else "int16x8" if types == {"int16"} else "int8"


def model_rows(out_dir: Path) -> list[dict]:
    rows, quantized = [], out_dir / INT8_MODEL
    for name, backend, precision in (
        (FLOAT_MODEL, "keras", "float32"),
        (FLOAT_TFLITE, "tflite", "float32"),
        (INT8_MODEL, "tflite", model_precision(quantized) if quantized.is_file() else "int8"),
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


def onnx_rows(onnx: dict) -> list[dict]:
    """ONNX Runtime's int8 models, one artifact row per calibration method."""
    return [
        {
            "backend": "onnx",
            "path": m["path"],
            "precision": onnx["precision"],  # what the model is; how the host ran it is below
            "host_computes_in": m["computes_in"],
            "bytes": m["model_bytes"],
            "flash_bytes": None,
            "ram_bytes": None,
            "calibration": m["method"],
        }
        for m in onnx["methods"]
    ]


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
        "kernels": d.get("kernels"),  # the c backend's kernel variant per layer
        "kernel_code_bytes": d.get("kernel_code_bytes"),  # their machine code, part of flash
    }
    if "patches" in d:  # the c backend's patch plan (edgekit.compiler.patches)
        row["patches"] = d["patches"]
    if "tuning" in d:  # MetaSchedule's record, for a tuned tvm library
        row["tuning"] = d["tuning"]
    if "vela" in d:  # Vela's estimates, for an Ethos-U artifact (edgekit.report.npu)
        row["vela"] = d["vela"]
    if target.family in ("mcu", "npu"):
        row["fits"] = {
            "ram_budget": target.ram_bytes,
            "flash_budget": target.flash_bytes,
            "ok": target.fits(artifact.ram_bytes, artifact.flash_bytes),
        }
    return row


def artifact_summary(artifact) -> str:
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


# ---------------------------------------------------------------- drivers


def build(config: BuildConfig, out: Path, *, quiet: bool = False) -> dict:
    """``edgekit build``: every stage into ``out``, replaced atomically; the report dict.
    A failed backend is in ``report["failures"]``, not raised."""
    log = Log(quiet)
    target = load_target(config.target)
    if config.compile.tune_trials:
        from edgekit.backends.tvm_tune import check_tunable

        check_tunable(target, config.compile.tune_trials)  # before any stage runs
    backends = selected_backends(config, target, log)
    with atomic_folder(out) as tmp:
        source, data, model = prepare(config, target, backends, out=tmp, log=log)
        evaluation = evaluate_stage(source, model, data, log)
        outcomes = compile_stage(backends, model, target, options=config.compile, out=tmp, log=log)
        if model.mixed is not None and "c" in backends:
            precisions_stage(model.mixed, target, config.compile, data, out=tmp, log=log)
        validate_stage(
            outcomes,
            backends,
            model.tflite,
            target=target,
            data=data.evaluation,
            count=config.validate_inputs,
            out=tmp,
            log=log,
            float_predictions=evaluation.float_predictions,
            classifier=evaluation.classes is not None,
        )
        float32 = float32_stage(source, model, outcomes, target, data, config.compile, log)
        report = report_stage(
            config,
            target,
            source=source,
            data=data,
            evaluation=evaluation,
            outcomes=outcomes,
            out=tmp,
            log=log,
            float32=float32,
        )
    return report


def float32_stage(
    source: SourceModel,
    model: Int8Model,
    outcomes: list[Outcome],
    target: Target,
    data: Splits,
    options: CompileOptions,
    log: Log,
) -> dict | None:
    """int8 against float32 where the model runs (``edgekit.floatref``): report.json's
    "float32" section, or None for targets that are neither microcontrollers nor Linux."""
    from edgekit import floatref

    c = next((o for o in outcomes if o.backend == "c"), None)
    built = (c.artifact, c.benchmark) if c is not None else (None, None)
    with log.stage("float32") as detail:
        section = floatref.compare(source, model, target, data.evaluation, options, built)
        if section is not None:
            detail.append(floatref.summary(section))
    return section


def prepare(
    config: BuildConfig, target: Target, backends: dict[str, Backend], *, out: Path, log: Log
) -> tuple[SourceModel, Splits, Int8Model]:
    """The model and quantize stages into ``out`` (which must exist): the float and int8
    models, ONNX Runtime's where one of ``backends`` compiles it, and build.json."""
    onnx = any(b.needs == "onnx" for b in backends.values())
    source, data = model_stage(config, target, log)
    return source, data, quantize_stage(config, source, data, out=out, log=log, onnx=onnx)


def quantize_only(config: BuildConfig, out: Path, *, quiet: bool = False) -> None:
    """``edgekit quantize``: ``prepare`` into ``out``, replaced atomically."""
    target = load_target(config.target)
    backends = selected_backends(config, target, Log(True))
    with atomic_folder(out) as tmp:
        prepare(config, target, backends, out=tmp, log=Log(quiet))


def report_only(folder: Path, max_drop: float | None, *, quiet: bool = False) -> dict:
    """``edgekit report``: the evaluate and report stages again on a folder written by
    ``edgekit quantize`` (or ``build``); nothing is compiled."""
    from edgekit.quantization.onnx_ptq import load_models

    folder = Path(folder)
    try:
        config, model = read_config(folder)
        config = replace(config, max_drop=max_drop)
        tflite = (folder / INT8_MODEL).read_bytes()
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise EdgekitError(
            f"'{folder}' is not a complete quantize output folder ({exc}); run "
            "'edgekit quantize --out DIR' first"
        ) from None
    target = load_target(config.target)
    shapes = [tuple(p["shape"]) for p in model["inputs"]]
    data = build_data(config.data_spec, shapes, tflite if given_int8(config) else None)
    if (folder / FLOAT_MODEL).is_file():
        float_model = load_user_model(folder / FLOAT_MODEL).float_model
    elif config.model.path is not None and not given_int8(config):
        float_model = load_user_model(config.model.path).float_model
    else:
        float_model = None
    source = SourceModel(
        name=model["name"],
        float_model=float_model,
        tflite=tflite if given_int8(config) else None,
        signature=keras_signature(float_model) if float_model else Signature.of(tflite),
        source=model["source"],
        weights=model["weights"],
        config=(
            builtin_config(config.model, target, model["classes"])
            if config.model.path is None
            else None
        ),
    )
    log = Log(quiet)
    reference = folder / FLOAT_TFLITE
    reference = reference.read_bytes() if reference.is_file() else None
    model = Int8Model(tflite, load_models(folder), reference)
    evaluation = evaluate_stage(source, model, data, log)
    outcomes, earlier = recorded_outcomes(folder)
    try:  # the float32 stage's figures, which this command does not measure again
        float32 = json.loads((folder / REPORT_FILE).read_text()).get("float32")
    except (OSError, ValueError):
        float32 = None
    return report_stage(
        config,
        target,
        source=source,
        data=data,
        evaluation=evaluation,
        outcomes=outcomes,
        out=folder,
        log=log,
        earlier=earlier,
        float32=float32,
    )


def recorded_outcomes(folder: Path) -> tuple[list[Outcome], list[dict]]:
    """The artifacts a build folder holds, with the validation its report.json has for them,
    and that report's stage records (``edgekit report`` compiles and runs nothing)."""
    try:
        old = json.loads((folder / REPORT_FILE).read_text())
    except (OSError, ValueError):
        old = {}
    outcomes = []
    for artifact in load_artifacts(folder):
        name = artifact.backend

        def mine(key: str, name: str = name) -> list[dict]:
            return [r for r in old.get(key, []) if r.get("backend") == name]

        validation, benchmark = mine("validation"), mine("benchmark")
        outcomes.append(
            Outcome(
                name,
                artifact,
                validation[0] if validation else None,
                benchmark[0] if benchmark else None,
                [{k: v for k, v in f.items() if k != "backend"} for f in mine("failures")],
            )
        )
    return outcomes, list(old.get("stages", []))


def validate_folder(folder: Path, options: ValidateOptions, *, quiet: bool = False) -> dict:
    """``edgekit validate``: run a build's compiled artifacts again, on ``options.inputs``
    evaluation inputs (None: as many as the build ran; with ``options.layers``, every
    intermediate tensor of the first too); the report's
    validation and benchmark rows and its validation failures are replaced."""
    from edgekit.backends import registry

    build = load_build(folder)
    report, data = build.report, build.data
    log = Log(quiet)
    count = min(options.inputs or build.config.validate_inputs, len(data.evaluation))
    outcomes = [Outcome(a.backend, a) for a in build.artifacts()]
    expected = build.expected(count)
    validate_stage(
        outcomes,
        registry(),
        build.tflite,
        target=build.target,
        data=data.evaluation,
        count=count,
        out=build.folder,
        log=log,
        float_predictions=expected.get("float_predictions"),
        layers=options.layers,
        classifier=expected["classifier"],
    )
    for outcome in outcomes:
        name = outcome.backend
        for key, new in (("validation", outcome.validation), ("benchmark", outcome.benchmark)):
            report[key] = [r for r in report[key] if r["backend"] != name]
            if new is not None:
                report[key].append(new)
        report["failures"] = [
            f
            for f in report.get("failures", [])
            if not (f["backend"] == name and f["stage"] == "validate")
        ] + [{"backend": name, **f} for f in outcome.failures]
    report["stages"] = report.get("stages", []) + [asdict(s) for s in log.stages]
    build.write_report()
    return report


def describe(source: SourceModel) -> str:
    if source.config is not None:
        c = source.config
        return f"{c.alpha:g}@{c.resolution}, {c.classes} classes"
    ins = ", ".join(p.describe() for p in source.signature.inputs)
    outs = ", ".join(p.describe() for p in source.signature.outputs)
    return f"input {ins}; output {outs}"


def summary(acc: dict, precision: str = "int8") -> str:
    """The accuracy in one line; ``precision``: what the quantized model computes in."""

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    if acc["int8_top1"] is None and acc["outputs"]:
        return (
            "; ".join(
                f"{o['name']}: SQNR {o['sqnr_db']:.1f} dB"
                if o["sqnr_db"] is not None
                else o["name"]
                for o in acc["outputs"]
            )
            + f" ({precision} against float)"
        )
    if acc["int8_top1"] is None and acc["absent"]:
        return f"no accuracy: {acc['absent']}"
    line = f"{precision} top-1 {pct(acc['int8_top1'])}"
    if acc["float_top1"] is not None:
        line = (
            f"float top-1 {pct(acc['float_top1'])}, {line}, agreement "
            f"{pct(acc['top1_agreement'])}, logits SQNR {acc['logits_sqnr_db']:.1f} dB"
        )
    return line
