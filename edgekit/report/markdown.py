"""``report.md``: the report's sections as Markdown, user text escaped here."""

from __future__ import annotations

from edgekit.report._format import DASH, Section, Table
from edgekit.report.sections import _GATE_WORDS, _facts, _sections, gate_summary, title


def render_markdown(report: dict) -> str:
    """A readable summary: headline accuracy, worst layers, artifacts, stages, checks."""
    status, sentence = gate_summary(report)
    lines = [f"# {_md(title(report))}", ""]
    lines += [f"- **{label}:** {_md(value)}" for label, value in _facts(report)]
    lines += ["", f"**Gate: {_GATE_WORDS[status]}** — {_md(sentence)}"]
    for section in _sections(report):
        if not section.html_only:
            lines += _md_section(section)
    lines += ["", f"{DASH} in a table means not measured. Plots are in report.html."]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Plain text made safe inside a Markdown table or line (no raw HTML, no broken cells)."""
    return (
        str(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def _md_table(table: Table) -> list[str]:
    rule = ["---:" if i in table.numeric else "---" for i in range(len(table.headers))]
    return [
        "| " + " | ".join(_md(cell) for cell in row) + " |"
        for row in (table.headers, tuple(rule), *table.rows)
    ]


def _md_section(section: Section) -> list[str]:
    if not section.notes and section.table is None and not section.items:
        return []
    lines = ["", f"## {section.heading}"]
    lines += [item for note in section.notes for item in ("", _md(note))]
    if section.table is not None:
        lines += ["", *_md_table(section.table)]
    if section.items:
        lines += ["", *(f"- {_md(item)}" for item in section.items)]
    lines += [item for note in section.footnotes for item in ("", _md(note))]
    return lines
