"""What the report says, as plain-text sections: headline facts, accuracy, ONNX, layers, stages."""

from __future__ import annotations

from collections.abc import Iterable

from edgekit.report.firmware import (
    benchmark_footnotes,
    kernel_sections,
    layer_instruction_sections,
    mcu_artifacts,
    memory_notes,
    memory_record,
    validation_records,
)
from edgekit.report.formatting import (
    CHECK_COLUMNS,
    DASH,
    Column,
    Section,
    Table,
    fmt,
    fmt_pct,
    fmt_shape,
    fmt_size,
    fmt_text,
    records_table,
)
from edgekit.report.highlights import (
    WORST_LAYERS,
    confusion_matrices,
    measured_layers,
    median_sqnr,
    worst_layers,
)
from edgekit.report.npu import npu_sections
from edgekit.report.patches import patch_sections
from edgekit.report.plots import confusion_svg, sqnr_svg
from edgekit.report.speed import (
    benchmark_speed_notes,
    deploy_sections,
    flash_sections,
    float32_sections,
)
from edgekit.report.verdict import verdict_section

SKIPPED_LISTED = 20
GATE_WORDS = {"passed": "PASSED", "failed": "FAILED", "unchecked": "not checked"}
_DISPLAY_NAMES = {"mobilenet_v2": "MobileNetV2"}

_ARTIFACTS: tuple[Column, ...] = (
    ("Backend", "backend", fmt_text),
    ("Path", "path", fmt_text),
    ("Precision", "precision", fmt_text),
    ("Size", "bytes", fmt_size),
    ("Flash", "flash_bytes", fmt_size),
    ("RAM", "ram_bytes", fmt_size),
)
_STAGES: tuple[Column, ...] = (
    ("Stage", "name", fmt_text),
    ("Status", "status", fmt_text),
    ("Time", "seconds", lambda v: fmt(v, ".1f", " s", DASH)),
    ("Detail", "detail", fmt_text),
)
_MEMORY: tuple[Column, ...] = (
    ("Backend", "backend", fmt_text),
    ("Arena", "arena_bytes", fmt_size),
    ("Lower bound", "arena_lower_bound", fmt_size),
    ("Arena / bound", "arena_ratio", lambda v: fmt(v, ".2f", "×", DASH)),
    ("Bound set by", "peak", fmt_text),
    ("RAM", "ram_bytes", fmt_size),
    ("RAM budget", "ram_budget", fmt_size),
    ("Flash", "flash_bytes", fmt_size),
    ("Flash budget", "flash_budget", fmt_size),
    ("Fits", "verdict", fmt_text),
)
_VALIDATION: tuple[Column, ...] = (
    ("Backend", "backend", fmt_text),
    ("Runner", "runner", fmt_text),
    ("Reference", "reference", fmt_text),
    ("Inputs", "inputs", lambda v: fmt(v, "d", "", DASH)),
    *CHECK_COLUMNS,
    ("Top-1 (labels)", "top1", lambda v: fmt_pct(v, DASH)),
    ("Layers", "layers", fmt_text),
)
_BENCHMARK: tuple[Column, ...] = (
    ("Backend", "backend", fmt_text),
    ("Runner", "runner", fmt_text),
    ("Instructions", "instructions", lambda v: fmt(v, ",d", "", DASH)),
    ("Instructions / MAC", "instructions_per_mac", lambda v: fmt(v, ".2f", "", DASH)),
    ("Latency", "latency_ms", lambda v: fmt(v, ".2f", " ms", DASH)),
)


def report_sections(report: dict) -> list[Section]:
    """Every section of the report, in reading order (empty ones are left out when rendered)."""
    layers = report["accuracy"]["layers"]
    skipped = report["dataset"]["skipped_files"]
    quantized = report["model"]["precision"]["computes"]
    return [
        verdict_section(report),
        Section(
            f"Accuracy: float vs {quantized}", _accuracy_notes(report), _accuracy_table(report)
        ),
        Section(f"Outputs: {quantized} vs float", [], _outputs_table(report)),
        Section(
            "Precision",
            _precision_notes(report),
            _precision_table(report),
            items=_sixteen_bit_lines(report),
        ),
        *_onnx_sections(report),
        Section(
            "Per-layer SQNR",
            _layer_notes(layers),
            _worst_layers_table(layers),
            plot=(lambda: sqnr_svg(layers)) if measured_layers(layers) else None,
            more=_layer_rows(enumerate(layers)) if layers else None,
        ),
        Section(
            "Confusion matrices",
            _confusion_notes(report),
            html_only=True,
            plot=(lambda: confusion_svg(report)) if confusion_matrices(report) else None,
        ),
        Section("Artifacts", [], records_table(report["artifacts"], _ARTIFACTS)),
        Section(
            "Microcontroller memory",
            memory_notes(report),
            records_table([memory_record(a) for a in mcu_artifacts(report)], _MEMORY),
        ),
        Section("Stages", _stage_notes(report), records_table(report["stages"], _STAGES)),
        Section("Validation", [], records_table(validation_records(report), _VALIDATION)),
        Section(
            "Benchmark",
            benchmark_speed_notes(report),
            records_table(report["benchmark"], _BENCHMARK),
            footnotes=benchmark_footnotes(report),
        ),
        *kernel_sections(report),
        *patch_sections(report),
        *float32_sections(report),
        *npu_sections(report),
        *deploy_sections(report),
        *flash_sections(report),
        *layer_instruction_sections(report),
        Section(
            "Skipped data files",
            [f"{len(skipped)} data file(s) skipped:"] if skipped else [],
            items=_skipped_lines(skipped),
        ),
    ]


