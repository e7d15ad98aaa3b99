"""The report's plots as inline SVG; matplotlib and numpy are imported only to draw one."""

from __future__ import annotations

import io
import math
import re

from edgekit.report.highlights import (
    confusion_matrices,
    costliest_layers,
    measured_layers,
    median_sqnr,
    worst_layers,
)

CONFUSION_COUNTS_UP_TO = 20  # classes; beyond this the cells are too small for numbers
CONFUSION_TICKS_UP_TO = 40
_BAR_COLOR, _WORST_COLOR = "#7f9cbf", "#c0392b"


def new_figure(width: float, height: float):
    from matplotlib.figure import Figure  # lazy: keeps `import edgekit.report` cheap

    return Figure(figsize=(width, height), layout="constrained")


def figure_svg(fig, salt: str) -> str:
    """The figure as an inline <svg> element: text stays text, ids are stable and unique per
    plot (``salt``), and the XML prolog and metadata, which carry external URLs, are dropped."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(
            buffer,
            format="svg",
            bbox_inches="tight",
            pad_inches=0.2,  # the browser's font may be wider than matplotlib's estimate
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S)


def sqnr_svg(layers: list[dict]) -> str:
    """Horizontal bars in network order (first layer on top), the worst ones in red."""
    from matplotlib.patches import Patch

    measured = measured_layers(layers)
    finite = [v for _, _, v in measured if math.isfinite(v)]
    ceiling = max(max(finite, default=0.0), 0.0) * 1.1 or 1.0  # where an exact layer is drawn
    worst = {i for i, _, _ in worst_layers(layers)}
    fig = new_figure(9, 1.5 + 0.17 * len(layers))
    ax = fig.add_subplot()
    ax.barh(
        [i for i, _, _ in measured],
        [v if math.isfinite(v) else math.copysign(ceiling, v) for _, _, v in measured],
        color=[_WORST_COLOR if i in worst else _BAR_COLOR for i, _, _ in measured],
        height=0.75,
    )
    ax.set_yticks(range(len(layers)), labels=_sqnr_labels(layers), fontsize=7)
    ax.set_ylim(len(layers) - 0.5, -0.5)
    handles = [Patch(color=_WORST_COLOR, label=f"{len(worst)} worst layers")]
    median = median_sqnr(layers)
    if median is not None:
        handles.append(
            ax.axvline(
                median, color="#333", linestyle="--", linewidth=1, label=f"median {median:.1f} dB"
            )
        )
    fig.legend(handles=handles, loc="outside upper left", ncols=2, fontsize=8, frameon=False)
    ax.set_xlabel("SQNR of int8 vs float output, dB (higher is better)")
    ax.tick_params(axis="x", top=True, labeltop=True)
    ax.grid(axis="x", alpha=0.3)
    return figure_svg(fig, "edgekit-sqnr")


def _sqnr_labels(layers: list[dict]) -> list[str]:
    """'<position> <name>', saying so where no bar can be drawn or the bar is capped."""
    labels = []
    for i, layer in enumerate(layers):
        value = layer["sqnr_db"]
        note = " (not measured)" if value is None else " (exact)" if math.isinf(value) else ""
        labels.append(plain_label(f"{i} {layer['name']}{note}"))
    return labels


def plain_label(text: str) -> str:
    """Text matplotlib draws as written: a pair of ``$`` would otherwise start math mode."""
    return text.replace("$", r"\$")


def instructions_svg(layers: list[tuple[int, str, float | None]], salt: int) -> str:
    """Horizontal bars in network order (first layer on top), the most expensive ones in red."""
    from matplotlib.patches import Patch

    measured = [(i, n) for i, _, n in layers if n is not None]
    total = sum(n for _, n in measured)
    costliest = {i for i, _, _ in costliest_layers(layers)}
    fig = new_figure(9, 1.5 + 0.17 * len(layers))
    ax = fig.add_subplot()
    ax.barh(
        [i for i, _ in measured],
        [n / 1e6 for _, n in measured],
        color=[_WORST_COLOR if i in costliest else _BAR_COLOR for i, _ in measured],
        height=0.75,
    )
    for i, n in measured:
        if i in costliest and total:
            ax.annotate(
                f" {n / total:.1%}", (n / 1e6, i), va="center", fontsize=7, color=_WORST_COLOR
            )
    labels = [
        plain_label(f"{i} {name}" + (" (not measured)" if n is None else ""))
        for i, name, n in layers
    ]
    ax.set_yticks(range(len(layers)), labels=labels, fontsize=7)
    ax.set_ylim(len(layers) - 0.5, -0.5)
    ax.set_xlim(0, max((n for _, n in measured), default=0) / 1e6 * 1.12 or 1)
    handles = [Patch(color=_WORST_COLOR, label=f"{len(costliest)} most expensive layers")]
    fig.legend(handles=handles, loc="outside upper left", fontsize=8, frameon=False)
    ax.set_xlabel("retired instructions per inference, millions (QEMU; % of all layers)")
    ax.tick_params(axis="x", top=True, labeltop=True)
    ax.grid(axis="x", alpha=0.3)
    return figure_svg(fig, f"edgekit-instructions-{salt}")


def confusion_svg(report: dict) -> str:
    """Heatmaps of the float and int8 confusion matrices side by side, counts in the cells."""
    import numpy as np

    matrices = confusion_matrices(report)
    classes = len(matrices[0][1])
    names = report["dataset"]["class_names"]
    labels = [str(n) for n in names] if len(names) == classes else [str(i) for i in range(classes)]
    side = min(max(3.5, 0.42 * classes + 1.5), 9.0)
    fig = new_figure(side * len(matrices), side)
    for position, (kind, matrix) in enumerate(matrices, start=1):
        counts = np.asarray(matrix, dtype=np.int64)
        ax = fig.add_subplot(1, len(matrices), position)
        ax.imshow(counts, cmap="Blues", vmin=0, interpolation="nearest")
        total = int(counts.sum())
        correct = f"{np.trace(counts) / total:.1%} correct" if total else "no samples"
        ax.set_title(f"{kind}: {correct}", fontsize=10)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if classes <= CONFUSION_TICKS_UP_TO:
            ax.set_xticks(
                range(classes),
                labels=labels,
                fontsize=7,
                rotation=90 if max(map(len, labels)) > 3 else 0,
            )
            ax.set_yticks(range(classes), labels=labels, fontsize=7)
        if classes <= CONFUSION_COUNTS_UP_TO:
            _write_counts(ax, counts)
    return figure_svg(fig, "edgekit-confusion")


def _write_counts(ax, counts) -> None:
    """Counts in the cells; zero cells stay blank so that the confusions stand out."""
    dark, size = counts.max() / 2, 8 if len(counts) <= 10 else 6
    for row, col in zip(*counts.nonzero(), strict=True):
        count = int(counts[row, col])
        color = "white" if count > dark else "#222"
        ax.text(col, row, str(count), ha="center", va="center", fontsize=size, color=color)
