"""ONNX backend: the float model through ONNX Runtime's static int8 quantization (QDQ).

A cross-check beside the TFLite int8 model: the same float model and calibration samples, a
different quantizer (ONNX Runtime's, with MinMax, Entropy or Percentile ranges) and a different
runtime. The QDQ model only says which tensors are int8; which kernels run is ONNX Runtime's
choice at load time, so the section reads the graph ORT actually optimized and counts the ops
it runs on integer kernels and the ops it runs as dequantize -> float32 -> quantize.

The evaluation must measure what the board computes. ONNX Runtime's integer kernels on an x86
CPU without VNNI can saturate on full 8-bit weights where the board's ARM kernels do not, so
there the host runs the QDQ graph as written (``int8_path``, shared with the bundle's runner);
the model keeps full 8-bit weights (no ``reduce_range``) whatever CPU built it.
"""

from __future__ import annotations

import contextlib
import io
import platform
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError, first_line
from edgekit.frontend.data import Dataset, Splits, preprocess
from edgekit.validation.accuracy import topk

OPSET = 17
PERCENTILE = 99.999
EXPORT_TOLERANCE = 1e-4  # absolute, on outputs of magnitude <= 1 (softmax); scaled above that
EXPORT_CHECK_SAMPLES = 8
# 7-bit weights would keep x86's int16 pair sums from saturating, but the bundled model is what
# the board runs, and its ARM kernels sum in int32: it keeps all 8 bits, whatever CPU built it.
REDUCE_RANGE = False
# The histogram calibrators (entropy, percentile) keep every intermediate tensor of every
# calibration sample in memory before building histograms; past this budget they get fewer samples.
HISTOGRAM_BUDGET_BYTES = 1 << 30
FOLDER = "quantized_onnx"  # the quantize stage's ONNX models (the onnx backend bundles one)
FLOAT_FILE = "model_float.onnx"
MODELS_FILE = "models.json"

_CALIBRATION = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
METHODS = tuple(_CALIBRATION)
_INTEGER_OPS = frozenset({"QGemm", "ConvInteger", "MatMulInteger", "MatMulIntegerToFloat"})
_LAYOUT_OPS = frozenset(
    {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity"}
    | {"ReorderInput", "ReorderOutput"}  # ORT's NCHWc layout conversions
)


# ---------------------------------------------------------------- export


def export_onnx(float_model, path: Path) -> Path:
    """The float Keras model as ONNX (opset 17), batch 1, NHWC input like the Keras model.

    Traced with a batch-1 signature, as the TFLite path exports its SavedModel, so every tensor
    has a fixed shape for the quantizer.
    """
    import onnx
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec([1, *float_model.input_shape[1:]], tf.float32, name="input")]

    @tf.function
    def forward(x):
        return float_model(x, training=False)

    try:
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=OPSET)
    except Exception as exc:  # tf2onnx raises many types; the user needs one line
        raise EdgekitError(
            f"ONNX export failed: {first_line(exc)}; the model must use ops tf2onnx can convert"
        ) from None
    _rename_output(proto, "output")
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def _rename_output(proto, name: str) -> None:
    """tf2onnx names the output after TF's ``Identity:0``; give the runners a plain name."""
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
    proto.graph.output[0].name = name


def check_export(float_model, onnx_path: Path, samples: np.ndarray) -> float:
    """The largest output difference between ONNX Runtime and Keras on ``samples``; stops the
    build if it is above float round-off."""
    reference = np.asarray(float_model(samples, training=False), dtype=np.float32)
    got = _run(_session(onnx_path), samples)
    diff = float(np.max(np.abs(got - reference)))
    limit = EXPORT_TOLERANCE * max(1.0, float(np.max(np.abs(reference))))
    if diff > limit:
        raise EdgekitError(
            f"the ONNX export differs from the Keras model by {diff:.3g} (limit {limit:.3g}); "
            "the model uses an op tf2onnx converts differently"
        )
    return diff


