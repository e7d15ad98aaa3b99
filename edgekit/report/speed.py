"""Which artifact is fastest, said only where a latency could be measured: an artifact run
natively on the CPU it was built for (the host target, or a board reached by ``edgekit
deploy``). Under QEMU the time is the emulator's, so it is not compared. And what ran on a
board: ``edgekit deploy`` (Linux boards) and ``edgekit flash --validate`` (microcontrollers)."""

from __future__ import annotations

from edgekit.report.formatting import (
    CHECK_COLUMNS,
    DASH,
    Column,
    Section,
    fmt,
    fmt_text,
    records_table,
)

_DEPLOY: tuple[Column, ...] = (
    ("Backend", "backend", fmt_text),
    ("Computes in", "precision", fmt_text),
    ("Status", "status", fmt_text),
    *CHECK_COLUMNS,
    ("Median latency", "latency_ms", lambda v: fmt(v, ".2f", " ms", DASH)),
    ("vs fastest", "vs_fastest", lambda v: fmt(v, ".2f", "×", DASH)),
)
_FLASH: tuple[Column, ...] = (
    ("Backend", "backend", fmt_text),
    ("Status", "status", fmt_text),
    *CHECK_COLUMNS,
    ("Cycles (board)", "cycles", lambda v: fmt(v, ",.0f", "", DASH)),
    ("Latency at clock", "latency_ms", lambda v: fmt(v, ".2f", " ms", DASH)),
    ("Instructions (QEMU)", "qemu_count", lambda v: fmt(v, ",d", "", DASH)),
)


def fastest_line(rows: list[dict], where: str) -> str | None:
    """'Fastest where measured: litert, 0.41 ms median on WHERE (c 21.3×, ...).'"""
    timed = sorted((r for r in rows if r.get("latency_ms")), key=lambda r: r["latency_ms"])
    if not timed:
        return None
    best = timed[0]
    others = ", ".join(
        f"{r['backend']} {r['latency_ms'] / best['latency_ms']:.2f}×" for r in timed[1:]
    )
    return (
        f"Fastest where measured: {best['backend']}, {best['latency_ms']:.2f} ms median on "
        f"{where}" + (f" (then {others})." if others else ".")
    )


def benchmark_speed_notes(report: dict) -> list[str]:
    """The Benchmark section's word on speed: the fastest artifact when some ran natively, or
    why no latency is given."""
    rows = report["benchmark"]
    timed = [r for r in rows if r["latency_ms"] is not None]
    if timed:
        return [
            fastest_line(timed, "the build machine") or "",
            "Latency: median wall time of one inference on one thread over the validation "
            "inputs, as each runner measured it.",
        ]
    if rows and report["target_info"]["family"] == "linux":
        return [
            "Latency not measured: the artifacts ran under QEMU user-mode emulation, whose time "
            f"is not the board's. 'edgekit deploy --target {report['target']} --host "
            "USER@BOARD' runs them on the board and adds its latencies here."
        ]
    return []


def flash_sections(report: dict) -> list[Section]:
    """``edgekit flash --validate``: the firmware on a board through pyOCD, or on QEMU's."""
    section = report.get("flash")
    if not section:
        return []
    rows = [
        {**r, "qemu_count": r["instructions"] or r["qemu_instructions"]} for r in section["results"]
    ]
    ran = (
        f"{fmt(section['inputs'], 'd')} evaluation inputs, compared with "
        f"{fmt_text(section.get('reference'))} on the build machine"  # only once something ran
    )
    if section["emulated"]:
        notes = [
            "Run by 'edgekit flash --emulate' on the virtual board, "
            f"{section['machine']}, at {section['when']}: image {section['image']}; {ran}. QEMU "
            "serves the firmware's semihosting itself and counts instructions, not cycles, so no "
            "latency is given."
        ]
    else:
        clock = section["clock_hz"]
        notes = [
            f"Flashed with pyOCD (target type {fmt_text(section['pyocd_target'])}) through probe "
            f"{section['host']} onto {section['machine']} at {section['when']}: image "
            f"{section['image']}, programmed and verified; {ran}.",
            "Cycles: the core's DWT cycle counter over one inference (median over the inputs); "
            f"latency: those cycles at {fmt(clock and clock / 1e6, 'g', ' MHz')}, the clock the "
            "firmware runs at. Instructions (QEMU): the build's count of the same model in QEMU.",
        ]
    return [Section("On the board", notes, records_table(rows, _FLASH))]


def deploy_sections(report: dict) -> list[Section]:
    """``edgekit deploy``: each artifact on a Linux board, against the reference, and timed."""
    section = report.get("deploy")
    if not section:
        return []
    rows = section["results"]  # a failed row has no figures: hence the .get below
    best = min((r["latency_ms"] for r in rows if r.get("latency_ms")), default=None)
    records = [
        {**r, "vs_fastest": r["latency_ms"] / best if best and r.get("latency_ms") else None}
        for r in rows
    ]
    notes = [
        f"Deployed to {section['host']} ({section['machine']}, {section['python']}) at "
        f"{section['when']}; the bundle is in {section['remote_dir']} there. Each artifact ran "
        f"on {fmt(section['inputs'], 'd')} evaluation inputs, compared with "
        f"{section['reference']} on the build machine.",
        fastest_line(rows, section["machine"])
        or "No artifact ran to completion on the board: no latency measured.",
    ]
    failed = [f"{r['backend']}: {r['error']}" for r in rows if r["status"] != "ok"]
    return [
        Section(
            "On the board",
            notes,
            records_table(records, _DEPLOY),
            footnotes=[f"Failed — {f}" for f in failed],
        )
    ]
