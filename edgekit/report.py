"""The report stage: ``report.json`` for machines, ``report.md`` and ``report.html`` for people.

All three are rendered from the one report dict the pipeline builds (see "The report contract"
in the design). A figure that was not measured is ``None`` there and reads "not measured" (or
"—" inside tables) here, never 0. Text builders below produce plain text; each renderer escapes
it for its own format, so user data (layer names, paths, class names) is escaped in one place.
The HTML page is one self-contained file: inline CSS, plots as inline SVG, no external links.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MISSING = "not measured"
DASH = "—"
WORST_LAYERS = 10
COSTLIEST_LAYERS = 10
SKIPPED_LISTED = 20
CONFUSION_COUNTS_UP_TO = 20  # classes; beyond this the cells are too small for numbers
CONFUSION_TICKS_UP_TO = 40
_BAR_COLOR, _WORST_COLOR = "#7f9cbf", "#c0392b"
_DISPLAY_NAMES = {"mobilenet_v2": "MobileNetV2"}
_GATE_WORDS = {"passed": "PASSED", "failed": "FAILED", "unchecked": "not checked"}


@dataclass(frozen=True)
class Table:
    """Already formatted cells; ``numeric`` holds the indexes of right-aligned columns."""

    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    numeric: tuple[int, ...] = ()


@dataclass(frozen=True)
class Section:
    """One part of the report, in plain text; each renderer shows what its format can hold."""

    heading: str
    notes: list[str]
    table: Table | None = None
    items: list[str] = field(default_factory=list)
    plot: Callable[[], str] | None = None  # an inline <svg>, rendered only for HTML
    more: Table | None = None  # the full listing, HTML only (folded)
    html_only: bool = False
    footnotes: list[str] = field(default_factory=list)  # shown under the table


# ---------------------------------------------------------------------------- public API


def write_reports(report: dict, out_dir: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir``; return paths.

    All three are rendered before any is written, and each is written to a temporary file
    that replaces the old one only once complete, so a failure never leaves a half-written or
    mismatched report behind.
    """
    texts = {
        "report.json": render_json(report),
        "report.md": render_markdown(report),
        "report.html": render_html(report),
    }
    return [_write_atomically(Path(out_dir) / name, text) for name, text in texts.items()]