def title(report: dict) -> str:
    """'edgekit report: MobileNetV2 1.0@224, 10 classes on rpi4'; a user's model by its
    inputs: 'edgekit report: kws 49x10x1, 12 classes on cortex-m7'."""
    model = report["model"]
    name = _DISPLAY_NAMES.get(model["name"], model["name"])
    alpha, resolution = model["alpha"], model["resolution"]
    if alpha is not None:
        shape = f"{float(alpha)}@{resolution}"
    else:
        shapes = [p["shape"] for p in model.get("inputs", [])] or [model["input_shape"]]
        shape = " and ".join("x".join(map(str, s)) for s in shapes)
    classes = f", {model['classes']} classes" if model["classes"] else ""
    return f"edgekit report: {name} {shape}{classes} on {report['target']}"


def gate_summary(report: dict) -> tuple[str, str]:
    """('passed' | 'failed' | 'unchecked', one sentence saying why)."""
    max_drop, passed = report["gate"]["max_drop"], report["gate"]["passed"]
    drop = report["accuracy"]["top1_drop_points"]
    limit = fmt(max_drop, ".2f", " points")
    measured = f"the top-1 drop of {fmt(drop, '.2f', ' points')}"
    if passed is True:
        return "passed", f"{measured} is within the limit of {limit}."
    if passed is False:
        if drop is None:
            return "failed", f"the gate failed; the limit is {limit}."
        return "failed", f"{measured} is over the limit of {limit}."
    if max_drop is None:
        return "unchecked", "no maximum top-1 drop was set."
    return "unchecked", f"the limit is {limit}, but the top-1 drop was not measured."


def headline_facts(report: dict) -> list[tuple[str, str]]:
    """(label, text) of the facts shown under the title: target, model, data, version."""
    target, model, data = report["target_info"], report["model"], report["dataset"]
    board = ", ".join(target[k] for k in ("board", "cpu", "family"))
    model_facts = (
        f"parameters {fmt(model['params'], ',d')}; MACs {fmt(model['macs'], ',d')}; "
        f"weights {model['weights']}; source {model['source']}"
    )
    data_facts = (
        f"{data['name']}; calibration samples {fmt(data['calibration_samples'], 'd')}; "
        f"evaluation samples {fmt(data['eval_samples'], 'd')}"
    )
    return [
        ("Target", f"{report['target']} ({board})"),
        ("Model", model_facts),
        ("Data", data_facts),
        ("edgekit", report["edgekit_version"]),
    ]


def _accuracy_notes(report: dict) -> list[str]:
    absent = report["accuracy"].get("absent")
    if absent:
        return [f"No top-1 accuracy: {absent}."]
    if report["accuracy"]["float_top1"] is not None:
        return []
    why = (
        "the model was given as int8 .tflite"
        if report["model"]["source"].lower().endswith(".tflite")
        else "the float model was not evaluated"
    )
    return [
        f"No float reference: {why}, so float accuracy, the top-1 drop, agreement and "
        "per-layer comparisons are not measured."
    ]


def _precision_notes(report: dict) -> list[str]:
    precision = report["model"]["precision"]
    notes = [
        f"Asked for {precision['asked']}; the quantized model computes in {precision['computes']}."
    ]
    mixed = precision["mixed"]
    if mixed is not None:
        drop = mixed["precisions"][-1]["top1_drop_points"]
        verdict = (
            f"within --max-drop {mixed['max_drop']:g}"
            if mixed["met"]
            else f"{mixed['missed_by_points']:.2f} more than --max-drop {mixed['max_drop']:g} "
            "even with every layer in 16x8"
        )
        notes.append(
            f"Mixed plan: {len(mixed['sixteen_bit'])} of {mixed['layers']} layers kept in 16x8; "
            f"its top-1 drop is {drop:.2f} points, {verdict}. Measured in LiteRT's reference "
            f"kernels on the {mixed['measured_on']} (float top-1 {fmt_pct(mixed['float_top1'])})."
        )
    return notes


