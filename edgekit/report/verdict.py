"""The verdict: one row per compiled artifact, the first thing the report says.

Each row is derived from the rest of the report (the stage records, the artifact, validation and
benchmark rows, the failures), so ``edgekit validate`` and ``edgekit deploy`` update it by
rewriting the report. A failed artifact says why in one line; a skipped one says why it could not
run here.
"""

from __future__ import annotations

from typing import Any

from edgekit.report.formatting import DASH, Section, Table, fmt, fmt_pct, fmt_text

FAILED, SKIPPED, PASSED, BUILT = "failed", "skipped", "ok", "built"


def verdict_rows(report: dict) -> list[dict]:
    """report.json's ``verdict``: per backend that was compiled (or failed to), in build order."""
    stages = {stage["name"]: stage for stage in report["stages"]}  # the latest record wins
    backends = [name.split(" ", 1)[1] for name in stages if name.startswith("compile ")]
    rows = []
    for backend in backends:
        mine = [f for f in report["failures"] if f["backend"] == backend]
        # a compiled artifact's row (the onnx backend shares its name with ONNX's model rows)
        artifact = _first(report["artifacts"], backend, lambda r: "arena_bytes" in r)
        validation = _first(report["validation"], backend)
        bench = _first(report["benchmark"], backend)
        skipped = stages.get(f"validate {backend}")
        compiled = stages[f"compile {backend}"]
        if compiled["status"] == "skipped":
            status, reason = SKIPPED, f"cannot take this model: {compiled['detail']}"
        elif mine:
            status = FAILED
            reason = "; ".join(f"{f['stage']}: {f['reason']}" for f in mine)
        elif validation is not None:
            status, reason = PASSED, None
        elif skipped is not None and skipped["status"] == "skipped":
            status, reason = SKIPPED, f"not run here: {skipped['detail']}"
        else:
            status, reason = BUILT, "not validated"
        fits = artifact.get("fits") if artifact else None  # for boards with a budget only
        rows.append(
            {
                "backend": backend,
                "status": status,
                "built": artifact is not None,
                "ran_on": _field(validation, "runner"),
                "bit_exact": _field(validation, "bit_exact"),
                "max_abs_diff": _field(validation, "max_abs_diff"),
                "top1_agreement": _field(validation, "top1_agreement"),
                "fits": _field(fits, "ok"),
                "latency_ms": _field(bench, "latency_ms"),
                "reason": reason,
            }
        )
    return rows


def _first(rows: list[dict], backend: str, keep=lambda r: True) -> dict | None:
    return next((r for r in rows if r["backend"] == backend and keep(r)), None)


def _field(row: dict | None, key: str) -> Any:
    """``row[key]``, or None where there is no row (the artifact did not run, has no budget)."""
    return None if row is None else row[key]


def verdict_section(report: dict) -> Section:
    """The verdict table, derived afresh (as ``write_reports`` stores it)."""
    rows = verdict_rows(report)
    if not rows:
        return Section("Verdict", [])
    failed = [r for r in rows if r["status"] == FAILED]
    skipped = [r for r in rows if r["status"] == SKIPPED]
    if failed:
        note = f"{len(failed)} of {len(rows)} artifacts FAILED: " + ", ".join(
            r["backend"] for r in failed
        )
    else:
        note = f"All {len(rows)} artifacts built"
        note += " and checked." if not skipped else f"; {len(skipped)} could not run here."
    table = Table(
        (
            "Artifact",
            "Status",
            "Built",
            "Ran on",
            "Bit-exact",
            "Top-1 agreement",
            "Fits",
            "Latency",
            "Why",
        ),
        [
            (
                r["backend"],
                r["status"].upper() if r["status"] in (FAILED, SKIPPED) else r["status"],
                "yes" if r["built"] else "no",
                fmt_text(r["ran_on"]),
                _exactness(r),
                fmt_pct(r["top1_agreement"], DASH),
                {True: "yes", False: "NO"}.get(r["fits"], DASH),
                fmt(r["latency_ms"], ".2f", " ms", DASH),
                fmt_text(r["reason"]),
            )
            for r in rows
        ],
        numeric=(5, 7),
        row_classes=tuple(r["status"] for r in rows),
    )
    return Section("Verdict", [note], table)


def _exactness(row: dict[str, Any]) -> str:
    if row["bit_exact"] is None:
        return DASH
    if row["bit_exact"]:
        return "yes"
    return f"no, max diff {fmt(row['max_abs_diff'], 'g', '', DASH)}"
