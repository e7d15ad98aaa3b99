"""What the compiled artifacts do on the board: memory fit, validation, instruction counts."""

from __future__ import annotations

import re
from typing import Any

from edgekit.report.formatting import DASH, Section, Table, fmt, fmt_pct, fmt_size
from edgekit.report.highlights import costliest_layers
from edgekit.report.plots import instructions_svg


def short_layer_name(name: Any) -> str:
    """The layer a converter tensor name belongs to: ``mobilenet_v2_1/block_1_depthwise_relu_1/
    Relu6`` -> ``block_1_depthwise_relu``. Names without a path are already layer names.

    The layer is the segment right under the model's scope, not always the one before the last
    ``/``: a folded batch norm writes ``.../block_1_project_BN_1/batchnorm/add_1``. The converter
    appends ``_<digits>`` to each Keras layer scope; that suffix is dropped.
    """
    parts = str(name).split("/")
    if len(parts) < 2:
        return str(name)
    layer = parts[1] if len(parts) > 2 else parts[0]
    return re.sub(r"_\d+$", "", layer) or layer


def mcu_artifacts(report: dict) -> list[dict]:
    """Artifacts with a static arena or a board budget: the ones that run on a microcontroller."""
    keys = ("arena_bytes", "arena_lower_bound", "fits")
    return [a for a in report["artifacts"] if any(a.get(k) is not None for k in keys)]


def _budget_checks(artifact: dict) -> list[tuple[str, int | None, int]]:
    """(what, bytes used or None, budget) for each memory the board has a budget for."""
    fits = artifact.get("fits")  # only artifacts for a board with budgets have it
    if fits is None:
        return []
    return [
        (what, artifact[used], fits[limit])
        for what, used, limit in (
            ("RAM", "ram_bytes", "ram_budget"),
            ("flash", "flash_bytes", "flash_budget"),
        )
        if fits[limit] is not None
    ]


def _over_budget(artifact: dict) -> tuple[bool | None, list[str]]:
    """(fits, the memories over budget): fits is None where nothing could be checked."""
    checks = _budget_checks(artifact)
    over = [what for what, used, budget in checks if used is not None and used > budget]
    if over or ("fits" in artifact and artifact["fits"]["ok"] is False):
        return False, over
    if checks and all(used is not None for _, used, _ in checks):
        return True, []
    return None, []


def _fit_verdict(artifact: dict) -> str:
    """'fits', 'does not fit (RAM)', or — where there is no budget or no figure to check."""
    fits, over = _over_budget(artifact)
    if fits is None:
        return DASH
    return "fits" if fits else "does not fit" + (f" ({', '.join(over)})" if over else "")


def memory_record(artifact: dict) -> dict:
    """An artifact's row of the memory table: its own figures, the arena against its lower
    bound, the board's budgets and whether it fits."""
    arena, bound = artifact["arena_bytes"], artifact["arena_lower_bound"]
    fits = artifact.get("fits")  # only artifacts for a board with budgets have it
    peak = artifact["peak_layer"]
    return {
        **artifact,
        "arena_ratio": arena / bound if arena is not None and bound else None,
        "peak": None if peak is None else short_layer_name(peak),
        "ram_budget": fits["ram_budget"] if fits else None,
        "flash_budget": fits["flash_budget"] if fits else None,
        "verdict": _fit_verdict(artifact),
    }


def memory_notes(report: dict) -> list[str]:
    """What the arena is, and whether each microcontroller artifact fits the board."""
    artifacts = mcu_artifacts(report)
    if not artifacts:
        return []
    board = report["target_info"]["board"]
    notes = [
        f"Target board: {board}. The arena holds every activation tensor. Its layer-by-layer "
        "lower bound is the largest total size of the tensors live during one layer, placed "
        "side by side; layers that write their output over the part of their input already "
        "read let the arena go below it."
    ]
    for artifact in artifacts:
        backend, (fits, _) = artifact["backend"], _over_budget(artifact)
        used = "; ".join(
            f"{what} {fmt_size(u)} of {fmt_size(b)}"
            + (f" ({u / b:.0%})" if u is not None and b else "")
            for what, u, b in _budget_checks(artifact)
        )
        if fits is None:
            why = "no budget for this board" if not used else "a figure was not measured"
            notes.append(f"{backend}: fit on the {board} not checked ({why}).")
        else:
            verdict = "fits" if fits else "does not fit"
            notes.append(f"{backend} {verdict} the {board}" + (f": {used}." if used else "."))
    return notes


def _layer_check(row: dict) -> str:
    """'all 65 layers equal', 'first differs at block_3_expand', or — when not compared."""
    compared = row.get("layers_compared")  # both only with validate --layers
    first = row.get("first_differing_layer")
    if first is not None:
        return f"first differs at {short_layer_name(first)} (of {compared})"
    if compared is not None:
        return f"all {compared} layers equal"
    return DASH


def validation_records(report: dict) -> list[dict]:
    """The validation rows, each with what its layer-by-layer comparison found."""
    return [{**row, "layers": _layer_check(row)} for row in report["validation"]]


def benchmark_footnotes(report: dict) -> list[str]:
    """What the instruction counts are, where QEMU counted some."""
    counted = [r for r in report["benchmark"] if r["instructions"] is not None]
    if not any("qemu" in row["runner"].lower() for row in counted):
        return []  # QEMU's user mode (Linux boards) counts nothing
    return [
        "Instructions: retired instructions per inference (mean over the inputs), counted by "
        "QEMU. They are a proxy for cycles (no wait states), comparable between "
        "builds on the same board, but not a latency, so no latency is given for QEMU runs. "
        "Instructions / MAC divides them by the model's multiply-accumulates."
    ]