def _precision_table(report: dict) -> Table | None:
    """int8, 16x8 and the mixed plan side by side; None without a mixed plan."""
    mixed = report["model"]["precision"]["mixed"]
    if mixed is None:
        return None
    rows = [
        (
            p["precision"],
            fmt_pct(p["top1"]),
            fmt(p["top1_drop_points"], ".2f", " points"),
            fmt(p["logits_sqnr_db"], ".1f", " dB"),
            fmt_size(p["arena_bytes"]),
            fmt_size(p["flash_bytes"]),
            fmt(p["instructions"], ",d", "", DASH),
        )
        for p in mixed["precisions"]
    ]
    head = ("Precision", "Top-1", "Top-1 drop", "Logits SQNR", "Arena", "Flash", "Instructions")
    return Table(head, rows, numeric=(1, 2, 3, 4, 5, 6))


def _sixteen_bit_lines(report: dict) -> list[str]:
    mixed = report["model"]["precision"]["mixed"]
    if mixed is None:
        return []
    # the first of the ';'-joined names the converter gives a fused tensor
    return [f"{s['layer'].split(';', 1)[0]}: {s['reason']}" for s in mixed["sixteen_bit"]]


def _outputs_table(report: dict) -> Table | None:
    """Each output of the int8 model against the float model's; None without a float model."""
    outputs = report["accuracy"].get("outputs") or []
    if not outputs:
        return None
    rows = [
        (
            o["name"],
            "x".join(map(str, o["shape"])),
            fmt(o["max_abs_diff"], ".4g"),
            fmt(o["sqnr_db"], ".1f", " dB"),
            fmt(o["cosine"], ".5f"),
        )
        for o in outputs
    ]
    return Table(("Output", "Shape", "Max abs diff", "SQNR", "Cosine"), rows, numeric=(2, 3, 4))


def _accuracy_table(report: dict) -> Table:
    acc = report["accuracy"]
    max_drop = report["gate"]["max_drop"]
    gate = f"Gate (max drop {fmt(max_drop, '.2f', ' points')})" if max_drop is not None else "Gate"
    rows = [
        ("Top-1", fmt_pct(acc["float_top1"]), fmt_pct(acc["int8_top1"])),
        ("Top-5", fmt_pct(acc["float_top5"]), fmt_pct(acc["int8_top5"])),
        ("Top-1 drop", DASH, fmt(acc["top1_drop_points"], ".2f", " points")),
        ("Top-1 agreement with float", DASH, fmt_pct(acc["top1_agreement"])),
        ("Logits SQNR vs float", DASH, fmt(acc["logits_sqnr_db"], ".1f", " dB")),
        ("Logits cosine vs float", DASH, fmt(acc["logits_cosine"], ".5f")),
        (gate, DASH, GATE_WORDS[gate_summary(report)[0]]),
    ]
    return Table(("", "float", report["model"]["precision"]["computes"]), rows, numeric=(1, 2))


def _onnx_sections(report: dict) -> list[Section]:
    """ONNX Runtime's int8 models beside the TFLite one; nothing where no ONNX was built."""
    onnx = report.get("onnx")
    if not onnx:
        return []
    footnotes = [
        "Top-1 agreement: the TFLite int8 model against the Keras float model; each ONNX int8 "
        "model against the ONNX float model. Computes in: how the evaluation ran each model on "
        "this host: the ops on ONNX Runtime's integer kernels once it has optimized the graph, "
        "and those in float32 between a dequantize and a quantize (all of them where the "
        "host's integer kernels could saturate)."
    ]
    if any(m["calibration_capped"] for m in onnx["methods"]):
        footnotes.append(
            "Capped: the histogram calibrators keep every intermediate tensor of every sample "
            f"in memory, so they got only the samples that fit in the "
            f"{fmt_size(onnx['histogram_budget_bytes'])} histogram budget."
        )
    return [
        Section(
            "ONNX Runtime int8",
            _onnx_notes(onnx),
            _onnx_table(report, onnx),
            footnotes=footnotes,
        )
    ]


