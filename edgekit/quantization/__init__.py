"""The quantize stage: float model to int8 (TFLite's converter; ONNX Runtime's quantizer beside
it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgekit.quantization.onnx_ptq import OnnxModels


@dataclass(frozen=True)
class Int8Model:
    """The quantize stage's artifact: the TFLite int8 flatbuffer every backend but ``onnx``
    compiles, and ONNX Runtime's int8 models where a backend needs them."""

    tflite: bytes
    onnx: OnnxModels | None = None
    # the float .tflite it was quantized from where that, not a Keras model, is the float
    # reference: a user's float .tflite, or a recurrent model (its state carries between runs)
    reference: bytes | None = None
    mixed: object | None = None  # --precision mixed: its plan (quantization.sensitivity.MixedPlan)
