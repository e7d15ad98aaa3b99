"""Models as users bring them (issue 18): the zoo (tests/zoo.py, made with the plain TFLite
converter: no fixed batch, int8 or float I/O, inputs that are not images, two inputs, two
outputs) built with `edgekit build --target T --model FILE` and nothing else, bit-exact on
generated inputs and layer by layer; data of any input shape; two models in one program.
"""

import json

import numpy as np
import pytest

from edgekit.backends.c import build_host, write_c_folder
from edgekit.compiler.codegen import generate_c
from edgekit.compiler.ir import read_tflite, without_shape_computations
from edgekit.compiler.ops import require_supported, select_kernels
from edgekit.platforms.targets import load_target
from edgekit.signature import Signature
from edgekit.validation.artifacts import reference

# each zoo model on one of the three boards in turn (bench/zoo.py builds every pair)
ZOO_BUILDS = [
    ("vww_mobilenet_v1", "cortex-m4"),
    ("ic_resnet8", "cortex-m7"),
    ("kws_ds_cnn", "cortex-m55"),
    ("ad_autoencoder", "cortex-m4"),
    ("conv1d_audio", "cortex-m7"),
    ("mobilenet_v3_small", "cortex-m55"),
    ("efficientnet_mbconv", "cortex-m4"),
    ("detector_head", "cortex-m7"),
    ("two_input", "cortex-m55"),
    ("unet", "cortex-m7"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "target"), ZOO_BUILDS)
def test_zoo_model_builds_bit_exact_with_no_option(name, target, made, cli, tmp_path):
    out = tmp_path / name
    code, _, err = cli("build", "--target", target, "--model", made(name), "--out", out, "--quiet")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    (row,) = [r for r in report["validation"] if r["backend"] == "c"]
    assert row["bit_exact"] and row["inputs"] == 20 and row["max_abs_diff"] == 0
    assert [o["sqnr_db"] for o in row["outputs"]] == [200.0] * len(report["model"]["outputs"])
    assert report["dataset"]["name"] == "generated"
    assert report["accuracy"]["int8_top1"] is None
    assert report["accuracy"]["absent"].startswith("generated inputs")
    ports = report["model"]["inputs"] + report["model"]["outputs"]
    assert all(p["shape"] for p in ports)

    code, _, err = cli("validate", out, "--layers", "--inputs", "1", "--quiet")
    assert code == 0, err
    (row,) = json.loads((out / "report.json").read_text())["validation"]
    assert row["layers_compared"] > 0 and row["first_differing_layer"] is None


def test_a_float_io_model_from_the_converters_defaults_takes_and_gives_floats(made, tmp_path):
    """conv1d_audio is converted without inference_input_type: float32 in and out, with
    QUANTIZE and DEQUANTIZE ops that run in the C like any other."""
    tflite = made("conv1d_audio").read_bytes()
    graph, _ = without_shape_computations(read_tflite(tflite))
    host = load_target("host")
    require_supported(graph, host)
    cmodel = generate_c(graph, select_kernels(graph, host, "auto"))
    header = cmodel.files["model.h"]
    assert "#define MODEL_INPUT0_TYPE float" in header
    assert "#define MODEL_OUTPUT0_TYPE float" in header
    assert "#define MODEL_INPUT0_SHAPE {1, 50, 40}" in header
    signature = Signature.of(tflite)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.5, 1.5, (4, *signature.inputs[0].sample_shape)).astype(np.float32)
    rows = signature.pack([x])
    binary = build_host(write_c_folder(cmodel, tmp_path / "src"), tmp_path / "bin", sanitize=True)
    from edgekit.backends.c import run_host

    run = run_host(binary, rows)
    want = reference(tflite, rows).outputs
    np.testing.assert_array_equal(run.outputs, want)
    (scores,) = signature.unpack(run.outputs)
    assert scores.dtype == np.float32 and np.allclose(scores.sum(axis=1), 1, atol=0.02)


