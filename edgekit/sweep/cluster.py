"""The Ray engine: each point a Ray task that asks for its CPUs, on an existing cluster or on a
local Ray started for the run (``pip install 'edgekit[ray]'``).

Workers need not see the driver's files: a point's checkpoint and data go to the cluster once
(as tar archives in Ray's object store), each task builds in its own temporary folder, and the
built point folder comes back with its row, as the bytes of a tar archive. A task whose worker
or node is lost is run once more (Ray's ``max_retries``); a point lost twice is a failed row.
Every task runs in a fresh worker process (``max_calls=1``), as on the local engine.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import socket
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from edgekit.errors import EdgekitError, first_line
from edgekit.sweep.points import POINT_DIR, Point, failed_row, run_point
from edgekit.sweep.pool import THREADS_PER_BUILD, cores


def _ray():
    try:
        import ray
    except ImportError:
        raise EdgekitError(
            "--engine ray needs Ray, which is not installed; install it with: "
            "pip install 'edgekit[ray]'"
        ) from None
    return ray


def pack(paths: list[Path]) -> bytes:
    """Files and folders as one gzip'd tar archive, each under its own name."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in paths:
            tar.add(path, arcname=Path(path).name)
    return buffer.getvalue()


def unpack(blob: bytes, into: Path) -> Path:
    """``pack``'s archive into ``into`` (ordinary files and folders only)."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        tar.extractall(into, filter="data")
    return into


def point_task(point: Point, threads: int, init: bytes | None, data: bytes | None):
    """What a Ray worker runs: the point in a temporary folder of its own machine; returns
    the row and the point's folder as a tar archive."""
    with tempfile.TemporaryDirectory(prefix="edgekit-point-") as tmp:
        inputs = Path(tmp) / "inputs"
        here = point.relocated(
            str(unpack(init, inputs) / Path(point.init).name) if init else None,
            str(unpack(data, inputs) / Path(point.build.data).name) if data else None,
        )
        row = run_point(here, Path(tmp) / "work", threads)
        return row, pack([Path(tmp) / "work" / POINT_DIR])


class RayEngine:
    """Points as Ray tasks; ``run`` calls ``done(point, row, folder)`` as each finishes."""

    name = "ray"

    def __init__(self, address: str | None = None, jobs: int | None = None) -> None:
        self.ray = _ray()
        self.address, self.jobs = address, jobs
        self.cpus = THREADS_PER_BUILD

    def __enter__(self) -> RayEngine:
        ray = self.ray
        local = self.address is None
        if not local:
            _reachable(self.address)
        try:
            ray.init(
                address="local" if local else self.address,
                # a local Ray gets room for --jobs points at once (logical CPUs)
                num_cpus=max(cores(), (self.jobs or 0) * THREADS_PER_BUILD) if local else None,
                include_dashboard=False,
                log_to_driver=False,  # each point's output is in its point.log
                logging_level=logging.WARNING,
            )
        except (ConnectionError, ValueError, RuntimeError) as exc:
            if local:
                raise EdgekitError(
                    f"cannot start a local Ray ({first_line(exc)}); start a cluster with "
                    "'ray start --head' and pass its address with --address"
                ) from None
            # Ray's error does not say that a token was missing, and the driver sends the
            # cluster's token only when RAY_AUTH_MODE=token asks it to
            tokens = "" if "RAY_AUTH_MODE" in os.environ else " (and RAY_AUTH_MODE=token here)"
            raise EdgekitError(
                f"cannot connect to the Ray cluster at '{self.address}' ({first_line(exc)}); "
                f"start one with 'ray start --head' and pass the address it prints{tokens}"
            ) from None
        node_cpus = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]]
        if max(node_cpus, default=0) < 1:
            ray.shutdown()
            raise EdgekitError("the Ray cluster has no CPUs; add a node with 'ray start'")
        self.cpus = int(min(THREADS_PER_BUILD, max(node_cpus)))  # a point fits on one node
        return self

    def __exit__(self, *exc) -> None:
        self.ray.shutdown()

    def describe(self) -> dict:
        return {
            "name": self.name,
            "address": self.address or "local Ray started for the run",
            "cpus_per_point": self.cpus,
            "jobs": self.jobs,
        }

    def run(self, points: list[Point], points_dir: Path, done: Callable) -> None:
        ray = self.ray
        task = ray.remote(num_cpus=self.cpus, max_retries=1, retry_exceptions=False, max_calls=1)(
            point_task
        )
        shipped: dict[str, object] = {}

        def ship(path: str | None, with_manifest: bool = False):
            if path is None or path == "digits":
                return None
            if path not in shipped:
                files = [Path(path)]
                manifest = Path(path).with_suffix(".json")
                if with_manifest and manifest.is_file():
                    files.append(manifest)
                shipped[path] = ray.put(pack(files))
            return shipped[path]

        waiting = list(points)
        pending: dict[object, Point] = {}
        limit = self.jobs or len(points)
        while waiting or pending:
            while waiting and len(pending) < limit:
                point = waiting.pop(0)
                ref = task.remote(
                    point, THREADS_PER_BUILD, ship(point.init, True), ship(point.build.data)
                )
                pending[ref] = point
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            point = pending.pop(ref)
            work = Path(tempfile.mkdtemp(prefix=f".{point.name}.tmp-", dir=points_dir))
            try:
                try:
                    row, blob = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # not edgekit's: run_point catches
                    row, blob = failed_row(point, f"its Ray task failed ({_why(exc)})"), None
                except ray.exceptions.RayError as exc:  # worker or node lost, after the retry
                    row, blob = failed_row(point, f"lost on Ray twice ({_why(exc)})"), None
                if blob is not None:
                    unpack(blob, work)
                done(point, row, work / POINT_DIR)
            finally:
                shutil.rmtree(work, ignore_errors=True)


def _reachable(address: str) -> None:
    """Fail fast on an address nothing listens at (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # 'auto' and the like: Ray resolves them and fails quickly
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise EdgekitError(
            f"no Ray cluster answers at '{address}' ({exc.strerror or exc}); start one with "
            "'ray start --head' and pass the address it prints"
        ) from None


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(exc)}"
