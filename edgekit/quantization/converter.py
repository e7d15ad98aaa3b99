"""Full-integer post-training quantization of Keras models with the TFLite converter.

The converted model has batch 1, per-channel int8 weights, and int8 activations and I/O (or
int16 with ``precision`` int16x8: the converter's 16x8 mode) whose ranges come from the
calibration samples. Models the converter cannot quantize (recurrent layers; mixed plans) go
through a float ``.tflite`` (``float_tflite``) to edgekit's other quantizers. How ranges are
chosen (here the converter's min-max over the calibration set) is kept apart from how the model
is converted, so other calibration methods can replace ``representative_samples`` later.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from edgekit.errors import EdgekitError, first_line
from edgekit.frontend.data import Dataset


def representative_samples(calibration: Dataset, count: int) -> tuple[np.ndarray, ...]:
    """The first ``count`` calibration samples (the split is already shuffled), one array per
    model input, as the float model takes them."""
    if count < 1:
        raise EdgekitError(f"--calibration-samples must be at least 1, got {count}")
    return calibration.inputs(count)


def quantize(model, samples: np.ndarray | tuple[np.ndarray, ...], precision: str = "int8") -> bytes:
    """Convert a float Keras model to a full-integer ``.tflite`` flatbuffer (batch 1), its
    inputs and outputs in the Keras model's order; ``samples``: one array per input (an array
    alone for a model of one input). ``precision`` int8: int8 activations and I/O; int16x8:
    int16 activations and I/O with int8 weights (the converter's 16x8 mode)."""
    samples = (samples,) if isinstance(samples, np.ndarray) else tuple(samples)
    with _saved_model(model) as (saved, specs):
        names = [s.name for s in specs] if len(specs) > 1 else None
        tflite = convert_saved_model(saved, samples, names, precision)
    return in_keras_order(tflite, [s.name for s in specs], len(model.outputs))


def float_tflite(model) -> bytes:
    """A float Keras model as a float ``.tflite`` (batch 1, float32 throughout), its inputs and
    outputs in the Keras model's order: what edgekit's own quantizers start from."""
    import tensorflow as tf

    with _saved_model(model) as (saved, specs):
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        try:
            tflite = converter.convert()
        except Exception as exc:  # the converter raises many types; the user needs one line
            raise EdgekitError(f"float conversion failed: {first_line(exc)}") from None
    return in_keras_order(tflite, [s.name for s in specs], len(model.outputs))


@contextmanager
def _saved_model(model):
    """The Keras model exported as a SavedModel with a batch-1 signature (the converter freezes
    its variables cleanly and every tensor gets a fixed shape that later tools can rely on):
    (its folder, the signature's input specs), removed afterwards."""
    import tempfile

    import tensorflow as tf

    specs = [tf.TensorSpec([1, *t.shape[1:]], tf.float32, name=_name(t)) for t in model.inputs]
    with tempfile.TemporaryDirectory(prefix="edgekit-export-") as saved:
        model.export(
            saved,
            format="tf_saved_model",
            verbose=False,
            input_signature=[specs] if len(specs) > 1 else specs,
        )
        yield saved, specs


def recurrent_layers(model) -> list[str]:
    """The names of a Keras model's recurrent layers (nested models searched too): the TFLite
    converter's calibrator crashes on them (TensorFlow issue #101050), so edgekit quantizes
    such models itself (``edgekit.quantization.recurrent``)."""
    found, stack = [], list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop(0)
        if layer.__class__.__name__ in RECURRENT:
            found.append(layer.name)
        stack.extend(getattr(layer, "layers", []))
    return found


RECURRENT = ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional")


def in_keras_order(tflite: bytes, names: list[str], outputs: int) -> bytes:
    """``tflite`` with its inputs and outputs listed in the Keras model's order.

    The converter lists a SavedModel's inputs and outputs in an order of its own; its tensor
    names say which is which ('serving_default_<argument>:0' for inputs, '<call>:k' for Keras
    output k), so the lists are put back in the Keras order that data files and users follow."""
    if len(names) < 2 and outputs < 2:
        return tflite
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    graph = model.subgraphs[0]

    def name(index: int) -> str:
        raw = graph.tensors[index].name
        return raw.decode() if isinstance(raw, bytes) else raw

    wanted = {f"serving_default_{n}:0": k for k, n in enumerate(names)}
    ins = [wanted.get(name(t)) for t in graph.inputs]
    outs = [name(t).rsplit(":", 1)[-1] for t in graph.outputs]
    outs = [int(k) if k.isdigit() else None for k in outs]
    if sorted(ins, key=str) != [*range(len(names))] or sorted(outs, key=str) != [*range(outputs)]:
        return tflite  # the names do not say: keep the converter's order
    graph.inputs = [t for _, t in sorted(zip(ins, graph.inputs))]
    graph.outputs = [t for _, t in sorted(zip(outs, graph.outputs))]
    builder = flatbuffers.Builder(len(tflite) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _name(tensor) -> str:
    """A SavedModel argument name for a Keras input (letters, digits and '_')."""
    return "".join(c if c.isalnum() else "_" for c in tensor.name.split(":")[0]) or "input"


def convert_saved_model(
    saved: str,
    samples: tuple[np.ndarray, ...],
    names: list[str] | None = None,
    precision: str = "int8",
) -> bytes:
    """Full-integer conversion of a SavedModel (its default signature) with ``samples``, one
    array per input; ``names``: the signature's argument names of a model of several inputs."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "int16x8":
        ops, io = (
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
            tf.int16,
        )
    else:
        ops, io = tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.int8
    converter.target_spec.supported_ops = [ops]
    converter.inference_input_type = io
    converter.inference_output_type = io
    converter.representative_dataset = lambda: _calibration_batches(samples, names)
    # In edgekit's process, not an edgekit.isolated child: the converter reports its failures
    # as exceptions, and a child would import TensorFlow again (10 s here) for each conversion.
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises many types; the user needs one line
        kind = "16x8" if precision == "int16x8" else "int8"
        raise EdgekitError(
            f"{kind} conversion failed: {first_line(exc)}; the model must use TFLite {kind} "
            "builtin ops"
        ) from None


def _calibration_batches(samples: tuple[np.ndarray, ...], names: list[str] | None):
    from tqdm import tqdm

    for i in tqdm(range(len(samples[0])), desc="calibrate", unit="sample", disable=None,
                  leave=False):  # fmt: skip
        batch = [x[i][None] for x in samples]
        yield dict(zip(names, batch)) if names else batch


def check_int8(tflite: bytes) -> None:
    """Stop the build if the converted model is not what later stages rely on.

    Batch 1, int8 or int16 (or float32, quantized inside the model) inputs and outputs, int8
    weights, and a positive scale on every quantized tensor.
    """
    from edgekit.interpreter import interpreter

    interp = interpreter(tflite, allocate=False)
    outputs = interp.get_output_details()
    for io in (*interp.get_input_details(), *outputs):
        allowed = (np.int8, np.int16, np.float32) + ((np.int32, np.int64) if io in outputs else ())
        if io["dtype"] not in allowed:
            raise EdgekitError(
                f"tensor {io['name']} is {io['dtype'].__name__}, not int8, int16 or float32"
            )
        if len(io["shape"]) > 1 and io["shape"][0] != 1:
            raise EdgekitError(f"tensor {io['name']} has batch {io['shape'][0]}, not 1")
    details = interp.get_tensor_details()
    if not any(t["dtype"] in (np.int8, np.int16) and t["quantization"][0] for t in details):
        raise EdgekitError("the quantized model has no quantized activation: it is still float")
    for tensor in details:
        scales = tensor["quantization_parameters"]["scales"]
        if len(scales) and not np.all(scales > 0):
            raise EdgekitError(f"tensor {tensor['name']} has a non-positive quantization scale")
