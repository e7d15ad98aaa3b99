"""Proving an artifact: its int8 outputs, run where it will run, against TFLite's reference
kernels (LiteRT with BUILTIN_REF), byte for byte; optionally every intermediate tensor."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgekit.backends import Artifact, Backend, RunOutput
from edgekit.compiler.ir import read_tflite
from edgekit.frontend.data import Dataset, preprocess
from edgekit.platforms.targets import Target
from edgekit.quantization.interpreter import interpreter, io_quantization

REFERENCE = "LiteRT BUILTIN_REF (TFLite reference kernels)"


@dataclass(frozen=True)
class Reference:
    inputs: np.ndarray  # int8, one row per input
    outputs: np.ndarray  # int8
    layers: list[np.ndarray] | None  # every op output for the first input


def int8_inputs(tflite: bytes, data: Dataset, count: int) -> np.ndarray:
    """The first ``count`` images of ``data``, quantized as the model's input expects."""
    q = io_quantization(interpreter(tflite).get_input_details()[0])
    return np.stack([q.quantize(x) for x in preprocess(data.images[:count])])


def reference(tflite: bytes, inputs: np.ndarray, layers: bool = False) -> Reference:
    """Outputs of TFLite's reference kernels, and with ``layers`` every op's output for the
    first input (in op order, as the generated code reports its layers)."""
    interp = interpreter(tflite, reference=True, preserve_all=layers)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    outputs, per_layer = [], None
    for i, x in enumerate(inputs):
        interp.set_tensor(inp["index"], x.reshape(inp["shape"]))
        interp.invoke()
        outputs.append(interp.get_tensor(out["index"]).ravel().copy())
        if layers and i == 0:
            graph = read_tflite(tflite)
            per_layer = [interp.get_tensor(op.outputs[0]).ravel().copy() for op in graph.ops]
    return Reference(inputs, np.stack(outputs), per_layer)


def compare_outputs(
    ref: Reference,
    run: RunOutput,
    backend: str,
    layer_names: list[str],
    float_predictions: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> dict:
    """The ``validation`` row of report.json: against the int8 reference byte for byte, and
    (when given) against the float model's predictions and the labels of the same inputs."""
    diff = np.abs(run.outputs.astype(np.int32) - ref.outputs.astype(np.int32))
    predicted = np.argmax(run.outputs, axis=1)
    n = len(predicted)
    row = {
        "backend": backend,
        "runner": run.runner,
        "reference": REFERENCE,
        "inputs": int(len(ref.inputs)),
        "bit_exact": bool(np.array_equal(run.outputs, ref.outputs)),
        "max_abs_diff": int(diff.max()),
        "top1_agreement": float(np.mean(predicted == np.argmax(ref.outputs, axis=1))),
        "float_top1_agreement": (
            float(np.mean(predicted == float_predictions[:n]))
            if float_predictions is not None
            else None
        ),
        "top1": float(np.mean(predicted == labels[:n])) if labels is not None else None,
    }
    if ref.layers is not None and run.layers is not None:
        first = next(
            (i for i, (a, b) in enumerate(zip(ref.layers, run.layers)) if not np.array_equal(a, b)),
            None,
        )
        row["layers_compared"] = len(ref.layers)
        row["first_differing_layer"] = None if first is None else layer_names[first]
    return row


def benchmark(run: RunOutput, backend: str, macs: int | None, layer_names: list[str]) -> dict:
    """The ``benchmark`` row: instructions per inference where QEMU counted them (retired
    instructions: a proxy for cycles, not a latency) and the median latency where the artifact
    ran natively on the CPU it was built for; under emulation the time is QEMU's, so null."""
    counts = [c for c in (run.instructions or ()) if c is not None]
    mean = int(round(float(np.mean(counts)))) if counts else None
    row = {
        "backend": backend,
        "runner": run.runner,
        "instructions": mean,
        "instructions_per_mac": round(mean / macs, 2) if mean and macs else None,
        "latency_ms": median_ms(run.latency_us) if run.native else None,
        "latency_inferences": len(run.latency_us) if run.native and run.latency_us else None,
    }
    plain = run.instructions_without_patches or ()
    if plain and plain[0] and counts and run.instructions[0]:  # both on the first input
        row["instructions_without_patches"] = int(plain[0])
        row["patch_overhead"] = round(run.instructions[0] / plain[0] - 1, 4)
    if run.layer_instructions:
        row["layers"] = [
            {"name": n, "instructions": int(c)} for n, c in zip(layer_names, run.layer_instructions)
        ]
    return row


def median_ms(latency_us: tuple[int, ...] | list[int] | None) -> float | None:
    """The median of per-inference times in microseconds, in milliseconds (None when none)."""
    if not latency_us:
        return None
    return round(float(np.median(latency_us)) / 1000, 3)


def validate(
    backend: Backend,
    artifact: Artifact,
    target: Target,
    tflite: bytes,
    data: Dataset,
    count: int,
    layers: bool = False,
    macs: int | None = None,
    float_predictions: np.ndarray | None = None,
) -> tuple[dict, dict]:
    """Run ``artifact`` on the first ``count`` evaluation inputs; its validation and benchmark
    rows. ``float_predictions``: the float model's top-1 class of those inputs, when known."""
    inputs = int8_inputs(tflite, data, count)
    ref = reference(tflite, inputs, layers)
    run = backend.run(artifact, target, inputs, layers=layers)
    names = artifact.details.get("layers", [])
    ops = artifact.details.get("layer_ops")
    if ref.layers is not None and ops is not None:  # the layers the artifact reports
        ref = replace(ref, layers=[ref.layers[i] for i in ops])
    row = compare_outputs(ref, run, backend.name, names, float_predictions, data.labels[:count])
    return row, benchmark(run, backend.name, macs, names)


def float_predictions(float_model, data: Dataset, count: int) -> np.ndarray | None:
    """The float model's top-1 class of the first ``count`` images of ``data``."""
    if float_model is None:
        return None
    logits = float_model(preprocess(data.images[:count]), training=False)
    return np.argmax(np.asarray(logits), axis=1)
