"""SVDF keyword-spotting models, written with the flatbuffer schema for the tests and the zoo.

Keras has no SVDF layer and the TFLite converter does not write one, so these models are
written op by op (``schema_model`` of tests/test_ops_reduce.py, then ``finish`` for what it
does not write: SVDF's and SOFTMAX's options and the variable state tensors).

``svdf_kws`` is modelled on the low-latency SVDF model of TensorFlow's speech_commands example
(tensorflow/examples/speech_commands/models.py, ``create_low_latency_svdf_model``: an SVDF
layer of rank 2 and 1280 units with ReLU over 40-feature frames, its memory the whole
49-frame window, then fully connected layers of 256, 256 and 12 classes), scaled down to
microcontroller size (two SVDF layers of 64 and 32 units, one classifier), and runs as TFLite
Micro runs SVDF: one frame per inference, each layer's memory of past frames in its int16
state, a variable tensor that carries from one inference to the next. Its weights are seeded
and random, scaled to keep unit variance; it is quantized as TFLite's post-training quantizer
quantizes SVDF (tensorflow/lite/tools/optimize: operator_property.cc and quantize_model.cc):
feature weights int8 symmetric per tensor, time weights int16 symmetric on 10 bits (range /
512), the state int16 symmetric (range / 32767), the bias int32 at state scale x time weights'
scale, the fully connected layer int8 per tensor, activations int8 asymmetric over their
calibrated ranges. The ranges come from running the float model in numpy on a seeded stream
of frames, as the quantizer's calibrator would (the state's range is that of every activation
it holds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURES = 40  # features per frame (speech_commands' 40 MFCC coefficients)
CLASSES = 12  # speech_commands: silence, unknown and ten words
# (units, rank, memory) of the two SVDF layers
LAYERS = ((64, 2, 12), (32, 1, 8))
CALIBRATION_FRAMES = 200
SOFTMAX_OUTPUT = (1 / 256, -128)


# ---------------------------------------------------------------- the flatbuffer


def finish(tflite: bytes, options: dict[int, tuple[str, dict]], variables=()) -> bytes:
    """``tflite`` with each op of ``options`` given its options table (op index -> (options
    name as in the schema, e.g. "SVDFOptions", and its fields)) and the tensors ``variables``
    marked as variable (SVDF's state)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(tflite, 0))
    graph = model.subgraphs[0]
    for index in variables:
        graph.tensors[index].isVariable = True
    for index, (name, fields) in options.items():
        op = graph.operators[index]
        op.builtinOptionsType = getattr(s.BuiltinOptions, name)
        op.builtinOptions = getattr(s, name + "T")()
        for key, value in fields.items():
            setattr(op.builtinOptions, key, value)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def svdf_options(rank: int, activation: str = "RELU") -> tuple[str, dict]:
    from tensorflow.lite.python import schema_py_generated as s

    code = getattr(s.ActivationFunctionType, activation)
    return "SVDFOptions", {"rank": rank, "fusedActivationFunction": code}


# ---------------------------------------------------------------- the float model


@dataclass(frozen=True)
class FloatSvdf:
    """One float SVDF layer: feature weights [filters, features], time weights [filters,
    memory], bias [units]; filters = units x rank."""

    feature: np.ndarray
    time: np.ndarray
    bias: np.ndarray
    rank: int

    @property
    def units(self) -> int:
        return self.feature.shape[0] // self.rank

    def run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the activations each frame adds to the state, the ReLU outputs) over a stream of
        frames [T, features], the state starting at zero as TFLite's does."""
        state = np.zeros(self.time.shape, np.float32)
        activations, outputs = [], []
        for x in frames:
            state = np.roll(state, -1, axis=1)
            state[:, -1] = self.feature @ x
            per_filter = (state * self.time).sum(axis=1)
            y = per_filter.reshape(self.units, self.rank).sum(axis=1) + self.bias
            activations.append(state[:, -1].copy())
            outputs.append(np.maximum(y, 0.0))
        return np.stack(activations), np.stack(outputs)


def float_frames(count: int, seed: int) -> np.ndarray:
    """A seeded stream of feature frames, correlated in time as speech features are: each
    frame is 0.8 times the last plus noise (unit variance)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(count, FEATURES)).astype(np.float32)
    frames = np.empty_like(noise)
    last = np.zeros(FEATURES, np.float32)
    for t, n in enumerate(noise):
        last = 0.8 * last + 0.6 * n
        frames[t] = last
    return frames


# ---------------------------------------------------------------- quantizing as TFLite does


def _round(x) -> np.ndarray:
    """std::round: halves away from zero."""
    x = np.asarray(x, np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def symmetric(values: np.ndarray, levels: float, dtype: str) -> tuple[np.ndarray, float]:
    """(quantized values, scale) with scale = max |value| / levels in float32, as the
    quantizer's symmetric per-tensor weights (levels 127 for int8, 512 for SVDF's 10-bit time
    weights)."""
    scale = np.float32(np.abs(values).max()) / np.float32(levels)
    limit = np.iinfo(dtype).max
    q = np.clip(_round(values / scale), -limit, limit).astype(dtype)
    return q, float(scale)


def asymmetric(low: float, high: float) -> tuple[float, int]:
    """(scale, zero point) of an int8 activation over the calibrated range [low, high], widened
    to hold 0 (GetAsymmetricQuantizationParams)."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = float(np.float32(high - low) / np.float32(255))
    zero = int(np.clip(_round(-128 - low / scale), -128, 127))
    return scale, zero


