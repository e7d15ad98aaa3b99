"""The report's patch-based execution section: the plan, both arenas, where the new peak is,
the instruction overhead measured in QEMU, and the live bytes of each layer with both plans."""

from __future__ import annotations

from edgekit.report.firmware import short_layer_name
from edgekit.report.formatting import DASH, Section, Table, fmt, fmt_pct, fmt_size
from edgekit.report.plots import figure_svg, new_figure, plain_label

_WITH, _WITHOUT = "#c0392b", "#7f9cbf"


def patch_sections(report: dict) -> list[Section]:
    """One section per artifact built with patch-based execution."""
    sections = []
    for artifact in report["artifacts"]:
        p = artifact.get("patches")
        if not p:
            continue
        backend = artifact["backend"]
        # the artifact's benchmark row, if it ran; the figures without patches only with patches
        bench = next((r for r in report["benchmark"] if r["backend"] == backend), {})
        arena, without = p["arena_bytes"], p["arena_bytes_without"]
        measured = bench.get("patch_overhead")
        notes = [
            f"{backend}: the first {len(p['stage_layers'])} layers, up to "
            f"{short_layer_name(p['cut'])} (output {_shape(p['cut_shape'])}), run patch by "
            f"patch: a {p['grid']} grid of {p['tiles']} tiles of that "
            "output, each computing the part of every earlier layer it needs, the overlap with its "
            "neighbours computed again. The later layers run layer by layer on the whole output. "
            + _chosen(p),
            f"Arena {fmt_size(arena)} with patches, {fmt_size(without)} layer by layer"
            + (f" ({arena / without:.0%})." if without else ".")
            + f" The patch buffers take {fmt_size(p['patch_bytes'])} of it; the peak is now "
            f"{_peak(p)}.",
            f"Instructions per inference: {fmt(bench.get('instructions'), ',d')} with patches "
            f"(the mean over the inputs), {fmt(bench.get('instructions_without_patches'), ',d')} "
            "layer by layer on the first input; on that input, measured in QEMU, patches cost "
            f"{_overhead(measured)} (estimated "
            f"{fmt_pct(p['estimated_overhead'])} when the plan was chosen). The per-layer "
            "checks of this firmware start at the cut: the earlier layers' outputs are never "
            "whole.",
        ]
        rows = [
            ("Arena", fmt_size(without), fmt_size(arena)),
            ("Peak", short_layer_name(p["peak_without"]), _peak(p)),
            (
                "Instructions per inference",
                fmt(bench.get("instructions_without_patches"), ",d", "", DASH),
                fmt(bench.get("instructions"), ",d", "", DASH),
            ),
        ]
        live = p["live_bytes"]
        sections.append(
            Section(
                f"Patch-based execution: {backend}",
                notes,
                Table(("", "Layer by layer", "With patches"), rows, (1, 2)),
                plot=(lambda live=live, p=p, b=backend: _live_svg(live, p["cut_op"], b))
                if live["with"]
                else None,
            )
        )
    return sections


def _chosen(p: dict) -> str:
    """How --patches chose the plan, in one sentence."""
    within = {"arena-limit": "--arena-limit", "board RAM": "what the board's RAM leaves"}
    limit = p.get("limit_bytes")
    where = f"{fmt_size(limit)} ({within.get(p.get('limit_from'), '')})" if limit else ""
    if p.get("chosen") == "fastest":
        return f"The plan is the one with the least estimated work whose arena fits {where}."
    if p.get("chosen") == "grid":
        return "The grid or cut was named on the command line."
    if limit:
        return (
            f"No plan fits {where}: this is the smallest arena within --patch-overhead, "
            "built with --force."
        )
    return "The plan is the smallest arena within --patch-overhead (--patches smallest)."


def _shape(shape: list[int]) -> str:
    """The shape without its batch dimension: 24x24x16."""
    return "x".join(str(n) for n in shape[1:])


def _peak(p: dict) -> str:
    return "the patch stage" if p["peak"] == "patch stage" else short_layer_name(p["peak"])


def _overhead(measured: float | None) -> str:
    if measured is None:
        return "overhead not measured"
    return f"{measured:.1%} more" if measured >= 0 else f"{-measured:.1%} fewer"


def _live_svg(live: dict, cut: int, salt: str) -> str:
    """Bytes live during each layer, layer by layer and with patches, the stage shaded."""
    names = [short_layer_name(n) for n in live["layers"]]
    fig = new_figure(9, 3.6)
    ax = fig.add_subplot()
    x = range(len(names))
    ax.axvspan(-0.5, cut + 0.5, color="#f3e0dc", label="patch stage")
    ax.step(
        x, [n / 1024 for n in live["without"]], where="mid", color=_WITHOUT, label="layer by layer"
    )
    ax.step(x, [n / 1024 for n in live["with"]], where="mid", color=_WITH, label="with patches")
    labels = [plain_label(f"{i} {n}") for i, n in enumerate(names)]
    ax.set_xticks(list(x), labels=labels, rotation=90, fontsize=6)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("live bytes during the layer, KiB")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside upper left", ncols=3, fontsize=8, frameon=False)
    return figure_svg(fig, f"edgekit-live-{salt}")
