"""Running int8 ``.tflite`` models on the host with LiteRT."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit.errors import EdgekitError


def interpreter(model: bytes, reference: bool = False, preserve_all: bool = False):
    """A LiteRT interpreter, tensors allocated.

    ``reference`` selects TFLite's reference kernels (BUILTIN_REF), the arithmetic that the int8
    spec, TFLite Micro and CMSIS-NN reproduce bit for bit; otherwise the optimized builtin
    kernels run (no XNNPACK delegate, so intermediate tensors stay readable).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (
        OpResolverType.BUILTIN_REF
        if reference
        else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    try:
        interp = Interpreter(
            model_content=model,
            experimental_op_resolver_type=resolver,
            experimental_preserve_all_tensors=preserve_all,
            num_threads=1,
        )
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise EdgekitError(
            f"LiteRT cannot load the .tflite model ({exc}); re-export it with the TFLite converter"
        ) from None
    return interp


@dataclass(frozen=True)
class Quantization:
    scale: float
    zero_point: int

    def quantize(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.round(x / self.scale) + self.zero_point, -128, 127).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (q.astype(np.float32) - self.zero_point) * np.float32(self.scale)


def io_quantization(detail: dict) -> Quantization:
    scale, zero_point = detail["quantization"]
    if scale == 0:
        raise EdgekitError(f"tensor {detail['name']} is not quantized; pass an int8 .tflite model")
    return Quantization(float(scale), int(zero_point))


def run_int8(interp, inputs: np.ndarray) -> np.ndarray:
    """Run a batch-1 int8 model on each float input (already preprocessed); int8 outputs."""
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    q = io_quantization(inp)
    results = []
    for x in inputs:
        interp.set_tensor(inp["index"], q.quantize(x[None]))
        interp.invoke()
        results.append(interp.get_tensor(out["index"])[0].copy())
    return np.stack(results)
