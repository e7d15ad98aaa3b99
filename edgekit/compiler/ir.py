"""edgekit's graph IR: an int8 ``.tflite`` flatbuffer read into small frozen dataclasses.

The IR is read from the flatbuffer itself (the ``tflite`` schema package), never by running the
model, so a model can be checked and compiled without LiteRT. Tensor and op indices are the
flatbuffer's (subgraph 0), which are also the indices LiteRT's interpreter reports.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.interpreter import Quantization

TFLITE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
# Ops whose options name other subgraphs: the IR reads subgraph 0 alone, so they cannot be read.
CONTROL_FLOW = frozenset(
    ("CALL", "CALL_ONCE", "IF", "WHILE", "STABLEHLO_WHILE", "STABLEHLO_COMPOSITE")
)


@dataclass(frozen=True, eq=False)
class Quant:
    """Affine quantization, real = scale * (q - zero_point).

    One value per tensor (length 1) or one per channel along ``axis`` (length C).
    """

    scale: np.ndarray  # float64
    zero_point: np.ndarray  # int64
    axis: int = 0

    @property
    def per_tensor(self) -> bool:
        return self.scale.size == 1


@dataclass(frozen=True, eq=False)
class Tensor:
    """A tensor of subgraph 0; ``data`` is the constant buffer (read-only), None for activations.

    ``dtype`` is the schema's type in lower case ('int8', 'int32', 'float32', ...). For types
    numpy cannot hold ('int4', 'string', ...) ``data`` is the raw bytes as a flat uint8 array.
    ``dynamic`` is true when the converter left a dimension other than the batch unknown (-1 in
    its shape signature); ``shape`` then holds the placeholder the flatbuffer stores. A -1 batch
    (what the converter writes for a Keras model built without a fixed batch) is read as the
    stored size, batch 1, as TFLite Micro reads it.
    """

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None
    data: np.ndarray | None
    is_variable: bool = False
    dynamic: bool = False

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, eq=False)
class Op:
    """One operator: ``kind`` is the builtin name ('CONV_2D') or 'CUSTOM:<code>'.

    ``inputs`` holds -1 for an absent optional input (a FULLY_CONNECTED without bias).
    ``options`` are plain Python values (see ``read_tflite``).
    """

    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict


@dataclass(frozen=True, eq=False)
class Graph:
    """Subgraph 0 of a model: tensors, ops in execution order, graph inputs and outputs."""

    tensors: tuple[Tensor, ...]
    ops: tuple[Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str = "main"

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def constant(self, index: int) -> np.ndarray | None:
        """The constant data of tensor ``index``; None for an activation or an absent input."""
        return None if index < 0 else self.tensors[index].data

    def producer(self, index: int) -> Op | None:
        """The op that writes tensor ``index``; None for graph inputs and constants."""
        return self._producers.get(index)

    def consumers(self, index: int) -> tuple[Op, ...]:
        """The ops that read tensor ``index``, in execution order."""
        return self._consumers.get(index, ())

    def layer_name(self, op: Op) -> str:
        """A readable name for ``op``: its first output tensor's name, shortened."""
        return short_name(self.tensors[op.outputs[0]].name) if op.outputs else f"op {op.index}"

    @functools.cached_property
    def _producers(self) -> dict[int, Op]:
        return {t: op for op in self.ops for t in op.outputs}

    @functools.cached_property
    def _consumers(self) -> dict[int, tuple[Op, ...]]:
        readers: dict[int, list[Op]] = {}
        for op in self.ops:
            for t in dict.fromkeys(i for i in op.inputs if i >= 0):
                readers.setdefault(t, []).append(op)
        return {t: tuple(ops) for t, ops in readers.items()}


def short_name(name: str) -> str:
    """The first of the ';'-joined names the converter gives a fused tensor.

    'm/block_1_expand_relu/Relu6;m/block_1_expand/Conv2D' becomes 'm/block_1_expand_relu/Relu6'.
    """
    return name.split(";", 1)[0]


