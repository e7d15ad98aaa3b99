"""Proving an artifact: its int8 outputs, run where it will run, against TFLite's reference
kernels (LiteRT with BUILTIN_REF), byte for byte; optionally every intermediate tensor."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgekit.artifacts import Artifact, Backend, RunOutput
from edgekit.compiler.ir import read_tflite
from edgekit.frontend.data import Dataset
from edgekit.interpreter import Runner
from edgekit.isolated import ChildDied, Isolated
from edgekit.platforms.targets import Target
from edgekit.signature import Signature
from edgekit.validation.aborts import explain
from edgekit.validation.accuracy import Stats, real
from edgekit.validation.micro import SplitRunner, needs_micro

REFERENCE = "LiteRT BUILTIN_REF (TFLite reference kernels)"
# a model with a 16x8 LSTM, which only TFLite Micro runs (edgekit.validation.micro)
SPLIT_REFERENCE = "TFLite Micro for the 16x8 LSTM, LiteRT BUILTIN_REF for every other op"
REFERENCE_INTERPRETER = "the reference interpreter (LiteRT BUILTIN_REF)"


@dataclass(frozen=True)
class Reference:
    inputs: np.ndarray  # one row of bytes per sample (``edgekit.signature``)
    outputs: np.ndarray  # likewise
    layers: list[np.ndarray] | None  # every op output's bytes for the first sample
    signature: Signature  # how inputs and outputs are laid out in the rows
    engine: str = REFERENCE  # what computed it


def input_rows(tflite: bytes, data: Dataset, count: int) -> np.ndarray:
    """The first ``count`` samples of ``data`` as the model takes them (float data quantized
    for int8 inputs), one row of bytes per sample."""
    return Signature.of(tflite).rows(data.inputs(count))


def reference(
    tflite: bytes, inputs: np.ndarray, layers: bool = False, stage: str = "validate"
) -> Reference:
    """Outputs of TFLite's reference kernels (for a 16x8 LSTM, which they cannot run, TFLite
    Micro's: ``validation.micro``), and with ``layers`` every op's output for the first input
    (in op order, as the generated code reports its layers).

    The kernels run in a child process: where they abort (on a degenerate model), ``stage``
    fails with one line naming the op where it is known, and edgekit carries on.
    """
    per_layer = None
    split = needs_micro(tflite)  # LiteRT cannot prepare a 16x8 LSTM; TFLite Micro runs it
    runner = SplitRunner if split else Runner
    try:
        with Isolated(REFERENCE_INTERPRETER, stage) as child:
            child.open("loading the model", runner, tflite, reference=True, preserve_all=layers)
            # one pass over the inputs in order: a recurrent model's state carries from one
            # to the next, and the first input's layers are those of the fresh state
            tensors = [op.outputs[0] for op in read_tflite(tflite).ops] if layers else []
            outputs, kept = child.call("running the model", "run", inputs, tensors)
            if layers:
                per_layer = [t[0].ravel().view(np.int8) for t in kept]
    except ChildDied as died:
        raise explain(died, tflite, inputs) from None
    engine = SPLIT_REFERENCE if split else REFERENCE
    return Reference(inputs, outputs, per_layer, Signature.of(tflite), engine)


def compare_outputs(
    ref: Reference,
    run: RunOutput,
    backend: str,
    layer_names: list[str],
    float_predictions: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    *,
    classifier: bool = True,
) -> dict:
    """The ``validation`` row of report.json: against the int8 reference byte for byte, each
    output's largest difference (in its own units: int8 steps, or real numbers for a float
    output), and for a classifier the top-1 agreement with the reference, with the float
    model's predictions and with the labels of the same inputs, where given."""
    signature = ref.signature
    got, want = signature.unpack(run.outputs), signature.unpack(ref.outputs)
    diffs = [
        np.abs(g.astype(np.float64) - w.astype(np.float64)).max(initial=0.0)
        for g, w in zip(got, want)
    ]
    exact = all(np.array_equal(g.view(np.uint8), w.view(np.uint8)) for g, w in zip(got, want))
    largest = max(diffs, default=0.0)
    integers = all(p.dtype != "float32" for p in signature.outputs)
    n = len(run.outputs)
    classifier = classifier and len(got) == 1 and got[0].ndim == 2 and got[0].shape[1] >= 2
    predicted = np.argmax(got[0], axis=1) if classifier else None
    row = {
        "backend": backend,
        "runner": run.runner,
        "reference": ref.engine,
        "inputs": int(len(ref.inputs)),
        "bit_exact": bool(exact),
        "max_abs_diff": int(largest) if integers else float(largest),
        "outputs": [output_row(port, g, w) for port, g, w in zip(signature.outputs, got, want)],
        "top1_agreement": (
            float(np.mean(predicted == np.argmax(want[0], axis=1))) if classifier else None
        ),
        "float_top1_agreement": (
            float(np.mean(predicted == float_predictions[:n]))
            if classifier and float_predictions is not None
            else None
        ),
        "top1": float(np.mean(predicted == labels[:n]))
        if classifier and labels is not None
        else None,
    }
    if ref.layers is not None and run.layers is not None:
        first = next(
            (
                i
                for i, (a, b) in enumerate(zip(ref.layers, run.layers))
                if not np.array_equal(a.view(np.uint8), np.asarray(b).view(np.uint8))
            ),
            None,
        )
        row["layers_compared"] = len(ref.layers)
        row["first_differing_layer"] = None if first is None else layer_names[first]
    return row


