"""``report.md``: the report's sections as Markdown, user text escaped here."""

from __future__ import annotations

from edgekit.report.formatting import DASH, Section, Table
from edgekit.report.sections import GATE_WORDS, gate_summary, headline_facts, report_sections, title


def render_markdown(report: dict) -> str:
    """A readable summary: headline accuracy, worst layers, artifacts, stages, checks."""
    status, sentence = gate_summary(report)
    lines = [f"# {escape_md(title(report))}", ""]
    lines += [f"- **{label}:** {escape_md(value)}" for label, value in headline_facts(report)]
    lines += ["", f"**Gate: {GATE_WORDS[status]}** — {escape_md(sentence)}"]
    for section in report_sections(report):
        if not section.html_only:
            lines += md_section(section)
    lines += ["", f"{DASH} in a table means not measured. Plots are in report.html."]
    return "\n".join(lines) + "\n"


def escape_md(text: str) -> str:
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
        "| " + " | ".join(escape_md(cell) for cell in row) + " |"
        for row in (table.headers, tuple(rule), *table.rows)
    ]


def md_section(section: Section) -> list[str]:
    """``section`` as Markdown lines (none for an empty one): heading, notes, table, items,
    footnotes. The sweep's report is made of the same sections."""
    if not section.notes and section.table is None and not section.items:
        return []
    lines = ["", f"## {section.heading}"]
    lines += [item for note in section.notes for item in ("", escape_md(note))]
    if section.table is not None:
        lines += ["", *_md_table(section.table)]
    if section.items:
        lines += ["", *(f"- {escape_md(item)}" for item in section.items)]
    lines += [item for note in section.footnotes for item in ("", escape_md(note))]
    return lines
