"""``report.html``: one self-contained page, user text escaped here, plots inline."""

from __future__ import annotations

import html

from edgekit.report.formatting import DASH, Section, Table
from edgekit.report.sections import GATE_WORDS, gate_summary, headline_facts, report_sections, title


def render_html(report: dict) -> str:
    """One self-contained HTML page: the summary of ``render_markdown`` plus SVG plots."""
    status, sentence = gate_summary(report)
    word = GATE_WORDS[status]
    gate = f"<p class='gate {status}'><b>Gate: {word}</b> — {escape_html(sentence)}</p>"
    facts = html_facts(headline_facts(report))
    return html_page(title(report), [facts, gate], report_sections(report))


def html_page(heading: str, head: list[str], sections: list[Section]) -> str:
    """A self-contained page (inline CSS): the heading, ``head`` (HTML, already escaped), the
    sections, and what a dash in a table means. The sweep's page is made the same way."""
    body = [
        f"<h1>{escape_html(heading)}</h1>",
        *head,
        *(_html_section(section) for section in sections),
        f"<p class='note'>{DASH} in a table means not measured.</p>",
    ]
    return _HTML_PAGE.format(title=escape_html(heading), style=_CSS, body="\n".join(body))


def html_facts(facts: list[tuple[str, str]]) -> str:
    """(label, text) pairs as the page's list of facts."""
    items = "".join(f"<li><b>{escape_html(k)}:</b> {escape_html(v)}</li>" for k, v in facts)
    return f"<ul class='facts'>{items}</ul>"


def escape_html(text: str) -> str:
    """Plain text made safe inside HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def _html_table(table: Table) -> str:
    def cells(tag: str, row: tuple[str, ...]) -> str:
        return "".join(
            f"<{tag}{' class=num' if i in table.numeric else ''}>{escape_html(c)}</{tag}>"
            for i, c in enumerate(row)
        )

    classes = table.row_classes or ("",) * len(table.rows)
    body = "".join(
        f"<tr{f' class={c}' if c else ''}>{cells('td', row)}</tr>"
        for row, c in zip(table.rows, classes)
    )
    return (
        f"<table><thead><tr>{cells('th', table.headers)}</tr></thead><tbody>{body}</tbody></table>"
    )


def _html_section(section: Section) -> str:
    if not section.notes and section.table is None and not section.items and not section.plot:
        return ""
    parts = [f"<section><h2>{escape_html(section.heading)}</h2>"]
    parts += [f"<p>{escape_html(note)}</p>" for note in section.notes]
    if section.plot is not None:
        parts.append(f"<figure>{section.plot()}</figure>")
    if section.table is not None:
        parts.append(_html_table(section.table))
    parts += [f"<p class='note'>{escape_html(note)}</p>" for note in section.footnotes]
    if section.items:
        parts.append(
            "<ul>"
            + "".join(f"<li><code>{escape_html(i)}</code></li>" for i in section.items)
            + "</ul>"
        )
    if section.more is not None:
        parts.append(
            f"<details><summary>All {len(section.more.rows)} rows</summary>"
            f"{_html_table(section.more)}</details>"
        )
    return "\n".join(parts) + "</section>"


_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { border: 1px solid #ddd; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #f3f5f8; } tbody tr:nth-child(even) { background: #fafbfc; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.gate { padding: .6em 1em; border-radius: 4px; border-left: 6px solid; }
.passed { background: #e8f6ec; border-color: #2e8b57; }
.failed { background: #fdecea; border-color: #c0392b; }
.unchecked { background: #f3f3f3; border-color: #888; }
tr.failed td { background: #fdecea; color: #8b1a10; font-weight: 600; }
tr.skipped td { background: #fff6e0; color: #7a5200; }
figure { margin: 1em 0; overflow-x: auto; } figure svg { max-width: 100%; height: auto; }
.facts { list-style: none; padding: 0; } .note { color: #666; font-size: .9em; }
"""


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
</body>
</html>
"""