def render_json(report: dict) -> str:
    """The report dict as strict, indented JSON in its own key order.

    NaN and infinities have no JSON spelling and become null; numpy values become plain ones.
    """
    return json.dumps(_jsonable(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_markdown(report: dict) -> str:
    """A readable summary: headline accuracy, worst layers, artifacts, stages, checks."""
    status, sentence = gate_summary(report)
    lines = [f"# {_md(title(report))}", ""]
    lines += [f"- **{label}:** {_md(value)}" for label, value in _facts(report)]
    lines += ["", f"**Gate: {_GATE_WORDS[status]}** — {_md(sentence)}"]
    for section in _sections(report):
        if not section.html_only:
            lines += _md_section(section)
    lines += ["", f"{DASH} in a table means not measured. Plots are in report.html."]
    return "\n".join(lines) + "\n"


def render_html(report: dict) -> str:
    """One self-contained HTML page: the summary of ``render_markdown`` plus SVG plots."""
    status, sentence = gate_summary(report)
    facts = "".join(f"<li><b>{_h(k)}:</b> {_h(v)}</li>" for k, v in _facts(report))
    body = [
        f"<h1>{_h(title(report))}</h1>",
        f"<ul class='facts'>{facts}</ul>",
        f"<p class='gate {status}'><b>Gate: {_GATE_WORDS[status]}</b> — {_h(sentence)}</p>",
        *(_html_section(section) for section in _sections(report)),
        f"<p class='note'>{DASH} in a table means not measured.</p>",
    ]
    return _HTML_PAGE.format(title=_h(title(report)), style=_CSS, body="\n".join(body))


# ------------------------------------------------------------------- what the report says


def _sections(report: dict) -> list[Section]:
    layers = (report.get("accuracy") or {}).get("layers") or []
    skipped = _skipped(report)
    return [
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
            [],
            _records_table(report.get("benchmark"), _BENCHMARK),
            footnotes=_benchmark_footnotes(report),
        ),
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
        "model against the ONNX float model. Computes in: the ops ONNX Runtime runs on integer "
        "kernels once it has optimized the graph, and those it runs in float32 between a "
        "dequantize and a quantize."
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
    return [f"{ran}" + (f": {model}." if model else ".") + f" {check}"]


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


def _measured_layers(layers: list[dict]) -> list[tuple[int, dict, float]]:
    """(network position, layer, SQNR) for the layers whose SQNR was measured."""
    return [
        (i, layer, value)
        for i, layer in enumerate(layers)
        if (value := _number(layer.get("sqnr_db"))) is not None
    ]


def _median_sqnr(layers: list[dict]) -> float | None:
    finite = [v for _, _, v in _measured_layers(layers) if math.isfinite(v)]
    return statistics.median(finite) if finite else None


def _worst(layers: list[dict]) -> list[tuple[int, dict, float]]:
    return sorted(_measured_layers(layers), key=lambda item: item[2])[:WORST_LAYERS]


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


def _confusion_matrices(report: dict) -> list[tuple[str, list[list[int]]]]:
    matrices = ((report.get("accuracy") or {}).get("confusion_matrix")) or {}
    return [(kind, matrices[kind]) for kind in ("float", "int8") if matrices.get(kind)]


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


def short_layer_name(name: Any) -> str:
    """The layer a converter tensor name belongs to: ``mobilenet_v2_1/block_1_depthwise_relu_1/
    Relu6`` -> ``block_1_depthwise_relu``. Names without a path are already layer names.

    The layer is the segment right under the model's scope, not always the one before the last
    ``/``: a folded batch norm writes ``.../block_1_project_BN_1/batchnorm/add_1``. The converter
    appends ``_<digits>`` to each Keras layer scope; that suffix is dropped.
    """
    parts = str(name).split("/")
    if len(parts) < 2:
        return str(name)
    layer = parts[1] if len(parts) > 2 else parts[0]
    return re.sub(r"_\d+$", "", layer) or layer


def _board(report: dict) -> str:
    info = report.get("target_info") or {}
    return str(info.get("board") or report.get("target") or "target")


def _mcu_artifacts(report: dict) -> list[dict]:
    """Artifacts with a static arena or a board budget: the ones that run on a microcontroller."""
    keys = ("arena_bytes", "arena_lower_bound", "fits")
    return [a for a in report.get("artifacts") or [] if any(a.get(k) is not None for k in keys)]


def _budget_checks(artifact: dict) -> list[tuple[str, float | None, float]]:
    """(what, bytes used or None, budget) for each memory the board has a budget for."""
    fits = artifact.get("fits") or {}
    return [
        (what, _number(artifact.get(used)), budget)
        for what, used, limit in (
            ("RAM", "ram_bytes", "ram_budget"),
            ("flash", "flash_bytes", "flash_budget"),
        )
        if (budget := _number(fits.get(limit))) is not None
    ]


def _over_budget(artifact: dict) -> tuple[bool | None, list[str]]:
    """(fits, the memories over budget): fits is None where nothing could be checked."""
    checks = _budget_checks(artifact)
    over = [what for what, used, budget in checks if used is not None and used > budget]
    if over or (artifact.get("fits") or {}).get("ok") is False:
        return False, over
    if checks and all(used is not None for _, used, _ in checks):
        return True, []
    return None, []


def _fit_verdict(artifact: dict) -> str:
    """'fits', 'does not fit (RAM)', or — where there is no budget or no figure to check."""
    fits, over = _over_budget(artifact)
    if fits is None:
        return DASH
    return "fits" if fits else "does not fit" + (f" ({', '.join(over)})" if over else "")


def _memory_record(artifact: dict) -> dict:
    arena, bound = _number(artifact.get("arena_bytes")), _number(artifact.get("arena_lower_bound"))
    fits = artifact.get("fits") or {}
    peak = artifact.get("peak_layer")
    return {
        **artifact,
        "arena_ratio": arena / bound if arena is not None and bound else None,
        "peak": None if peak is None else short_layer_name(peak),
        "ram_budget": fits.get("ram_budget"),
        "flash_budget": fits.get("flash_budget"),
        "verdict": _fit_verdict(artifact),
    }


def _memory_notes(report: dict) -> list[str]:
    artifacts = _mcu_artifacts(report)
    if not artifacts:
        return []
    board = _board(report)
    notes = [
        f"Target board: {board}. The arena holds every activation tensor. Its layer-by-layer "
        "lower bound is the largest total size of the tensors live during one layer, placed "
        "side by side; layers that write their output over the part of their input already "
        "read let the arena go below it."
    ]
    for artifact in artifacts:
        backend, (fits, _) = _text(artifact.get("backend")), _over_budget(artifact)
        used = "; ".join(
            f"{what} {_size(u)} of {_size(b)}" + (f" ({u / b:.0%})" if u is not None and b else "")
            for what, u, b in _budget_checks(artifact)
        )
        if fits is None:
            why = "no budget for this board" if not used else "a figure was not measured"
            notes.append(f"{backend}: fit on the {board} not checked ({why}).")
        else:
            verdict = "fits" if fits else "does not fit"
            notes.append(f"{backend} {verdict} the {board}" + (f": {used}." if used else "."))
    return notes


def _layer_check(row: dict) -> str:
    """'all 65 layers equal', 'first differs at block_3_expand', or — when not compared."""
    compared, first = row.get("layers_compared"), row.get("first_differing_layer")
    if first is not None:
        of = f" (of {_fmt(compared, 'd')})" if _number(compared) is not None else ""
        return f"first differs at {short_layer_name(first)}{of}"
    if _number(compared) is not None:
        return f"all {_fmt(compared, 'd')} layers equal"
    return DASH


def _validation_records(report: dict) -> list[dict]:
    return [{**row, "layers": _layer_check(row)} for row in report.get("validation") or []]


def _benchmark_footnotes(report: dict) -> list[str]:
    rows = report.get("benchmark") or []
    if not any("qemu" in str(row.get("runner") or "").lower() for row in rows):
        return []
    return [
        "Instructions: retired instructions per inference (mean over the inputs), counted by "
        "QEMU. They are a proxy for cycles (no wait states), comparable between "
        "builds on the same board, but not a latency, so no latency is given for QEMU runs. "
        "Instructions / MAC divides them by the model's multiply-accumulates."
    ]


def _instruction_layers(row: dict) -> list[tuple[int, str, float | None]]:
    """(network position, short name, instructions) of each layer of one benchmark row."""
    return [
        (i, short_layer_name(layer.get("name", "")), _number(layer.get("instructions")))
        for i, layer in enumerate(row.get("layers") or [])
    ]


def _costliest(layers: list[tuple[int, str, float | None]]) -> list[tuple[int, str, float]]:
    measured = [(i, name, n) for i, name, n in layers if n is not None]
    return sorted(measured, key=lambda item: -item[2])[:COSTLIEST_LAYERS]


def _layer_instruction_sections(report: dict) -> list[Section]:
    """One HTML-only section per benchmark row that counted instructions layer by layer."""
    sections = []
    for k, row in enumerate(report.get("benchmark") or []):
        layers = _instruction_layers(row)
        if not layers:
            continue
        measured = [n for _, _, n in layers if n is not None]
        total = sum(measured)
        costliest = _costliest(layers)
        share = sum(n for _, _, n in costliest) / total if total else None
        notes = [
            f"Retired instructions of each layer, in network order: {len(layers)} layers, "
            f"{len(measured)} measured, {_fmt(total, ',d')} instructions together. The "
            f"{len(costliest)} most expensive (red) take {_pct(share)} of them."
        ]
        rows = [
            (
                str(i),
                name,
                _fmt(n, ",d", "", DASH),
                _pct(n / total if n is not None and total else None, DASH),
                _text(layer.get("name")),
            )
            for (i, name, n), layer in zip(layers, row.get("layers") or [], strict=True)
        ]
        sections.append(
            Section(
                f"Per-layer instructions: {_text(row.get('backend'))} on "
                f"{_text(row.get('runner'))}",
                notes,
                html_only=True,
                plot=(lambda layers=layers, k=k: _instructions_svg(layers, k))
                if measured
                else None,
                more=Table(("#", "Layer", "Instructions", "Share", "Tensor"), rows, (0, 2, 3)),
            )
        )
    return sections


# ------------------------------------------------------------------------------ formatting


def _number(value: Any) -> float | None:
    """A real number, or None for None, NaN, booleans and anything not numeric."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _fmt(value: Any, spec: str, unit: str = "", missing: str = MISSING) -> str:
    x = _number(value)
    if x is None:
        return missing
    if math.isinf(x):
        return ("∞" if x > 0 else "-∞") + unit
    return format(int(x) if spec.endswith("d") else x, spec) + unit


def _pct(value: Any, missing: str = MISSING) -> str:
    x = _number(value)
    return _fmt(None if x is None else x * 100, ".2f", "%", missing)


def _size(value: Any) -> str:
    x = _number(value)
    if x is None:
        return DASH
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(x) >= scale:
            return f"{x / scale:.1f} {unit}"
    return f"{x:.0f} B"


def _text(value: Any) -> str:
    return DASH if value is None else str(value)


def _yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else DASH


def _shape(value: Any) -> str:
    return "×".join(str(d) for d in value) if value else DASH


Column = tuple[str, str, Callable[[Any], str]]
_ARTIFACTS: tuple[Column, ...] = (
    ("Backend", "backend", _text),
    ("Path", "path", _text),
    ("Precision", "precision", _text),
    ("Size", "bytes", _size),
    ("Flash", "flash_bytes", _size),
    ("RAM", "ram_bytes", _size),
)
_STAGES: tuple[Column, ...] = (
    ("Stage", "name", _text),
    ("Status", "status", _text),
    ("Time", "seconds", lambda v: _fmt(v, ".1f", " s", DASH)),
    ("Detail", "detail", _text),
)
_MEMORY: tuple[Column, ...] = (
    ("Backend", "backend", _text),
    ("Arena", "arena_bytes", _size),
    ("Lower bound", "arena_lower_bound", _size),
    ("Arena / bound", "arena_ratio", lambda v: _fmt(v, ".2f", "×", DASH)),
    ("Bound set by", "peak", _text),
    ("RAM", "ram_bytes", _size),
    ("RAM budget", "ram_budget", _size),
    ("Flash", "flash_bytes", _size),
    ("Flash budget", "flash_budget", _size),
    ("Fits", "verdict", _text),
)
_VALIDATION: tuple[Column, ...] = (
    ("Backend", "backend", _text),
    ("Runner", "runner", _text),
    ("Reference", "reference", _text),
    ("Inputs", "inputs", lambda v: _fmt(v, "d", "", DASH)),
    ("Bit-exact", "bit_exact", _yes_no),
    ("Max abs diff", "max_abs_diff", lambda v: _fmt(v, "g", "", DASH)),
    ("Top-1 agreement", "top1_agreement", lambda v: _pct(v, DASH)),
    ("Layers", "layers", _text),
)
_BENCHMARK: tuple[Column, ...] = (
    ("Backend", "backend", _text),
    ("Runner", "runner", _text),
    ("Instructions", "instructions", lambda v: _fmt(v, ",d", "", DASH)),
    ("Instructions / MAC", "instructions_per_mac", lambda v: _fmt(v, ".2f", "", DASH)),
    ("Latency", "latency_ms", lambda v: _fmt(v, ".2f", " ms", DASH)),
)


def _records_table(records: list[dict] | None, columns: tuple[Column, ...]) -> Table | None:
    if not records:
        return None
    rows = [tuple(fmt(record.get(key)) for _, key, fmt in columns) for record in records]
    numeric = tuple(i for i, (_, _, fmt) in enumerate(columns) if fmt not in (_text, _yes_no))
    return Table(tuple(header for header, _, _ in columns), rows, numeric)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    """Plain text made safe inside a Markdown table or line (no raw HTML, no broken cells)."""
    return (
        str(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def _md_table(table: Table) -> list[str]:
    rule = ["---:" if i in table.numeric else "---" for i in range(len(table.headers))]
    return [
        "| " + " | ".join(_md(cell) for cell in row) + " |"
        for row in (table.headers, tuple(rule), *table.rows)
    ]


def _md_section(section: Section) -> list[str]:
    if not section.notes and section.table is None and not section.items:
        return []
    lines = ["", f"## {section.heading}"]
    lines += [item for note in section.notes for item in ("", _md(note))]
    if section.table is not None:
        lines += ["", *_md_table(section.table)]
    if section.items:
        lines += ["", *(f"- {_md(item)}" for item in section.items)]
    lines += [item for note in section.footnotes for item in ("", _md(note))]
    return lines


# -------------------------------------------------------------------------------------- HTML


def _h(text: str) -> str:
    return html.escape(str(text), quote=True)


def _html_table(table: Table) -> str:
    def cells(tag: str, row: tuple[str, ...]) -> str:
        return "".join(
            f"<{tag}{' class=num' if i in table.numeric else ''}>{_h(c)}</{tag}>"
            for i, c in enumerate(row)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in table.rows)
    return (
        f"<table><thead><tr>{cells('th', table.headers)}</tr></thead><tbody>{body}</tbody></table>"
    )


def _html_section(section: Section) -> str:
    if not section.notes and section.table is None and not section.items and not section.plot:
        return ""
    parts = [f"<section><h2>{_h(section.heading)}</h2>"]
    parts += [f"<p>{_h(note)}</p>" for note in section.notes]
    if section.plot is not None:
        parts.append(f"<figure>{section.plot()}</figure>")
    if section.table is not None:
        parts.append(_html_table(section.table))
    parts += [f"<p class='note'>{_h(note)}</p>" for note in section.footnotes]
    if section.items:
        parts.append(
            "<ul>" + "".join(f"<li><code>{_h(i)}</code></li>" for i in section.items) + "</ul>"
        )
    if section.more is not None:
        parts.append(
            f"<details><summary>All {len(section.more.rows)} rows</summary>"
            f"{_html_table(section.more)}</details>"
        )
    return "\n".join(parts) + "</section>"


_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { border: 1px solid #ddd; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #f3f5f8; } tbody tr:nth-child(even) { background: #fafbfc; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.gate { padding: .6em 1em; border-radius: 4px; border-left: 6px solid; }
.passed { background: #e8f6ec; border-color: #2e8b57; }
.failed { background: #fdecea; border-color: #c0392b; }
.unchecked { background: #f3f3f3; border-color: #888; }
figure { margin: 1em 0; overflow-x: auto; } figure svg { max-width: 100%; height: auto; }
.facts { list-style: none; padding: 0; } .note { color: #666; font-size: .9em; }
"""

_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
</body>
</html>
"""


# ------------------------------------------------------------------------------------- plots


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure  # lazy: keeps `import edgekit.report` cheap

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig, salt: str) -> str:
    """The figure as an inline <svg> element: text stays text, ids are stable and unique per
    plot (``salt``), and the XML prolog and metadata, which carry external URLs, are dropped."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(
            buffer,
            format="svg",
            bbox_inches="tight",
            pad_inches=0.2,  # the browser's font may be wider than matplotlib's estimate
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S)


def _sqnr_svg(layers: list[dict]) -> str:
    """Horizontal bars in network order (first layer on top), the worst ones in red."""
    from matplotlib.patches import Patch

    measured = _measured_layers(layers)
    finite = [v for _, _, v in measured if math.isfinite(v)]
    ceiling = max(max(finite, default=0.0), 0.0) * 1.1 or 1.0  # where an exact layer is drawn
    worst = {i for i, _, _ in _worst(layers)}
    fig = _new_figure(9, 1.5 + 0.17 * len(layers))
    ax = fig.add_subplot()
    ax.barh(
        [i for i, _, _ in measured],
        [v if math.isfinite(v) else math.copysign(ceiling, v) for _, _, v in measured],
        color=[_WORST_COLOR if i in worst else _BAR_COLOR for i, _, _ in measured],
        height=0.75,
    )
    ax.set_yticks(range(len(layers)), labels=_sqnr_labels(layers), fontsize=7)
    ax.set_ylim(len(layers) - 0.5, -0.5)
    handles = [Patch(color=_WORST_COLOR, label=f"{len(worst)} worst layers")]
    median = _median_sqnr(layers)
    if median is not None:
        handles.append(
            ax.axvline(
                median, color="#333", linestyle="--", linewidth=1, label=f"median {median:.1f} dB"
            )
        )
    fig.legend(handles=handles, loc="outside upper left", ncols=2, fontsize=8, frameon=False)
    ax.set_xlabel("SQNR of int8 vs float output, dB (higher is better)")
    ax.tick_params(axis="x", top=True, labeltop=True)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig, "edgekit-sqnr")


