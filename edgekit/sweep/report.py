"""The sweep's report: ``sweep.json`` for machines, ``sweep.md`` and one self-contained
``sweep.html`` for people (the build report's tables and renderers, Pareto plots as inline SVG).

One row per point. The best point is the one with the highest int8 top-1 among the points that
built, validated and fit the board (fewer instructions break a tie). A point is on a Pareto
front when no other point is at least as accurate and at least as cheap, and better in one.
"""

from __future__ import annotations

from pathlib import Path

from edgekit import __version__
from edgekit.report import write_rendered
from edgekit.report.formatting import DASH, Section, Table, fmt, fmt_pct, fmt_size, fmt_yes_no
from edgekit.report.html import escape_html, html_facts, html_page
from edgekit.report.markdown import escape_md, md_section

PARETO_METRICS = {
    "instructions": "instructions per inference",
    "arena_bytes": "arena",
    "flash_bytes": "flash",
}
NONDETERMINISM = (
    "Arena and RAM follow from the model's shape alone. Training is seeded and every build "
    "runs 2 TensorFlow threads, so a point gets the same weights, and the same figures, on "
    "either engine on the same kind of CPU. On another kind of CPU a trained point's weights "
    "can differ in their last bits, and with them its accuracy and, by a fraction of a "
    "percent, its instructions and flash (the int8 scales steer data-dependent paths and the "
    "kernel variants chosen)."
)


def sweep_report(spec, target, engine: dict, rows: list[dict], seconds: float) -> dict:
    """The sweep dict (``sweep.json``): the inputs, the engine, one row per point, the best
    point that fits and the Pareto fronts."""
    best = best_point(rows)
    return {
        "edgekit_version": __version__,
        "target": target.name,
        "board": target.board,
        "budgets": {"ram_bytes": target.ram_bytes, "flash_bytes": target.flash_bytes},
        "data": spec.build.data_spec,
        "alphas": list(spec.alphas),
        "resolutions": list(spec.resolutions),
        "epochs": spec.epochs,
        "validate_inputs": spec.build.validate_inputs,
        "calibration_samples": spec.build.calibration_samples,
        "checkpoints": spec.checkpoints,
        "engine": engine,
        "seconds": round(seconds, 1),
        "points_built": sum(not r.get("reused") for r in rows),
        "points_reused": sum(bool(r.get("reused")) for r in rows),
        "points_failed": sum(r["status"] != "ok" for r in rows),
        "best": best["name"] if best else None,
        "pareto": {metric: pareto_front(rows, metric) for metric in PARETO_METRICS},
        "points": rows,
    }


def _measured(rows: list[dict], metric: str | None = None) -> list[dict]:
    return [
        r
        for r in rows
        if r["status"] == "ok"
        and r["int8_top1"] is not None
        and (metric is None or r[metric] is not None)
    ]


def best_point(rows: list[dict]) -> dict | None:
    fitting = [r for r in _measured(rows) if r["fits"]["ok"]]
    return max(
        fitting,
        key=lambda r: (r["int8_top1"], -(r["instructions"] or float("inf"))),
        default=None,
    )


def pareto_front(rows: list[dict], metric: str) -> list[str]:
    """The names of the points no other point beats on both int8 top-1 and ``metric``,
    cheapest first."""
    points = _measured(rows, metric)

    def beats(a: dict, b: dict) -> bool:
        return (
            a[metric] <= b[metric]
            and a["int8_top1"] >= b["int8_top1"]
            and (a[metric] < b[metric] or a["int8_top1"] > b["int8_top1"])
        )

    front = [r for r in points if not any(beats(o, r) for o in points)]
    return [r["name"] for r in sorted(front, key=lambda r: r[metric])]


def write_sweep_reports(report: dict, out: Path) -> list[Path]:
    """``sweep.json``, ``sweep.md`` and ``sweep.html`` into ``out``, each rendered first and
    renamed into place whole."""
    return write_rendered(report, Path(out), "sweep", render_markdown, render_html)


# ---------------------------------------------------------------- text


def point_line(row: dict) -> str:
    """One line per finished point, for the progress output."""
    if row["status"] != "ok" and row["int8_top1"] is None:
        return f"{row['name']}: FAILED, {row['reason']}"
    line = (
        f"{row['name']}: int8 top-1 {fmt_pct(row['int8_top1'])}, "
        f"{fmt(row['instructions'], ',d')} instructions, arena {fmt_size(row['arena_bytes'])}, "
        f"flash {fmt_size(row['flash_bytes'])}; {_fits(row)}"
    )
    return line if row["status"] == "ok" else f"{line}; FAILED, {row['reason']}"


