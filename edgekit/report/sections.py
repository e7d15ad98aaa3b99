"""What the report says, as plain-text sections: headline facts, accuracy, ONNX, layers, stages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from edgekit.report._format import (
    _ARTIFACTS,
    _BENCHMARK,
    _MEMORY,
    _STAGES,
    _VALIDATION,
    DASH,
    Section,
    Table,
    _fmt,
    _number,
    _pct,
    _records_table,
    _shape,
    _size,
    _text,
)
from edgekit.report._select import (
    WORST_LAYERS,
    _confusion_matrices,
    _measured_layers,
    _median_sqnr,
    _worst,
)
from edgekit.report.firmware import (
    _benchmark_footnotes,
    _layer_instruction_sections,
    _mcu_artifacts,
    _memory_notes,
    _memory_record,
    _validation_records,
    kernel_sections,
)
from edgekit.report.npu import npu_sections
from edgekit.report.patches import patch_sections
from edgekit.report.plots import _confusion_svg, _sqnr_svg
from edgekit.report.speed import benchmark_speed_notes, deploy_sections
from edgekit.report.verdict import verdict_section

SKIPPED_LISTED = 20
_DISPLAY_NAMES = {"mobilenet_v2": "MobileNetV2"}
_GATE_WORDS = {"passed": "PASSED", "failed": "FAILED", "unchecked": "not checked"}


def _sections(report: dict) -> list[Section]:
    layers = (report.get("accuracy") or {}).get("layers") or []
    skipped = _skipped(report)
    return [
        verdict_section(report),
        Section("Accuracy: float vs int8", _accuracy_notes(report), _accuracy_table(report)),
        *_onnx_sections(report),
        Section(
            "Per-layer SQNR",
            _layer_notes(layers),
            _worst_layers_table(layers),
            plot=(lambda: _sqnr_svg(layers)) if _measured_layers(layers) else None,
            more=_layer_rows(enumerate(layers)) if layers else None,
        ),
        Section(
            "Confusion matrices",
            _confusion_notes(report),
            html_only=True,
            plot=(lambda: _confusion_svg(report)) if _confusion_matrices(report) else None,
        ),
        Section("Artifacts", [], _records_table(report.get("artifacts"), _ARTIFACTS)),
        Section(
            "Microcontroller memory",
            _memory_notes(report),
            _records_table([_memory_record(a) for a in _mcu_artifacts(report)], _MEMORY),
        ),
        Section("Stages", _stage_notes(report), _records_table(report.get("stages"), _STAGES)),
        Section("Validation", [], _records_table(_validation_records(report), _VALIDATION)),
        Section(
            "Benchmark",
            benchmark_speed_notes(report),
            _records_table(report.get("benchmark"), _BENCHMARK),
            footnotes=_benchmark_footnotes(report),
        ),
        *kernel_sections(report),
        *patch_sections(report),
        *npu_sections(report),
        *deploy_sections(report),
        *_layer_instruction_sections(report),
        Section(
            "Skipped data files",
            [f"{len(skipped)} data file(s) skipped:"] if skipped else [],
            items=_skipped_lines(skipped),
        ),
    ]


def title(report: dict) -> str:
    """'edgekit report: MobileNetV2 1.0@224, 10 classes on rpi4'."""
    model = report.get("model") or {}
    name = _DISPLAY_NAMES.get(model.get("name"), model.get("name") or "model")
    alpha, resolution = model.get("alpha"), model.get("resolution")
    shape = f"{float(alpha)}@{resolution}" if alpha is not None else f"@{resolution}"
    described = f"{name} {shape}" if resolution is not None else name
    if model.get("classes") is not None:
        described += f", {model['classes']} classes"
    return f"edgekit report: {described} on {report.get('target') or 'unknown target'}"


def gate_summary(report: dict) -> tuple[str, str]:
    """('passed' | 'failed' | 'unchecked', one sentence saying why)."""
    gate = report.get("gate") or {}
    max_drop, passed = gate.get("max_drop"), gate.get("passed")
    drop = (report.get("accuracy") or {}).get("top1_drop_points")
    limit = _fmt(max_drop, ".2f", " points")
    measured = f"the top-1 drop of {_fmt(drop, '.2f', ' points')}"
    if passed is True:
        return "passed", f"{measured} is within the limit of {limit}."
    if passed is False:
        if _number(drop) is None:
            return "failed", f"the gate failed; the limit is {limit}."
        return "failed", f"{measured} is over the limit of {limit}."
    if max_drop is None:
        return "unchecked", "no maximum top-1 drop was set."
    return "unchecked", f"the limit is {limit}, but the top-1 drop was not measured."


def _facts(report: dict) -> list[tuple[str, str]]:
    target = report.get("target_info") or {}
    model = report.get("model") or {}
    data = report.get("dataset") or {}
    board = ", ".join(str(target[k]) for k in ("board", "cpu", "family") if target.get(k))
    model_facts = (
        f"parameters {_fmt(model.get('params'), ',d')}; MACs {_fmt(model.get('macs'), ',d')}; "
        f"weights {_text(model.get('weights'))}; source {_text(model.get('source'))}"
    )
    calibration, evaluation = data.get("calibration_samples"), data.get("eval_samples")
    data_facts = (
        f"{_text(data.get('name'))}; calibration images {_fmt(calibration, 'd')}; "
        f"evaluation images {_fmt(evaluation, 'd')}"
    )
    return [
        ("Target", f"{report.get('target') or DASH}" + (f" ({board})" if board else "")),
        ("Model", model_facts),
        ("Data", data_facts),
        ("edgekit", _text(report.get("edgekit_version"))),
    ]


def _accuracy_notes(report: dict) -> list[str]:
    acc = report.get("accuracy") or {}
    if acc.get("float_top1") is not None:
        return []
    source = str((report.get("model") or {}).get("source") or "")
    why = (
        "the model was given as int8 .tflite"
        if source.lower().endswith(".tflite")
        else "the float model was not evaluated"
    )
    return [
        f"No float reference: {why}, so float accuracy, the top-1 drop, agreement and "
        "per-layer comparisons are not measured."
    ]


def _accuracy_table(report: dict) -> Table:
    acc = report.get("accuracy") or {}
    max_drop = (report.get("gate") or {}).get("max_drop")
    gate = f"Gate (max drop {_fmt(max_drop, '.2f', ' points')})" if max_drop is not None else "Gate"
    rows = [
        ("Top-1", _pct(acc.get("float_top1")), _pct(acc.get("int8_top1"))),
        ("Top-5", _pct(acc.get("float_top5")), _pct(acc.get("int8_top5"))),
        ("Top-1 drop", DASH, _fmt(acc.get("top1_drop_points"), ".2f", " points")),
        ("Top-1 agreement with float", DASH, _pct(acc.get("top1_agreement"))),
        ("Logits SQNR vs float", DASH, _fmt(acc.get("logits_sqnr_db"), ".1f", " dB")),
        ("Logits cosine vs float", DASH, _fmt(acc.get("logits_cosine"), ".5f")),
        (gate, DASH, _GATE_WORDS[gate_summary(report)[0]]),
    ]
    return Table(("", "float", "int8"), rows, numeric=(1, 2))


def _onnx_sections(report: dict) -> list[Section]:
    """ONNX Runtime's int8 models beside the TFLite one; nothing where no ONNX was built."""
    onnx = report.get("onnx")
    if not isinstance(onnx, dict):
        return []
    methods = [m for m in onnx.get("methods") or [] if isinstance(m, dict)]
    footnotes = [
        "Top-1 agreement: the TFLite int8 model against the Keras float model; each ONNX int8 "
        "model against the ONNX float model. Computes in: how the evaluation ran each model on "
        "this host: the ops on ONNX Runtime's integer kernels once it has optimized the graph, "
        "and those in float32 between a dequantize and a quantize (all of them where the "
        "host's integer kernels could saturate)."
    ]
    if any(m.get("calibration_capped") is True for m in methods):
        budget = onnx.get("histogram_budget_bytes")
        within = f"the {_size(budget)} histogram budget" if _number(budget) else "their budget"
        footnotes.append(
            "Capped: the histogram calibrators keep every intermediate tensor of every sample "
            f"in memory, so they got only the samples that fit in {within}."
        )
    return [
        Section(
            "ONNX Runtime int8",
            _onnx_notes(onnx),
            _onnx_table(report, onnx, methods),
            footnotes=footnotes,
        )
    ]


