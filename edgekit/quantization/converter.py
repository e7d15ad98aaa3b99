"""Full-integer int8 post-training quantization with the TFLite converter.

The converted model has batch 1, int8 input and output, per-channel int8 weights and int8
activations whose ranges come from the calibration samples. How ranges are chosen (here the
converter's min-max over the calibration set) is kept apart from how the model is converted,
so other calibration methods can replace ``representative_samples`` later.
"""

from __future__ import annotations

import numpy as np

from edgekit.errors import EdgekitError, first_line
from edgekit.frontend.data import Dataset, preprocess


def representative_samples(calibration: Dataset, count: int) -> np.ndarray:
    """The first ``count`` calibration images (the split is already shuffled), preprocessed."""
    if count < 1:
        raise EdgekitError(f"--calibration-samples must be at least 1, got {count}")
    return preprocess(calibration.images[:count])


def quantize(model, samples: np.ndarray) -> bytes:
    """Convert a float Keras model to an int8 ``.tflite`` flatbuffer (batch 1, int8 in/out)."""
    import tempfile

    import tensorflow as tf

    shape = [1, *model.input_shape[1:]]
    with tempfile.TemporaryDirectory(prefix="edgekit-export-") as saved:
        # A SavedModel with a batch-1 signature: the converter freezes its variables cleanly
        # and every tensor gets a fixed shape that later tools can rely on.
        model.export(
            saved,
            format="tf_saved_model",
            verbose=False,
            input_signature=[tf.TensorSpec(shape, tf.float32)],
        )
        return convert_saved_model(saved, samples)


def convert_saved_model(saved: str, samples: np.ndarray) -> bytes:
    """Full-integer conversion of a SavedModel (its default signature) with ``samples``."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    converter.representative_dataset = lambda: _calibration_batches(samples)
    # In edgekit's process, not an edgekit.isolated child: the converter reports its failures
    # as exceptions, and a child would import TensorFlow again (10 s here) for each conversion.
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises many types; the user needs one line
        raise EdgekitError(
            f"int8 conversion failed: {first_line(exc)}; the model must use TFLite int8 builtin ops"
        ) from None


def _calibration_batches(samples: np.ndarray):
    from tqdm import tqdm

    for sample in tqdm(samples, desc="calibrate", unit="img", disable=None, leave=False):
        yield [sample[None]]


def check_int8(tflite: bytes) -> None:
    """Stop the build if the converted model is not what later stages rely on.

    Batch 1, int8 input and output, and a positive scale on every quantized tensor.
    """
    from edgekit.interpreter import interpreter

    interp = interpreter(tflite, allocate=False)
    for io in (*interp.get_input_details(), *interp.get_output_details()):
        if io["dtype"] != np.int8:
            raise EdgekitError(f"tensor {io['name']} is {io['dtype'].__name__}, not int8")
        if io["shape"][0] != 1:
            raise EdgekitError(f"tensor {io['name']} has batch {io['shape'][0]}, not 1")
    for tensor in interp.get_tensor_details():
        scales = tensor["quantization_parameters"]["scales"]
        if len(scales) and not np.all(scales > 0):
            raise EdgekitError(f"tensor {tensor['name']} has a non-positive quantization scale")