def _fits(row: dict) -> str:
    fits = row["fits"]
    if fits["ok"] is None:
        return DASH
    if fits["ok"]:
        return "fits"
    over = [
        f"{what} +{fmt_size(fits[key])}"
        for what, key in (("RAM", "ram_over_bytes"), ("flash", "flash_over_bytes"))
        if fits[key]
    ]
    return "misses by " + ", ".join(over)


def title(report: dict) -> str:
    return f"Sweep: MobileNetV2 for {report['target']} ({report['board']})"


def headline(report: dict) -> str:
    """The best point that fits, in one sentence (or why there is none)."""
    budgets = (
        f"{report['board']} ({fmt_size(report['budgets']['ram_bytes'])} RAM, "
        f"{fmt_size(report['budgets']['flash_bytes'])} flash)"
    )
    rows = {r["name"]: r for r in report["points"]}
    if report["best"] is None:
        measured = _measured(report["points"])
        if not measured:
            return f"No point was measured, so none is known to fit {budgets}."
        closest = min(
            measured,
            key=lambda r: (r["fits"]["ram_over_bytes"] or 0) + (r["fits"]["flash_over_bytes"] or 0),
        )
        return f"No point fits {budgets}; the closest, {closest['name']}, {_fits(closest)}."
    best = rows[report["best"]]
    return (
        f"Best point that fits {budgets}: {best['name']} (alpha {best['alpha']:g}, "
        f"{best['resolution']}x{best['resolution']}), int8 top-1 {fmt_pct(best['int8_top1'])}, "
        f"{fmt(best['instructions'], ',d')} instructions per inference, arena "
        f"{fmt_size(best['arena_bytes'])}, flash {fmt_size(best['flash_bytes'])}, RAM "
        f"{fmt_size(best['ram_bytes'])}."
    )


def _facts(report: dict) -> list[tuple[str, str]]:
    engine = report["engine"]
    where = (
        f"local process pool, {engine['jobs']} at a time, {engine['threads_per_point']} "
        "threads each"
        if engine["name"] == "local"
        else f"Ray ({engine['address']}), {engine['cpus_per_point']} CPUs per point"
    )
    epochs = report["epochs"]
    return [
        ("Target", f"{report['target']} on {report['board']}"),
        (
            "Budgets",
            f"RAM {fmt_size(report['budgets']['ram_bytes'])}, "
            f"flash {fmt_size(report['budgets']['flash_bytes'])}",
        ),
        ("Grid", f"alpha {_list(report['alphas'])} x resolution {_list(report['resolutions'])}"),
        ("Data", str(report["data"])),
        (
            "Training",
            (_epochs(epochs) if epochs else "3 epochs from a checkpoint, 15 from scratch")
            + f"; checkpoints: {report['checkpoints'] or 'shipped'}",
        ),
        ("Engine", where),
        (
            "Points",
            f"{len(report['points'])}: {report['points_built']} built, "
            f"{report['points_reused']} already built, {report['points_failed']} failed",
        ),
        ("Wall time", f"{report['seconds']:.0f} s"),
    ]


def _list(values: list) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _weights(row: dict) -> str:
    w = row["weights"]
    return w["from"] if w["epochs"] == 0 else f"{w['from']}, {_epochs(w['epochs'])}"


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _points_table(report: dict) -> Table:
    best = report["best"]
    rows = [
        (
            r["name"] + (" (best)" if r["name"] == best else ""),
            f"{r['alpha']:g}",
            str(r["resolution"]),
            _weights(r),
            fmt_pct(r["float_top1"], DASH),
            fmt_pct(r["int8_top1"], DASH),
            fmt(r["instructions"], ",d", "", DASH),
            fmt_size(r["arena_bytes"]),
            fmt_size(r["flash_bytes"]),
            fmt_size(r["ram_bytes"]),
            _fits(r),
            fmt_yes_no(r["bit_exact"]),
            ("FAILED" if r["status"] != "ok" else "already built" if r.get("reused") else "built"),
        )
        for r in report["points"]
    ]
    headers = (
        "Point",
        "Alpha",
        "Resolution",
        "Weights",
        "Float top-1",
        "Int8 top-1",
        "Instructions",
        "Arena",
        "Flash",
        "RAM",
        "Fits",
        "Bit-exact",
        "Status",
    )
    classes = tuple("failed" if r["status"] != "ok" else "" for r in report["points"])
    return Table(headers, rows, (1, 2, 4, 5, 6, 7, 8, 9), classes)


