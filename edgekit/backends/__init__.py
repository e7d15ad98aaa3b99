"""Backends: one small class per way of running the int8 model, in one registry.

A backend compiles the int8 model for a target into an artifact folder and runs that artifact
where it will run (host, emulator) on int8 inputs (the interface: ``edgekit.artifacts.Backend``).
Validation against TFLite's reference kernels is the same for every backend
(``edgekit.validation.artifacts``), so a backend only says how to build and how to run.
"""

from __future__ import annotations

from edgekit.artifacts import Backend


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
