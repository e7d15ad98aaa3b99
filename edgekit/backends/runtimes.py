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

from ..errors import CannotRun, EdgekitError, first_line
from ..targets import Target
from . import Artifact, RunOutput, parse_latency

# Emulated userland (Debian architecture) for each target architecture.
USERLANDS = {"aarch64": "arm64", "armv7-a": "armhf"}


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
                raise CannotRun(
                    f"{runner} has no emulated {target.arch} userland to run in for "
                    f"{target.name} (PyPI has no wheels of its runtime there); the artifact is "
                    "built: 'edgekit deploy' runs it on the board"
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


class RunnerBackend:
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


class LiteRTBackend(RunnerBackend):
    """The int8 ``.tflite`` with a LiteRT runner; LiteRT picks its optimized kernels (XNNPACK)."""

    name = "litert"
    precision = "int8"
    # arm64: ai-edge-litert; armhf: tflite-runtime, what 32-bit Raspberry Pi OS can install
    packages = {"arm64": None, "armhf": None}
    runner, requirements = "run_litert.py", "ai-edge-litert==2.3.*\nnumpy"

    def compile(self, tflite: bytes, target: Target, out: Path, force: bool = False) -> Artifact:
        folder = self.bundle(out)
        (folder / "model_int8.tflite").write_bytes(tflite)
        return self.artifact(folder, "model_int8.tflite")


class TVMBackend(RunnerBackend):
    """Apache TVM (Relax): the int8 ``.tflite`` imported by TVM's TFLite frontend, compiled for
    the board's CPU and cross-linked into one shared library."""

    name = "tvm"
    # TVM's TFLite frontend turns each int8 op into dequantize -> float op -> quantize.
    precision = "float32-simulated int8 (int8 in/out; TVM's TFLite frontend dequantizes)"
    packages = {"arm64": ("apache-tvm==0.27.*", "numpy<2.4")}  # no armv7l wheels on PyPI
    runner, requirements = "run_tvm.py", "apache-tvm==0.27.*\nnumpy"

    def compile(
        self, tflite: bytes, target: Target, out: Path, force: bool = False, *, tune_trials: int = 0
    ) -> Artifact:
        """With ``tune_trials``, MetaSchedule tunes the schedules first (``edgekit.tvm_tune``)."""
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
        from ..tvm_tune import check_tunable, tune_and_compile, tuned_target

        check_tunable(target, tune_trials)
        graph = read_tflite(tflite)
        settings, tuning = tvm_target(target), {}
        try:
            module = from_tflite(schema.Model.GetRootAsModel(tflite, 0))
            if not tune_trials:
                executable = tvm.compile(module, target=tvm.target.Target(settings))
        except Exception as exc:  # TVM raises its own error types; one line for the user
            raise EdgekitError(f"TVM could not compile the model: {first_line(exc)}") from None
        if tune_trials:
            settings = tuned_target(settings)
            executable, tuned = tune_and_compile(module, settings, tune_trials, out)
            tuning = tuned.details()
        folder = self.bundle(out)
        cc = None
        if target.family != "host":
            cc = shutil.which(f"{target.triple}-gcc")
            if cc is None:
                raise EdgekitError(
                    f"{target.triple}-gcc not found; install it with: apt-get "
                    f"install gcc-{target.triple}"
                )
        library = folder / "model.so"
        try:
            executable.export_library(str(library), **({"cc": cc} if cc else {}))
        except Exception as exc:  # a compiler or linker failure, reported by TVM
            lines = str(exc).splitlines()[1:]  # TVM's first line is only "Compilation error:"
            why = next((line for line in lines if "error" in line.lower()), first_line(exc))
            raise EdgekitError(
                f"TVM could not link the library for {target.name}: {why.strip()[:200]}"
            ) from None
        shape = list(graph.tensor(graph.inputs[0]).shape)
        (folder / "io.json").write_text(json.dumps({"input_shape": shape}) + "\n")
        return self.artifact(
            folder,
            "model.so",
            target=settings,
            library_bytes=library.stat().st_size,
            **tuning,
        )


def tvm_target(target: Target) -> dict:
    """TVM's LLVM target for the board: triple, CPU and SIMD features from the target file."""
    if target.family == "host":
        return {"kind": "llvm"}
    attrs = {"neon": "+neon", "dotprod": "+dotprod"}
    settings = {
        "kind": "llvm",
        "mtriple": target.triple,
        "mcpu": target.cpu,
        "mattr": [attrs[f] for f in target.features if f in attrs],
    }
    if target.arch.startswith("armv7"):
        # 32-bit Raspberry Pi OS passes floats in VFP registers: without the hard-float ABI
        # LLVM's objects do not link with the gnueabihf toolchain's
        settings.update(mtriple="armv7a-linux-gnueabihf", **{"mfloat-abi": "hard"})
    return settings


class ONNXRuntimeBackend(RunnerBackend):
    """ONNX Runtime with the QDQ int8 model of the ``onnx`` stage (the first calibration method
    the build made), fed the same int8 input file as every other artifact."""

    name = "onnx"
    precision = (
        "int8 QDQ (ONNX Runtime runs integer kernels where it has them for the CPU, "
        "float32 between dequantize and quantize elsewhere)"
    )
    packages = {"arm64": ("onnxruntime==1.32.*", "numpy<2.4")}  # no armv7l wheels on PyPI
    runner, requirements = "run_onnxruntime.py", "onnxruntime>=1.20\nnumpy"

    def compile(self, tflite: bytes, target: Target, out: Path, force: bool = False) -> Artifact:
        from ..onnx_int8 import METHODS
        from ..runtime import interpreter, io_quantization

        made = [m for m in METHODS if (out / f"model_int8_{m}.onnx").is_file()]
        if not made:
            raise EdgekitError(
                f"no ONNX int8 model in {out}: the onnx stage did not run or failed (see its "
                "stage line)"
            )
        folder = self.bundle(out)
        interp = interpreter(tflite)
        io = {}
        for key, detail in (
            ("input", interp.get_input_details()[0]),
            ("output", interp.get_output_details()[0]),
        ):
            q = io_quantization(detail)
            io[key] = {
                "shape": [int(d) for d in detail["shape"][1:]],
                "scale": float(q.scale),
                "zero_point": int(q.zero_point),
            }
        (folder / "io.json").write_text(json.dumps(io, indent=2) + "\n")
        return self.artifact(folder, f"model_int8_{made[0]}.onnx", calibration=made[0])
