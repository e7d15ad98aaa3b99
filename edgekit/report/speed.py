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
    Table,
    fmt,
    fmt_size,
    fmt_text,
    fmt_yes_no,
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


def float32_sections(report: dict) -> list[Section]:
    """int8 against float32 where the model runs (``edgekit.floatref``): on the board in
    QEMU for a microcontroller, on this host's CPU for a Linux board."""
    section = report.get("float32")
    if not section:
        return []
    heading = "int8 against float32 " + ("on the board" if section["where"] == "board" else "")
    if section["reason"]:
        return [Section(heading.strip(), [f"float32 not measured: {section['reason']}."])]
    int8, f32 = section["int8"], section["float32"]
    if section["where"] == "board":
        notes = [
            f"The float model compiled by the c backend with float32 reference kernels (the "
            f"FPU's instructions, no patches) and run by {section['runner']}, beside the int8 "
            "firmware of this build. Instructions: QEMU's count on the first evaluation input "
            "(int8: the mean over the validated inputs). The float32 build is forced past the "
            "board's budget when it exceeds it, to be measured.",
            f"The float32 C's outputs differ from LiteRT's float32 ones by at most "
            f"{fmt(f32['max_abs_diff'], '.3g')} on that input.",
        ]
        rows = [
            ("Instructions per inference", "instructions", lambda v: fmt(v, ",d", "", DASH)),
            ("Arena", "arena_bytes", fmt_size),
            ("Flash", "flash_bytes", fmt_size),
            ("RAM", "ram_bytes", fmt_size),
        ]
    else:
        notes = [
            f"The board is not here: these are the host's figures, {section['runner']}, the "
            "median over timed inferences of the first evaluation input, to compare the two "
            "precisions on one CPU. The board's own latency comes from 'edgekit deploy'."
        ]
        rows = [
            ("Latency on this host", "latency_ms", lambda v: fmt(v, ".3f", " ms", DASH)),
            ("Model file", "flash_bytes", fmt_size),
        ]
    table = [
        (label, show(int8[key]), show(f32[key]), _ratio(f32[key], int8[key]))
        for label, key, show in rows
    ]
    if section["where"] == "board":
        table.append(("Fits the board", fmt_yes_no(int8["fits"]), fmt_yes_no(f32["fits"]), ""))
    return [
        Section(
            heading.strip(),
            notes,
            Table(("", "int8", "float32", "float32 / int8"), table, (1, 2, 3)),
        )
    ]


def _ratio(a, b) -> str:
    return (
        f"{a / b:.2f}×"
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b
        else DASH
    )