def _onnx_notes(onnx: dict) -> list[str]:
    runtime, host = onnx.get("runtime"), onnx.get("host")
    precision, opset = onnx.get("precision"), _number(onnx.get("opset"))
    ran = (
        f"Evaluated with {runtime}"
        if runtime
        else "Evaluated with ONNX Runtime (version not recorded)"
    )
    ran += f" on {host}" if host else " (host not recorded)"
    model = "; ".join(
        part
        for part in (
            str(precision) if precision else "",
            f"opset {opset:.0f}" if opset is not None else "",
        )
        if part
    )
    diff = _number(onnx.get("float_max_abs_diff_vs_keras"))
    check = (
        "The float ONNX export was not compared with the Keras model (max abs difference "
        "not measured)."
        if diff is None
        else "The float ONNX export's outputs differ from the Keras model's by at most "
        f"{_fmt(diff, '.2g')} (max abs difference)."
    )
    notes = [f"{ran}" + (f": {model}." if model else ".") + f" {check}"]
    path = onnx.get("host_int8_path")
    if isinstance(path, dict):
        features = path.get("cpu_features")
        read = (
            "not read"
            if not isinstance(features, list)
            else ", ".join(map(str, features)) or "none of those it looks for"
        )
        reason = f": {path['reason']}" if path.get("reason") else ""
        notes.append(
            f"Int8 path on this host: ONNX Runtime's integer kernels are "
            f"{_text(path.get('integer_kernels'))} (CPU features read: {read}); the models "
            f"ran {_text(path.get('runs_on'))}{reason}."
        )
    else:
        notes.append("The host's int8 path was not recorded.")
    reduced = onnx.get("reduce_range")
    notes[-1] += (
        " Weights keep all 8 bits (reduce_range off): the model is the one the board runs."
        if reduced is False
        else " Weights were quantized to 7 bits (reduce_range on)."
        if reduced is True
        else " Whether weights were range-reduced (reduce_range) was not recorded."
    )
    scored = [
        f"{_pct(m.get('host_integer_kernels_top1'))} ({_text(m.get('method'))})"
        for m in onnx.get("methods") or []
        if isinstance(m, dict) and _number(m.get("host_integer_kernels_top1")) is not None
    ]
    if scored:
        notes[-1] += f" On this host's integer kernels they scored top-1 {', '.join(scored)}."
    methods = [m for m in onnx.get("methods") or [] if isinstance(m, dict)]
    twins = [
        f"{m['method']} made the same model as {m['identical_to']}, byte for byte"
        for m in methods
        if m.get("identical_to")
    ]
    if twins:
        entropy = any(m.get("method") == "entropy" and m.get("identical_to") for m in methods)
        why = (
            " (ONNX Runtime's quantize_static runs its Entropy calibrator with 128 histogram bins "
            "and 128 quantized bins, so it tries only one threshold: the full range)"
        )
        notes.append("; ".join(twins) + (why if entropy else "") + ".")
    return notes


