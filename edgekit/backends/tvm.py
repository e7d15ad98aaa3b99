"""The ``tvm`` backend: Apache TVM (Relax) compiles the int8 ``.tflite`` for the board's CPU into
one shared library, run by a Python runner on the board."""

from __future__ import annotations

import json
from pathlib import Path

from edgekit.artifacts import Artifact
from edgekit.backends.runner import RunnerBackend
from edgekit.config import DEFAULTS, CompileOptions
from edgekit.errors import CannotTake, EdgekitError, first_line
from edgekit.platforms.linux import arch_of, cross_compiler
from edgekit.platforms.targets import Target
from edgekit.quantization import Int8Model


class TVMBackend(RunnerBackend):
    """Apache TVM (Relax): the int8 ``.tflite`` imported by TVM's TFLite frontend, compiled for
    the board's CPU and cross-linked into one shared library."""

    name = "tvm"
    # TVM's TFLite frontend turns each int8 op into dequantize -> float op -> quantize.
    precision = "float32-simulated int8 (TVM's TFLite frontend dequantizes each op)"
    packages = {"arm64": ("apache-tvm==0.27.*", "numpy<2.4")}  # no armv7l wheels on PyPI
    runner, requirements = "run_tvm.py", "apache-tvm==0.27.*\nnumpy"

    def requested(self, options: CompileOptions) -> bool:
        """Asking for tuning asks for this backend, also where the target does not build it."""
        return options.tune_trials > 0

    def compile(
        self,
        model: Int8Model,
        target: Target,
        out: Path,
        options: CompileOptions = DEFAULTS,
    ) -> Artifact:
        """With ``options.tune_trials``, MetaSchedule tunes the schedules first
        (``edgekit.backends.tvm_tune``)."""
        import tflite as schema

        tflite, tune_trials = model.tflite, options.tune_trials
        try:
            import tvm
            from tvm.relax.frontend.tflite import from_tflite
        except ImportError as exc:
            raise EdgekitError(
                f"Apache TVM is not importable ({exc}); install it with: "
                "pip install 'apache-tvm==0.27.*'"
            ) from None

        from edgekit.backends.tvm_tune import check_tunable, tune_and_compile, tuned_target
        from edgekit.compiler.ir import read_tflite

        check_tunable(target, tune_trials)
        graph = read_tflite(tflite)
        settings, tuning = tvm_target(target), {}
        # In edgekit's process, not an edgekit.isolated child: TVM's C++ checks reach Python as
        # tvm.error exceptions through its FFI, and a child would import TVM again (3-5 s here).
        try:
            module = from_tflite(schema.Model.GetRootAsModel(tflite, 0))
        except Exception as exc:  # its TFLite frontend has no way to read this model
            raise CannotTake(f"TVM's TFLite frontend cannot import it: {first_line(exc)}") from None
        try:
            if not tune_trials:
                executable = tvm.compile(module, target=tvm.target.Target(settings))
        except Exception as exc:  # TVM raises its own error types; one line for the user
            raise EdgekitError(f"TVM could not compile the model: {first_line(exc)}") from None
        if tune_trials:
            settings = tuned_target(settings)
            executable, tuned = tune_and_compile(module, settings, tune_trials, out)
            tuning = tuned.details()
        folder = self.bundle(out)
        cc = cross_compiler(target) if target.family != "host" else None
        library = folder / "model.so"
        try:
            executable.export_library(str(library), **({"cc": cc} if cc else {}))
        except Exception as exc:  # a compiler or linker failure, reported by TVM
            lines = str(exc).splitlines()[1:]  # TVM's first line is only "Compilation error:"
            why = next((line for line in lines if "error" in line.lower()), first_line(exc))
            raise EdgekitError(
                f"TVM could not link the library for {target.name}: {why.strip()[:200]}"
            ) from None
        io = {
            kind: [
                {"shape": list(graph.tensor(t).shape), "dtype": graph.tensor(t).dtype}
                for t in tensors
            ]
            for kind, tensors in (("inputs", graph.inputs), ("outputs", graph.outputs))
        }
        (folder / "io.json").write_text(json.dumps(io) + "\n")
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
    arch = arch_of(target)
    settings = {
        "kind": "llvm",
        "mtriple": arch.llvm_triple,
        "mcpu": target.cpu,
        "mattr": [attrs[f] for f in target.features if f in attrs],
    }
    return settings | ({"mfloat-abi": "hard"} if arch.hard_float else {})
