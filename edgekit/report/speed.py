"""Which artifact is fastest, said only where a latency could be measured: an artifact run
natively on the CPU it was built for (the host target, or a board reached by ``edgekit
deploy``). Under QEMU the time is the emulator's, so it is not compared."""

from __future__ import annotations

from edgekit.report._format import DASH, Column, Section, _fmt, _pct, _records_table, _text, _yes_no

_DEPLOY: tuple[Column, ...] = (
    ("Backend", "backend", _text),
    ("Computes in", "precision", _text),
    ("Status", "status", _text),
    ("Bit-exact", "bit_exact", _yes_no),
    ("Max abs diff", "max_abs_diff", lambda v: _fmt(v, "g", "", DASH)),
    ("Top-1 agreement", "top1_agreement", lambda v: _pct(v, DASH)),
    ("Agrees with float", "float_top1_agreement", lambda v: _pct(v, DASH)),
    ("Median latency", "latency_ms", lambda v: _fmt(v, ".2f", " ms", DASH)),
    ("vs fastest", "vs_fastest", lambda v: _fmt(v, ".2f", "×", DASH)),
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
    rows = report.get("benchmark") or []
    timed = [r for r in rows if r.get("latency_ms") is not None]
    if timed:
        return [
            fastest_line(timed, "the build machine") or "",
            "Latency: median wall time of one inference on one thread over the validation "
            "inputs, as each runner measured it.",
        ]
    family = (report.get("target_info") or {}).get("family")
    if rows and family == "linux":
        target = report.get("target") or "TARGET"
        return [
            "Latency not measured: the artifacts ran under QEMU user-mode emulation, whose time "
            f"is not the board's. 'edgekit deploy --target {target} --host USER@BOARD' runs "
            "them on the board and adds its latencies here."
        ]
    return []


_FLASH: tuple[Column, ...] = (
    ("Backend", "backend", _text),
    ("Status", "status", _text),
    ("Bit-exact", "bit_exact", _yes_no),
    ("Max abs diff", "max_abs_diff", lambda v: _fmt(v, "g", "", DASH)),
    ("Top-1 agreement", "top1_agreement", lambda v: _pct(v, DASH)),
    ("Agrees with float", "float_top1_agreement", lambda v: _pct(v, DASH)),
    ("Cycles (board)", "cycles", lambda v: _fmt(v, ",.0f", "", DASH)),
    ("Latency at clock", "latency_ms", lambda v: _fmt(v, ".2f", " ms", DASH)),
    ("Instructions (QEMU)", "qemu_count", lambda v: _fmt(v, ",d", "", DASH)),
)


def _flash_section(section: dict) -> Section:
    """``edgekit flash --validate``: the firmware on a board through pyOCD, or on QEMU's."""
    rows = [
        {**r, "qemu_count": r.get("instructions") or r.get("qemu_instructions")}
        for r in section.get("results") or []
    ]
    ran = (
        f"{_fmt(section.get('inputs'), 'd')} evaluation inputs, compared with "
        f"{_text(section.get('reference'))} on the build machine"
    )
    if section.get("emulated"):
        notes = [
            "Run by 'edgekit flash --emulate' on the virtual board, "
            f"{_text(section.get('machine'))}, at {_text(section.get('when'))}: image "
            f"{_text(section.get('image'))}; {ran}. QEMU "
            "serves the firmware's semihosting itself and counts instructions, not cycles, so no "
            "latency is given."
        ]
    else:
        clock = section.get("clock_hz")
        notes = [
            f"Flashed with pyOCD (target type {_text(section.get('pyocd_target'))}) through probe "
            f"{_text(section.get('host'))} onto {_text(section.get('machine'))} at "
            f"{_text(section.get('when'))}: image {_text(section.get('image'))}, programmed and "
            f"verified; {ran}.",
            "Cycles: the core's DWT cycle counter over one inference (median over the inputs); "
            f"latency: those cycles at {_fmt(clock and clock / 1e6, 'g', ' MHz')}, the clock the "
            "firmware runs at. Instructions (QEMU): the build's count of the same model in QEMU.",
        ]
    return Section("On the board", notes, _records_table(rows, _FLASH))


def deploy_sections(report: dict) -> list[Section]:
    section = report.get("deploy")
    if not section:
        return []
    if section.get("kind") == "flash":
        return [_flash_section(section)]
    rows = section.get("results") or []
    best = min((r["latency_ms"] for r in rows if r.get("latency_ms")), default=None)
    records = [
        {**r, "vs_fastest": r["latency_ms"] / best if best and r.get("latency_ms") else None}
        for r in rows
    ]
    notes = [
        f"Deployed to {_text(section.get('host'))} ({_text(section.get('machine'))}, "
        f"{_text(section.get('python'))}) at {_text(section.get('when'))}; the bundle is in "
        f"{_text(section.get('remote_dir'))} there. Each artifact ran on "
        f"{_fmt(section.get('inputs'), 'd')} evaluation inputs, compared with "
        f"{_text(section.get('reference'))} on the build machine."
    ]
    line = fastest_line(rows, _text(section.get("machine")))
    notes.append(line or "No artifact ran to completion on the board: no latency measured.")
    failed = [f"{r.get('backend')}: {r.get('error')}" for r in rows if r.get("status") != "ok"]
    return [
        Section(
            "On the board",
            notes,
            _records_table(records, _DEPLOY),
            footnotes=[f"Failed — {f}" for f in failed],
        )
    ]