def padding_amounts(
    in_size: int, filter_size: int, stride: int, dilation: int, padding: str
) -> tuple[int, int, int]:
    """(pad before, pad after, output size) along one spatial axis, as TFLite computes them.

    SAME keeps ceil(in / stride) outputs and puts the odd padding element after; VALID pads
    nothing and keeps the outputs whose window fits inside the input.
    """
    if min(in_size, filter_size, stride, dilation) < 1 or padding not in ("SAME", "VALID"):
        raise ValueError(
            f"no window geometry for size {in_size}, filter {filter_size}, stride {stride}, "
            f"dilation {dilation}, padding {padding!r}"
        )
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
    else:
        out = (in_size - effective + stride) // stride
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2, out


def window(graph: Graph, op: Op) -> tuple[int, int, int, int, int, int]:
    """(filter h, filter w, stride h, stride w, pad top, pad left) of a convolution, depthwise
    convolution or pooling op, as TFLite pads it; an op that runs on part of its tensors (a
    patch, ``edgekit.compiler.patches``) carries its own pads as ``explicit_padding``."""
    o = op.options
    if "filter_h" in o:  # a pooling op
        kh, kw = o["filter_h"], o["filter_w"]
    else:
        kh, kw = graph.tensor(op.inputs[1]).shape[1:3]
    if "explicit_padding" in o:
        top, left = o["explicit_padding"]
    else:
        _, in_h, in_w, _ = graph.tensor(op.inputs[0]).shape
        top = padding_amounts(in_h, kh, o["stride_h"], o.get("dilation_h", 1), o["padding"])[0]
        left = padding_amounts(in_w, kw, o["stride_w"], o.get("dilation_w", 1), o["padding"])[0]
    return kh, kw, o["stride_h"], o["stride_w"], top, left


# ---------------------------------------------------------------- reading the flatbuffer


def read_tflite(model: bytes | str | Path) -> Graph:
    """Read an int8 ``.tflite`` (its bytes or its path) into a Graph.

    Options are normalized to plain values: CONV_2D / DEPTHWISE_CONV_2D: stride_h, stride_w,
    padding ('SAME' | 'VALID'), dilation_h, dilation_w, activation ('NONE', 'RELU', 'RELU6',
    'RELU_N1_TO_1', ...), depth_multiplier (depthwise); AVERAGE_POOL_2D / MAX_POOL_2D / L2_POOL_2D:
    stride_h, stride_w, filter_h, filter_w, padding, activation; ADD / SUB / MUL: activation;
    FULLY_CONNECTED: activation, keep_num_dims, weights_format; SOFTMAX: beta; MEAN / SUM /
    REDUCE_*: keep_dims; RESHAPE: new_shape (when the file has it); CONCATENATION: axis,
    activation; LEAKY_RELU: alpha; SQUEEZE: squeeze_dims; STRIDED_SLICE: begin_mask, end_mask,
    ellipsis_mask, new_axis_mask, shrink_axis_mask, offset; SPLIT / SPLIT_V: num_splits; PACK:
    values_count, axis; UNPACK: num, axis; BATCH_MATMUL: adj_x, adj_y. Other ops get an empty
    dict. A file that is not a valid flatbuffer is an EdgekitError.
    """
    where = "the model"
    if not isinstance(model, bytes | bytearray | memoryview):
        where = f"'{model}'"
        try:
            model = Path(model).read_bytes()
        except OSError as exc:
            raise EdgekitError(
                f"cannot read model {where} ({exc.strerror or exc}); pass the path of a .tflite"
            ) from None
    buf = bytes(model)

    def invalid(reason: str) -> EdgekitError:
        return EdgekitError(
            f"{where} is not a valid .tflite model ({reason}); pass the int8 .tflite that "
            "'edgekit quantize' or the TFLite converter writes, re-exporting it if it was cut short"
        )

    if len(buf) < 8 or buf[4:8] != TFLITE_IDENTIFIER:
        raise invalid(f"no '{TFLITE_IDENTIFIER.decode()}' identifier at bytes 4..8")
    try:
        return _read_graph(buf)
    except _Invalid as exc:
        raise invalid(str(exc)) from None
    except EdgekitError:
        raise
    except Exception:  # flatbuffers raise many types on a damaged file; one line for all
        raise invalid("it is damaged or cut short") from None


