"""Backends that ship a model with a Python runner script for a Linux board (``litert``,
``tvm``, ``onnx``): the runner executes under the board's Python, natively for the host target and
inside an emulated Raspberry Pi OS userland (``edgekit.platforms.userland``) for a board.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from edgekit.artifacts import Artifact, BaseBackend, RunOutput, parse_latency
from edgekit.errors import CannotRun, EdgekitError, first_line
from edgekit.platforms.targets import Target


def _run_runner(
    artifact: Artifact,
    target: Target,
    runner: str,
    model: str,
    inputs: np.ndarray,
    packages: dict[str, tuple[str, ...] | None],
    extra: tuple[str, ...] = (),
) -> RunOutput:
    """Run ``runner`` on ``inputs`` where the target runs it; int8 outputs. ``packages`` are
    the runner's pip requirements in each emulated userland (None: that userland's default)."""
    with tempfile.TemporaryDirectory(prefix="edgekit-runner-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(np.ascontiguousarray(inputs).tobytes())
        # the runner starts in ``work``: every path it is given must not depend on our cwd
        folder = artifact.path.resolve()
        args = [str(folder / model), "input.bin", "output.bin", *extra]
        script = folder / runner
        if target.family == "host":
            done = subprocess.run(
                [sys.executable, str(script), *args], cwd=work, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise EdgekitError(f"{runner} failed: {first_line(done.stderr.strip() or '?')}")
            where, native = "host python", True
        else:
            from edgekit.platforms.linux import arch_of
            from edgekit.platforms.userland import ensure_userland

            arch = arch_of(target).debian
            if arch not in packages:
                raise CannotRun(
                    f"{runner} has no emulated {target.arch} userland to run in for "
                    f"{target.name} (PyPI has no wheels of its runtime there); the artifact is "
                    "built: 'edgekit deploy' runs it on the board"
                )
            userland = ensure_userland(target, packages[arch])
            done = userland.run(script, args, cwd=work, timeout=3600)
            where = f"{userland.where} (Debian {arch} python)"
            native = False  # QEMU's time, not the board's
        outputs = np.frombuffer((work / "output.bin").read_bytes(), np.int8)
    return RunOutput(
        outputs.reshape(len(inputs), -1),
        where,
        latency_us=parse_latency(done.stdout),
        native=native,
    )


class RunnerBackend(BaseBackend):
    """A backend whose artifact is a model with a runner script (``details["runner"]`` and
    ``details["model"]``), run by the board's Python: natively for the host target, in the
    emulated userland of the board's architecture otherwise. ``packages``: the runner's pip
    requirements in each emulated userland (None: that userland's default); an architecture
    not listed has no wheels of the runtime on PyPI."""

    name: str
    precision: str
    runner: str  # the runner script, from edgekit/templates
    requirements: str  # its pip requirements on the board
    packages: dict[str, tuple[str, ...] | None] = {}

    def supports(self, target: Target) -> bool:
        return target.family in ("linux", "host")

    def bundle(self, out: Path) -> Path:
        """``out`` with the runner script and its ``requirements.txt``."""
        out.mkdir(parents=True, exist_ok=True)
        text = (resources.files("edgekit.templates") / self.runner).read_text()
        (out / self.runner).write_text(text)
        (out / "requirements.txt").write_text(self.requirements + "\n")
        return out

    def artifact(self, folder: Path, model: str, **details) -> Artifact:
        return Artifact(
            self.name,
            folder,
            self.precision,
            None,
            None,
            {"runner": self.runner, "model": model, **details},
        )

    def run(
        self, artifact: Artifact, target: Target, inputs: np.ndarray, layers: bool = False
    ) -> RunOutput:
        d = artifact.details
        return _run_runner(artifact, target, d["runner"], d["model"], inputs, self.packages)
