"""What Vela says about an Ethos-U artifact: its estimates of cycles, time and memory, the
operators it left to the CPU, and its per-layer figures. Nothing here was measured: QEMU has no
Ethos-U model, so the report says "estimates" wherever these figures appear."""

from __future__ import annotations

from edgekit.report._format import DASH, Section, Table, _fmt, _number, _size, _text
from edgekit.report.firmware import short_layer_name


def npu_sections(report: dict) -> list[Section]:
    """One section per Vela artifact; none where the build has no Ethos-U artifact."""
    return [
        _section(row["vela"], report)
        for row in report.get("artifacts") or []
        if isinstance(row.get("vela"), dict)
    ]


def _section(vela: dict, report: dict) -> Section:
    clock = _number(vela.get("core_clock_hz"))
    notes = [
        f"Estimates by Arm Vela {_text(vela.get('vela_version'))} for "
        f"{_text(vela.get('accelerator'))} (system config {_text(vela.get('system_config'))}, "
        f"memory mode {_text(vela.get('memory_mode'))}, --optimise {_text(vela.get('optimise'))}), "
        "from its performance model: not measurements. QEMU has no Ethos-U model, so the NPU "
        "artifact was built but not run here. Vela keeps the int8 model's arithmetic, so the "
        "accuracy above is the int8 reference's.",
        _operator_note(vela),
    ]
    c_bench = next((b for b in report.get("benchmark") or [] if b.get("backend") == "c"), None)
    if c_bench and _number(c_bench.get("instructions")) is not None:
        notes.append(
            f"For comparison, the c artifact (the same model on the Cortex-M alone) retired "
            f"{_fmt(c_bench['instructions'], ',d')} instructions per inference in QEMU "
            f"({_text(c_bench.get('runner'))}): counted, not estimated."
        )
    rows = [
        ("Cycles per inference (total)", _fmt(vela.get("cycles_total"), ",d", "", DASH)),
        ("NPU cycles", _fmt(vela.get("cycles_npu"), ",d", "", DASH)),
        (
            "Inference time at the NPU clock",
            _fmt(vela.get("inference_ms"), ".3f", " ms", DASH)
            + (f" at {clock / 1e6:g} MHz" if clock else ""),
        ),
        ("Inferences per second", _fmt(vela.get("inferences_per_second"), ".1f", "", DASH)),
        ("MACs per inference", _fmt(vela.get("macs"), ",d", "", DASH)),
        ("SRAM used", _size(vela.get("sram_bytes"))),
        ("DRAM used", _size(vela.get("dram_bytes"))),
        ("On-chip flash used", _size(vela.get("on_chip_flash_bytes"))),
        ("Off-chip flash used", _size(vela.get("off_chip_flash_bytes"))),
        ("Weights (original → NPU-encoded)", _weights(vela)),
        ("Weights / feature maps stored in", _storage(vela)),
        ("NPU operators", _fmt(vela.get("npu_operators"), "d", "", DASH)),
        ("CPU operators", _fmt(vela.get("cpu_operators"), "d", "", DASH)),
    ]
    layers = [layer for layer in vela.get("layers") or [] if isinstance(layer, dict)]
    return Section(
        f"Ethos-U NPU: Vela estimates for {_text(vela.get('accelerator'))}",
        notes,
        Table(("Figure (Vela's estimate)", "Value"), rows, numeric=(1,)),
        items=[f"{op.get('op')}: {op.get('name')}" for op in vela.get("cpu_fallback") or []],
        more=_layer_table(layers) if layers else None,
        footnotes=[
            "Per-layer estimates (Vela's --verbose-performance CSV) are in report.html and in "
            f"the artifact folder's {vela.get('summary_csv') or 'summary'} and per-layer CSVs."
        ]
        if layers
        else [],
    )


def _operator_note(vela: dict) -> str:
    npu, cpu = vela.get("npu_operators"), vela.get("cpu_operators")
    compiled = vela.get("compiled_ops") or {}
    custom = compiled.get("CUSTOM:ethos-u", 0)
    left = {k: v for k, v in compiled.items() if k != "CUSTOM:ethos-u"}
    kept = ", ".join(f"{n}× {op}" for op, n in sorted(left.items())) or "no op"
    fallback = vela.get("cpu_fallback") or []
    return (
        f"Operators (Vela's count after its graph rewrites): {_fmt(npu, 'd', '', DASH)} on the "
        f"NPU, {_fmt(cpu, 'd', '', DASH)} on the CPU"
        + ("; those falling back to the CPU are listed below" if fallback else "")
        + f". The compiled .tflite holds {custom} ethos-u op(s) and {kept} for the CPU."
    )


def _weights(vela: dict) -> str:
    original, encoded = vela.get("original_weight_bytes"), vela.get("encoded_weight_bytes")
    if _number(original) is None and _number(encoded) is None:
        return DASH
    return f"{_size(original)} → {_size(encoded)}"


def _storage(vela: dict) -> str:
    weights, maps = vela.get("weights_storage"), vela.get("feature_map_storage")
    return DASH if weights is None and maps is None else f"{_text(weights)} / {_text(maps)}"


def _layer_table(layers: list[dict]) -> Table:
    rows = [
        (
            str(i),
            _text(layer.get("op")),
            _text(layer.get("original_op")),
            _text(layer.get("target")),
            _fmt(layer.get("cycles"), ",d", "", DASH),
            _fmt(layer.get("cycles_pct"), ".1f", "%", DASH),
            _fmt(layer.get("macs"), ",d", "", DASH),
            _fmt(layer.get("mac_util_pct"), ".1f", "%", DASH),
            short_layer_name(str(layer.get("name") or "").split(";")[0]) or DASH,
        )
        for i, layer in enumerate(layers)
    ]
    headers = ("#", "Op", "From", "On", "Cycles", "Share", "MACs", "MAC use", "Layer")
    return Table(headers, rows, numeric=(0, 4, 5, 6, 7))