def _onnx_notes(onnx: dict) -> list[str]:
    diff = onnx["float_max_abs_diff_vs_keras"]
    check = (
        "The float ONNX export was not compared with the Keras model (max abs difference "
        "not measured)."
        if diff is None
        else "The float ONNX export's outputs differ from the Keras model's by at most "
        f"{fmt(diff, '.2g')} (max abs difference)."
    )
    path, methods = onnx["host_int8_path"], onnx["methods"]
    features = path["cpu_features"]
    read = "not read" if features is None else ", ".join(features) or "none of those it looks for"
    ran = (
        f"Int8 path on this host: ONNX Runtime's integer kernels are {path['integer_kernels']} "
        f"(CPU features read: {read}); the models ran {path['runs_on']}"
        + (f": {path['reason']}." if path["reason"] else ".")
        + (
            " Weights were quantized to 7 bits (reduce_range on)."
            if onnx["reduce_range"]
            else " Weights keep all 8 bits (reduce_range off): the model is the one the board runs."
        )
    )
    scored = [
        f"{fmt_pct(m['host_integer_kernels_top1'])} ({m['method']})"
        for m in methods
        if m["host_integer_kernels_top1"] is not None
    ]
    if scored:
        ran += f" On this host's integer kernels they scored top-1 {', '.join(scored)}."
    notes = [
        f"Evaluated with {onnx['runtime']} on {onnx['host']}: {onnx['precision']}; "
        f"opset {onnx['opset']}. {check}",
        ran,
    ]
    twins = [
        f"{m['method']} made the same model as {m['identical_to']}, byte for byte"
        for m in methods
        if m["identical_to"]
    ]
    if twins:
        entropy = any(m["method"] == "entropy" and m["identical_to"] for m in methods)
        why = (
            " (ONNX Runtime's quantize_static runs its Entropy calibrator with 128 histogram bins "
            "and 128 quantized bins, so it tries only one threshold: the full range)"
        )
        notes.append("; ".join(twins) + (why if entropy else "") + ".")
    return notes


def _onnx_table(report: dict, onnx: dict) -> Table:
    acc, offered = report["accuracy"], onnx["calibration_samples"]
    tflite_bytes = next((a["bytes"] for a in report["artifacts"] if a["backend"] == "tflite"), None)

    def calibration(m: dict) -> str:
        count = fmt(m["calibration_samples"], "d", "", DASH)
        return f"{count} of {offered} (capped)" if m["calibration_capped"] else count

    rows = [
        (
            f"TFLite int8 ({acc['int8_runtime']})",
            fmt_pct(acc["int8_top1"], DASH),
            fmt_pct(acc["int8_top5"], DASH),
            fmt_pct(acc["top1_agreement"], DASH),
            fmt_size(tflite_bytes),
            DASH,
            fmt(report["dataset"]["calibration_samples"], "d", "", DASH),
        ),
        (
            "ONNX float32",
            fmt_pct(onnx["float_top1"], DASH),
            fmt_pct(onnx["float_top5"], DASH),
            DASH,
            fmt_size(onnx["float_bytes"]),
            "float32",
            DASH,
        ),
        *(
            (
                f"ONNX int8, {m['method']} calibration",
                fmt_pct(m["top1"], DASH),
                fmt_pct(m["top5"], DASH),
                fmt_pct(m["top1_agreement_with_float"], DASH),
                fmt_size(m["model_bytes"]),
                m["computes_in"],
                calibration(m),
            )
            for m in onnx["methods"]
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
    measured = measured_layers(layers)
    if not measured:
        return [f"{len(layers)} layers listed, but no SQNR was measured for any of them."]
    return [
        f"SQNR of each layer's int8 output against the float model's, in dB (higher is "
        f"better); {len(measured)} layers, median {fmt(median_sqnr(layers), '.1f', ' dB')}. "
        f"The {min(WORST_LAYERS, len(measured))} worst:"
    ]


def _layer_rows(items: Iterable[tuple[int, dict]]) -> Table:
    rows = [
        (
            str(i),
            layer["name"],
            layer["op"],
            fmt_shape(layer["shape"]),
            fmt(layer["sqnr_db"], ".1f", " dB", DASH),
            fmt(layer["cosine"], ".5f", "", DASH),
        )
        for i, layer in items
    ]
    return Table(("#", "Layer", "Op", "Shape", "SQNR", "Cosine"), rows, numeric=(0, 4, 5))


def _worst_layers_table(layers: list[dict]) -> Table | None:
    worst = worst_layers(layers)
    return _layer_rows((i, layer) for i, layer, _ in worst) if worst else None


def _confusion_notes(report: dict) -> list[str]:
    present = [kind for kind, _ in confusion_matrices(report)]
    if not present:
        return ["Confusion matrices: not measured."]
    notes = ["Rows are true labels, columns predictions; the diagonal counts correct answers."]
    if "float" not in present:
        notes.append("Float: not measured (no float reference); int8 only.")
    return notes


def _stage_notes(report: dict) -> list[str]:
    seconds = [stage["seconds"] for stage in report["stages"]]
    return [f"Total {fmt(sum(seconds), '.1f', ' s')}."] if seconds else []


def _skipped_lines(skipped: list[str]) -> list[str]:
    extra = len(skipped) - SKIPPED_LISTED
    return skipped[:SKIPPED_LISTED] + ([f"... and {extra} more"] if extra > 0 else [])
