"""ONNX Runtime's int8 models evaluated as the board computes them: the report's ``onnx`` block.

The QDQ model only says which tensors are int8; which kernels run is ONNX Runtime's choice at
load time, so the section reads the graph ORT actually optimized and counts the ops it runs on
integer kernels and the ops it runs as dequantize -> float32 -> quantize.

The evaluation must measure what the board computes. ONNX Runtime's integer kernels on an x86
CPU without VNNI can saturate on full 8-bit weights where the board's ARM kernels do not, so
there the host runs the QDQ graph as written (``int8_path``, shared with the bundle's runner).
"""

from __future__ import annotations

import platform
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from edgekit.frontend.data import Dataset, preprocess
from edgekit.quantization.onnx_ptq import (
    FLOAT_FILE,
    FOLDER,
    HISTOGRAM_BUDGET_BYTES,
    OPSET,
    REDUCE_RANGE,
    OnnxModels,
    ort_session,
    run_each,
)
from edgekit.validation.accuracy import topk

_INTEGER_OPS = frozenset({"QGemm", "ConvInteger", "MatMulInteger", "MatMulIntegerToFloat"})
_LAYOUT_OPS = frozenset(
    {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"}
    | {"ReorderInput", "ReorderOutput"}  # ORT's NCHWc layout conversions
)


def host_int8_path() -> dict:
    """This host's int8 path, as the bundle's runner reads it where it runs: ONNX Runtime's
    integer kernels for this CPU, whether they can saturate, and what the QDQ graph runs on."""
    from edgekit.templates.run_onnxruntime import int8_path

    return int8_path()


def evaluate_onnx(onnx_path: Path, data: Dataset, integer_kernels: bool = True) -> dict:
    """Top-1 / top-5 of an ONNX model on ``data`` (preprocessed here), with its predictions;
    on ORT's integer kernels or, without ``integer_kernels``, the QDQ graph as written."""
    session = ort_session(onnx_path, integer_kernels=integer_kernels)
    outputs = run_each(session, preprocess(data.images))
    return {
        "top1": topk(outputs, data.labels, 1),
        "top5": topk(outputs, data.labels, 5),
        "predictions": np.argmax(outputs, axis=1),
    }


def executed_ops(onnx_path: Path, integer_kernels: bool = True) -> dict[str, dict[str, int]]:
    """The compute ops of the graph ONNX Runtime runs on this CPU (after its optimizations, or
    as written without ``integer_kernels``): those on integer kernels, and those left in
    float32 between dequantize and quantize. Layout ops and the remaining QuantizeLinear /
    DequantizeLinear are not counted."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="edgekit-onnx-") as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        ort_session(onnx_path, optimized, integer_kernels)
        graph = onnx.load(str(optimized)).graph
    integer, floating = Counter(), Counter()
    for node in graph.node:
        op = node.op_type
        if op.startswith("QLinear") or op in _INTEGER_OPS:
            integer[op] += 1
        elif op not in _LAYOUT_OPS and op not in ("QuantizeLinear", "DequantizeLinear"):
            floating[op] += 1
    return {"integer": dict(sorted(integer.items())), "float": dict(sorted(floating.items()))}


def computes_in(ops: dict[str, dict[str, int]]) -> str:
    """One line for the report: the precision the ops really compute in."""
    integer, floating = sum(ops["integer"].values()), sum(ops["float"].values())
    listed = ", ".join(f"{n} {op}" for op, n in ops["float"].items())
    if not floating:
        return "int8: every compute op on an integer kernel"
    if not integer:
        return "float-simulated int8: every op dequantizes, computes in float32, requantizes"
    return (
        f"mixed: {integer} ops on integer kernels, {floating} ({listed}) as "
        "dequantize -> float32 -> quantize"
    )


def onnx_section(models: OnnxModels, evaluation: Dataset, host: dict | None = None) -> dict:
    """Each int8 model, and the float export, evaluated on the evaluation split as the board
    computes it (``host``: this CPU's ``host_int8_path()`` unless given): the report's ``onnx``
    block. Where this CPU's integer kernels can saturate, the models run as written, and what
    those kernels would have given is measured beside it."""
    import onnxruntime as ort

    host = host_int8_path() if host is None else host
    integer = not host["integer_kernels_saturate"]
    reference = evaluate_onnx(models.float_path, evaluation)
    rows, made = [], {}
    for method, path in models.methods.items():
        # a calibrator can land on another's ranges exactly (ORT's Entropy with quantize_static's
        # fixed 128 bins searches a single threshold, the full range: MinMax's)
        same = made.setdefault(path.read_bytes(), method)
        start = time.perf_counter()
        result = evaluate_onnx(path, evaluation, integer)
        evaluated = time.perf_counter()
        ops = executed_ops(path, integer)
        saturating = None if integer else evaluate_onnx(path, evaluation)["top1"]
        count = models.calibration_samples[method]
        rows.append(
            {
                "method": method,
                "calibration_samples": count,
                "calibration_capped": count < models.offered_samples,
                "top1": result["top1"],
                "top5": result["top5"],
                "top1_agreement_with_float": float(
                    np.mean(result["predictions"] == reference["predictions"])
                ),
                "model_bytes": path.stat().st_size,
                "path": f"{FOLDER}/{path.name}",
                "computes_in": computes_in(ops),
                "executed_ops": ops,
                "host_integer_kernels_top1": saturating,
                "identical_to": same if same != method else None,
                "quantize_seconds": models.quantize_seconds[method],
                "evaluate_seconds": round(evaluated - start, 2),
            }
        )
    return {
        "runtime": f"ONNX Runtime {ort.__version__}, CPUExecutionProvider, 1 thread",
        "host": platform.machine(),
        "precision": "int8 (QDQ: int8 activations, per-channel int8 weights)",
        "opset": OPSET,
        "reduce_range": REDUCE_RANGE,
        "host_int8_path": {**host, "reason": _path_reason(host)},
        "float_path": f"{FOLDER}/{FLOAT_FILE}",
        "float_bytes": models.float_path.stat().st_size,
        "float_max_abs_diff_vs_keras": models.export_max_abs_diff,
        "float_top1": reference["top1"],
        "float_top5": reference["top5"],
        "calibration_samples": models.offered_samples,
        "histogram_budget_bytes": HISTOGRAM_BUDGET_BYTES,
        "methods": rows,
    }


def _path_reason(host: dict) -> str:
    """Why the evaluation ran the way ``host`` says, in one line for the report."""
    if not host["integer_kernels_saturate"]:
        return "this CPU's integer kernels sum in int32, as the board's do"
    known = "not identified" not in host["integer_kernels"]
    why = "could saturate on full 8-bit weights" if known else "are not identified"
    return (
        f"this CPU's integer kernels {why} and the board's do not saturate, so the QDQ graph "
        "ran as written: these figures are what the board computes"
    )
