"""Backends that ship a model with a Python runner for a Linux board: ``litert`` (the int8
``.tflite`` for LiteRT) and ``tvm`` (a library compiled by Apache TVM for the board's CPU).

Both are run as the board would run them: the runner script executes under the board's
Python, natively for the host target and inside an emulated Raspberry Pi OS userland
(``edgekit.userland``) for aarch64 boards.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import EdgekitError, first_line
from ..targets import Target
from . import Artifact, RunOutput, parse_latency

# Emulated userland (Debian architecture) for each target architecture.
USERLANDS = {"aarch64": "arm64", "armv7-a": "armhf"}


def _bundle(out: Path, runner: str, requirements: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    text = (resources.files("edgekit.templates") / runner).read_text()
    (out / runner).write_text(text)
    (out / "requirements.txt").write_text(requirements + "\n")
    return out


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
        (work / "input.bin").write_bytes(np.ascontiguousarray(inputs, np.int8).tobytes())
        args = [str(artifact.path / model), "input.bin", "output.bin", *extra]
        script = artifact.path / runner
        if target.family == "host":
            done = subprocess.run(
                [sys.executable, str(script), *args], cwd=work, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise EdgekitError(f"{runner} failed: {first_line(done.stderr.strip() or '?')}")
            where, native = "host python", True
        else:
            from ..userland import ensure_userland

            arch = USERLANDS.get(target.arch)
            if arch is None or arch not in packages:
                raise EdgekitError(
                    f"{runner} has no emulated {target.arch} userland to run in for "
                    f"{target.name} (PyPI has no wheels of its runtime there)"
                )
            userland = ensure_userland(arch, packages[arch])
            done = userland.run(script, args, cwd=work, timeout=3600)
            qemu = Path(userland.qemu).name
            where = f"{qemu} -cpu {userland.arch.cpu} (Debian {arch} python)"
            native = False  # QEMU's time, not the board's
        outputs = np.frombuffer((work / "output.bin").read_bytes(), np.int8)
    return RunOutput(
        outputs.reshape(len(inputs), -1),
        where,
        latency_us=parse_latency(done.stdout),
        native=native,
    )


class LiteRTBackend:
    """The int8 ``.tflite`` with a LiteRT runner; LiteRT picks its optimized kernels (XNNPACK)."""

    name = "litert"
    precision = "int8"

    def supports(self, target: Target) -> bool:
        return target.family in ("linux", "host")

    def compile(self, tflite: bytes, target: Target, out: Path, force: bool = False) -> Artifact:
        folder = _bundle(out, "run_litert.py", "ai-edge-litert==2.3.*\nnumpy")
        (folder / "model_int8.tflite").write_bytes(tflite)
        return Artifact(
            self.name,
            folder,
            self.precision,
            None,
            None,
            {"runner": "run_litert.py", "model": "model_int8.tflite"},
        )

    def run(
        self, artifact: Artifact, target: Target, inputs: np.ndarray, layers: bool = False
    ) -> RunOutput:
        # arm64: ai-edge-litert; armhf: tflite-runtime, what 32-bit Raspberry Pi OS can install
        return _run_runner(
            artifact,
            target,
            "run_litert.py",
            "model_int8.tflite",
            inputs,
            {"arm64": None, "armhf": None},
        )


class TVMBackend:
    """Apache TVM (Relax): the int8 ``.tflite`` imported by TVM's TFLite frontend, compiled for
    the board's CPU and cross-linked into one shared library."""

    name = "tvm"
    # TVM's TFLite frontend turns each int8 op into dequantize -> float op -> quantize.
    precision = "float32-simulated int8 (int8 in/out; TVM's TFLite frontend dequantizes)"

    def supports(self, target: Target) -> bool:
        return target.family in ("linux", "host")

    def compile(self, tflite: bytes, target: Target, out: Path, force: bool = False) -> Artifact:
        import tflite as schema

        try:
            import tvm
            from tvm.relax.frontend.tflite import from_tflite
        except ImportError as exc:
            raise EdgekitError(
                f"Apache TVM is not importable ({exc}); install it with: "
                "pip install 'apache-tvm==0.27.*'"
            ) from None

        from ..ir import read_tflite

        graph = read_tflite(tflite)
        try:
            module = from_tflite(schema.Model.GetRootAsModel(tflite, 0))
            executable = tvm.compile(module, target=tvm.target.Target(tvm_target(target)))
        except Exception as exc:  # TVM raises its own error types; one line for the user
            raise EdgekitError(f"TVM could not compile the model: {first_line(exc)}") from None
        folder = _bundle(out, "run_tvm.py", "apache-tvm==0.27.*\nnumpy")
        cc = None
        if target.family != "host":
            cc = shutil.which(f"{target.triple}-gcc")
            if cc is None:
                raise EdgekitError(
                    f"{target.triple}-gcc not found; install it with: apt-get "
                    f"install gcc-{target.triple}"
                )
        library = folder / "model.so"
        executable.export_library(str(library), **({"cc": cc} if cc else {}))
        shape = list(graph.tensor(graph.inputs[0]).shape)
        (folder / "io.json").write_text(json.dumps({"input_shape": shape}) + "\n")
        return Artifact(
            self.name,
            folder,
            self.precision,
            None,
            None,
            {
                "runner": "run_tvm.py",
                "model": "model.so",
                "target": tvm_target(target),
                "library_bytes": library.stat().st_size,
            },
        )

    def run(
        self, artifact: Artifact, target: Target, inputs: np.ndarray, layers: bool = False
    ) -> RunOutput:
        return _run_runner(
            artifact,
            target,
            "run_tvm.py",
            "model.so",
            inputs,
            {"arm64": ("apache-tvm==0.27.*", "numpy<2.4")},
        )


def tvm_target(target: Target) -> dict:
    """TVM's LLVM target for the board: triple, CPU and SIMD features from the target file."""
    if target.family == "host":
        return {"kind": "llvm"}
    attrs = {"neon": "+neon", "dotprod": "+dotprod"}
    triple = target.triple
    if target.arch.startswith("armv7"):
        triple = "armv7a-linux-gnueabihf"
    return {
        "kind": "llvm",
        "mtriple": triple,
        "mcpu": target.cpu,
        "mattr": [attrs[f] for f in target.features if f in attrs],
    }
