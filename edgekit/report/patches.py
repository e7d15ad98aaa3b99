"""The report's patch-based execution section: the plan, both arenas, where the new peak is,
the instruction overhead measured in QEMU, and the live bytes of each layer with both plans."""

from __future__ import annotations

from typing import Any

from edgekit.report._format import DASH, Section, Table, _fmt, _number, _pct, _size, _text
from edgekit.report.firmware import short_layer_name
from edgekit.report.plots import _new_figure, _plain, _svg

_WITH, _WITHOUT = "#c0392b", "#7f9cbf"


def _benchmark(report: dict, backend: Any) -> dict:
    rows = [r for r in report.get("benchmark") or [] if r.get("backend") == backend]
    return rows[0] if rows else {}


def patch_sections(report: dict) -> list[Section]:
    sections = []
    for artifact in report.get("artifacts") or []:
        p = artifact.get("patches")
        if not p:
            continue
        backend = artifact.get("backend")
        bench = _benchmark(report, backend)
        arena, without = _number(p.get("arena_bytes")), _number(p.get("arena_bytes_without"))
        measured = _number(bench.get("patch_overhead"))
        stage = p.get("stage_layers") or []
        notes = [
            f"{_text(backend)}: the first {len(stage)} layers, up to "
            f"{short_layer_name(p.get('cut'))} (output {_shape(p.get('cut_shape'))}), run patch by "
            f"patch: a {_text(p.get('grid'))} grid of {_text(p.get('tiles'))} tiles of that "
            "output, each computing the part of every earlier layer it needs, the overlap with its "
            "neighbours computed again. The later layers run layer by layer on the whole output.",
            f"Arena {_size(arena)} with patches, {_size(without)} layer by layer"
            + (f" ({arena / without:.0%})." if arena is not None and without else ".")
            + f" The patch buffers take {_size(p.get('patch_bytes'))} of it; the peak is now "
            f"{_peak(p)}.",
            f"Instructions per inference: {_fmt(bench.get('instructions'), ',d')} with patches "
            f"(the mean over the inputs), {_fmt(bench.get('instructions_without_patches'), ',d')} "
            "layer by layer on the first input; on that input, measured in QEMU, patches cost "
            f"{_overhead(measured)} (estimated "
            f"{_pct(p.get('estimated_overhead'))} when the plan was chosen). The per-layer "
            "checks of this firmware start at the cut: the earlier layers' outputs are never "
            "whole.",
        ]
        rows = [
            ("Arena", _size(without), _size(arena)),
            ("Peak", short_layer_name(p.get("peak_without") or DASH), _peak(p)),
            (
                "Instructions per inference",
                _fmt(bench.get("instructions_without_patches"), ",d", "", DASH),
                _fmt(bench.get("instructions"), ",d", "", DASH),
            ),
        ]
        live = p.get("live_bytes") or {}
        sections.append(
            Section(
                f"Patch-based execution: {_text(backend)}",
                notes,
                Table(("", "Layer by layer", "With patches"), rows, (1, 2)),
                plot=(lambda live=live, p=p, b=backend: _live_svg(live, int(p["cut_op"]), _text(b)))
                if live.get("with")
                else None,
            )
        )
    return sections


def _shape(shape: Any) -> str:
    return "x".join(str(n) for n in shape[1:]) if isinstance(shape, list) else DASH


def _peak(p: dict) -> str:
    peak = p.get("peak")
    return "the patch stage" if peak == "patch stage" else short_layer_name(peak or DASH)


def _overhead(measured: float | None) -> str:
    if measured is None:
        return "overhead not measured"
    return f"{measured:.1%} more" if measured >= 0 else f"{-measured:.1%} fewer"


def _live_svg(live: dict, cut: int, salt: str) -> str:
    """Bytes live during each layer, layer by layer and with patches, the stage shaded."""
    names = [short_layer_name(n) for n in live.get("layers") or []]
    fig = _new_figure(9, 3.6)
    ax = fig.add_subplot()
    x = range(len(names))
    ax.axvspan(-0.5, cut + 0.5, color="#f3e0dc", label="patch stage")
    ax.step(
        x, [n / 1024 for n in live["without"]], where="mid", color=_WITHOUT, label="layer by layer"
    )
    ax.step(x, [n / 1024 for n in live["with"]], where="mid", color=_WITH, label="with patches")
    ax.set_xticks(list(x), labels=[_plain(f"{i} {n}") for i, n in enumerate(names)], rotation=90,
                  fontsize=6)  # fmt: skip
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("live bytes during the layer, KiB")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside upper left", ncols=3, fontsize=8, frameon=False)
    return _svg(fig, f"edgekit-live-{salt}")