def _instruction_layers(row: dict) -> list[tuple[int, str, float | None]]:
    """(network position, short name, instructions) of each layer of one benchmark row."""
    return [
        (i, short_layer_name(layer["name"]), layer["instructions"])
        for i, layer in enumerate(row.get("layers", []))
    ]


def _kernel_layers(report: dict, backend: Any) -> list[dict]:
    """The kernel variant of each layer one backend's firmware reports (empty when it chose
    none): with patches, the first is the whole patch stage."""
    for artifact in report["artifacts"]:
        if artifact["backend"] == backend:
            kernels, patches = artifact.get("kernels"), artifact.get("patches")
            rows = kernels["layers"] if kernels else []
            if not patches or not rows:
                return rows
            stage = {"variant": f"patch stage ({patches['grid']})"}
            return [stage] + [rows[i] for i in reported_ops(patches, len(rows))[1:]]
    return []


def reported_ops(patches: dict | None, ops: int) -> list[int]:
    """The op index of each layer firmware of ``ops`` ops reports: with ``patches``, the cut
    (standing for the whole patch stage), then every op after it."""
    if not patches:
        return list(range(ops))
    cut = int(patches["cut_op"])
    return [cut, *range(cut + 1, ops)]


def kernel_sections(report: dict) -> list[Section]:
    """Per artifact with kernel variants: each variant, the layers it runs and, where the
    firmware counted them, their instructions."""
    sections = []
    for artifact in report["artifacts"]:
        kernels = artifact.get("kernels")  # compiled artifacts only; None but for c
        if not kernels or not any(row["variant"] for row in kernels["layers"]):
            continue
        backend = artifact["backend"]
        counted = next(
            (
                [x["instructions"] for x in row["layers"]]
                for row in report["benchmark"]
                if row["backend"] == backend and row.get("layers")
            ),
            [],
        )
        all_rows = kernels["layers"]
        patches = artifact.get("patches")
        ops = reported_ops(patches, len(all_rows))
        per_op = dict(zip(ops, counted, strict=True)) if len(counted) == len(ops) else {}
        totals: dict[str, list] = {}
        if patches:  # the stage's layers are counted together, as the firmware reports them
            stage = f"patch stage ({patches['grid']} tiles)"
            n = per_op.get(ops[0])
            totals[stage] = ["", ops[0] + 1, n or 0.0, n is not None]
        for i, row in enumerate(all_rows):
            if row["variant"]:
                in_stage = bool(patches) and i <= ops[0]
                n = None if in_stage else per_op.get(i)
                entry = totals.setdefault(row["variant"], [row["op"], 0, 0.0, True])
                entry[1] += 1
                entry[2] += n or 0.0
                entry[3] = entry[3] and (in_stage or n is not None)
        total = sum(t[2] for t in totals.values() if t[3]) or None
        rows = [
            (
                name,
                op,
                str(count),
                fmt(n if measured else None, ",.0f", "", DASH),
                fmt_pct(n / total if measured and total else None, DASH),
            )
            for name, (op, count, n, measured) in sorted(totals.items(), key=lambda kv: -kv[1][2])
        ]
        chose = (
            "reference kernels only (--kernels ref)"
            if kernels["mode"] == "ref"
            else "the fastest one the target has the features for and whose constraints it meets"
        )
        notes = [
            f"{backend}: the kernel variant each layer runs, {chose}. report.json gives "
            "the choice per layer and why faster variants were passed over."
        ]
        if patches:
            notes.append(
                "The patch stage's layers run tile by tile and are counted together, in its "
                "row; a variant's instructions are those of its layers after the stage."
            )
        sections.append(
            Section(
                f"Kernel variants: {backend}",
                notes,
                Table(("Variant", "Op", "Layers", "Instructions", "Share"), rows, (2, 3, 4)),
            )
        )
    return sections


def layer_instruction_sections(report: dict) -> list[Section]:
    """One HTML-only section per benchmark row that counted instructions layer by layer."""
    sections = []
    for k, row in enumerate(report["benchmark"]):
        layers = _instruction_layers(row)
        if not layers:
            continue
        measured = [n for _, _, n in layers if n is not None]
        total = sum(measured)
        costliest = costliest_layers(layers)
        share = sum(n for _, _, n in costliest) / total if total else None
        notes = [
            f"Retired instructions of each layer, in network order: {len(layers)} layers, "
            f"{len(measured)} measured, {fmt(total, ',d')} instructions together. The "
            f"{len(costliest)} most expensive (red) take {fmt_pct(share)} of them."
        ]
        kernels = _kernel_layers(report, row["backend"])
        if len(kernels) != len(layers):
            kernels = [{}] * len(layers)
        rows = [
            (
                str(i),
                name,
                kernel.get("variant") or DASH,  # the filler rows ({}) name none
                fmt(n, ",d", "", DASH),
                fmt_pct(n / total if n is not None and total else None, DASH),
                layer["name"],
            )
            for (i, name, n), layer, kernel in zip(layers, row["layers"], kernels, strict=True)
        ]
        sections.append(
            Section(
                f"Per-layer instructions: {row['backend']} on {row['runner']}",
                notes,
                html_only=True,
                plot=(lambda layers=layers, k=k: instructions_svg(layers, k)) if measured else None,
                more=Table(
                    ("#", "Layer", "Kernel", "Instructions", "Share", "Tensor"), rows, (0, 3, 4)
                ),
            )
        )
    return sections
