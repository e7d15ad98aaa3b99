"""Quantizing models with UNIDIRECTIONAL_SEQUENCE_LSTM layers, which the TFLite converter cannot.

TF 2.21's converter crashes when it calibrates a Keras LSTM for int8 (tensorflow issue #101050)
and ai-edge-quantizer has no LSTM recipe, so edgekit writes the integer model itself, as TFLite's
quantizer defines the 8x8_16 LSTM: int8 input, output and output state, an int16 cell state
whose scale is a power of two, int8 symmetric per-tensor gate weights, int32 gate biases in units
of input scale times weight scale, and five intermediate tensors (the four gate pre-activations,
which TFLite's kernel reads as Q3.12 without layer normalization, and the hidden state, whose
scale and zero point the kernel uses for its output). The hidden state, output state and LSTM
output share one symmetric scale (zero point 0): TFLite's kernel writes the hidden state straight
into the output state without projection, and its CwiseMul subtracts, not adds, that zero point.

Ranges come from the float model run on the calibration samples in order (the state carries
from one sample to the next, as it does on the device): every activation from LiteRT's float
interpreter, the cell state by simulating each float LSTM in numpy on its recorded input.
The other ops (FULLY_CONNECTED, SOFTMAX, RESHAPE, STRIDED_SLICE) are quantized as the TFLite
converter quantizes them for int8: per-channel int8 weights, int32 bias, softmax output
1/256 with zero point -128, data movement keeping its input's quantization.

``int16x8`` writes the 16x8 LSTM TFLite Micro runs (LiteRT has no kernel for it): int16
activations, states and output with zero point 0 (each range's peak at 32767), int8 weights,
int64 biases, the same power-of-two cell scale; TFLite Micro reads the output state's scale
for the hidden state and no intermediates (it refuses ones with a size, so they are written
with shape [0]). The ops around it are the converter's 16x8: int64 biases, softmax output
1/32768 with zero point 0.

``float_lstm_tflite`` writes the float model of a Keras ``Input -> LSTM -> Dense*`` model, which
the TF 2.21 converter turns into a WHILE loop instead of the fused LSTM op.
"""

from __future__ import annotations

import math

import numpy as np

from edgekit.errors import EdgekitError

LSTM = "UNIDIRECTIONAL_SEQUENCE_LSTM"
SUPPORTED = (LSTM, "FULLY_CONNECTED", "SOFTMAX", "RESHAPE", "STRIDED_SLICE")
PRECISIONS = ("int8", "int16x8")
# TFLite's operand positions of UNIDIRECTIONAL_SEQUENCE_LSTM
INPUT_WEIGHTS, RECURRENT_WEIGHTS, BIASES = (1, 2, 3, 4), (5, 6, 7, 8), (12, 13, 14, 15)
OUTPUT_STATE, CELL_STATE = 18, 19
GATE_SCALE = 2.0**-12  # Q3.12: TFLite's gate pre-activations without layer normalization
# TFLite's integer tanh takes the cell state with at most 6 integer bits (a scale <= 2**-9)
MAX_CELL_EXPONENT, MIN_CELL_EXPONENT = -9, -15
TYPES = {"float32": 0, "int32": 2, "int8": 9, "int16": 7, "int64": 4}


def _schema():
    from tensorflow.lite.python import schema_py_generated as schema

    return schema


def _kind_names() -> dict[int, str]:
    ops = _schema().BuiltinOperator
    return {v: k for k, v in vars(ops).items() if not k.startswith("_")}


def _model(tflite: bytes):
    return _schema().ModelT.InitFromPackedBuf(tflite, 0)


def _kinds(model) -> list[str]:
    names = _kind_names()
    codes = model.operatorCodes
    return [
        names[max(codes[op.opcodeIndex].builtinCode, codes[op.opcodeIndex].deprecatedBuiltinCode)]
        for op in model.subgraphs[0].operators
    ]


def has_recurrent(float_tflite: bytes) -> bool:
    """Whether the float model has an UNIDIRECTIONAL_SEQUENCE_LSTM (quantized here, not by the
    converter or ai-edge-quantizer)."""
    return LSTM in _kinds(_model(float_tflite))