class _Invalid(Exception):
    """The flatbuffer parses but breaks the schema's rules (an index out of range, ...)."""


def _check(ok: bool, reason: str) -> None:
    if not ok:
        raise _Invalid(reason)


def _enum_names(enum_class) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_")}


@functools.cache
def _schema():
    """The schema's enums as {value: name} maps (imported on first use: the package is large)."""
    import tflite
    from tflite.utils import BUILTIN_OPCODE2NAME

    return {
        "op": BUILTIN_OPCODE2NAME,
        "type": {v: k.lower() for v, k in _enum_names(tflite.TensorType).items()},
        "activation": _enum_names(tflite.ActivationFunctionType),
        "padding": _enum_names(tflite.Padding),
        "weights_format": _enum_names(tflite.FullyConnectedOptionsWeightsFormat),
    }


# numpy dtypes of the schema's types that numpy holds; others keep their raw bytes.
_NUMPY = {
    "float32": "<f4",
    "float16": "<f2",
    "float64": "<f8",
    "int8": "i1",
    "int16": "<i2",
    "int32": "<i4",
    "int64": "<i8",
    "uint8": "u1",
    "uint16": "<u2",
    "uint32": "<u4",
    "uint64": "<u8",
    "bool": "?",
    "complex64": "<c8",
    "complex128": "<c16",
}


def _read_graph(buf: bytes) -> Graph:
    import tflite

    model = tflite.Model.GetRootAs(buf, 0)
    _check(model.Version() == SCHEMA_VERSION, f"schema version {model.Version()}, expected 3")
    limit = len(buf) // 4  # no vector of offsets can be longer than this
    n_subgraphs, n_buffers, n_codes = (
        model.SubgraphsLength(),
        model.BuffersLength(),
        model.OperatorCodesLength(),
    )
    _check(0 < n_subgraphs <= limit, "no subgraph")
    _check(n_buffers <= limit and n_codes <= limit, "impossible vector lengths")
    subgraph = model.Subgraphs(0)
    n_tensors, n_ops = subgraph.TensorsLength(), subgraph.OperatorsLength()
    _check(n_tensors <= limit and n_ops <= limit, "impossible vector lengths")

    tensors = tuple(
        _read_tensor(buf, model, subgraph.Tensors(i), i, n_buffers) for i in range(n_tensors)
    )
    kinds = [_op_kind(model.OperatorCodes(i)) for i in range(n_codes)]
    ops = tuple(_read_op(subgraph.Operators(i), i, kinds, n_tensors) for i in range(n_ops))
    if n_subgraphs > 1:
        for op in ops:
            if op.kind in CONTROL_FLOW:
                raise EdgekitError(
                    f"the model has {n_subgraphs} subgraphs and op {op.index} ({op.kind}) runs "
                    "them; edgekit reads single-graph models: convert without control flow"
                )
    inputs = _indices(subgraph.InputsAsNumpy(), subgraph.InputsIsNone(), n_tensors, "graph input")
    outputs = _indices(
        subgraph.OutputsAsNumpy(), subgraph.OutputsIsNone(), n_tensors, "graph output"
    )
    name = (subgraph.Name() or b"main").decode("utf-8", "replace")
    return Graph(tensors, ops, inputs, outputs, name)


def _indices(values, absent: bool, n_tensors: int, what: str) -> tuple[int, ...]:
    result = () if absent else tuple(int(v) for v in values)
    _check(all(-1 <= i < n_tensors for i in result), f"{what} names a tensor that does not exist")
    return result


