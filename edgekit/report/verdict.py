"""The verdict: one row per compiled artifact, the first thing the report says.

Each row is derived from the rest of the report (the stage records, the artifact, validation and
benchmark rows, the failures), so ``edgekit validate`` and ``edgekit deploy`` update it by
rewriting the report. A failed artifact says why in one line; a skipped one says why it could not
run here.
"""

from __future__ import annotations

from typing import Any

from edgekit.report._format import DASH, Section, Table, _fmt, _pct, _text

FAILED, SKIPPED, PASSED, BUILT = "failed", "skipped", "ok", "built"
HEADERS = (
    "Artifact",
    "Status",
    "Built",
    "Ran on",
    "Bit-exact",
    "Top-1 agreement",
    "Fits",
    "Latency",
    "Why",
)


def verdict_rows(report: dict) -> list[dict]:
    """report.json's ``verdict``: per backend that was compiled (or failed to), in build order."""
    stages: dict[str, dict] = {}
    for stage in report.get("stages") or []:
        stages[stage.get("name", "")] = stage  # the latest record of a stage wins
    backends = [name.split(" ", 1)[1] for name in stages if name.startswith("compile ")]
    rows = []
    for backend in backends:
        mine = [f for f in report.get("failures") or [] if f.get("backend") == backend]
        artifact = _first(report.get("artifacts"), backend, lambda r: "arena_bytes" in r)
        validation = _first(report.get("validation"), backend)
        bench = _first(report.get("benchmark"), backend)
        skipped = stages.get(f"validate {backend}", {})
        if mine:
            status = FAILED
            reason = "; ".join(f"{f.get('stage')}: {f.get('reason')}" for f in mine)
        elif validation is not None:
            status, reason = PASSED, None
        elif skipped.get("status") == "skipped":
            status, reason = SKIPPED, f"not run here: {skipped.get('detail')}"
        else:
            status, reason = BUILT, "not validated"
        fits = (artifact or {}).get("fits") or {}
        rows.append(
            {
                "backend": backend,
                "status": status,
                "built": artifact is not None,
                "ran_on": (validation or {}).get("runner"),
                "bit_exact": (validation or {}).get("bit_exact"),
                "max_abs_diff": (validation or {}).get("max_abs_diff"),
                "top1_agreement": (validation or {}).get("top1_agreement"),
                "fits": fits.get("ok"),
                "latency_ms": (bench or {}).get("latency_ms"),
                "reason": reason,
            }
        )
    return rows


def _first(rows: list[dict] | None, backend: str, keep=lambda r: True) -> dict | None:
    return next((r for r in rows or [] if r.get("backend") == backend and keep(r)), None)


def verdict_section(report: dict) -> Section:
    rows = report.get("verdict")
    if rows is None:
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
                _text(r["ran_on"]),
                _exactness(r),
                _pct(r["top1_agreement"], DASH),
                {True: "yes", False: "NO"}.get(r["fits"], DASH),
                _fmt(r["latency_ms"], ".2f", " ms", DASH),
                _text(r["reason"]),
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
    return f"no, max diff {_fmt(row['max_abs_diff'], 'g', '', DASH)}"
