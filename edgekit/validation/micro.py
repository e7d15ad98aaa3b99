"""TFLite Micro as the reference for models LiteRT's reference kernels cannot run.

LiteRT's BUILTIN_REF has no 16x8 UNIDIRECTIONAL_SEQUENCE_LSTM (its Prepare wants float biases
for int16 activations); TFLite Micro runs one (int16 activations and states, int8 weights,
int64 biases, an int16 cell state with a power-of-two scale). ``Runner`` has the interface of
``edgekit.interpreter.Runner``: samples as rows of bytes (``edgekit.signature``), run in order
in one interpreter so that variable tensors (an LSTM's states) carry from one to the next.

TFLite Micro gives intermediate tensors only when built to keep them all
(``kPreserveAllTensors``); the runner asks for that when tensors are requested. Variable
tensors read back after an inference hold their state after it. TFLite Micro refuses an
intermediate tensor with a size (its LSTM reads none of them): the runner gives such tensors
the shape [0] before loading the model (``micro_model``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgekit.errors import EdgekitError

LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"
ARENA_FLOOR = 1 << 20  # TFLite Micro's default arena (10x the model) is too small for tiny ones


def needs_micro(tflite: bytes) -> bool:
    """Whether only TFLite Micro can be the reference: a 16x8 LSTM (int16 input), which
    LiteRT's reference kernels cannot prepare."""
    from edgekit.compiler.ir import read_tflite

    graph = read_tflite(tflite)
    return any(op.kind == LSTM and graph.tensor(op.inputs[0]).dtype == "int16" for op in graph.ops)


def micro_model(tflite: bytes) -> bytes:
    """The model as TFLite Micro loads it: the ops' intermediate tensors with shape [0] (the
    8x8_16 LSTM TFLite's quantizer writes has five scalar ones, which TFLite Micro refuses)."""
    from edgekit.quantization.recurrent import _model, _pack

    model = _model(tflite)
    changed = False
    for graph in model.subgraphs:
        for op in graph.operators:
            for index in op.intermediates if op.intermediates is not None else ():
                t = graph.tensors[index]
                if t.shape is None or len(t.shape) == 0 or 0 not in list(t.shape):
                    t.shape, changed = [0], True
    return _pack(model) if changed else tflite


class Runner:
    """A model loaded into TFLite Micro's interpreter, run on samples in order."""

    def __init__(self, model: bytes, reference: bool = True, preserve_all: bool = False):
        """``reference`` is there for the interface of ``edgekit.interpreter.Runner``: TFLite
        Micro has only its reference kernels."""
        from tflite_micro.python.tflite_micro import runtime

        from edgekit.compiler.ir import read_tflite

        graph = read_tflite(model)
        config = runtime.InterpreterConfig
        self.interp = runtime.Interpreter.from_bytes(
            micro_model(bytes(model)),
            arena_size=max(ARENA_FLOOR, 16 * len(model)),
            intrepreter_config=(
                config.kPreserveAllTensors if preserve_all else config.kAllocationRecording
            ),
        )
        self.preserve_all = preserve_all
        self.inputs = [self.interp.get_input_details(n) for n in range(len(graph.inputs))]
        self.outputs = [self.interp.get_output_details(n) for n in range(len(graph.outputs))]

    def reset(self) -> None:
        """Variable tensors back to their initial values (an LSTM's states to zero)."""
        self.interp.reset()

    def tensor(self, index: int) -> np.ndarray:
        """Tensor ``index`` of subgraph 0 after the last inference (needs ``preserve_all``)."""
        found = self.interp.GetTensor(index, 0)
        data = np.asarray(found["tensor_data"])
        return data.astype(found["dtype"], copy=True).reshape(found["shape"])

    def run(
        self, rows: np.ndarray, tensors: Sequence[int] = ()
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The outputs of each sample (one row of bytes each), and each of ``tensors`` (needs
        ``preserve_all``) stacked with one row per sample."""
        if tensors and not self.preserve_all:
            raise EdgekitError("TFLite Micro keeps intermediate tensors only with preserve_all")
        rows = np.ascontiguousarray(rows).reshape(len(rows), -1).view(np.int8)
        outputs, kept = [], [[] for _ in tensors]
        for row in rows:
            start = 0
            for n, detail in enumerate(self.inputs):
                dtype, shape = np.dtype(detail["dtype"]), detail["shape"]
                end = start + int(np.prod(shape)) * dtype.itemsize
                self.interp.set_input(row[start:end].view(dtype).reshape(shape), n)
                start = end
            try:
                self.interp.invoke()
            except RuntimeError as exc:
                message = str(exc).strip().splitlines()
                raise EdgekitError(
                    f"TFLite Micro could not run the model: {message[0] if message else exc}"
                ) from None
            outputs.append(
                np.concatenate(
                    [
                        np.asarray(self.interp.get_output(n)).ravel().view(np.int8)
                        for n in range(len(self.outputs))
                    ]
                )
            )
            for kept_rows, index in zip(kept, tensors):
                kept_rows.append(self.tensor(index))
        return np.stack(outputs), [np.stack(k) for k in kept]