def _read_tensor(buf: bytes, model, t, index: int, n_buffers: int) -> Tensor:
    schema = _schema()
    name = (t.Name() or b"").decode("utf-8", "replace")
    _check(t.Type() in schema["type"], f"tensor {index} has unknown type {t.Type()}")
    dtype = schema["type"][t.Type()]
    shape = () if t.ShapeIsNone() else tuple(int(d) for d in t.ShapeAsNumpy())
    _check(all(d >= 0 for d in shape), f"tensor {index} has a negative dimension")
    signature = () if t.ShapeSignatureIsNone() else tuple(t.ShapeSignatureAsNumpy())
    if t.Sparsity() is not None:
        raise EdgekitError(
            f"tensor '{short_name(name)}' is sparse; edgekit reads dense models: convert "
            "without sparsity"
        )
    _check(0 <= t.Buffer() < max(n_buffers, 1), f"tensor {index} names a missing buffer")
    raw = _buffer_bytes(buf, model.Buffers(t.Buffer())) if n_buffers else None
    data = None
    if raw is not None:
        if dtype in _NUMPY:
            itemsize = np.dtype(_NUMPY[dtype]).itemsize
            _check(
                raw.size == math.prod(shape) * itemsize,
                f"tensor {index} has {raw.size} bytes of data for shape {list(shape)}",
            )
            data = raw.view(_NUMPY[dtype]).reshape(shape)
        else:
            data = raw
    return Tensor(
        index=index,
        name=name,
        shape=shape,
        dtype=dtype,
        quant=_read_quant(t.Quantization(), index),
        data=data,
        is_variable=bool(t.IsVariable()),
        dynamic=any(d < 0 for d in signature[1:]),
    )


def _buffer_bytes(buf: bytes, buffer) -> np.ndarray | None:
    """A buffer's bytes as a read-only uint8 view; models over 2 GB keep them after the
    flatbuffer, at an offset from the start of the file."""
    if buffer.Offset() > 1:
        start, size = buffer.Offset(), buffer.Size()
        _check(start + size <= len(buf), "a buffer lies past the end of the file")
        return np.frombuffer(buf, np.uint8, size, start)
    if buffer.DataIsNone() or buffer.DataLength() == 0:
        return None
    return buffer.DataAsNumpy()


def _read_quant(q, index: int) -> Quant | None:
    if q is None or q.ScaleIsNone() or q.ScaleLength() == 0:
        return None
    with np.errstate(invalid="ignore"):  # a damaged file may hold NaNs; the op checks say so
        scale = q.ScaleAsNumpy().astype(np.float64)
    if q.ZeroPointIsNone() or q.ZeroPointLength() == 0:
        zero_point = np.zeros(scale.shape, np.int64)
    else:
        zero_point = q.ZeroPointAsNumpy().astype(np.int64)
    _check(
        zero_point.size in (1, scale.size),
        f"tensor {index} has {scale.size} scales but {zero_point.size} zero points",
    )
    zero_point = np.broadcast_to(zero_point, scale.shape).copy()
    scale.setflags(write=False)
    zero_point.setflags(write=False)
    return Quant(scale, zero_point, int(q.QuantizedDimension()))


def _op_kind(code) -> str:
    # Builtin codes above 127 live in builtin_code; older files only fill the deprecated byte.
    value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = _schema()["op"].get(value)
    _check(name is not None, f"unknown builtin operator code {value}")
    if name == "CUSTOM":
        return f"CUSTOM:{(code.CustomCode() or b'').decode('utf-8', 'replace')}"
    return name


def _read_op(o, index: int, kinds: list[str], n_tensors: int) -> Op:
    _check(0 <= o.OpcodeIndex() < len(kinds), f"op {index} has an unknown operator code")
    kind = kinds[o.OpcodeIndex()]
    inputs = _indices(o.InputsAsNumpy(), o.InputsIsNone(), n_tensors, f"op {index}'s input")
    outputs = _indices(o.OutputsAsNumpy(), o.OutputsIsNone(), n_tensors, f"op {index}'s output")
    _check(all(i >= 0 for i in outputs), f"op {index} has an absent output")
    options = _read_options(o, kind, index)
    if kind == "UNIDIRECTIONAL_SEQUENCE_LSTM" and not o.IntermediatesIsNone():
        # the integer LSTM's hidden state scale and zero point live on its intermediates
        options["intermediates"] = tuple(int(i) for i in o.IntermediatesAsNumpy())
    return Op(index, kind, inputs, outputs, options)


# ---------------------------------------------------------------- options