# A program that runs two models: each reads its inputs from the input file in turn, then
# each writes its outputs; every symbol of one starts with kws_, of the other with ad_.
TWO_MODELS_MAIN = """#include <stdio.h>

#include "ad.h"
#include "kws.h"

static int fill(FILE *in, void *at, int32_t bytes)
{
    return fread(at, 1, (size_t)bytes, in) == (size_t)bytes;
}

int main(int argc, char **argv)
{
    FILE *in, *out;
    if (argc < 3 || (in = fopen(argv[1], "rb")) == NULL || (out = fopen(argv[2], "wb")) == NULL)
        return 2;
    while (fill(in, kws_input(0), kws_input_bytes(0)) && fill(in, ad_input(0), ad_input_bytes(0))) {
        kws_run();
        ad_run();
        if (fwrite(kws_output(0), 1, (size_t)kws_output_bytes(0), out) != KWS_OUTPUT0_BYTES ||
            fwrite(ad_output(0), 1, (size_t)ad_output_bytes(0), out) != AD_OUTPUT_BYTES)
            return 1;
    }
    fclose(in);
    return fclose(out);
}
"""


# The same on a Cortex-M board, through semihosting.
TWO_MODELS_FIRMWARE = """#include "ad.h"
#include "ek_board.h"
#include "kws.h"

int main(void)
{
    int file = ek_open_input(EK_INPUT_FILE);
    if (file < 0 || ek_read(file, kws_input(0), (size_t)kws_input_bytes(0)) != 0 ||
        ek_read(file, ad_input(0), (size_t)ad_input_bytes(0)) != 0)
        return 1;
    ek_close(file);
    kws_run();
    ad_run();
    file = ek_open_output(EK_OUTPUT_FILE);
    if (file < 0 || ek_write(file, kws_output(0), (size_t)kws_output_bytes(0)) != 0 ||
        ek_write(file, ad_output(0), (size_t)ad_output_bytes(0)) != 0)
        return 3;
    ek_close(file);
    return 0;
}
"""


def two_models(made, folder, target):
    """The C of kws_ds_cnn (prefix kws) and ad_autoencoder (prefix ad) in one folder, for
    ``target``'s kernels; each model's .tflite by prefix."""
    models = {}
    for prefix, name in (("kws", "kws_ds_cnn"), ("ad", "ad_autoencoder")):
        tflite = made(name).read_bytes()
        graph, _ = without_shape_computations(read_tflite(tflite))
        cmodel = generate_c(graph, select_kernels(graph, target, "auto"), prefix=prefix)
        for file, text in cmodel.files.items():
            existing = folder / file
            assert not existing.exists() or existing.read_text() == text, file
        write_c_folder(cmodel, folder)
        models[prefix] = tflite
    (folder / "main_semihosting.c").unlink()
    (folder / "main.c").unlink()
    return models


def two_model_rows(models, count):
    """Seeded int8 inputs for both models, each sample kws's bytes then ad's; and each
    model's own rows."""
    rng = np.random.default_rng(5)
    rows = {}
    for prefix, tflite in models.items():
        port = Signature.of(tflite).inputs[0]
        rows[prefix] = Signature.of(tflite).pack(
            [rng.integers(-128, 128, (count, *port.sample_shape)).astype(np.int8)]
        )
    return np.concatenate([rows["kws"], rows["ad"]], axis=1), rows


def assert_both_bit_exact(outputs, models, rows):
    kws_bytes = Signature.of(models["kws"]).output_bytes
    for prefix, got in (("kws", outputs[:, :kws_bytes]), ("ad", outputs[:, kws_bytes:])):
        np.testing.assert_array_equal(got, reference(models[prefix], rows[prefix]).outputs)


