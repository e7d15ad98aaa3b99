"""int8 against float32 where the model runs: the float model compiled by the c backend with
float32 reference kernels and run on the microcontroller's board in QEMU (instructions, arena,
flash, RAM), or for a Linux board LiteRT's float32 and int8 models timed on this host's CPU
(named as the host's figures: the board is not here).

The float model is the float ``.tflite`` the int8 model was quantized from, or the Keras
model converted to one; a quantized ``.tflite`` given alone has none, and the report says so.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edgekit.artifacts import Artifact, RunOutput
from edgekit.config import CompileOptions
from edgekit.errors import EdgekitError, first_line
from edgekit.frontend.data import Dataset
from edgekit.platforms.targets import Target

HOST_RUNS = 20  # timed inferences per model on the host, after one warm-up


def float_model(source, model) -> tuple[bytes | None, str | None]:
    """(the float .tflite that is the int8 model's float twin, None), or (None, why not)."""
    if model.reference is not None:
        return model.reference, None
    if source.float_tflite is not None:
        return source.float_tflite, None
    if source.float_model is None:
        return None, f"{source.source} is a quantized .tflite: there is no float model to run"
    from edgekit.quantization.converter import float_tflite

    try:
        return float_tflite(source.float_model), None
    except EdgekitError as exc:
        return None, first_line(exc)


def on_board(
    float_tflite: bytes,
    int8: Artifact,
    int8_run: dict | None,
    target: Target,
    data: Dataset,
    options: CompileOptions,
) -> dict:
    """The float model built by the c backend for ``target`` and run on its QEMU board on the
    first evaluation input, beside the int8 firmware's figures (``int8_run``: its benchmark row).
    The float build is forced past the board's budget: that it does not fit is a figure too."""
    from edgekit.backends.c import CBackend
    from edgekit.quantization import Int8Model
    from edgekit.validation.artifacts import input_rows

    section = _section("board", target.name, int8_run, int8)
    section["int8"]["fits"] = target.fits(int8.ram_bytes, int8.flash_bytes)
    inputs = input_rows(float_tflite, data, 1)
    options = CompileOptions(force=True, patches="off", prefix=options.prefix)
    backend = CBackend()
    with tempfile.TemporaryDirectory(prefix="edgekit-float32-") as tmp:
        try:
            artifact = backend.compile(Int8Model(float_tflite), target, Path(tmp), options)
            run = backend.run(artifact, target, inputs)
        except EdgekitError as exc:
            section["reason"] = f"the float32 model does not run as C here: {first_line(exc)}"
            return section
    expected = _float_outputs(float_tflite, data)
    section["runner"] = run.runner
    section["float32"] = {
        "instructions": _first(run),
        "latency_ms": None,
        "arena_bytes": artifact.details.get("arena_bytes"),
        "flash_bytes": artifact.flash_bytes,
        "ram_bytes": artifact.ram_bytes,
        "fits": target.fits(artifact.ram_bytes, artifact.flash_bytes),
        "max_abs_diff": _max_diff(run.outputs, expected, float_tflite),
    }
    return section


def on_host(float_tflite: bytes, int8_tflite: bytes, target: Target, data: Dataset) -> dict:
    """LiteRT's float32 and int8 models timed on this host's CPU (XNNPACK, one thread, the
    median of HOST_RUNS inferences on the first evaluation input): the host's figures, not
    the board's."""
    section = _section("host", target.name, None, None)
    section["runner"] = f"LiteRT (XNNPACK, 1 thread) on this host's {_host_cpu()}"
    for name, tflite in (("float32", float_tflite), ("int8", int8_tflite)):
        section[name] = {
            "instructions": None,
            "latency_ms": round(_litert_ms(tflite, data), 4),
            "arena_bytes": None,
            "flash_bytes": len(tflite),
            "ram_bytes": None,
            "fits": None,
            "max_abs_diff": None,
        }
    return section


def not_measured(where: str, target: Target, why: str) -> dict:
    """The section when the float model cannot be measured, saying why."""
    return {**_section(where, target.name, None, None), "reason": why}


def _section(where: str, target: str, int8_run: dict | None, int8: Artifact | None) -> dict:
    row = int8_run or {}
    return {
        "where": where,
        "target": target,
        "runner": None,
        "reason": None,
        "int8": {
            "instructions": row.get("instructions"),
            "latency_ms": None,
            "arena_bytes": int8.details.get("arena_bytes") if int8 else None,
            "flash_bytes": int8.flash_bytes if int8 else None,
            "ram_bytes": int8.ram_bytes if int8 else None,
            "fits": None,
            "max_abs_diff": None,
        },
        "float32": None,
    }


def _first(run: RunOutput) -> int | None:
    return run.instructions[0] if run.instructions and not run.native else None


def _float_outputs(float_tflite: bytes, data: Dataset) -> list[np.ndarray]:
    from edgekit.interpreter import FloatTflite

    return FloatTflite(float_tflite).predict_on_batch(data.inputs(1))


def _max_diff(got: np.ndarray, expected: list[np.ndarray], float_tflite: bytes) -> float:
    """The largest difference between the C's outputs (one row of bytes per input) and
    LiteRT's float32 ones."""
    from edgekit.signature import Signature

    outputs = Signature.of(float_tflite).unpack(got)
    return float(
        max(np.max(np.abs(np.asarray(a, np.float64) - b)) for a, b in zip(outputs, expected))
    )


def _litert_ms(tflite: bytes, data: Dataset) -> float:
    """LiteRT with its default delegate (XNNPACK), one thread: the median inference time."""
    from ai_edge_litert.interpreter import Interpreter

    from edgekit.signature import Signature

    interp = Interpreter(model_content=tflite, num_threads=1)
    interp.allocate_tensors()
    ports = Signature.of(tflite).inputs
    for detail, port, x in zip(interp.get_input_details(), ports, data.inputs(1)):
        if x.dtype != np.dtype(port.dtype) and port.quantization is not None:
            x = port.quantization.quantize(x)
        interp.set_tensor(detail["index"], np.asarray(x, port.dtype).reshape(detail["shape"]))
    interp.invoke()  # warm-up
    times = []
    for _ in range(HOST_RUNS):
        start = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _host_cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def compare(
    source,
    model,
    target: Target,
    data: Dataset,
    options: CompileOptions,
    c: tuple[Artifact | None, dict | None],
) -> dict | None:
    """report.json's "float32" section for ``target``: on a microcontroller the float model's C
    on the board beside the c backend's int8 firmware (``c``: its artifact and benchmark row,
    None when it was not built); on a Linux board or the host target LiteRT float32 against
    int8 on this host; None for other targets (NPUs)."""
    if target.family not in ("mcu", "linux", "host"):
        return None
    where = "board" if target.family == "mcu" else "host"
    tflite, why = float_model(source, model)
    if tflite is None:
        return not_measured(where, target, why or "no float model")
    if where == "host":
        return on_host(tflite, model.tflite, target, data)
    artifact, bench = c
    if artifact is None:
        return not_measured(where, target, "the c backend's int8 firmware was not built")
    return on_board(tflite, artifact, bench, target, data, options)


def summary(section: dict) -> str:
    """One line for the build's progress: the two figures and their ratio."""
    if section["reason"]:
        return section["reason"]
    board = section["where"] == "board"
    key = "instructions" if board else "latency_ms"
    a, b = section["int8"].get(key), section["float32"].get(key)

    def text(v) -> str:
        if v is None:
            return "n/a"
        return f"{v:,} instructions" if board else f"{v:.3f} ms on this host"

    ratio = f" ({b / a:.2f}x int8)" if a and b else ""
    return f"int8 {text(a)}, float32 {text(b)}{ratio}"
