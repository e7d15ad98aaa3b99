"""Running int8 ``.tflite`` models on the host with LiteRT.

Frontend, quantization, validation and the backends all read models through here, so it
imports nothing of edgekit but its errors. LiteRT's kernels are native code that calls abort()
on some degenerate models (see ``edgekit.validation.aborts``): stages that run them go through
``Runner`` in a child process (``edgekit.isolated``); reading a model's details in-process
uses ``interpreter(..., allocate=False)``, which runs no kernel's set-up code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgekit.errors import EdgekitError, first_line


def interpreter(
    model: bytes, reference: bool = False, preserve_all: bool = False, allocate: bool = True
):
    """A LiteRT interpreter, tensors allocated unless ``allocate`` is False (details only).

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
        if allocate:
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise EdgekitError(
            f"LiteRT cannot load the .tflite model ({exc}); re-export it with the TFLite converter"
        ) from None
    return interp


class Runner:
    """A model loaded into LiteRT, run on samples: the object a child process holds for the
    stages that run LiteRT's kernels (``edgekit.isolated.Isolated``).

    Samples travel as rows of bytes, each input's bytes back to back in the model's input order
    (``edgekit.signature``); outputs come back the same way."""

    def __init__(self, model: bytes, reference: bool = False, preserve_all: bool = False):
        self.interp = interpreter(model, reference, preserve_all)
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()

    def run(
        self, rows: np.ndarray, tensors: Sequence[int] = ()
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The outputs of each sample (one row of bytes each), and each of ``tensors`` (needs
        ``preserve_all``) stacked with one row per sample."""
        rows = np.ascontiguousarray(rows).reshape(len(rows), -1).view(np.int8)
        outputs, kept = [], [[] for _ in tensors]
        for row in rows:
            start = 0
            for detail in self.inputs:
                dtype, shape = np.dtype(detail["dtype"]), detail["shape"]
                end = start + int(np.prod(shape)) * dtype.itemsize
                self.interp.set_tensor(detail["index"], row[start:end].view(dtype).reshape(shape))
                start = end
            try:
                self.interp.invoke()
            except RuntimeError as exc:
                raise EdgekitError(f"LiteRT could not run the model: {first_line(exc)}") from None
            outputs.append(
                np.concatenate(
                    [self.interp.get_tensor(d["index"]).ravel().view(np.int8) for d in self.outputs]
                )
            )
            for kept_rows, index in zip(kept, tensors):
                kept_rows.append(self.interp.get_tensor(index).copy())
        return np.stack(outputs), [np.stack(k) for k in kept]


class FloatTflite:
    """A float ``.tflite`` as the float reference a quantized model is compared with: LiteRT's
    float32 kernels, batches run sample by sample, outputs in the model's order."""

    def __init__(self, model: bytes):
        self.interp = interpreter(model)
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()

    def __call__(self, x, training: bool = False):
        """As a Keras model is called: one output's array, or a list of several."""
        outputs = self.predict_on_batch(x)
        return outputs[0] if len(outputs) == 1 else outputs

    def predict_on_batch(self, x) -> list[np.ndarray]:
        """Each output for the samples of ``x`` (an array, or a list of one per input)."""
        xs = [x] if isinstance(x, np.ndarray) else list(x)
        rows: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for n in range(len(xs[0])):
            for detail, array in zip(self.inputs, xs):
                sample = np.asarray(array[n], np.float32).reshape(detail["shape"])
                self.interp.set_tensor(detail["index"], sample)
            self.interp.invoke()
            for k, detail in enumerate(self.outputs):
                rows[k].append(self.interp.get_tensor(detail["index"])[0].copy())
        return [np.stack(r) for r in rows]


@dataclass(frozen=True)
class Quantization:
    """A per-tensor grid: real = scale * (q - zero_point), q of ``dtype`` (int8, or int16 for
    16x8 activations)."""

    scale: float
    zero_point: int
    dtype: str = "int8"

    def quantize(self, x: np.ndarray) -> np.ndarray:
        limits = np.iinfo(self.dtype)
        q = np.round(x / self.scale) + self.zero_point
        return np.clip(q, limits.min, limits.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (q.astype(np.float32) - self.zero_point) * np.float32(self.scale)


def io_quantization(detail: dict) -> Quantization:
    scale, zero_point = detail["quantization"]
    if scale == 0:
        raise EdgekitError(f"tensor {detail['name']} is not quantized; pass an int8 .tflite model")
    return Quantization(float(scale), int(zero_point), np.dtype(detail["dtype"]).name)
