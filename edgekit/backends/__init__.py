"""Backends: one small class per way of running the int8 model, in one registry.

A backend compiles the int8 model for a target into an artifact folder and runs that artifact
where it will run (host, emulator) on int8 inputs. Validation against TFLite's reference
kernels is the same for every backend (``edgekit.validation.artifacts``), so a backend only says
how to build and how to run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from edgekit.platforms.targets import Target
from edgekit.quantization import Int8Model


@dataclass(frozen=True)
class CompileOptions:
    """What a build asks of its backends; each backend reads the fields it understands."""

    force: bool = False  # firmware over the board's RAM or flash is built anyway
    tune_trials: int = 0  # MetaSchedule candidates for the tvm backend (0: no tuning)
    kernels: str = "auto"  # c backend: "auto" (best variant per layer) or "ref" (reference ones)
    patches: str = "auto"  # c backend: "off", "auto" (microcontrollers) or a grid "RxC"
    patch_cut: str | None = None  # c backend: the layer the patches end at (None: chosen)
    patch_overhead: float = 0.20  # c backend: the most estimated extra work auto may spend
    optimise: str | None = None  # vela backend: Vela's --optimise (None: the target's [npu])


DEFAULTS = CompileOptions()


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


def registry() -> dict[str, Backend]:
    """Backend name → instance. Imports stay lazy: each backend pulls in only what it needs."""
    from edgekit.backends.c import CBackend
    from edgekit.backends.litert import LiteRTBackend
    from edgekit.backends.onnxruntime import ONNXRuntimeBackend
    from edgekit.backends.tvm import TVMBackend
    from edgekit.backends.vela import VelaBackend

    return {
        "c": CBackend(),
        "litert": LiteRTBackend(),
        "tvm": TVMBackend(),
        "onnx": ONNXRuntimeBackend(),
        "vela": VelaBackend(),
    }
