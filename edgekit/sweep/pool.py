"""The local engine: each point in a fresh process, ``jobs`` at a time, on this machine.

A fresh (spawned) process per point keeps builds apart (TensorFlow's and Keras's state, a
crash in LiteRT or QEMU) and tells a lost point from a failed one: a process that exits
without writing its row lost its point, which is run once more.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from edgekit.errors import last_line
from edgekit.sweep.points import LOG_FILE, POINT_DIR, ROW_FILE, Point, failed_row, run_point

# TensorFlow's threads in every build, on either engine: training's float sums, so a trained
# point's weights, depend on the thread count, and a point must come out the same anywhere
THREADS_PER_BUILD = 2


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def default_jobs() -> int:
    return max(1, cores() // THREADS_PER_BUILD)


def _child(point: Point, work: Path, threads: int) -> None:
    run_point(point, work, threads)


@dataclass
class _Job:
    point: Point
    attempt: int
    process: multiprocessing.Process
    work: Path


class LocalEngine:
    """Points on this machine's cores; ``run`` calls ``done(point, row, folder)`` as each
    finishes (``folder``: the built point folder, for the driver to move into place)."""

    name = "local"

    def __init__(self, jobs: int | None = None, child: Callable = _child) -> None:
        self.jobs = jobs or default_jobs()
        self.threads = THREADS_PER_BUILD
        self.child = child  # what a process runs: (point, work, threads) -> None

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def describe(self) -> dict:
        return {"name": self.name, "jobs": self.jobs, "threads_per_point": self.threads}

    def run(self, points: list[Point], points_dir: Path, done: Callable) -> None:
        spawn = multiprocessing.get_context("spawn")
        queue = deque((p, 1) for p in points)
        running: dict[int, _Job] = {}
        try:
            while queue or running:
                while queue and len(running) < self.jobs:
                    point, attempt = queue.popleft()
                    work = Path(tempfile.mkdtemp(prefix=f".{point.name}.tmp-", dir=points_dir))
                    # not a daemon: a build may start processes of its own
                    process = spawn.Process(target=self.child, args=(point, work, self.threads))
                    process.start()
                    running[process.sentinel] = _Job(point, attempt, process, work)
                for sentinel in wait(list(running)):
                    job = running.pop(sentinel)
                    job.process.join()
                    self._finish(job, queue, done)
        finally:
            for job in running.values():  # interrupted: stop the builds, leave nothing behind
                job.process.kill()
                job.process.join()
                shutil.rmtree(job.work, ignore_errors=True)

    def _finish(self, job: _Job, queue: deque, done: Callable) -> None:
        try:
            if (job.work / ROW_FILE).is_file():
                done(job.point, json.loads((job.work / ROW_FILE).read_text()), job.work / POINT_DIR)
            elif job.attempt == 1:
                queue.append((job.point, 2))
            else:
                log, folder = job.work / LOG_FILE, job.work / POINT_DIR
                said = last_line(log.read_bytes()) if log.is_file() else "no output"
                reason = (
                    f"its process died twice (exit code {job.process.exitcode}); last output: "
                    f"{said}"
                )
                folder.mkdir(exist_ok=True)
                if log.is_file():
                    os.replace(log, folder / LOG_FILE)
                done(job.point, failed_row(job.point, reason), folder)
        finally:
            shutil.rmtree(job.work, ignore_errors=True)