# ---------------------------------------------------------------- quantize


def calibration_method(method: str):
    """ORT's ``CalibrationMethod`` for a method name, or a one-line error naming the valid ones."""
    if method not in _CALIBRATION:
        raise EdgekitError(
            f"unknown ONNX calibration method '{method}'; use one of {', '.join(METHODS)}"
        )
    from onnxruntime.quantization import CalibrationMethod

    return getattr(CalibrationMethod, _CALIBRATION[method])


class _Samples:
    """ORT's CalibrationDataReader protocol (``get_next``) over preprocessed samples, batch 1."""

    def __init__(self, samples: np.ndarray, input_name: str) -> None:
        self.samples = samples
        self.input_name = input_name
        self.index = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index == len(self.samples):
            return None
        self.index += 1
        return {self.input_name: self.samples[self.index - 1][None]}


def quantize_onnx(float_onnx: Path, calibration: np.ndarray, method: str, out: Path) -> Path:
    """ONNX Runtime static quantization: QDQ format, int8 activations, per-channel int8 weights,
    activation ranges from ``calibration`` (preprocessed float32 samples) by ``method``."""
    calibrate = calibration_method(method)
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static

    input_name = onnx.load(str(float_onnx)).graph.input[0].name
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="edgekit-onnx-") as tmp:
            prepared = Path(tmp) / "prepared.onnx"
            # ORT's basic graph optimizations fold the BatchNorm that tf2onnx leaves after each
            # depthwise conv (Mul, Add) into the conv, so it is not quantized as two extra ops.
            # Symbolic shape inference is skipped: it needs sympy, and batch-1 shapes are static.
            quant_pre_process(str(float_onnx), str(prepared), skip_symbolic_shape=True)
            with contextlib.redirect_stdout(io.StringIO()):  # histogram calibrators print
                quantize_static(
                    str(prepared),
                    str(out),
                    _Samples(calibration, input_name),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    reduce_range=REDUCE_RANGE,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=calibrate,
                    extra_options={"CalibPercentile": PERCENTILE},
                )
    except Exception as exc:  # ORT's quantizer raises many types; the user needs one line
        out.unlink(missing_ok=True)
        raise EdgekitError(
            f"ONNX Runtime quantization ({method}) failed: {first_line(exc)}"
        ) from None
    return out


def samples_within_budget(float_onnx: Path, method: str, available: int) -> int:
    """How many calibration samples ``method`` can take within ``HISTOGRAM_BUDGET_BYTES``."""
    if method == "minmax":  # reduces each batch to a range as it goes
        return available
    per_sample = _activation_bytes(float_onnx)
    return max(1, min(available, HISTOGRAM_BUDGET_BYTES // max(1, per_sample)))


def _activation_bytes(float_onnx: Path) -> int:
    import onnx

    graph = onnx.shape_inference.infer_shapes(onnx.load(str(float_onnx))).graph
    total = 0
    for value in (*graph.value_info, *graph.output):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        total += 4 * int(np.prod(dims)) if dims and all(dims) else 0
    return total


# ---------------------------------------------------------------- run


def host_int8_path() -> dict:
    """This host's int8 path, as the bundle's runner reads it where it runs: ONNX Runtime's
    integer kernels for this CPU, whether they can saturate, and what the QDQ graph runs on."""
    from edgekit.templates.run_onnxruntime import int8_path

    return int8_path()


def _session(path: Path, optimized: Path | None = None, integer_kernels: bool = True):
    """One thread, sequential, deterministic: runs are repeatable and comparable. Without
    ``integer_kernels`` the QDQ graph runs as written: dequantize -> float32 -> quantize."""
    import onnxruntime as ort

    from edgekit.templates.run_onnxruntime import session

    settings = {
        "execution_mode": ort.ExecutionMode.ORT_SEQUENTIAL,
        "use_deterministic_compute": True,
        "log_severity_level": 3,  # the optimized-model dump warns about host-specific layouts
    }
    if optimized is not None:
        settings["optimized_model_filepath"] = str(optimized)
    return session(path, integer_kernels, **settings)


def _run(session, images: np.ndarray) -> np.ndarray:
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: image[None]})[0] for image in images])