def _window(o, filter_size: bool = False) -> dict:
    s = _schema()
    options = {
        "stride_h": o.StrideH(),
        "stride_w": o.StrideW(),
        "padding": s["padding"].get(o.Padding(), str(o.Padding())),
    }
    if filter_size:
        options |= {"filter_h": o.FilterHeight(), "filter_w": o.FilterWidth()}
    else:
        options |= {"dilation_h": o.DilationHFactor(), "dilation_w": o.DilationWFactor()}
    return options


def _activation(o) -> dict:
    value = o.FusedActivationFunction()
    return {"activation": _schema()["activation"].get(value, str(value))}


def _conv(o) -> dict:
    return _window(o) | _activation(o) | _bias_type(o)


def _bias_type(o) -> dict:
    """TFLite's quantized_bias_type where a model sets it (TensorType INT32 = 2 or INT64 = 4):
    which accumulators a 16x8 layer without a bias uses; absent when unset (0)."""
    kind = {2: "int32", 4: "int64"}.get(o.QuantizedBiasType())
    return {} if kind is None else {"quantized_bias_type": kind}


def _depthwise(o) -> dict:
    return _window(o) | _activation(o) | {"depth_multiplier": o.DepthMultiplier()}


def _pool(o) -> dict:
    return _window(o, filter_size=True) | _activation(o)


def _fully_connected(o) -> dict:
    value = o.WeightsFormat()
    return (
        _activation(o)
        | _bias_type(o)
        | {
            "keep_num_dims": bool(o.KeepNumDims()),
            "weights_format": _schema()["weights_format"].get(value, str(value)),
        }
    )


def _reshape(o) -> dict:
    return {} if o.NewShapeIsNone() else {"new_shape": tuple(int(d) for d in o.NewShapeAsNumpy())}


def _reducer(o) -> dict:
    return {"keep_dims": bool(o.KeepDims())}


def _resize(o) -> dict:
    return {
        "align_corners": bool(o.AlignCorners()),
        "half_pixel_centers": bool(o.HalfPixelCenters()),
    }


def _transpose_conv(o) -> dict:
    s = _schema()
    return (
        _activation(o)
        | _bias_type(o)
        | {
            "stride_h": o.StrideH(),
            "stride_w": o.StrideW(),
            "padding": s["padding"].get(o.Padding(), str(o.Padding())),
        }
    )


@functools.cache
def _option_readers() -> dict[str, tuple[type, int, object]]:
    """op kind -> (options class, its BuiltinOptions union tag, reader)."""
    import tflite
    from tflite import BuiltinOptions as U

    reducers = ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "REDUCE_ANY")
    readers = {
        "CONV_2D": (tflite.Conv2DOptions, U.Conv2DOptions, _conv),
        "DEPTHWISE_CONV_2D": (tflite.DepthwiseConv2DOptions, U.DepthwiseConv2DOptions, _depthwise),
        "ADD": (tflite.AddOptions, U.AddOptions, _activation),
        "SUB": (tflite.SubOptions, U.SubOptions, _activation),
        "MUL": (tflite.MulOptions, U.MulOptions, _activation),
        "FULLY_CONNECTED": (
            tflite.FullyConnectedOptions,
            U.FullyConnectedOptions,
            _fully_connected,
        ),
        "SOFTMAX": (tflite.SoftmaxOptions, U.SoftmaxOptions, lambda o: {"beta": o.Beta()}),
        "RESHAPE": (tflite.ReshapeOptions, U.ReshapeOptions, _reshape),
        "LEAKY_RELU": (
            tflite.LeakyReluOptions,
            U.LeakyReluOptions,
            lambda o: {"alpha": float(o.Alpha())},
        ),
        "CONCATENATION": (
            tflite.ConcatenationOptions,
            U.ConcatenationOptions,
            lambda o: {"axis": o.Axis()} | _activation(o),
        ),
    }
    readers["RESIZE_BILINEAR"] = (tflite.ResizeBilinearOptions, U.ResizeBilinearOptions, _resize)
    readers["RESIZE_NEAREST_NEIGHBOR"] = (
        tflite.ResizeNearestNeighborOptions,
        U.ResizeNearestNeighborOptions,
        _resize,
    )
    readers["TRANSPOSE_CONV"] = (
        tflite.TransposeConvOptions,
        U.TransposeConvOptions,
        _transpose_conv,
    )
    readers["BATCH_MATMUL"] = (
        tflite.BatchMatMulOptions,
        U.BatchMatMulOptions,
        lambda o: {"adj_x": bool(o.AdjX()), "adj_y": bool(o.AdjY())},
    )
    readers["SVDF"] = (
        tflite.SVDFOptions,
        U.SVDFOptions,
        lambda o: {"rank": o.Rank()} | _activation(o),
    )
    readers["UNIDIRECTIONAL_SEQUENCE_LSTM"] = (
        tflite.UnidirectionalSequenceLSTMOptions,
        U.UnidirectionalSequenceLSTMOptions,
        lambda o: (
            _activation(o)
            | {
                "cell_clip": o.CellClip(),
                "proj_clip": o.ProjClip(),
                "time_major": bool(o.TimeMajor()),
            }
        ),
    )
    for kind in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        readers[kind] = (tflite.Pool2DOptions, U.Pool2DOptions, _pool)
    readers |= _data_movement_readers()
    for kind in reducers:
        readers[kind] = (tflite.ReducerOptions, U.ReducerOptions, _reducer)
    return readers


