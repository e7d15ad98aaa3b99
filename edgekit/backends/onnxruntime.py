"""The ``onnx`` backend: ONNX Runtime with an int8 QDQ model that the quantize stage made with
ONNX Runtime's quantizer, fed the same int8 input file as every other artifact."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgekit.artifacts import Artifact
from edgekit.backends.runner import RunnerBackend
from edgekit.config import DEFAULTS, CompileOptions
from edgekit.errors import CannotTake
from edgekit.platforms.targets import Target
from edgekit.quantization import Int8Model


class ONNXRuntimeBackend(RunnerBackend):
    """ONNX Runtime with a QDQ int8 model of the quantize stage (the first calibration method the
    build made, copied into the bundle), fed the same int8 input file as every other artifact."""

    name = "onnx"
    precision = (
        "int8 QDQ (ONNX Runtime's integer kernels where they sum in int32 on the CPU it runs "
        "on, as on the Pi; dequantize -> float32 -> quantize where they could saturate)"
    )
    packages = {"arm64": ("onnxruntime==1.32.*", "numpy<2.4")}  # no armv7l wheels on PyPI
    runner, requirements = "run_onnxruntime.py", "onnxruntime>=1.20\nnumpy"

    needs = "onnx"

    def compile(
        self,
        model: Int8Model,
        target: Target,
        out: Path,
        options: CompileOptions = DEFAULTS,
    ) -> Artifact:
        from edgekit.interpreter import interpreter, io_quantization

        if model.onnx is None or not model.onnx.methods:
            raise CannotTake(
                "no ONNX int8 model to bundle: the quantize stage made none (see its stage line)"
            )
        method, source = model.onnx.first
        folder = self.bundle(out)
        shutil.copyfile(source, folder / source.name)
        interp = interpreter(model.tflite, allocate=False)
        io = {}
        for key, detail in (
            ("input", interp.get_input_details()[0]),
            ("output", interp.get_output_details()[0]),
        ):
            q = io_quantization(detail)
            io[key] = {
                "shape": [int(d) for d in detail["shape"][1:]],
                "scale": float(q.scale),
                "zero_point": int(q.zero_point),
            }
        (folder / "io.json").write_text(json.dumps(io, indent=2) + "\n")
        return self.artifact(folder, source.name, calibration=method)