def output_row(port, got: np.ndarray, want: np.ndarray) -> dict:
    """One output against the reference's, in real numbers (dequantized where int8)."""
    got, want = real(port, got), real(port, want)
    stats = Stats()
    stats.add(want, got)
    return {
        "name": port.name,
        "max_abs_diff": float(np.abs(got - want).max(initial=0.0)),
        "sqnr_db": stats.sqnr_db(),
        "cosine": stats.cosine(),
    }


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
    *,
    tflite: bytes,
    data: Dataset,
    count: int,
    layers: bool = False,
    macs: int | None = None,
    float_predictions: np.ndarray | None = None,
    classifier: bool = True,
) -> tuple[dict, dict]:
    """Run ``artifact`` on the first ``count`` evaluation inputs; its validation and benchmark
    rows. ``float_predictions``: the float model's top-1 class of those inputs, when known;
    ``classifier``: whether the model's output is class scores (top-1 is then compared)."""
    inputs = input_rows(tflite, data, count)
    ref = reference(tflite, inputs, layers, stage=f"validate {backend.name}")
    run = backend.run(artifact, target, inputs, layers=layers)
    names = artifact.details.get("layers", [])
    ops = artifact.details.get("layer_ops")
    if ref.layers is not None and ops is not None:  # the layers the artifact reports
        ref = replace(ref, layers=[ref.layers[i] for i in ops])
    labels = None if data.labels is None else data.labels[:count]
    row = compare_outputs(
        ref, run, backend.name, names, float_predictions, labels, classifier=classifier
    )
    return row, benchmark(run, backend.name, macs, names)


def float_predictions(float_model, data: Dataset, count: int) -> np.ndarray | None:
    """A float classifier's top-1 class of the first ``count`` samples of ``data``; None for a
    model without a float version or that is not a classifier (one output of class scores)."""
    if float_model is None or len(float_model.outputs) != 1:
        return None
    x = data.inputs(count)
    logits = np.asarray(float_model(x[0] if len(x) == 1 else list(x), training=False))
    if logits.ndim != 2 or logits.shape[1] < 2:
        return None
    return np.argmax(logits, axis=1)


def classifier_classes(candidate: int | None, tflite: bytes, data: Dataset) -> int | None:
    """The class count when the model is a classifier: one output of K >= 2 scores
    (``candidate``) that the data labels or that a SOFTMAX makes; None otherwise (an
    autoencoder's 640 values are not 640 classes)."""
    if candidate is None:
        return None
    if data.labels is not None:
        return candidate
    graph = read_tflite(tflite)
    last = graph.producer(graph.outputs[0])
    while last is not None and last.kind in ("DEQUANTIZE", "QUANTIZE", "RESHAPE"):
        last = graph.producer(last.inputs[0])
    return candidate if last is not None and last.kind == "SOFTMAX" else None