def evaluate_onnx(onnx_path: Path, data: Dataset, integer_kernels: bool = True) -> dict:
    """Top-1 / top-5 of an ONNX model on ``data`` (preprocessed here), with its predictions;
    on ORT's integer kernels or, without ``integer_kernels``, the QDQ graph as written."""
    outputs = _run(_session(onnx_path, integer_kernels=integer_kernels), preprocess(data.images))
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
        _session(onnx_path, optimized, integer_kernels)
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


# ---------------------------------------------------------------- quantize, then evaluate


@dataclass(frozen=True)
class OnnxModels:
    """The ONNX side of the quantize stage: the float export and one int8 QDQ model per
    calibration method, in the order they were asked for, all under ``folder``."""

    folder: Path
    float_path: Path
    methods: dict[str, Path]
    calibration_samples: dict[str, int]  # per method: samples it took (histogram budget)
    offered_samples: int
    export_max_abs_diff: float
    quantize_seconds: dict[str, float]

    @property
    def first(self) -> tuple[str, Path]:
        """The method the ``onnx`` bundle runs, and its model."""
        return next(iter(self.methods.items()))


def quantize_methods(
    float_model,
    data: Splits,
    calibration_count: int,
    out_dir: Path,
    methods: tuple[str, ...] = METHODS,
) -> OnnxModels:
    """Export once and quantize with each calibration method into ``out_dir/onnx``."""
    from edgekit.quantization.converter import representative_samples

    for method in methods:
        calibration_method(method)
    folder = Path(out_dir) / FOLDER
    float_path = export_onnx(float_model, folder / FLOAT_FILE)
    diff = check_export(
        float_model, float_path, preprocess(data.evaluation.images[:EXPORT_CHECK_SAMPLES])
    )
    calibration = representative_samples(
        data.calibration, min(calibration_count, len(data.calibration))
    )
    paths, counts, seconds = {}, {}, {}
    for method in methods:
        count = samples_within_budget(float_path, method, len(calibration))
        start = time.perf_counter()
        paths[method] = quantize_onnx(
            float_path, calibration[:count], method, folder / f"model_int8_{method}.onnx"
        )
        counts[method], seconds[method] = count, round(time.perf_counter() - start, 2)
    return OnnxModels(folder, float_path, paths, counts, len(calibration), diff, seconds)


def load_models(out_dir: Path, methods: tuple[str, ...] = METHODS) -> OnnxModels | None:
    """The ONNX models a quantize stage left in ``out_dir/onnx`` (None when it made none), as
    recorded in its ``models.json``."""
    record = Path(out_dir) / FOLDER / MODELS_FILE
    if not record.is_file():
        return None
    import json

    meta = json.loads(record.read_text())
    folder = record.parent
    return OnnxModels(
        folder,
        folder / FLOAT_FILE,
        {m: folder / f"model_int8_{m}.onnx" for m in meta["methods"]},
        meta["calibration_samples"],
        meta["offered_samples"],
        meta["export_max_abs_diff"],
        meta["quantize_seconds"],
    )


def save_models(models: OnnxModels) -> None:
    """Record ``models`` beside them (``models.json``) for ``load_models``."""
    import json

    meta = {
        "methods": list(models.methods),
        "calibration_samples": models.calibration_samples,
        "offered_samples": models.offered_samples,
        "export_max_abs_diff": models.export_max_abs_diff,
        "quantize_seconds": models.quantize_seconds,
    }
    (models.folder / MODELS_FILE).write_text(json.dumps(meta, indent=2) + "\n")


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