def state_scale(activations: np.ndarray) -> float:
    """An SVDF state's int16 scale: the range of every activation it holds / 32767."""
    return float(np.float32(np.abs(activations).max()) / np.float32(32767))


# ---------------------------------------------------------------- the model


def float_model(seed: int = 0) -> tuple[list[FloatSvdf], np.ndarray, np.ndarray]:
    """The seeded float weights: the SVDF layers of ``LAYERS``, then the classifier's [12,
    units] weights and bias, scaled so that every layer's outputs have about unit variance."""
    rng = np.random.default_rng(seed)
    layers, depth = [], FEATURES
    for units, rank, memory in LAYERS:
        filters = units * rank
        feature = rng.normal(size=(filters, depth)) / np.sqrt(depth)
        time = rng.normal(size=(filters, memory)) / np.sqrt(memory * rank)
        bias = rng.normal(size=units) * 0.1
        layers.append(FloatSvdf(*(a.astype(np.float32) for a in (feature, time, bias)), rank))
        depth = units
    weights = (rng.normal(size=(CLASSES, depth)) * 2 / np.sqrt(depth)).astype(np.float32)
    return layers, weights, (rng.normal(size=CLASSES) * 0.1).astype(np.float32)


def svdf_kws(seed: int = 0) -> bytes:
    """The int8 streaming keyword model: SVDF (64 units, rank 2, memory 12, ReLU) -> SVDF (32
    units, rank 1, memory 8, ReLU) -> FULLY_CONNECTED (12) -> SOFTMAX, on one 40-feature frame
    [1, 40] per inference; its state carries from one inference to the next."""
    from test_ops_reduce import schema_model, tensor

    layers, fc_weights, fc_bias = float_model(seed)
    frames = float_frames(CALIBRATION_FRAMES, seed + 1)
    x, ranges = frames, []
    for layer in layers:
        activations, outputs = layer.run(x)
        ranges.append((activations, outputs))
        x = outputs
    logits = x @ fc_weights.T + fc_bias

    in_quant = asymmetric(frames.min(), frames.max())
    tensors, ops, variables, options = [tensor((1, FEATURES), in_quant)], [], [], {}
    source, source_scale = 0, in_quant[0]
    for layer, (activations, outputs) in zip(layers, ranges, strict=True):
        feature, s_feature = symmetric(layer.feature, 127, "int8")
        time, s_time = symmetric(layer.time, 512, "int16")
        s_state = state_scale(activations)
        bias_scale = float(np.float32(s_state) * np.float32(s_time))
        bias = _round(layer.bias / bias_scale).astype(np.int32)
        out_quant = asymmetric(0.0, outputs.max())
        at = len(tensors)
        tensors += [
            tensor(feature.shape, (s_feature, 0), data=feature),
            tensor(time.shape, (s_time, 0), "int16", time),
            tensor(bias.shape, (bias_scale, 0), "int32", bias),
            tensor((1, time.size), (s_state, 0), "int16"),
            tensor((1, layer.units), out_quant),
        ]
        options[len(ops)] = svdf_options(layer.rank)
        ops.append(("SVDF", [source, at, at + 1, at + 2, at + 3], at + 4, None))
        variables.append(at + 3)
        source, source_scale = at + 4, out_quant[0]
    weights, s_weights = symmetric(fc_weights, 127, "int8")
    bias_scale = float(np.float32(source_scale) * np.float32(s_weights))
    at = len(tensors)
    tensors += [
        tensor(weights.shape, (s_weights, 0), data=weights),
        tensor((CLASSES,), (bias_scale, 0), "int32", _round(fc_bias / bias_scale).astype(np.int32)),
        tensor((1, CLASSES), asymmetric(logits.min(), logits.max())),
        tensor((1, CLASSES), SOFTMAX_OUTPUT),
    ]
    options[len(ops) + 1] = ("SoftmaxOptions", {"beta": 1.0})
    ops += [
        ("FULLY_CONNECTED", [source, at, at + 1], at + 2, None),
        ("SOFTMAX", [at + 2], at + 3, None),
    ]
    return finish(schema_model(tensors, ops), options, variables)


def stream(tflite: bytes, count: int, seed: int = 7) -> np.ndarray:
    """``count`` seeded frames [count, 1, 40] on the model's int8 input grid, one per
    inference."""
    from edgekit.compiler.ir import read_tflite

    graph = read_tflite(tflite)
    q = graph.tensor(graph.inputs[0]).quant
    scale, zero = float(q.scale[0]), int(q.zero_point[0])
    frames = float_frames(count, seed)
    values = np.clip(_round(frames / scale) + zero, -128, 127).astype(np.int8)
    return values.reshape(count, 1, FEATURES)
