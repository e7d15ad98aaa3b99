"""The ``litert`` backend: the int8 ``.tflite`` with a runner for LiteRT on the board."""

from __future__ import annotations

from pathlib import Path

from edgekit.artifacts import Artifact
from edgekit.backends.runner import RunnerBackend
from edgekit.config import DEFAULTS, CompileOptions
from edgekit.platforms.targets import Target
from edgekit.quantization import Int8Model


class LiteRTBackend(RunnerBackend):
    """The int8 ``.tflite`` with a LiteRT runner; LiteRT picks its optimized kernels (XNNPACK)."""

    name = "litert"
    precision = "int8"
    # arm64: ai-edge-litert; armhf: tflite-runtime, what 32-bit Raspberry Pi OS can install
    packages = {"arm64": None, "armhf": None}
    runner, requirements = "run_litert.py", "ai-edge-litert==2.3.*\nnumpy"

    def compile(
        self,
        model: Int8Model,
        target: Target,
        out: Path,
        options: CompileOptions = DEFAULTS,
    ) -> Artifact:
        folder = self.bundle(out)
        (folder / "model_int8.tflite").write_bytes(model.tflite)
        return self.artifact(folder, "model_int8.tflite")
