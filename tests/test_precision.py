"""Audio and 16-bit models as users bring them (issue 19): the audio zoo (tests/zoo_audio.py)
built with `edgekit build --target T --model FILE [--precision P]` on the Cortex-M boards,
bit-exact over a sequence of 20 inputs (a recurrent model's state carries from one to the
next) and layer by layer; a float .tflite quantized by edgekit and compared with the float
file; a mixed plan in the report.
"""

import json

import numpy as np
import pytest

# each audio zoo model on one of the three boards in turn (bench/zoo_audio.py builds every pair)
AUDIO_BUILDS = [
    ("lstm_kws", "int8", "cortex-m4"),
    ("lstm_kws", "int16x8", "cortex-m55"),
    ("kws_ds_cnn", "int16x8", "cortex-m7"),
    ("seanet", "int16x8", "cortex-m4"),
    ("svdf_kws", None, "cortex-m55"),
]


@pytest.fixture(scope="session")
def audio(tmp_path_factory):
    """``audio(name)``: the audio zoo model's file (``tests/zoo_audio.py``), made once."""
    import zoo_audio

    folder = tmp_path_factory.mktemp("zoo_audio")
    paths = {}

    def get(name):
        if name not in paths:
            paths[name] = zoo_audio.make(name, folder)
        return paths[name]

    return get


def c_row(out):
    report = json.loads((out / "report.json").read_text())
    (row,) = [r for r in report["validation"] if r["backend"] == "c"]
    return report, row


@pytest.mark.slow
@pytest.mark.parametrize(("name", "precision", "target"), AUDIO_BUILDS)
def test_audio_model_builds_bit_exact_over_a_sequence(
    name, precision, target, audio, cli, tmp_path
):
    out = tmp_path / name
    args = ["build", "--target", target, "--model", audio(name), "--out", out, "--quiet"]
    code, _, err = cli(*args, *(["--precision", precision] if precision else []))
    assert code == 0, err
    report, row = c_row(out)
    assert row["bit_exact"] and row["inputs"] == 20 and row["max_abs_diff"] == 0
    computes = report["model"]["precision"]["computes"]
    assert computes == (precision or "int8")
    code, _, err = cli("validate", out, "--layers", "--quiet")
    assert code == 0, err
    (row,) = json.loads((out / "report.json").read_text())["validation"]
    assert row["bit_exact"] and row["layers_compared"] > 0
    assert row["first_differing_layer"] is None


def small_classifier():
    """A small float image classifier (seeded, batch norms conditioned) and labelled data."""
    import keras
    import zoo

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    L = keras.layers
    inputs = keras.Input((12, 12, 3))
    x = L.Conv2D(8, 3, padding="same")(inputs)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.DepthwiseConv2D(3, padding="same")(x)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.GlobalAveragePooling2D()(L.Conv2D(16, 1)(x))
    model = keras.Model(inputs, L.Dense(4, activation="softmax")(x))
    zoo.condition(model, zoo.samples(model, 32, 0))
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (120, 12, 12, 3)).astype(np.float32)
    labels = np.asarray(model.predict(x, verbose=0)).argmax(axis=1)
    return model, x, labels


def test_a_float_tflite_is_quantized_and_compared_with_the_float_file(cli, tmp_path):
    from edgekit.quantization.converter import float_tflite

    model, x, labels = small_classifier()
    path = tmp_path / "float.tflite"
    path.write_bytes(float_tflite(model))
    np.savez(tmp_path / "data.npz", x=x, labels=labels)
    out = tmp_path / "out"
    code, _, err = cli("build", "--target", "cortex-m7", "--model", path,
                       "--data", tmp_path / "data.npz", "--out", out, "--quiet")  # fmt: skip
    assert code == 0, err
    report, row = c_row(out)
    assert row["bit_exact"] and row["max_abs_diff"] == 0
    accuracy = report["accuracy"]
    # labels are the float model's own predictions: float top-1 is 100% by construction
    assert accuracy["float_top1"] == 1.0 and accuracy["int8_top1"] >= 0.8
    assert accuracy["outputs"][0]["sqnr_db"] > 15
    rows = {(a["backend"], a["precision"]) for a in report["artifacts"]}
    assert {("tflite", "float32"), ("tflite", "int8")} <= rows
    assert (out / "model_float.tflite").read_bytes() == path.read_bytes()