def _calibration_cell(samples: Any, capped: Any, offered: Any = None) -> str:
    count = _fmt(samples, "d", "", DASH)
    if capped is not True:
        return count
    of = f" of {_fmt(offered, 'd')}" if _number(offered) is not None else ""
    return f"{count}{of} (capped)"


def _onnx_table(report: dict, onnx: dict, methods: list[dict]) -> Table:
    acc = report.get("accuracy") or {}
    runtime = acc.get("int8_runtime")
    litert = next((a for a in report.get("artifacts") or [] if a.get("backend") == "tflite"), {})
    offered = onnx.get("calibration_samples")
    rows = [
        (
            f"TFLite int8 ({runtime})" if runtime else "TFLite int8",
            _pct(acc.get("int8_top1"), DASH),
            _pct(acc.get("int8_top5"), DASH),
            _pct(acc.get("top1_agreement"), DASH),
            _size(litert.get("bytes")),
            DASH,
            _fmt((report.get("dataset") or {}).get("calibration_samples"), "d", "", DASH),
        ),
        (
            "ONNX float32",
            _pct(onnx.get("float_top1"), DASH),
            _pct(onnx.get("float_top5"), DASH),
            DASH,
            _size(onnx.get("float_bytes")),
            "float32",
            DASH,
        ),
        *(
            (
                f"ONNX int8, {_text(m.get('method'))} calibration",
                _pct(m.get("top1"), DASH),
                _pct(m.get("top5"), DASH),
                _pct(m.get("top1_agreement_with_float"), DASH),
                _size(m.get("model_bytes")),
                _text(m.get("computes_in")),
                _calibration_cell(
                    m.get("calibration_samples"), m.get("calibration_capped"), offered
                ),
            )
            for m in methods
        ),
    ]
    headers = (
        "Model",
        "Top-1",
        "Top-5",
        "Top-1 agreement",
        "Size",
        "Computes in",
        "Calibration samples",
    )
    return Table(headers, rows, numeric=(1, 2, 3, 4, 6))