def _sqnr_labels(layers: list[dict]) -> list[str]:
    """'<position> <name>', saying so where no bar can be drawn or the bar is capped."""
    labels = []
    for i, layer in enumerate(layers):
        value = _number(layer.get("sqnr_db"))
        note = " (not measured)" if value is None else " (exact)" if math.isinf(value) else ""
        labels.append(_plain(f"{i} {layer.get('name', '')}{note}"))
    return labels


def _plain(text: str) -> str:
    """Text matplotlib draws as written: a pair of ``$`` would otherwise start math mode."""
    return text.replace("$", r"\$")


def _instructions_svg(layers: list[tuple[int, str, float | None]], salt: int) -> str:
    """Horizontal bars in network order (first layer on top), the most expensive ones in red."""
    from matplotlib.patches import Patch

    measured = [(i, n) for i, _, n in layers if n is not None]
    total = sum(n for _, n in measured)
    costliest = {i for i, _, _ in _costliest(layers)}
    fig = _new_figure(9, 1.5 + 0.17 * len(layers))
    ax = fig.add_subplot()
    ax.barh(
        [i for i, _ in measured],
        [n / 1e6 for _, n in measured],
        color=[_WORST_COLOR if i in costliest else _BAR_COLOR for i, _ in measured],
        height=0.75,
    )
    for i, n in measured:
        if i in costliest and total:
            ax.annotate(
                f" {n / total:.1%}", (n / 1e6, i), va="center", fontsize=7, color=_WORST_COLOR
            )
    labels = [
        _plain(f"{i} {name}" + (" (not measured)" if n is None else "")) for i, name, n in layers
    ]
    ax.set_yticks(range(len(layers)), labels=labels, fontsize=7)
    ax.set_ylim(len(layers) - 0.5, -0.5)
    ax.set_xlim(0, max((n for _, n in measured), default=0) / 1e6 * 1.12 or 1)
    handles = [Patch(color=_WORST_COLOR, label=f"{len(costliest)} most expensive layers")]
    fig.legend(handles=handles, loc="outside upper left", fontsize=8, frameon=False)
    ax.set_xlabel("retired instructions per inference, millions (QEMU; % of all layers)")
    ax.tick_params(axis="x", top=True, labeltop=True)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig, f"edgekit-instructions-{salt}")


