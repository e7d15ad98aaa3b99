"""ONNX Runtime's side of the quantize stage: the float model exported to ONNX and quantized
statically to int8 (QDQ).

A cross-check beside the TFLite int8 model: the same float model and calibration samples, a
different quantizer (ONNX Runtime's, with MinMax, Entropy or Percentile ranges) and a different
runtime. The model keeps full 8-bit weights (no ``reduce_range``) whatever CPU built it: the
board's ARM kernels sum in int32. Evaluating the models is ``edgekit.validation.onnx``'s.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError, first_line
from edgekit.frontend.data import Splits, preprocess

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
    got = run_each(ort_session(onnx_path), samples)
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


# ---------------------------------------------------------------- run (export check, evaluation)


def ort_session(path: Path, optimized: Path | None = None, integer_kernels: bool = True):
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


def run_each(session, images: np.ndarray) -> np.ndarray:
    """The model's output for each image, run one at a time (batch 1)."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: image[None]})[0] for image in images])


# ---------------------------------------------------------------- the stage's models


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
    (calibration,) = representative_samples(  # the ONNX path takes one image input
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