def test_mixed_precision_shows_the_three_precisions_side_by_side(cli, tmp_path):
    model, x, labels = small_classifier()
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=x, labels=labels)
    out = tmp_path / "out"
    code, _, err = cli("build", "--target", "cortex-m55", "--model", tmp_path / "model.keras",
                       "--data", tmp_path / "data.npz", "--precision", "mixed",
                       "--max-drop", "0", "--out", out, "--quiet")  # fmt: skip
    report, row = c_row(out)
    assert row["bit_exact"]
    mixed = report["model"]["precision"]["mixed"]
    assert [p["precision"] for p in mixed["precisions"]] == ["int8", "int16x8", "mixed"]
    assert mixed["met"] == (mixed["missed_by_points"] == 0)
    assert len(mixed["sixteen_bit"]) <= mixed["layers"]
    assert all(s["reason"] for s in mixed["sixteen_bit"])
    markdown = (out / "report.md").read_text()
    assert "## Precision" in markdown and "int16x8" in markdown
    # --max-drop 0 is also the gate: the build fails it only where the plan says it missed
    assert code == (0 if report["gate"]["passed"] is not False else 1), err


def test_an_unknown_precision_is_a_one_line_error(cli):
    code, _, err = cli("build", "--target", "cortex-m7", "--precision", "int4")
    assert code == 2
    (line,) = [x for x in err.splitlines() if x.startswith("Error:")]
    assert "--precision" in line and "int16x8" in line


# Runs every sample twice over: the sequence, then model_reset() and the same sequence again,
# then once more without a reset: the state is then the first two passes'.
RESET_MAIN = """#include <stdio.h>
#include <string.h>

#include "model.h"

int main(int argc, char **argv)
{
    static int8_t samples[64][MODEL_INPUT_BYTES];
    FILE *in, *out;
    int n = 0, pass, i;
    if (argc < 3 || (in = fopen(argv[1], "rb")) == NULL || (out = fopen(argv[2], "wb")) == NULL)
        return 2;
    while (n < 64 && fread(samples[n], 1, MODEL_INPUT_BYTES, in) == MODEL_INPUT_BYTES)
        n++;
    for (pass = 0; pass < 3; pass++) {
        if (pass == 1)
            model_reset();
        for (i = 0; i < n; i++) {
            memcpy(model_input(0), samples[i], MODEL_INPUT_BYTES);
            model_run();
            fwrite(model_output(0), 1, MODEL_OUTPUT_BYTES, out);
        }
    }
    fclose(in);
    return fclose(out);
}
"""


def test_model_reset_starts_a_sequence_again(tmp_path):
    """The state of a streaming SVDF model lives outside the arena between runs: a sequence run
    after model_reset() gives what the first run gave (and TFLite's reference kernels give),
    and the same sequence without a reset gives something else."""
    from svdf_models import stream, svdf_kws

    from edgekit.backends.c import build_host, run_host, write_c_folder
    from edgekit.compiler.codegen import generate_c
    from edgekit.compiler.ir import read_tflite
    from edgekit.compiler.ops import require_supported, select_kernels
    from edgekit.platforms.targets import load_target
    from edgekit.validation.artifacts import reference

    tflite = svdf_kws()
    graph = read_tflite(tflite)
    host = load_target("host")
    require_supported(graph, host)
    cmodel = generate_c(graph, select_kernels(graph, host, "auto"))
    assert "#define MODEL_STATE_BYTES 0" not in cmodel.files["model.h"]
    folder = write_c_folder(cmodel, tmp_path / "src")
    (folder / "main.c").write_text(RESET_MAIN)
    binary = build_host(folder, tmp_path / "bin", sanitize=True)
    rows = stream(tflite, 12)
    outputs = run_host(binary, rows).outputs.reshape(3, len(rows), -1)
    np.testing.assert_array_equal(outputs[0], reference(tflite, rows).outputs)
    np.testing.assert_array_equal(outputs[1], outputs[0])
    assert not np.array_equal(outputs[2], outputs[0])


def test_precision_is_refused_for_a_model_already_quantized_otherwise(cli, tmp_path, tiny_int8):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(tiny_int8)
    code, _, err = cli("build", "--target", "cortex-m7", "--model", path, "--precision",
                       "int16x8", "--out", tmp_path / "out")  # fmt: skip
    assert code == 2 and not (tmp_path / "out").exists()
    (line,) = [x for x in err.splitlines() if x.startswith("Error:")]
    assert "already quantized (int8)" in line and "--precision" in line
