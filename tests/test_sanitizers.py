"""The default model's generated C under AddressSanitizer and UndefinedBehaviorSanitizer.

The kernels run under the same sanitizers case by case in test_kernels.py; this runs the whole
generated program (arena offsets, weight arrays, the layer hook, the example main) the way the
host build ships it, with every finding fatal.
"""

import subprocess

import numpy as np

from edgekit.backends.c import build_host
from edgekit.validation.artifacts import input_rows, reference

INPUTS = 5  # evaluation images; every layer's output is checked for the first


def test_default_model_is_clean_and_bit_exact_under_sanitizers(host_build, tmp_path):
    from edgekit.frontend.data import load_dataset, splits

    out, _ = host_build
    tflite = (out / "model_int8.tflite").read_bytes()
    inputs = input_rows(tflite, splits(load_dataset("digits", 96)).evaluation, INPUTS)
    ref = reference(tflite, inputs, layers=True)
    binary = build_host(out / "c" / "src", tmp_path / "sanitized", sanitize=True)

    (tmp_path / "input.bin").write_bytes(inputs.tobytes())
    done = subprocess.run(
        [str(binary), "input.bin", "output.bin", "layers.bin"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    # any ASan or UBSan finding (leaks included) stops the program with a report on stderr
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    outputs = np.frombuffer((tmp_path / "output.bin").read_bytes(), np.int8)
    np.testing.assert_array_equal(outputs.reshape(INPUTS, -1), ref.outputs)
    layers = np.frombuffer((tmp_path / "layers.bin").read_bytes(), np.int8)
    np.testing.assert_array_equal(layers, np.concatenate(ref.layers))