def _data_movement_readers() -> dict[str, tuple[type, int, object]]:
    """SQUEEZE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK and UNPACK."""
    import tflite
    from tflite import BuiltinOptions as U

    def squeeze(o) -> dict:
        return {
            "squeeze_dims": tuple(int(d) for d in o.SqueezeDimsAsNumpy())
            if not o.SqueezeDimsIsNone()
            else ()
        }

    def strided_slice(o) -> dict:
        masks = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
        names = ("BeginMask", "EndMask", "EllipsisMask", "NewAxisMask", "ShrinkAxisMask")
        options = {key: int(getattr(o, name)()) for key, name in zip(masks, names, strict=True)}
        return options | {"offset": bool(o.Offset())}

    return {
        "SQUEEZE": (tflite.SqueezeOptions, U.SqueezeOptions, squeeze),
        "STRIDED_SLICE": (tflite.StridedSliceOptions, U.StridedSliceOptions, strided_slice),
        "SPLIT": (tflite.SplitOptions, U.SplitOptions, lambda o: {"num_splits": o.NumSplits()}),
        "SPLIT_V": (tflite.SplitVOptions, U.SplitVOptions, lambda o: {"num_splits": o.NumSplits()}),
        "PACK": (
            tflite.PackOptions,
            U.PackOptions,
            lambda o: {"values_count": o.ValuesCount(), "axis": o.Axis()},
        ),
        "UNPACK": (
            tflite.UnpackOptions,
            U.UnpackOptions,
            lambda o: {"num": o.Num(), "axis": o.Axis()},
        ),
    }


@functools.cache
def _empty_table() -> tuple[bytes, int]:
    """A flatbuffer table with no fields: an absent options table reads as the schema defaults."""
    import flatbuffers

    builder = flatbuffers.Builder(16)
    builder.StartObject(0)
    builder.Finish(builder.EndObject())
    out = bytes(builder.Output())
    return out, int.from_bytes(out[:4], "little")


def _read_options(o, kind: str, index: int) -> dict:
    reader = _option_readers().get(kind)
    if reader is None:
        return {}
    cls, tag, read = reader
    options = cls()
    table = o.BuiltinOptions()
    if table is None:
        options.Init(*_empty_table())
    else:
        _check(o.BuiltinOptionsType() == tag, f"op {index} ({kind}) has another op's options")
        options.Init(table.Bytes, table.Pos)
    return read(options)


def macs(graph: Graph) -> int:
    """Multiply-accumulates of one inference: convolutions and fully connected layers."""
    return sum(op_macs(graph, op) for op in graph.ops)


