"""Shared pieces of the report: the plain-text table and section, and how figures are written.

A figure that was not measured reads ``MISSING`` in prose and ``DASH`` in a table, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MISSING = "not measured"
DASH = "—"


@dataclass(frozen=True)
class Table:
    """Already formatted cells; ``numeric`` holds the indexes of right-aligned columns."""

    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]
    numeric: tuple[int, ...] = ()
    row_classes: tuple[str, ...] = ()  # per row, for HTML (e.g. "failed" rows stand out)


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
    ("Agrees with float", "float_top1_agreement", lambda v: _pct(v, DASH)),
    ("Top-1 (labels)", "top1", lambda v: _pct(v, DASH)),
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
