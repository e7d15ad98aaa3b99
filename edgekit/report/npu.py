"""What Vela says about an Ethos-U artifact: its estimates of cycles, time and memory, the
operators it left to the CPU, and its per-layer figures. Nothing here was measured: QEMU has no
Ethos-U model, so the report says "estimates" wherever these figures appear."""

from __future__ import annotations

from edgekit.report.firmware import short_layer_name
from edgekit.report.formatting import DASH, Section, Table, fmt, fmt_size, fmt_text


def npu_sections(report: dict) -> list[Section]:
    """One section per Vela artifact; none where the build has no Ethos-U artifact."""
    return [_section(row["vela"], report) for row in report["artifacts"] if "vela" in row]


def _section(vela: dict, report: dict) -> Section:
    clock = vela["core_clock_hz"]
    notes = [
        f"Estimates by Arm Vela {vela['vela_version']} for {vela['accelerator']} (system config "
        f"{fmt_text(vela['system_config'])}, memory mode {fmt_text(vela['memory_mode'])}, "
        f"--optimise {vela['optimise']}), from its performance model: not measurements. QEMU "
        "has no Ethos-U model, so the NPU artifact was built but not run here. Vela keeps the "
        "int8 model's arithmetic, so the accuracy above is the int8 reference's.",
        _operator_note(vela),
    ]
    c_bench = next((b for b in report["benchmark"] if b["backend"] == "c"), None)
    if c_bench and c_bench["instructions"] is not None:
        notes.append(
            f"For comparison, the c artifact (the same model on the Cortex-M alone) retired "
            f"{fmt(c_bench['instructions'], ',d')} instructions per inference in QEMU "
            f"({c_bench['runner']}): counted, not estimated."
        )
    rows = [
        ("Cycles per inference (total)", fmt(vela["cycles_total"], ",d", "", DASH)),
        ("NPU cycles", fmt(vela["cycles_npu"], ",d", "", DASH)),
        (
            "Inference time at the NPU clock",
            fmt(vela["inference_ms"], ".3f", " ms", DASH)
            + (f" at {clock / 1e6:g} MHz" if clock else ""),
        ),
        ("Inferences per second", fmt(vela["inferences_per_second"], ".1f", "", DASH)),
        ("MACs per inference", fmt(vela["macs"], ",d", "", DASH)),
        ("SRAM used", fmt_size(vela["sram_bytes"])),
        ("DRAM used", fmt_size(vela["dram_bytes"])),
        ("On-chip flash used", fmt_size(vela["on_chip_flash_bytes"])),
        ("Off-chip flash used", fmt_size(vela["off_chip_flash_bytes"])),
        ("Weights (original → NPU-encoded)", _weights(vela)),
        ("Weights / feature maps stored in", _storage(vela)),
        ("NPU operators", fmt(vela["npu_operators"], "d", "", DASH)),
        ("CPU operators", fmt(vela["cpu_operators"], "d", "", DASH)),
    ]
    layers = vela["layers"]
    return Section(
        f"Ethos-U NPU: Vela estimates for {vela['accelerator']}",
        notes,
        Table(("Figure (Vela's estimate)", "Value"), rows, numeric=(1,)),
        items=[f"{op['op']}: {op['name']}" for op in vela["cpu_fallback"]],
        more=_layer_table(layers) if layers else None,
        footnotes=[
            "Per-layer estimates (Vela's --verbose-performance CSV) are in report.html and in "
            f"the artifact folder's {vela['summary_csv']} and per-layer CSVs."
        ]
        if layers
        else [],
    )


def _operator_note(vela: dict) -> str:
    compiled = vela["compiled_ops"]
    custom = compiled.get("CUSTOM:ethos-u", 0)
    left = {k: v for k, v in compiled.items() if k != "CUSTOM:ethos-u"}
    kept = ", ".join(f"{n}× {op}" for op, n in sorted(left.items())) or "no op"
    return (
        f"Operators (Vela's count after its graph rewrites): "
        f"{fmt(vela['npu_operators'], 'd', '', DASH)} on the NPU, "
        f"{fmt(vela['cpu_operators'], 'd', '', DASH)} on the CPU"
        + ("; those falling back to the CPU are listed below" if vela["cpu_fallback"] else "")
        + f". The compiled .tflite holds {custom} ethos-u op(s) and {kept} for the CPU."
    )


def _weights(vela: dict) -> str:
    original, encoded = vela["original_weight_bytes"], vela["encoded_weight_bytes"]
    if original is None and encoded is None:
        return DASH
    return f"{fmt_size(original)} → {fmt_size(encoded)}"


def _storage(vela: dict) -> str:
    weights, maps = vela["weights_storage"], vela["feature_map_storage"]
    return DASH if weights is None and maps is None else f"{fmt_text(weights)} / {fmt_text(maps)}"


def _layer_table(layers: list[dict]) -> Table:
    rows = [
        (
            str(i),
            fmt_text(layer["op"]),
            fmt_text(layer["original_op"]),
            fmt_text(layer["target"]),
            fmt(layer["cycles"], ",d", "", DASH),
            fmt(layer["cycles_pct"], ".1f", "%", DASH),
            fmt(layer["macs"], ",d", "", DASH),
            fmt(layer["mac_util_pct"], ".1f", "%", DASH),
            short_layer_name((layer["name"] or "").split(";")[0]) or DASH,
        )
        for i, layer in enumerate(layers)
    ]
    headers = ("#", "Op", "From", "On", "Cycles", "Share", "MACs", "MAC use", "Layer")
    return Table(headers, rows, numeric=(0, 4, 5, 6, 7))