def _pack(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# ---------------------------------------------------------------- float model from Keras


class _Writer:
    """A single-subgraph .tflite put together tensor by tensor."""

    def __init__(self):
        s = _schema()
        self.s, self.model = s, s.ModelT()
        self.model.version, self.model.buffers, self.model.operatorCodes = 3, [s.BufferT()], []
        self.graph = s.SubGraphT()
        self.graph.tensors, self.graph.operators = [], []

    def tensor(self, shape, dtype="float32", data=None, variable=False, name=None) -> int:
        t = self.s.TensorT()
        t.shape, t.type, t.buffer = list(shape), TYPES[dtype], 0
        t.name, t.isVariable = name or f"t{len(self.graph.tensors)}", variable
        if data is not None:
            buffer = self.s.BufferT()
            buffer.data = list(np.ascontiguousarray(data, dtype=dtype).tobytes())
            t.buffer = len(self.model.buffers)
            self.model.buffers.append(buffer)
        self.graph.tensors.append(t)
        return len(self.graph.tensors) - 1

    def op(self, kind: str, inputs, outputs, options=None, options_type=None) -> None:
        s = self.s
        code = getattr(s.BuiltinOperator, kind)
        codes = [c.builtinCode for c in self.model.operatorCodes]
        if code not in codes:
            entry = s.OperatorCodeT()
            entry.builtinCode, entry.deprecatedBuiltinCode = code, min(code, 127)
            entry.version = 1
            self.model.operatorCodes.append(entry)
            codes.append(code)
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = codes.index(code), list(inputs), list(outputs)
        if options is not None:
            op.builtinOptionsType = getattr(s.BuiltinOptions, options_type)
            op.builtinOptions = options
        self.graph.operators.append(op)

    def finish(self, inputs, outputs) -> bytes:
        self.graph.inputs, self.graph.outputs = list(inputs), list(outputs)
        self.model.subgraphs = [self.graph]
        return _pack(self.model)


def float_lstm_tflite(model, cell_clip: float = 0.0) -> bytes:
    """The float .tflite of a Keras ``Input((T, F), batch_size=1) -> LSTM -> Dense* [->
    Softmax]`` model (Dense activations linear, relu or softmax): one
    UNIDIRECTIONAL_SEQUENCE_LSTM with its states as variable tensors (so they carry from one
    inference to the next), the last step sliced out unless the LSTM returns sequences, then
    FULLY_CONNECTED and SOFTMAX."""
    import keras

    w = _Writer()
    s = w.s
    steps, features = model.inputs[0].shape[1:]
    x = w.tensor((1, steps, features), name="input")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    shape = (1, steps, features)
    for layer in layers:
        if isinstance(layer, keras.layers.LSTM):
            if layer.activation.__name__ != "tanh" or layer.recurrent_activation.__name__ != (
                "sigmoid"
            ):
                raise EdgekitError(
                    f"LSTM '{layer.name}' must use tanh and sigmoid (TFLite's integer LSTM)"
                )
            kernel, recurrent, bias = (np.asarray(v) for v in layer.get_weights())
            units = recurrent.shape[0]
            inputs = [x] + [-1] * 23
            for g in range(4):
                part = slice(g * units, (g + 1) * units)
                inputs[1 + g] = w.tensor((units, shape[-1]), data=kernel[:, part].T)
                inputs[5 + g] = w.tensor((units, units), data=recurrent[:, part].T)
                inputs[12 + g] = w.tensor((units,), data=bias[part])
            inputs[OUTPUT_STATE] = w.tensor((1, units), variable=True, name="output_state")
            inputs[CELL_STATE] = w.tensor((1, units), variable=True, name="cell_state")
            out = w.tensor((1, steps, units))
            options = s.UnidirectionalSequenceLSTMOptionsT()
            options.fusedActivationFunction = s.ActivationFunctionType.TANH
            options.cellClip, options.timeMajor = cell_clip, False
            w.op(LSTM, inputs, [out], options, "UnidirectionalSequenceLSTMOptions")
            x, shape = out, (1, steps, units)
            if not layer.return_sequences:
                x, shape = _last_step(w, x, steps, units), (1, units)
        elif isinstance(layer, keras.layers.Dense):
            kernel, *rest = (np.asarray(v) for v in layer.get_weights())
            weights = w.tensor(kernel.T.shape, data=kernel.T)
            bias = w.tensor((kernel.shape[1],), data=rest[0]) if rest else -1
            out = w.tensor((*shape[:-1], kernel.shape[1]))
            activation = layer.activation.__name__
            if activation not in ("linear", "relu", "softmax"):
                raise EdgekitError(f"Dense '{layer.name}' has activation {activation}")
            options = s.FullyConnectedOptionsT()
            options.keepNumDims = len(shape) > 2
            if activation == "relu":
                options.fusedActivationFunction = s.ActivationFunctionType.RELU
            w.op("FULLY_CONNECTED", [x, weights, bias], [out], options, "FullyConnectedOptions")
            x, shape = out, (*shape[:-1], kernel.shape[1])
            if activation == "softmax":
                x = _softmax(w, x, shape)
        elif isinstance(layer, keras.layers.Softmax):
            x = _softmax(w, x, shape)
        else:
            raise EdgekitError(
                f"layer '{layer.name}' ({type(layer).__name__}) is not one edgekit writes around "
                "an LSTM: use Input -> LSTM -> Dense [-> Softmax]"
            )
    return w.finish([0], [x])


def _last_step(w: _Writer, x: int, steps: int, units: int) -> int:
    s = w.s
    begin = w.tensor((3,), "int32", np.array([0, steps - 1, 0]))
    end = w.tensor((3,), "int32", np.array([1, steps, units]))
    strides = w.tensor((3,), "int32", np.array([1, 1, 1]))
    out = w.tensor((1, units))
    options = s.StridedSliceOptionsT()
    options.shrinkAxisMask = 2
    w.op("STRIDED_SLICE", [x, begin, end, strides], [out], options, "StridedSliceOptions")
    return out


def _softmax(w: _Writer, x: int, shape) -> int:
    options = w.s.SoftmaxOptionsT()
    options.beta = 1.0
    out = w.tensor(shape)
    w.op("SOFTMAX", [x], [out], options, "SoftmaxOptions")
    return out


# ---------------------------------------------------------------- calibration


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def simulate_lstm(weights: dict, x: np.ndarray, h: np.ndarray, c: np.ndarray, cell_clip=0.0):
    """The float LSTM on one sequence ``x`` (T, F) from states ``h``, ``c``: (outputs (T, U),
    gate pre-activations (T, 4, U), cell states (T, U), final h, final c)."""
    outputs, gates, cells = [], [], []
    for step in x:
        pre = np.stack(
            [
                weights["input"][g] @ step + weights["recurrent"][g] @ h + weights["bias"][g]
                for g in range(4)
            ]
        )
        i, f, o = _sigmoid(pre[0]), _sigmoid(pre[1]), _sigmoid(pre[3])
        c = f * c + i * np.tanh(pre[2])
        if cell_clip > 0:
            c = np.clip(c, -cell_clip, cell_clip)
        h = o * np.tanh(c)
        outputs.append(h)
        gates.append(pre)
        cells.append(c)
    return np.array(outputs), np.array(gates), np.array(cells), h, c


def _lstm_weights(graph, buffers, op) -> dict:
    def const(index):
        t = graph.tensors[index]
        return np.frombuffer(bytes(buffers[t.buffer].data), np.float32).reshape(t.shape)

    return {
        "input": [const(op.inputs[k]).astype(np.float64) for k in INPUT_WEIGHTS],
        "recurrent": [const(op.inputs[k]).astype(np.float64) for k in RECURRENT_WEIGHTS],
        "bias": [const(op.inputs[k]).astype(np.float64) for k in BIASES],
    }


def _per_sample(samples, shapes) -> list[list[np.ndarray]]:
    """The calibration samples one inference at a time (each a list, one array per input),
    from either form edgekit passes: one array per model input with a row per sample, or one
    item per sample (an array, or a list of one array per input)."""
    arrays = [np.asarray(s, np.float32) for s in samples] if samples else []
    sizes = [math.prod(shape) for shape in shapes]
    rows = arrays[0].size // sizes[0] if arrays else 0
    per_input = len(arrays) == len(shapes) and (len(shapes) > 1 or arrays[0].size > sizes[0])
    if per_input and all(a.size == rows * n for a, n in zip(arrays, sizes)):
        return [[a.reshape(rows, -1)[i] for a in arrays] for i in range(rows)]
    return [list(s) if isinstance(s, (list, tuple)) else [s] for s in samples]


def calibrate(float_tflite: bytes, samples: list[np.ndarray]) -> dict[int, tuple[float, float]]:
    """(min, max) of every activation tensor over ``samples`` run in order, and for each LSTM
    op its cell state's largest magnitude under the key ``-(op index) - 1``."""
    from edgekit.interpreter import interpreter

    model = _model(float_tflite)
    graph, kinds = model.subgraphs[0], _kinds(model)
    interp = interpreter(float_tflite, preserve_all=True)
    ranges: dict[int, tuple[float, float]] = {}
    states = {}
    lstms = [(n, op) for n, op in enumerate(graph.operators) if kinds[n] == LSTM]
    weights = {n: _lstm_weights(graph, model.buffers, op) for n, op in lstms}

    def note(key, values):
        lo, hi = float(np.min(values)), float(np.max(values))
        old = ranges.get(key, (lo, hi))
        ranges[key] = (min(old[0], lo), max(old[1], hi))

    inputs = [d["index"] for d in interp.get_input_details()]
    for sample in _per_sample(samples, [graph.tensors[i].shape for i in inputs]):
        for n, op in lstms:  # states before this inference
            states[n] = (
                interp.get_tensor(op.inputs[OUTPUT_STATE]).astype(np.float64).ravel(),
                interp.get_tensor(op.inputs[CELL_STATE]).astype(np.float64).ravel(),
            )
        for index, x in zip(inputs, sample):
            interp.set_tensor(index, np.asarray(x, np.float32).reshape(graph.tensors[index].shape))
        interp.invoke()
        for n, t in enumerate(graph.tensors):
            if t.buffer and model.buffers[t.buffer].data is not None:
                continue  # a constant
            try:
                value = interp.get_tensor(n)
            except ValueError:
                continue
            if value.dtype == np.float32 and value.size and not t.isVariable:
                note(n, value)
        for n, op in lstms:
            clip = op.builtinOptions.cellClip
            x = interp.get_tensor(op.inputs[0]).astype(np.float64)[0]
            _, _, cells, *_ = simulate_lstm(weights[n], x, *states[n], clip)
            note(-n - 1, np.abs(cells))
    return ranges


# ---------------------------------------------------------------- quantization


def _symmetric16(lo: float, hi: float) -> tuple[float, int]:
    """TFLite's 16x8 activation quantization: int16, zero point 0, the range's peak at 32767."""
    peak = max(abs(lo), abs(hi))
    return (peak / 32767.0 if peak > 0 else 1.0 / 32767.0), 0


def _asymmetric(lo: float, hi: float) -> tuple[float, int]:
    """TFLite's int8 activation quantization of a [lo, hi] range (widened to hold 0)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 or 1.0 / 255.0
    zero = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zero


def _symmetric_weights(w: np.ndarray, axis: int | None):
    """int8 symmetric weights (zero point 0, [-127, 127]) per tensor or along ``axis``."""
    if axis is None:
        peak = np.array([np.max(np.abs(w))])
    else:
        peak = np.max(np.abs(w), axis=tuple(k for k in range(w.ndim) if k != axis))
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    shape = [-1 if k == axis else 1 for k in range(w.ndim)]
    shaped = scale if axis is None else scale.reshape(shape)
    q = np.clip(np.round(w / shaped), -127, 127).astype(np.int8)
    return q, scale


def _set_quant(t, scale, zero, axis: int = 0) -> None:
    q = _schema().QuantizationParametersT()
    q.scale = [float(v) for v in np.atleast_1d(scale)]
    q.zeroPoint = [int(v) for v in np.atleast_1d(zero)]
    q.quantizedDimension = axis
    t.quantization = q


def _set_data(model, t, values: np.ndarray, dtype: str) -> None:
    buffer = _schema().BufferT()
    buffer.data = list(np.ascontiguousarray(values, dtype=dtype).tobytes())
    t.buffer = len(model.buffers)
    model.buffers.append(buffer)
    t.type = TYPES[dtype]


def _float_data(model, t) -> np.ndarray:
    return np.frombuffer(bytes(model.buffers[t.buffer].data), np.float32).reshape(t.shape)


def cell_exponent(peak: float) -> int:
    """The cell state's scale as a power of two: 2**e with 2**(e + 15) covering ``peak``, within
    what TFLite's integer tanh takes."""
    e = math.ceil(math.log2(peak)) - 15 if peak > 0 else MIN_CELL_EXPONENT
    return int(min(max(e, MIN_CELL_EXPONENT), MAX_CELL_EXPONENT))


def quantize_recurrent(float_tflite: bytes, samples: list[np.ndarray], precision: str = "int8"):
    """The integer model of a float model with LSTM layers, calibrated on ``samples`` (run in
    order; one array per model input with a row per sample, or one item per sample): int8
    activations with the 8x8_16 LSTM of TFLite, int8 input and output; or for ``int16x8``
    int16 activations (zero point 0) with TFLite Micro's 16x8 LSTM (int8 weights, int64
    biases, int16 states), int16 input and output, which only TFLite Micro runs."""
    if precision not in PRECISIONS:
        raise EdgekitError(
            f"an LSTM model quantizes to {', '.join(PRECISIONS)} only, not {precision}"
        )
    wide = precision == "int16x8"
    act_type, bias_type = ("int16", "int64") if wide else ("int8", "int32")
    model = _model(float_tflite)
    graph, kinds = model.subgraphs[0], _kinds(model)
    unknown = sorted({k for k in kinds if k not in SUPPORTED})
    if unknown:
        raise EdgekitError(
            f"the LSTM model has {', '.join(unknown)}, which edgekit's LSTM quantizer does not "
            f"quantize; it takes {', '.join(SUPPORTED)}"
        )
    ranges = calibrate(float_tflite, samples)
    quant: dict[int, tuple[float, int]] = {}

    def activation(index: int) -> tuple[float, int]:
        if index not in quant:
            grid = _symmetric16 if wide else _asymmetric
            quant[index] = grid(*ranges.get(index, (-1.0, 1.0)))
        return quant[index]

    for kind, op in zip(kinds, graph.operators):
        if kind == LSTM:  # output and output state: one symmetric scale
            lo, hi = ranges.get(op.outputs[0], (-1.0, 1.0))
            peak = max(abs(lo), abs(hi), 1e-6)
            scale = peak / (32767.0 if wide else 127.0)
            quant[op.outputs[0]] = quant[op.inputs[OUTPUT_STATE]] = (scale, 0)
        elif kind == "SOFTMAX":
            quant[op.outputs[0]] = (1.0 / 32768.0, 0) if wide else (1.0 / 256.0, -128)
        elif kind in ("RESHAPE", "STRIDED_SLICE"):
            quant[op.outputs[0]] = activation(op.inputs[0])
    for n, (kind, op) in enumerate(zip(kinds, graph.operators)):
        in_scale = activation(op.inputs[0])[0]
        if kind == LSTM:
            _quantize_lstm(model, graph, op, in_scale, quant, ranges[-n - 1][1], wide)
        elif kind == "FULLY_CONNECTED":
            w = graph.tensors[op.inputs[1]]
            q, scales = _symmetric_weights(_float_data(model, w), axis=0)
            _set_data(model, w, q, "int8")
            _set_quant(w, scales, np.zeros(scales.size, int))
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                b = graph.tensors[op.inputs[2]]
                bias_scale = in_scale * scales.astype(np.float64)
                values = np.round(_float_data(model, b) / bias_scale)
                limit = 2**63 if wide else 2**31
                _set_data(model, b, np.clip(values, -limit, limit - 1), bias_type)
                _set_quant(b, bias_scale, np.zeros(scales.size, int))
    for index, (scale, zero) in quant.items():
        t = graph.tensors[index]
        t.type = TYPES[act_type]
        _set_quant(t, scale, zero)
    return _pack(model)


def _quantize_lstm(
    model, graph, op, in_scale: float, quant: dict, cell_peak: float, wide: bool
) -> None:
    """The 8x8_16 LSTM's weights, biases, states and intermediates, in place; with ``wide``
    TFLite Micro's 16x8 LSTM: int64 biases, and the intermediates (which TFLite Micro does not
    read, and refuses unless empty) of shape [0]."""
    s = _schema()
    h_scale, h_zero = quant[op.outputs[0]]
    weight_scales = {}
    for k in (*INPUT_WEIGHTS, *RECURRENT_WEIGHTS):
        t = graph.tensors[op.inputs[k]]
        q, scale = _symmetric_weights(_float_data(model, t), axis=None)
        _set_data(model, t, q, "int8")
        _set_quant(t, scale, [0])
        weight_scales[k] = float(scale[0])
    for g, k in enumerate(BIASES):
        t = graph.tensors[op.inputs[k]]
        bias_scale = in_scale * weight_scales[INPUT_WEIGHTS[g]]
        limit = 2**63 if wide else 2**31
        values = np.clip(np.round(_float_data(model, t) / bias_scale), -limit, limit - 1)
        _set_data(model, t, values, "int64" if wide else "int32")
        _set_quant(t, bias_scale, [0])
    cell = graph.tensors[op.inputs[CELL_STATE]]
    cell.type = TYPES["int16"]
    _set_quant(cell, 2.0 ** cell_exponent(cell_peak), [0])
    # intermediates: the four gates (Q3.12, int16) and the hidden state (int8)
    op.intermediates = []
    for k in range(5):
        t = s.TensorT()
        name = graph.tensors[op.outputs[0]].name
        name = name.decode() if isinstance(name, bytes) else name
        t.name, t.shape, t.buffer = f"{name}_intermediate_{k}", [0] if wide else [], 0
        if k < 4:
            t.type = TYPES["int16"]
            _set_quant(t, GATE_SCALE, [0])
        else:
            t.type = TYPES["int16" if wide else "int8"]
            _set_quant(t, h_scale, [h_zero])
        graph.tensors.append(t)
        op.intermediates.append(len(graph.tensors) - 1)