def _sections(report: dict) -> list[Section]:
    failed = [f"{r['name']}: {r['reason']}" for r in report["points"] if r["status"] != "ok"]
    fronts = [
        f"Pareto front, int8 top-1 against {label}: "
        + (", ".join(report["pareto"][metric]) or DASH)
        for metric, label in PARETO_METRICS.items()
    ]
    return [
        Section(
            "Points",
            [],
            _points_table(report),
            footnotes=[
                "Instructions: retired instructions per inference in QEMU (-icount), a proxy "
                "for cycles, not a latency. Arena: the C model's one static activation buffer; "
                "RAM and flash: the firmware's. Bit-exact: every output byte against TFLite's "
                "reference kernels. Each point's build report is in points/<point>/report.html.",
                NONDETERMINISM,
            ],
        ),
        Section("Pareto fronts", fronts, plot=lambda: _pareto_svgs(report)),
        Section("Failed points", [], items=failed),
    ]


def render_markdown(report: dict) -> str:
    lines = [f"# {escape_md(title(report))}", "", f"**{escape_md(headline(report))}**", ""]
    lines += [f"- **{label}:** {escape_md(value)}" for label, value in _facts(report)]
    for section in _sections(report):
        lines += md_section(section)
    lines += ["", f"{DASH} in a table means not measured. Plots are in sweep.html."]
    return "\n".join(lines) + "\n"


def render_html(report: dict) -> str:
    status = "passed" if report["best"] else "failed"
    best = f"<p class='gate {status}'><b>{escape_html(headline(report))}</b></p>"
    return html_page(title(report), [best, html_facts(_facts(report))], _sections(report))


# ---------------------------------------------------------------- plots


def _pareto_svgs(report: dict) -> str:
    """Int8 top-1 against instructions, arena (RAM budget drawn) and flash (flash budget
    drawn): points that fit filled, points that miss hollow red, the front dashed."""
    budgets = report["budgets"]
    plots = [
        ("instructions", 1e-6, "instructions per inference, millions (QEMU)", None),
        ("arena_bytes", 1 / 1024, "arena, KiB", ("RAM budget", budgets["ram_bytes"])),
        ("flash_bytes", 1 / 1024, "flash, KiB", ("flash budget", budgets["flash_bytes"])),
    ]
    return "".join(_pareto_svg(report, *plot) for plot in plots)


def _pareto_svg(report: dict, metric: str, scale: float, label: str, budget) -> str:
    from edgekit.report.plots import figure_svg, new_figure, plain_label

    rows = _measured(report["points"], metric)
    fig = new_figure(6.5, 4.2)
    ax = fig.add_subplot()
    for fits, style in ((True, {"color": "#2e6da4"}), (False, {"facecolors": "none"})):
        chosen = [r for r in rows if bool(r["fits"]["ok"]) == fits]
        if not chosen:
            continue
        ax.scatter(
            [r[metric] * scale for r in chosen],
            [100 * r["int8_top1"] for r in chosen],
            s=40,
            edgecolors="#2e6da4" if fits else "#c0392b",
            label="fits the board" if fits else "misses the board",
            zorder=3,
            **style,
        )
    labels: dict[tuple, list[str]] = {}  # points that coincide share one label
    for r in rows:
        labels.setdefault((r[metric] * scale, 100 * r["int8_top1"]), []).append(r["name"])
    for xy, names in labels.items():
        ax.annotate(
            plain_label(", ".join(names)), xy, textcoords="offset points", xytext=(4, 4), fontsize=7
        )
    names = {r["name"]: r for r in rows}
    front = [names[n] for n in report["pareto"][metric] if n in names]
    if front:
        ax.step(
            [r[metric] * scale for r in front],
            [100 * r["int8_top1"] for r in front],
            where="post",
            linestyle="--",
            color="#555",
            linewidth=1,
            label="Pareto front",
        )
    if report["best"] in names:
        best = names[report["best"]]
        ax.scatter(
            [best[metric] * scale],
            [100 * best["int8_top1"]],
            marker="*",
            s=180,
            color="#e0a800",
            label=f"best that fits: {best['name']}",
            zorder=4,
        )
    if budget is not None and budget[1]:
        ax.axvline(
            budget[1] * scale,
            color="#c0392b",
            linewidth=1.2,
            label=f"{budget[0]} {fmt_size(budget[1])} ({report['board']})",
        )
    ax.set_xlabel(label)
    ax.set_ylabel("int8 top-1, %")
    ax.grid(alpha=0.3)
    ax.set_title(f"int8 top-1 against {PARETO_METRICS[metric]}", fontsize=10)
    if ax.get_legend_handles_labels()[0]:  # nothing measured and no budget: no legend
        ax.legend(fontsize=7, loc="best")
    return figure_svg(fig, f"edgekit-sweep-{metric}")