def test_two_models_with_their_own_prefixes_link_into_one_program(made, tmp_path):
    """--prefix: two models' C folders in one program (sanitized), each bit-exact; the kernel
    files they share are the same files."""
    from edgekit.backends.c import run_host

    folder = tmp_path / "src"
    models = two_models(made, folder, load_target("host"))
    (folder / "main.c").write_text(TWO_MODELS_MAIN)
    binary = build_host(folder, tmp_path / "bin", sanitize=True)
    both, rows = two_model_rows(models, 3)
    assert_both_bit_exact(run_host(binary, both).outputs, models, rows)


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-m55"])
def test_two_models_run_in_one_cortex_m_firmware(made, tmp_path, target):
    """The same two models with the board's fast kernels, linked into one firmware with the
    kernel files once, run in QEMU: both bit-exact."""
    from edgekit.platforms.qemu import boards_dir, build_firmware, run_firmware

    board = load_target(target)
    folder = tmp_path / "src"
    models = two_models(made, folder, board)
    (folder / "main_semihosting.c").write_text(TWO_MODELS_FIRMWARE)
    sources = sorted(folder.glob("*.c"))
    fw = build_firmware(sources, [folder, boards_dir()], board, tmp_path / "fw")
    both, rows = two_model_rows(models, 2)
    outputs = [run_firmware(fw, board, row.tobytes()).output for row in both]
    outputs = np.stack([np.frombuffer(o, np.int8) for o in outputs])
    assert_both_bit_exact(outputs, models, rows)


def test_patches_on_a_model_whose_first_op_cannot_be_patched_say_why(made):
    """detector_head starts with the QUANTIZE of its float input: --patches auto keeps it
    layer by layer; a grid asked for says why it cannot run."""
    from edgekit.compiler.patches import plan_patches
    from edgekit.config import CompileOptions
    from edgekit.errors import EdgekitError

    graph, _ = without_shape_computations(read_tflite(made("detector_head").read_bytes()))
    kernels = select_kernels(graph, load_target("cortex-m7"), "auto")
    assert plan_patches(graph, kernels, CompileOptions()) is None
    with pytest.raises(EdgekitError) as err:
        plan_patches(graph, kernels, CompileOptions(patches="2x2"))
    assert "QUANTIZE" in str(err.value) and "does not run on a part of its input" in str(err.value)


def test_a_bad_prefix_is_refused_in_one_line(cli):
    code, _, err = cli("build", "--target", "host", "--prefix", "Model-1")
    assert code == 2 and "--prefix" in err and "C identifier" in err


def test_data_of_the_models_input_shapes_gives_accuracy_with_labels(made, cli, tmp_path):
    """--data x.npz: an array of the input's exact shape (float, quantized with the input's
    scale) and labels; top-1 is then measured against them."""
    path = made("kws_ds_cnn")
    signature = Signature.of(path.read_bytes())
    port = signature.inputs[0]
    rng = np.random.default_rng(2)
    x = port.quantization.dequantize(rng.integers(-128, 128, (40, *port.sample_shape)))
    data = tmp_path / "kws.npz"
    np.savez(data, x=x, labels=rng.integers(0, 12, 40))
    out = tmp_path / "b"
    code, _, err = cli(
        "build", "--target", "host", "--model", path, "--data", data, "--out", out, "--quiet"
    )
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["accuracy"]["absent"] is None
    assert 0 <= report["accuracy"]["int8_top1"] <= 1
    assert report["dataset"]["origin"] == str(data)
    litert = next(r for r in report["validation"] if r["backend"] == "litert")
    (output,) = litert["outputs"]  # LiteRT's optimized kernels against the reference ones
    assert output["sqnr_db"] > 20 and output["cosine"] > 0.99


def test_data_of_another_shape_is_a_one_line_error(made, cli, tmp_path):
    data = tmp_path / "wrong.npz"
    np.savez(data, x=np.zeros((8, 7, 3), np.float32))
    code, _, err = cli("build", "--target", "host", "--model", made("ad_autoencoder"),
                       "--data", data, "--out", tmp_path / "b")  # fmt: skip
    assert code == 2
    (line,) = [x for x in err.splitlines() if x.startswith("Error:")]
    assert "(N, 640)" in line and "float32 (8, 7, 3)" in line
    assert not (tmp_path / "b").exists()
