"""``edgekit sweep``: the best MobileNetV2 that fits a board, found by building each width and
resolution of a grid and measuring it.

Each point is a normal build (``edgekit.pipeline.build``) into ``DIR/points/<name>/``, with its
weights trained or fine-tuned from the nearest checkpoint (``points``). The points run on an
engine: a local process pool (``pool``) or Ray tasks on a cluster (``cluster``). A failed
point is a row with its reason; a point whose folder holds the same configuration's finished
build is read back, not rebuilt. ``sweep.json``, ``sweep.md`` and ``sweep.html`` (``report``)
gather the rows, the Pareto fronts and the best point that fits.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.sweep.points import (
    Point,
    find_checkpoints,
    finished_row,
    install,
    make_point,
    shipped_checkpoints,
)
from edgekit.sweep.spec import ENGINES, EngineSpec, SweepSpec

__all__ = ["ENGINES", "EngineSpec", "SweepSpec", "plan", "run_sweep"]


def plan(spec: SweepSpec) -> list[Point]:
    """The sweep's points, every input checked first: the target must be a board with RAM and
    flash budgets and the c backend, the data must load, the checkpoint folder must exist."""
    from edgekit.frontend.data import load_dataset, splits
    from edgekit.platforms.targets import load_target

    target = load_target(spec.build.target)
    if target.flash_bytes is None or "c" not in target.backends:
        raise EdgekitError(
            f"target '{target.name}' has no board budget for edgekit's C firmware; sweep a "
            "microcontroller target (see 'edgekit targets'), e.g. --target cortex-m7"
        )
    data = spec.build.data_spec  # the built-in model's: digits unless --data
    data = data if data == "digits" else str(Path(data).resolve())
    dataset = load_dataset(data, 32)  # here only its name, classes and split matter
    splits(dataset)
    folder = Path(spec.checkpoints) if spec.checkpoints else shipped_checkpoints()
    if not folder.is_dir():
        raise EdgekitError(
            f"checkpoint folder '{folder}' not found; pass a folder of 'edgekit train' "
            "checkpoints, or leave out --checkpoints for the shipped ones"
        )
    checkpoints = find_checkpoints(folder)
    return [
        make_point(
            replace(spec.build, data=data),
            alpha,
            resolution,
            dataset=(dataset.name, len(dataset.class_names)),
            checkpoints=checkpoints,
            epochs=spec.epochs,
        )
        for alpha in spec.alphas
        for resolution in spec.resolutions
    ]


def run_sweep(spec: SweepSpec, engine: EngineSpec, out: Path, *, quiet: bool = False) -> dict:
    """Build every point of ``spec`` not already built into ``out/points`` on ``engine``, then
    write ``sweep.json``, ``sweep.md`` and ``sweep.html`` into ``out``; the sweep dict."""
    from tqdm import tqdm

    from edgekit.platforms.targets import load_target
    from edgekit.sweep.report import point_line, sweep_report, write_sweep_reports

    start = time.perf_counter()
    points = plan(spec)
    out = Path(out)
    with engine.open() as runner:
        points_dir = out / "points"
        points_dir.mkdir(parents=True, exist_ok=True)
        for stale in points_dir.glob(".*.*-*"):  # work folders of a sweep that was killed
            if ".tmp-" in stale.name or ".old-" in stale.name:
                shutil.rmtree(stale, ignore_errors=True)
        rows = {}
        for point in points:
            row = finished_row(points_dir / point.name, point)
            if row is not None:
                rows[point.name] = row
        bar = tqdm(
            total=len(points),
            initial=len(rows),
            desc="sweep",
            unit="point",
            disable=True if quiet else None,
        )

        def done(point: Point, row: dict, folder: Path) -> None:
            install(point, row, folder, points_dir / point.name)
            rows[point.name] = {**row, "reused": False}
            bar.update(1)
            if not quiet:
                bar.write(point_line(rows[point.name]), file=sys.stderr)

        with bar:
            if not quiet and rows:
                already = f"sweep: {len(rows)} points already built in {points_dir}"
                bar.write(already, file=sys.stderr)
            runner.run([p for p in points if p.name not in rows], points_dir, done)
        described = runner.describe()
    report = sweep_report(
        spec,
        load_target(spec.build.target),
        described,
        [rows[p.name] for p in points],
        time.perf_counter() - start,
    )
    write_sweep_reports(report, out)
    return report