def _confusion_svg(report: dict) -> str:
    """Heatmaps of the float and int8 confusion matrices side by side, counts in the cells."""
    import numpy as np

    matrices = _confusion_matrices(report)
    classes = len(matrices[0][1])
    names = list((report.get("dataset") or {}).get("class_names") or [])
    labels = [str(n) for n in names] if len(names) == classes else [str(i) for i in range(classes)]
    side = min(max(3.5, 0.42 * classes + 1.5), 9.0)
    fig = _new_figure(side * len(matrices), side)
    for position, (kind, matrix) in enumerate(matrices, start=1):
        counts = np.asarray(matrix, dtype=np.int64)
        ax = fig.add_subplot(1, len(matrices), position)
        ax.imshow(counts, cmap="Blues", vmin=0, interpolation="nearest")
        total = int(counts.sum())
        correct = f"{np.trace(counts) / total:.1%} correct" if total else "no samples"
        ax.set_title(f"{kind}: {correct}", fontsize=10)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if classes <= CONFUSION_TICKS_UP_TO:
            ax.set_xticks(
                range(classes),
                labels=labels,
                fontsize=7,
                rotation=90 if max(map(len, labels)) > 3 else 0,
            )
            ax.set_yticks(range(classes), labels=labels, fontsize=7)
        if classes <= CONFUSION_COUNTS_UP_TO:
            _write_counts(ax, counts)
    return _svg(fig, "edgekit-confusion")


def _write_counts(ax, counts) -> None:
    """Counts in the cells; zero cells stay blank so that the confusions stand out."""
    dark, size = counts.max() / 2, 8 if len(counts) <= 10 else 6
    for row, col in zip(*counts.nonzero(), strict=True):
        count = int(counts[row, col])
        color = "white" if count > dark else "#222"
        ax.text(col, row, str(count), ha="center", va="center", fontsize=size, color=color)


# ------------------------------------------------------------------------------------ files


def _write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` next to ``path`` under a temporary name, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
