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


def as_number(value: Any) -> float | None:
    """A real number, or None for None, NaN, booleans and anything not numeric."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def fmt(value: Any, spec: str, unit: str = "", missing: str = MISSING) -> str:
    """``value`` in format ``spec`` (``d`` specs round to an integer) followed by ``unit``;
    ``missing`` where it is not a number."""
    x = as_number(value)
    if x is None:
        return missing
    if math.isinf(x):
        return ("∞" if x > 0 else "-∞") + unit
    return format(int(x) if spec.endswith("d") else x, spec) + unit


def fmt_pct(value: Any, missing: str = MISSING) -> str:
    """A fraction as a percentage with two decimals."""
    x = as_number(value)
    return fmt(None if x is None else x * 100, ".2f", "%", missing)


def fmt_size(value: Any) -> str:
    """Bytes in B, KiB, MiB or GiB; a dash where not measured."""
    x = as_number(value)
    if x is None:
        return DASH
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(x) >= scale:
            return f"{x / scale:.1f} {unit}"
    return f"{x:.0f} B"


def fmt_text(value: Any) -> str:
    return DASH if value is None else str(value)


def fmt_yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else DASH


def fmt_shape(value: Any) -> str:
    return "×".join(str(d) for d in value) if value else DASH


Column = tuple[str, str, Callable[[Any], str]]  # header, the record's key, how to write it
# How an artifact compared with the reference: the columns of every table of runs.
CHECK_COLUMNS: tuple[Column, ...] = (
    ("Bit-exact", "bit_exact", fmt_yes_no),
    ("Max abs diff", "max_abs_diff", lambda v: fmt(v, "g", "", DASH)),
    ("Top-1 agreement", "top1_agreement", lambda v: fmt_pct(v, DASH)),
    ("Agrees with float", "float_top1_agreement", lambda v: fmt_pct(v, DASH)),
)


def records_table(records: list[dict], columns: tuple[Column, ...]) -> Table | None:
    """One row per record, one cell per column (a key the record lacks reads as a dash);
    None for no records."""
    if not records:
        return None
    rows = [tuple(write(record.get(key)) for _, key, write in columns) for record in records]
    numeric = tuple(
        i for i, (_, _, write) in enumerate(columns) if write not in (fmt_text, fmt_yes_no)
    )
    return Table(tuple(header for header, _, _ in columns), rows, numeric)
