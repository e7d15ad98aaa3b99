"""Quantizing a float ``.tflite`` file (an ai-edge-torch export, a model zoo's file) with
ai-edge-quantizer: int8, 16x8 (int16 activations, int8 weights) or a mixed plan.

ai-edge-quantizer works on the flatbuffer itself, with per-operator recipes matched by each op's
output tensor name, which is what a mixed plan needs (the TFLite converter takes Keras or
SavedModels, not ``.tflite`` files, and quantizes a whole model one way). Its static recipes
give what the TFLite converter gives and edgekit's kernels expect: per-channel symmetric int8
weights (zero point 0), int32 bias in int8 layers and int64 bias in 16x8 ones, asymmetric int8
activations, symmetric int16 activations (zero point 0), SOFTMAX/LOGISTIC outputs on TFLite's
fixed grids. Where a mixed plan changes precision it writes a QUANTIZE op (int8 to int16 or back)
on the tensor between the two layers; with ``float_io`` the model reads and writes float32
through a QUANTIZE and a DEQUANTIZE, as the converter's float-I/O models do.

An op the quantizer has no rule for (UNIDIRECTIONAL_SEQUENCE_LSTM, SVDF, LEAKY_RELU; HARD_SWISH
in 16 bits; ...) it leaves in float between a DEQUANTIZE and a QUANTIZE, and a layer asked for in
16x8 whose op has no 16-bit rule it quietly leaves in int8: both are refused here, in one line,
rather than handed on.

Two things it writes unlike the converter are put right (``as_the_converter_writes``), and its
calibration takes each tensor's min and max over all the samples, as the converter does: on the
ops both support, its int8 and 16x8 models then have the converter's ops, types, shapes and
activation grids.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from edgekit.errors import EdgekitError, first_line

PRECISIONS = ("int8", "int16x8")
_SIGNATURE = "serving_default"
_BOUNDARY_OPS = frozenset(("QUANTIZE", "DEQUANTIZE"))
_GREATER_OP_CODES = 127  # the schema's PLACEHOLDER_FOR_GREATER_OP_CODES


@dataclass(frozen=True)
class Layer:
    """One op of the float model that a mixed plan can put in 16x8, named by its first output
    tensor (the name ai-edge-quantizer's recipes match)."""

    name: str
    kind: str
    output_bytes: int  # its output at int8; int16 doubles it
    macs: int


def layers(float_tflite: bytes) -> list[Layer]:
    """The ops of a float model whose output is a float activation, in execution order."""
    from edgekit.compiler.ir import op_macs

    graph = float_graph(float_tflite)
    found = []
    for op in graph.ops:
        if not op.outputs or graph.tensor(op.outputs[0]).dtype != "float32":
            continue
        out = graph.tensor(op.outputs[0])
        found.append(Layer(out.name, op.kind, out.size, op_macs(graph, op)))
    return found


def float_graph(float_tflite: bytes):
    """edgekit's IR of a float model, or a one-line error if it is not one."""
    from edgekit.compiler.ir import read_tflite

    graph = read_tflite(float_tflite)
    activations = [graph.tensor(t) for t in graph.inputs]
    if not any(t.dtype == "float32" for t in activations) or any(
        t.quant is not None and t.dtype in ("int8", "int16") for t in graph.tensors
    ):
        raise EdgekitError(
            "the .tflite is not a float model; pass the float .tflite to quantize, or an "
            "already quantized one without --precision"
        )
    return graph


class Calibrated:
    """A float model with its activation ranges measured on calibration samples: quantized to
    any precision or plan without calibrating again (ranges do not depend on the bit width)."""

    def __init__(self, float_tflite: bytes, samples: Sequence[np.ndarray]) -> None:
        """``samples``: one float array per model input, (N, *input shape without batch)."""
        self.float_tflite = _with_signature(float_tflite)
        self.layers = {layer.name: layer for layer in layers(self.float_tflite)}
        feeds = _feeds(self.float_tflite, samples)
        from ai_edge_quantizer import calibrator, recipe, recipe_manager
        from ai_edge_quantizer.utils import qsv_utils

        rules = recipe_manager.RecipeManager()
        rules.load_quantization_recipe(recipe.static_wi8_ai8())
        # each tensor's min and max over all the samples, as the TFLite converter takes them:
        # the quantizer's default, a moving average of each sample's min and max, gives
        # narrower ranges than the data's, and what lies beyond them saturates
        calibrate = calibrator.Calibrator(
            self.float_tflite, qsv_update_func=qsv_utils.min_max_update
        )
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # its progress bar
                calibrate.calibrate({_SIGNATURE: feeds}, rules)
            self.ranges = calibrate.get_model_qsvs()
        except Exception as exc:  # the quantizer raises many types; the user needs one line
            raise EdgekitError(f"calibrating the float .tflite failed: {first_line(exc)}") from None

    def quantize(
        self,
        precision: str = "int8",
        sixteen_bit: Collection[str] = frozenset(),
        float_io: bool = True,
    ) -> bytes:
        """The fully integer model: every layer in ``precision`` but the layers named in
        ``sixteen_bit`` (``Layer.name``s), which are 16x8; float32 I/O unless not ``float_io``."""
        if precision not in PRECISIONS:
            raise EdgekitError(
                f"unknown precision '{precision}'; use one of {', '.join(PRECISIONS)}"
            )
        unknown = sorted(set(sixteen_bit) - set(self.layers))
        if unknown:
            raise EdgekitError(f"no layer named '{unknown[0]}' in the float .tflite")
        from ai_edge_quantizer import quantizer

        qt = quantizer.Quantizer(self.float_tflite, recipe_for(precision, sixteen_bit, float_io))
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                result = qt.quantize(self.ranges, enable_progress_report=False)
        except Exception as exc:  # the quantizer raises many types; the user needs one line
            raise EdgekitError(f"ai-edge-quantizer failed: {first_line(exc)}") from None
        model = as_the_converter_writes(bytes(result.quantized_model))
        wanted = set(self.layers) if precision == "int16x8" else set(sixteen_bit)
        check_quantized(model, wanted)
        return model


def quantize_tflite(
    float_tflite: bytes,
    samples: Sequence[np.ndarray],
    precision: str = "int8",
    sixteen_bit: Collection[str] = frozenset(),
    float_io: bool = True,
) -> bytes:
    """A float ``.tflite`` quantized with ``samples`` (one float array per input, (N, *shape)):
    int8 or 16x8 activations, int8 weights, the layers in ``sixteen_bit`` in 16x8 whatever
    ``precision`` says; float32 inputs and outputs unless not ``float_io``."""
    return Calibrated(float_tflite, samples).quantize(precision, sixteen_bit, float_io)


def recipe_for(precision: str, sixteen_bit: Collection[str], float_io: bool) -> list[dict]:
    """ai-edge-quantizer's recipe: its static int8 or int16 rule for every op, then a 16x8 rule
    for each named layer; with ``float_io`` the model's inputs and outputs stay float32.

    Rules are grouped by regex, the groups tried in the order they first appear and the last
    match winning, so each group ends with the float I/O rules: the model's output is a virtual
    op named after the tensor, which a layer's own group would otherwise quantize."""
    from ai_edge_quantizer import recipe

    base = recipe.static_wi8_ai16() if precision == "int16x8" else recipe.static_wi8_ai8()
    (sixteen,) = recipe.static_wi8_ai16()
    # an op's scope is its output tensors' names, each followed by ';'
    groups = [base] + [[dict(sixteen, regex=f"^{re.escape(n)};")] for n in sorted(sixteen_bit)]
    rules = []
    for group in groups:
        rules += group
        if float_io:
            regex = group[0]["regex"]
            rules += [
                {"regex": regex, "operation": port, "algorithm_key": "no_quantize"}
                for port in ("INPUT", "OUTPUT")
            ]
    return rules


def check_quantized(model: bytes, sixteen_bit: Collection[str]) -> None:
    """Refuse, in one line, a model with an op the quantizer left in float or a layer asked for
    in 16x8 that it could not quantize so."""
    from edgekit.compiler.ir import read_tflite

    graph = read_tflite(model)
    left = sorted(
        {
            op.kind
            for op in graph.ops
            if op.kind not in _BOUNDARY_OPS
            and any(
                graph.tensor(t).dtype == "float32" and graph.tensor(t).data is None
                for t in (*op.inputs, *op.outputs)
                if t >= 0
            )
        }
    )
    if left:
        raise EdgekitError(
            f"ai-edge-quantizer cannot quantize {', '.join(left)} (it would stay float); "
            "pass the float Keras model instead, which edgekit quantizes another way, or a "
            "model without that op"
        )
    kinds = {graph.tensor(op.outputs[0]).name: op for op in graph.ops if op.outputs}
    narrow = sorted(
        f"{kinds[name].kind} '{name}'"
        for name in sixteen_bit
        if name in kinds and graph.tensor(kinds[name].outputs[0]).dtype == "int8"
    )
    if narrow:
        raise EdgekitError(
            f"ai-edge-quantizer cannot put {narrow[0]} in 16x8; leave it in int8 or build "
            "from the Keras model with --precision int16x8"
        )


# ---------------------------------------------------------------- flatbuffer fix-ups


def _schema():
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def _unpack(tflite: bytes):
    """The model as the schema's object tree, every buffer's data inline: ai-edge-quantizer
    writes some after the flatbuffer (an offset and a size), which packing again would lose."""
    try:
        model = _schema().ModelT.InitFromPackedBuf(tflite, 0)
    except Exception as exc:  # flatbuffers raises many types on a file that is not one
        raise EdgekitError(
            f"cannot read the .tflite ({first_line(exc)}); pass a .tflite file"
        ) from None
    for buffer in model.buffers or ():
        if buffer.offset > 1:
            buffer.data = np.frombuffer(tflite, np.uint8, buffer.size, buffer.offset)
            buffer.offset = buffer.size = 0
    return model


def _pack(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def as_the_converter_writes(tflite: bytes) -> bytes:
    """What ai-edge-quantizer writes differently from the TFLite converter, made the same.

    Operator codes: it fills only ``builtin_code`` for the QUANTIZE and DEQUANTIZE it adds, and
    readers that take the deprecated byte for codes under 127 (the ``tflite`` package, which
    edgekit's IR reads with) would see ADD. int16 ADD and SUB: it leaves ``pot_scale_int16`` at
    the schema's default (true), which makes TFLite take its power-of-two path wherever the
    three scales happen to be powers of two; the converter writes false, the general rescaling
    every kernel implements."""
    model = _unpack(tflite)
    _standard_codes(model)
    for graph in model.subgraphs:
        for op in graph.operators:
            if hasattr(op.builtinOptions, "potScaleInt16"):  # ADD, SUB
                op.builtinOptions.potScaleInt16 = False
    return _pack(model)


def _standard_codes(model) -> bool:
    """Fill both operator code fields as the converter does; whether any was not."""
    changed = False
    for code in model.operatorCodes:
        value = max(code.builtinCode, code.deprecatedBuiltinCode)
        if (code.builtinCode, code.deprecatedBuiltinCode) != (value, min(value, _GREATER_OP_CODES)):
            code.builtinCode, code.deprecatedBuiltinCode = value, min(value, _GREATER_OP_CODES)
            changed = True
    return changed


def _with_signature(tflite: bytes) -> bytes:
    """The float model with a ``serving_default`` signature (a model zoo's file may have none;
    ai-edge-quantizer feeds calibration samples by signature) and standard operator codes."""
    schema = _schema()
    model = _unpack(tflite)
    recoded = _standard_codes(model)  # an exporter's file may fill builtin_code alone too
    if model.signatureDefs:
        return _pack(model) if recoded else tflite
    graph = model.subgraphs[0]

    def tensor_map(index: int, k: int, prefix: str):
        entry = schema.TensorMapT()
        raw = graph.tensors[index].name
        name = raw.decode() if isinstance(raw, bytes) else raw
        entry.name = re.sub(r"\W", "_", name.split(":")[0]) or f"{prefix}{k}"
        entry.tensorIndex = index
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey = _SIGNATURE
    signature.subgraphIndex = 0
    signature.inputs = [tensor_map(t, k, "input_") for k, t in enumerate(graph.inputs)]
    signature.outputs = [tensor_map(t, k, "output_") for k, t in enumerate(graph.outputs)]
    model.signatureDefs = [signature]
    return _pack(model)


def _feeds(tflite: bytes, samples: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """One {signature input name: batch-1 array} per sample, as the quantizer calibrates."""
    from edgekit.interpreter import interpreter

    interp = interpreter(tflite, allocate=False)
    runner = interp.get_signature_runner(_SIGNATURE)
    details = runner.get_input_details()  # name -> detail, the signature's names
    by_index = {d["index"]: name for name, d in details.items()}
    inputs = interp.get_input_details()
    if len(samples) != len(inputs):
        raise EdgekitError(
            f"the .tflite has {len(inputs)} inputs but the data gives {len(samples)} arrays"
        )
    shaped = []
    for x, detail in zip(samples, inputs):
        shape = tuple(detail["shape"])
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != shape[1:] and x.shape[1:] != shape:
            raise EdgekitError(
                f"calibration samples of shape {x.shape[1:]} for input '{detail['name']}' of "
                f"shape {shape}; pass data of the model's input shape"
            )
        shaped.append((by_index[detail["index"]], x.reshape(len(x), *shape)))
    count = min(len(x) for _, x in shaped)
    return [{name: x[i] for name, x in shaped} for i in range(count)]
