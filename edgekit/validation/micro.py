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

TFLite Micro's other kernels are not all LiteRT's: its 16x8 FULLY_CONNECTED rounds the
multiplier to 16 bits where LiteRT's rescales in double, and its 8x8_16 LSTM uses the int16
LOGISTIC and TANH tables where LiteRT's uses gemmlowp's fixed point. edgekit's C follows
LiteRT's reference kernels wherever they run an op, and TFLite Micro's for the 16x8 LSTM; the
reference for a model with a 16x8 LSTM is therefore ``SplitRunner``: the 16x8 LSTMs in TFLite
Micro, every other op in LiteRT, the model cut into runs of ops of one engine.
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


# ---------------------------------------------------------------- LiteRT and TFLite Micro


def _engines(tflite: bytes) -> list[tuple[bool, list[int]]]:
    """The ops in order, in runs of one engine each: (True, op indices) for a run of 16x8
    LSTMs (TFLite Micro), (False, op indices) for a run of others (LiteRT)."""
    from edgekit.compiler.ir import read_tflite

    graph = read_tflite(tflite)
    runs: list[tuple[bool, list[int]]] = []
    for op in graph.ops:
        micro = op.kind == LSTM and graph.tensor(op.inputs[0]).dtype == "int16"
        if runs and runs[-1][0] == micro:
            runs[-1][1].append(op.index)
        else:
            runs.append((micro, [op.index]))
    return runs


def _part(tflite: bytes, ops: list[int]) -> tuple[bytes, list[int], list[int]]:
    """The model cut down to ``ops`` (every tensor kept, so indices stay the model's): its
    bytes, its inputs (what the ops read and do not write: activations, not constants or
    state) and its outputs (what they write that the model outputs or a later op reads)."""
    from edgekit.quantization.recurrent import _model, _pack

    model = _model(tflite)
    graph = model.subgraphs[0]
    every = graph.operators
    kept = [every[n] for n in ops]
    written = {t for op in kept for t in op.outputs}
    later = {t for op in every[max(ops) + 1 :] for t in op.inputs} | set(graph.outputs)
    inputs: list[int] = []
    for op in kept:
        for t in op.inputs:
            tensor = graph.tensors[t] if t >= 0 else None
            constant = tensor is not None and model.buffers[tensor.buffer].data is not None
            if tensor is None or t in written or t in inputs or constant or tensor.isVariable:
                continue
            inputs.append(t)
    outputs = [t for op in kept for t in op.outputs if t in later]
    graph.operators, graph.inputs, graph.outputs = kept, inputs, outputs
    return _pack(model), inputs, outputs


class _LiteRTPart:
    def __init__(self, model: bytes, inputs: list[int], outputs: list[int]):
        from edgekit.interpreter import interpreter

        self.interp = interpreter(model, True, True)
        self.inputs, self.outputs = inputs, outputs

    def invoke(self, values: dict[int, np.ndarray]) -> None:
        for index in self.inputs:
            self.interp.set_tensor(index, values[index])
        try:
            self.interp.invoke()
        except RuntimeError as exc:
            message = str(exc).strip().splitlines()
            raise EdgekitError(
                f"LiteRT could not run the model: {message[0] if message else exc}"
            ) from None
        for index in self.outputs:
            values[index] = self.interp.get_tensor(index).copy()

    def tensor(self, index: int) -> np.ndarray:
        return self.interp.get_tensor(index).copy()


class _MicroPart:
    def __init__(self, model: bytes, inputs: list[int], outputs: list[int]):
        self.runner = Runner(model, preserve_all=True)
        self.inputs, self.outputs = inputs, outputs

    def invoke(self, values: dict[int, np.ndarray]) -> None:
        interp = self.runner.interp
        for n, index in enumerate(self.inputs):
            interp.set_input(values[index], n)
        interp.invoke()
        for n, index in enumerate(self.outputs):
            values[index] = np.array(interp.get_output(n), copy=True)

    def tensor(self, index: int) -> np.ndarray:
        return self.runner.tensor(index)


class SplitRunner:
    """A model run op by op where each op's reference is: its 16x8 LSTMs in TFLite Micro (the
    only reference there is for them), every other op in LiteRT's reference kernels (the ones
    edgekit's C follows everywhere else; TFLite Micro's 16x8 FULLY_CONNECTED rounds its
    multiplier to 16 bits, LiteRT's rescales in double). The model is cut into runs of ops of
    one engine, each run a model of its own holding its state, run in order on each sample.
    The interface of ``edgekit.interpreter.Runner``; every tensor can be kept."""

    def __init__(self, model: bytes, reference: bool = True, preserve_all: bool = False):
        from edgekit.compiler.ir import read_tflite

        graph = read_tflite(model)
        self.model_inputs, self.model_outputs = list(graph.inputs), list(graph.outputs)
        self.dtypes = {t: np.dtype(graph.tensor(t).dtype) for t in graph.inputs}
        self.shapes = {t: graph.tensor(t).shape for t in graph.inputs}
        self.parts: list[_LiteRTPart | _MicroPart] = []
        self.writer: dict[int, int] = {}  # tensor -> the part whose ops write it
        for micro, ops in _engines(model):
            part = _MicroPart if micro else _LiteRTPart
            self.writer |= {t: len(self.parts) for n in ops for t in graph.ops[n].outputs}
            self.parts.append(part(*_part(model, ops)))

    def run(
        self, rows: np.ndarray, tensors: Sequence[int] = ()
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The outputs of each sample (one row of bytes each), and each of ``tensors`` stacked
        with one row per sample."""
        rows = np.ascontiguousarray(rows).reshape(len(rows), -1).view(np.int8)
        outputs, kept = [], [[] for _ in tensors]
        for row in rows:
            values: dict[int, np.ndarray] = {}
            start = 0
            for index in self.model_inputs:
                dtype, shape = self.dtypes[index], self.shapes[index]
                end = start + int(np.prod(shape)) * dtype.itemsize
                values[index] = row[start:end].view(dtype).reshape(shape)
                start = end
            found = {t: values[t] for t in tensors if t in values}
            for n, part in enumerate(self.parts):
                part.invoke(values)
                found |= {t: part.tensor(t) for t in tensors if self.writer.get(t) == n}
            outputs.append(
                np.concatenate([values[t].ravel().view(np.int8) for t in self.model_outputs])
            )
            for kept_rows, index in zip(kept, tensors):
                kept_rows.append(found[index])
        return np.stack(outputs), [np.stack(k) for k in kept]
