"""The report stage: ``report.json`` for machines, ``report.md`` and ``report.html`` for people.

All three are rendered from the one report dict the pipeline builds. Its keys are a contract,
described in ``docs/report.md`` and checked by ``docs/report.schema.json``: renderers read the
keys it guarantees directly, and only the optional ones with ``.get``. A figure that was not
measured is ``None`` there and reads "not measured" (or "—" inside tables) here, never 0. Text
builders (``sections``, ``firmware``) produce plain text; each renderer (``markdown``, ``html``)
escapes it for its own format, so user data (layer names, paths, class names) is escaped in one
place. The HTML page is one self-contained file: inline CSS, plots as inline SVG (``plots``), no
external links.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.report.firmware import short_layer_name
from edgekit.report.html import render_html
from edgekit.report.markdown import render_markdown
from edgekit.report.sections import gate_summary, title
from edgekit.report.verdict import verdict_rows

__all__ = [
    "gate_summary",
    "render_html",
    "render_json",
    "render_markdown",
    "short_layer_name",
    "title",
    "write_rendered",
    "write_reports",
]


def write_reports(report: dict, out_dir: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir``; return paths.

    All three are rendered before any is written, and each is written to a temporary file
    that replaces the old one only once complete, so a failure never leaves a half-written or
    mismatched report behind. ``report["verdict"]`` is derived here from the rest, so every
    writer (build, validate, deploy) keeps it current.
    """
    report["verdict"] = verdict_rows(report)
    return write_rendered(report, Path(out_dir), "report", render_markdown, render_html)


def write_rendered(
    report: dict,
    out_dir: Path,
    stem: str,
    markdown: Callable[[dict], str],
    html: Callable[[dict], str],
) -> list[Path]:
    """``stem``.json, .md and .html of ``report`` into ``out_dir``, all rendered before any is
    written and each renamed into place whole (the sweep's report is written the same way)."""
    texts = {
        f"{stem}.json": render_json(report),
        f"{stem}.md": markdown(report),
        f"{stem}.html": html(report),
    }
    return [_write_atomically(Path(out_dir) / name, text) for name, text in texts.items()]


def render_json(report: dict) -> str:
    """The report dict as strict, indented JSON in its own key order.

    NaN and infinities have no JSON spelling and become null; numpy values become plain ones.
    """
    return json.dumps(_jsonable(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` next to ``path`` under a temporary name, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
