"""The types every stage shares: an artifact (a compiled backend's folder), what running it
gives, and the interface of a backend. They live below the backends and validation so that
validation, the pipeline and the commands that run a finished build use them without
importing any backend."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from edgekit.config import CompileOptions
from edgekit.platforms.targets import Target
from edgekit.quantization import Int8Model


@dataclass(frozen=True)
class Artifact:
    backend: str
    path: Path  # the artifact folder
    precision: str  # what the backend really computes in
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    details: dict = field(default_factory=dict)

    def save(self) -> None:
        """Record the artifact in its folder (``artifact.json``) so it can be run again."""
        fields = {**asdict(self), "path": "."}
        (self.path / "artifact.json").write_text(json.dumps(fields, indent=2) + "\n")

    @staticmethod
    def load(folder: Path) -> Artifact:
        fields = json.loads((folder / "artifact.json").read_text())
        return Artifact(**{**fields, "path": folder})


@dataclass(frozen=True)
class RunOutput:
    outputs: np.ndarray  # int8, one row per input
    runner: str  # where it ran, e.g. "qemu-system-arm mps2-an500"
    instructions: tuple[int, ...] | None = None  # per inference, when the runner counts them
    layer_instructions: tuple[int, ...] | None = None  # per layer, first inference
    layers: list[np.ndarray] | None = None  # every layer's output, first input (layers mode)
    # wall time of each inference as the runner measured it (its ``{"latency_us": [...]}`` line)
    latency_us: tuple[int, ...] | None = None
    native: bool = False  # ran on the CPU it was built for: its latency is that CPU's
    # c backend with patches: the same model layer by layer, on the first input
    instructions_without_patches: tuple[int, ...] | None = None


def parse_latency(stdout: str) -> tuple[int, ...] | None:
    """The per-inference times a runner prints as its last ``{"latency_us": [...]}`` line."""
    for line in reversed(stdout.splitlines()):
        if line.startswith('{"latency_us"'):
            try:
                values = json.loads(line)["latency_us"]
            except (ValueError, KeyError, TypeError):
                return None
            if isinstance(values, list) and all(isinstance(v, int) for v in values):
                return tuple(values)
            return None
    return None


class Backend(Protocol):
    name: str
    precision: str
    needs: str  # the int8 model it compiles: "tflite", or "onnx" (ONNX Runtime's quantizer)
    bit_exact: bool  # a difference from TFLite's reference kernels is a failure

    def supports(self, target: Target) -> bool: ...

    def requested(self, options: CompileOptions) -> bool:
        """Whether ``options`` ask for this backend even where the target does not list it."""
        ...

    def compile(
        self, model: Int8Model, target: Target, out: Path, options: CompileOptions
    ) -> Artifact: ...

    def run(
        self, artifact: Artifact, target: Target, inputs: np.ndarray, layers: bool = False
    ) -> RunOutput: ...


class BaseBackend:
    """Defaults for a backend: it compiles the TFLite int8 model and is asked for only by the
    target's ``backends`` list."""

    name: str
    precision: str
    needs = "tflite"
    bit_exact = False  # whether it promises TFLite's reference kernels' bytes (else: agreement)

    def requested(self, options: CompileOptions) -> bool:
        return False