def op_macs(graph: Graph, op: Op) -> int:
    """Multiply-accumulates of one op (0 for ops that are not convolutions or fully connected)."""
    out = graph.tensor(op.outputs[0]).shape
    if op.kind == "CONV_2D":
        o, kh, kw, cin = graph.tensor(op.inputs[1]).shape
        return int(out[1] * out[2] * o * kh * kw * cin)
    if op.kind == "DEPTHWISE_CONV_2D":
        _, kh, kw, c = graph.tensor(op.inputs[1]).shape
        return int(out[1] * out[2] * kh * kw * c)
    if op.kind == "FULLY_CONNECTED":
        o, i = graph.tensor(op.inputs[1]).shape
        return int(graph.tensor(op.inputs[0]).size // i * o * i)
    return 0


GRIDS = ("int8", "int16")  # the integer types activations are quantized to


def input_grids(graph: Graph) -> list[tuple[str, Quantization] | None]:
    """For each graph input, (its type, the int8 or int16 grid its values are read on): an
    int8 or int16 input's own quantization, or the quantization of the QUANTIZE op that reads a
    float input; None where there is neither. Generated inputs are spread over these grids."""
    grids: list[tuple[str, Quantization] | None] = []
    for index in graph.inputs:
        tensor = graph.tensor(index)
        quant = tensor.quant
        grid = tensor.dtype
        if tensor.dtype not in GRIDS:
            readers = graph.consumers(index)
            quant = None
            if readers and all(op.kind == "QUANTIZE" for op in readers):
                out = graph.tensor(readers[0].outputs[0])
                quant, grid = (out.quant, out.dtype) if out.dtype in GRIDS else (None, None)
        if quant is None or not quant.per_tensor:
            grids.append(None)
            continue
        scale, zero_point = float(quant.scale[0]), int(quant.zero_point[0])
        grids.append((tensor.dtype, Quantization(scale, zero_point, grid)))
    return grids


# operand positions that hold a shape computed from the model's own sizes
SHAPE_OPERANDS = {"RESHAPE": 1, "TRANSPOSE_CONV": 0}


def without_shape_computations(graph: Graph) -> tuple[Graph, tuple[int, ...]]:
    """``graph`` without the ops that only compute a shape operand at run time, and the
    original index of each op left.

    A Keras model converted without a fixed batch flattens through SHAPE -> STRIDED_SLICE ->
    PACK -> RESHAPE, and gives TRANSPOSE_CONV its output shape the same way. With every size
    known here (batch 1), the shape is the output tensor's, already in the file: the operand
    becomes that constant and the ops that computed it go. The ops left are renumbered.
    """

    def shape_operand(reader: Op, t: int) -> bool:
        at = SHAPE_OPERANDS.get(reader.kind)
        return at is not None and len(reader.inputs) > at and reader.inputs[at] == t

    dropped: set[int] = set()
    for op in reversed(graph.ops):
        if not op.outputs or any(t in graph.outputs for t in op.outputs):
            continue
        readers = [(reader, t) for t in op.outputs for reader in graph.consumers(t)]
        if readers and all(
            reader.index in dropped or shape_operand(reader, t) for reader, t in readers
        ):
            dropped.add(op.index)
    if not dropped:
        return graph, tuple(op.index for op in graph.ops)
    made = {t for i in dropped for t in graph.ops[i].outputs}
    tensors, ops = list(graph.tensors), []
    kept = [op for op in graph.ops if op.index not in dropped]
    for position, op in enumerate(kept):
        inputs = list(op.inputs)
        at = SHAPE_OPERANDS.get(op.kind)
        if at is not None and len(inputs) > at and inputs[at] in made:
            shape = np.array(graph.tensor(op.outputs[0]).shape, dtype=np.int32)
            old = graph.tensor(inputs[at])
            inputs[at] = len(tensors)
            tensors.append(Tensor(len(tensors), old.name, (len(shape),), "int32", None, shape))
        ops.append(Op(position, op.kind, tuple(inputs), op.outputs, op.options))
    folded = Graph(tuple(tensors), tuple(ops), graph.inputs, graph.outputs, graph.name)
    return folded, tuple(op.index for op in kept)
