"""A model's inputs and outputs: names, shapes, types and quantization, and how samples travel.

Every runner (LiteRT, the generated C on a board or in QEMU, TVM, ONNX Runtime) takes its
inputs from one file and writes its outputs to another: per sample, each input's bytes back to
back in the model's input order, then likewise the outputs. ``Signature.pack`` and ``unpack``
are the one place that layout is written and read, so a model of several inputs and outputs of
any rank and type travels like the single-image models did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.interpreter import Quantization, interpreter


@dataclass(frozen=True)
class Port:
    """One input or output tensor of a model, as the file stores it (batch 1)."""

    name: str
    shape: tuple[int, ...]  # the whole tensor, batch included where it has one
    dtype: str  # numpy's name: 'int8', 'float32', 'int32', ...
    quantization: Quantization | None  # None for a float or unquantized tensor

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample's shape: the tensor's without its batch of 1 (a rank-1 tensor has none)."""
        return self.shape[1:] if len(self.shape) > 1 and self.shape[0] == 1 else self.shape

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    def describe(self) -> str:
        return f"{self.dtype} {'x'.join(map(str, self.sample_shape)) or 'scalar'}"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]

    @staticmethod
    def of(tflite: bytes) -> Signature:
        """The ports of a ``.tflite`` model, in the order its subgraph lists them."""
        details = interpreter(tflite, allocate=False)
        return Signature(
            tuple(_port(d) for d in details.get_input_details()),
            tuple(_port(d) for d in details.get_output_details()),
        )

    @property
    def output_bytes(self) -> int:
        return sum(p.nbytes for p in self.outputs)

    def pack(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """Samples as the runners read them: one row of bytes per sample, each input's bytes
        back to back. ``arrays`` holds one (N, *sample shape) array per input, of its type."""
        return _pack(self.inputs, arrays)

    def rows(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """``pack`` of samples given as the data holds them: float arrays are quantized for an
        int8 input (with its scale and zero point), arrays of the input's own type pass as
        they are."""
        converted = []
        for port, x in zip(self.inputs, arrays):
            if x.dtype != np.dtype(port.dtype):
                if not np.issubdtype(x.dtype, np.floating) or port.quantization is None:
                    raise EdgekitError(
                        f"input '{port.name}' takes {port.dtype}; the data gives {x.dtype}: "
                        f"pass {port.dtype} or float arrays"
                    )
                x = port.quantization.quantize(x)
            converted.append(x)
        return self.pack(converted)

    def unpack(self, raw: np.ndarray) -> list[np.ndarray]:
        """A runner's outputs (one row of bytes per sample) as one (N, *sample shape) array
        per output, of its type."""
        return _unpack(self.outputs, raw)


def keras_order(ports: Sequence[Port], count: int) -> list[int]:
    """Which of a Keras model's ``count`` outputs each converted output is: the converter names
    them '<call>:k' for Keras output k, in an order of its own. In order when the names do
    not say."""
    found = []
    for port in ports:
        tail = port.name.rsplit(":", 1)[-1]
        found.append(int(tail) if tail.isdigit() else -1)
    if sorted(found) == list(range(count)):
        return found
    return list(range(len(ports)))


def _port(detail: dict) -> Port:
    scale, zero_point = detail["quantization"]
    dtype = np.dtype(detail["dtype"]).name
    grid = dtype if dtype in ("int8", "int16") else "int8"  # a float port's grid is its QUANTIZE's
    quant = Quantization(float(scale), int(zero_point), grid) if scale else None
    return Port(detail["name"], tuple(int(d) for d in detail["shape"]), dtype, quant)


def _pack(ports: Sequence[Port], arrays: Sequence[np.ndarray]) -> np.ndarray:
    if len(arrays) != len(ports):
        raise EdgekitError(f"the model takes {len(ports)} inputs; {len(arrays)} were given")
    count = len(arrays[0])
    rows = []
    for port, array in zip(ports, arrays):
        array = np.asarray(array)
        if array.dtype != np.dtype(port.dtype) or array.shape[1:] != port.sample_shape:
            raise EdgekitError(
                f"input '{port.name}' takes {port.describe()} samples; "
                f"got {array.dtype} {'x'.join(map(str, array.shape[1:]))}"
            )
        if len(array) != count:
            raise EdgekitError("every input needs the same number of samples")
        rows.append(np.ascontiguousarray(array).reshape(count, -1).view(np.int8))
    return np.concatenate(rows, axis=1) if rows else np.zeros((count, 0), np.int8)


def _unpack(ports: Sequence[Port], raw: np.ndarray) -> list[np.ndarray]:
    raw = np.ascontiguousarray(raw).view(np.uint8)
    total = sum(p.nbytes for p in ports)
    raw = raw.reshape(-1, total) if total else raw.reshape(0, 0)
    out, start = [], 0
    for port in ports:
        part = np.ascontiguousarray(raw[:, start : start + port.nbytes])
        out.append(part.view(port.dtype).reshape(len(raw), *port.sample_shape))
        start += port.nbytes
    return out