def _layer_notes(layers: list[dict]) -> list[str]:
    if not layers:
        return ["Per-layer SQNR: not measured."]
    measured = _measured_layers(layers)
    if not measured:
        return [f"{len(layers)} layers listed, but no SQNR was measured for any of them."]
    median = _median_sqnr(layers)
    return [
        f"SQNR of each layer's int8 output against the float model's, in dB (higher is "
        f"better); {len(measured)} layers, median {_fmt(median, '.1f', ' dB')}. "
        f"The {min(WORST_LAYERS, len(measured))} worst:"
    ]


def _layer_rows(items: Iterable[tuple[int, dict]]) -> Table:
    rows = [
        (
            str(i),
            _text(layer.get("name")),
            _text(layer.get("op")),
            _shape(layer.get("shape")),
            _fmt(layer.get("sqnr_db"), ".1f", " dB", DASH),
            _fmt(layer.get("cosine"), ".5f", "", DASH),
        )
        for i, layer in items
    ]
    return Table(("#", "Layer", "Op", "Shape", "SQNR", "Cosine"), rows, numeric=(0, 4, 5))


def _worst_layers_table(layers: list[dict]) -> Table | None:
    worst = _worst(layers)
    return _layer_rows((i, layer) for i, layer, _ in worst) if worst else None


def _confusion_notes(report: dict) -> list[str]:
    present = [kind for kind, _ in _confusion_matrices(report)]
    if not present:
        return ["Confusion matrices: not measured."]
    notes = ["Rows are true labels, columns predictions; the diagonal counts correct answers."]
    if "float" not in present:
        notes.append("Float: not measured (no float reference); int8 only.")
    return notes


def _stage_notes(report: dict) -> list[str]:
    seconds = [
        s
        for stage in report.get("stages") or []
        if (s := _number(stage.get("seconds"))) is not None
    ]
    return [f"Total {_fmt(sum(seconds), '.1f', ' s')}."] if seconds else []


def _skipped(report: dict) -> list[str]:
    return [str(line) for line in (report.get("dataset") or {}).get("skipped_files") or []]


def _skipped_lines(skipped: list[str]) -> list[str]:
    extra = len(skipped) - SKIPPED_LISTED
    return skipped[:SKIPPED_LISTED] + ([f"... and {extra} more"] if extra > 0 else [])
