import json
import subprocess
import sys

import pytest
from conftest import error_lines


def test_help_and_targets_do_not_import_tensorflow():
    code = (
        "import sys, contextlib, io\n"
        "from edgekit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert main(['targets']) == 0\n"
        "assert 'rpi4' in out.getvalue() and 'cortex-m7' in out.getvalue()\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'ai_edge_litert') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    help_text = subprocess.run(
        [sys.executable, "-m", "edgekit.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("build", "train", "quantize", "report", "targets"):
        assert command in help_text


@pytest.mark.parametrize(
    "args, message",
    [
        (["build", "--target", "nope"], "unknown target 'nope'; valid targets: host, rpi3, rpi4"),
        (["build", "--target", "host", "--alpha", "0.6"], "alpha 0.6 is not supported; use one of"),
        (["build", "--target", "host", "--resolution", "100"], "resolution 100 is not supported"),
        (
            ["build", "--target", "host", "--data", "/no/such/folder"],
            "data '/no/such/folder' not found",
        ),
        (
            ["quantize", "--target", "host", "--model", "x.keras", "--alpha", "1.0"],
            "cannot be combined",
        ),
        (["build", "--target", "host", "--weights", "/no/such.npz"], "edgekit train"),
        (["train", "--target", "host", "--epochs", "0"], "--epochs must be at least 1"),
        (["report", "/no/such/build"], "not a complete quantize output folder"),
        (
            ["build", "--target", "host", "--validate-inputs", "0"],
            "--validate-inputs must be at least 1",
        ),
        (
            ["build", "--target", "host", "--onnx-calibration", "minmax,kl"],
            "--onnx-calibration takes a comma-separated list of minmax, entropy, percentile; "
            "got 'minmax,kl'",
        ),
        (["deploy", "--target", "host", "--host", "pi@b", "--inputs", "0"], "--inputs must be"),
        (["deploy", "/no/such/build", "--target", "host", "--host", "pi@b"], "not a build folder"),
    ],
)
def test_user_mistakes_give_one_error_line_and_exit_2(cli, tmp_path, args, message):
    code, _, err = cli(*args, "--quiet")
    assert code == 2
    lines = error_lines(err)
    assert len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".tflite"])
def test_corrupted_model_file_is_a_user_error(cli, tmp_path, suffix):
    bad = tmp_path / f"model{suffix}"
    bad.write_bytes(b"\x00garbage" * 64)
    out = tmp_path / "out"
    code, _, err = cli("build", "--target", "host", "--model", bad, "--out", out, "--quiet")
    assert code == 2
    [line] = error_lines(err)
    assert str(bad) in line
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [bad.name]  # no temporary folder left


def test_empty_image_folder_is_a_user_error(cli, tmp_path):
    (tmp_path / "images").mkdir()
    code, _, err = cli("build", "--target", "host", "--data", tmp_path / "images", "--quiet")
    assert code == 2 and "no class subfolders" in error_lines(err)[0]


def test_max_drop_gate_fails_the_command_but_keeps_the_report(cli, host_build, tmp_path):
    import shutil

    out, report = host_build
    folder = tmp_path / "copy"
    shutil.copytree(out, folder)
    drop = report["accuracy"]["top1_drop_points"]
    code, stdout, err = cli("report", folder, "--max-drop", drop - 0.5, "--quiet")
    assert code == 1
    assert "more than --max-drop" in error_lines(err)[0]
    saved = json.loads((folder / "report.json").read_text())
    assert saved["gate"] == {"max_drop": drop - 0.5, "passed": False}
    code, stdout, _ = cli("report", folder, "--max-drop", drop + 0.5, "--quiet")
    assert code == 0 and "report.html" in stdout
    assert json.loads((folder / "report.json").read_text())["gate"]["passed"] is True


def test_train_writes_a_checkpoint_that_build_can_use(cli, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(2), 20)
    images = np.zeros((40, 96, 96, 3), np.uint8)
    images[labels == 1, :, 48:] = 255  # class 1: right half bright
    images += rng.integers(0, 40, images.shape, dtype=np.uint8)
    data = tmp_path / "halves.npz"
    np.savez(data, images=images, labels=labels)
    ckpt = tmp_path / "halves.npz.ckpt.npz"
    code, out, err = cli(
        "train", "--target", "cortex-m4", "--data", data, "--epochs", "2", "--out", ckpt, "--quiet"
    )
    assert code == 0, err
    manifest = json.loads(ckpt.with_suffix(".json").read_text())
    assert manifest["command"].startswith("edgekit train --target cortex-m4")
    assert manifest["model"] == {
        "name": "mobilenet_v2",
        "alpha": 0.35,
        "resolution": 96,
        "classes": 2,
    }
    assert len(manifest["train_accuracy"]) == 2 and manifest["eval_samples"] == 8
    code, out, err = cli(
        "build",
        "--target",
        "cortex-m4",
        "--data",
        data,
        "--weights",
        ckpt,
        "--out",
        tmp_path / "b",
        "--quiet",
    )
    assert code == 0, err
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["model"]["weights"] == str(ckpt) and report["model"]["classes"] == 2
    assert report["dataset"]["name"] == "halves"


def test_validate_runs_every_artifact_again_and_compares_every_layer_of_c(
    cli, host_build, tmp_path
):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(host_build[0], folder)
    code, stdout, err = cli("validate", folder, "--inputs", 4, "--layers", "--quiet")
    assert code == 0, err
    rows = {r["backend"]: r for r in json.loads((folder / "report.json").read_text())["validation"]}
    assert set(rows) == {"c", "litert", "tvm", "onnx"}
    assert all(row["inputs"] == 4 for row in rows.values())
    c = rows["c"]
    assert c["bit_exact"] and c["layers_compared"] == 65 and c["first_differing_layer"] is None
    assert "layers_compared" not in rows["litert"]  # runtimes do not dump their layers
    assert "c on host: 4 inputs, bit-exact True" in stdout


def test_validate_exits_1_naming_an_artifact_that_failed_and_clears_it_once_fixed(
    cli, host_build, tmp_path, monkeypatch
):
    import shutil

    from edgekit.backends.litert import LiteRTBackend
    from edgekit.errors import EdgekitError

    folder = tmp_path / "copy"
    shutil.copytree(host_build[0], folder)
    run = LiteRTBackend.run

    def crash(self, *args, **kwargs):
        raise EdgekitError("run_litert.py failed: simulated crash")

    monkeypatch.setattr(LiteRTBackend, "run", crash)
    code, _, err = cli("validate", folder, "--inputs", 2, "--quiet")
    assert code == 1
    assert err.rstrip().splitlines()[-1] == (
        "Error: backend litert failed (validate): run_litert.py failed: simulated crash"
    )
    report = json.loads((folder / "report.json").read_text())
    verdict = {v["backend"]: v["status"] for v in report["verdict"]}
    assert verdict == {"c": "ok", "litert": "failed", "tvm": "ok", "onnx": "ok"}
    assert "litert" not in {r["backend"] for r in report["validation"]}
    assert "<tr class=failed>" in (folder / "report.html").read_text()
    monkeypatch.setattr(LiteRTBackend, "run", run)
    code, _, err = cli("validate", folder, "--inputs", 2, "--quiet")
    assert code == 0, err
    report = json.loads((folder / "report.json").read_text())
    assert report["failures"] == [] and {v["status"] for v in report["verdict"]} == {"ok"}


def test_an_artifact_that_cannot_run_here_is_kept_and_its_validation_skipped(
    host_build, tmp_path, monkeypatch
):
    from edgekit.backends.litert import LiteRTBackend
    from edgekit.config import CompileOptions
    from edgekit.errors import CannotRun
    from edgekit.frontend.data import load_dataset, splits
    from edgekit.pipeline import Log, compile_stage, validate_stage
    from edgekit.platforms.targets import load_target
    from edgekit.quantization import Int8Model

    def cannot(self, *args, **kwargs):
        raise CannotRun("no runtime for this architecture here")

    monkeypatch.setattr(LiteRTBackend, "run", cannot)
    host = load_target("host")
    log = Log(quiet=True)
    tflite = (host_build[0] / "model_int8.tflite").read_bytes()
    backends = {"litert": LiteRTBackend()}
    outcomes = compile_stage(
        backends, Int8Model(tflite), host, options=CompileOptions(), out=tmp_path, log=log
    )
    validate_stage(
        outcomes,
        backends,
        tflite,
        target=host,
        data=splits(load_dataset("digits", 96)).evaluation,
        count=2,
        out=tmp_path,
        log=log,
    )
    stages = {s.name: (s.status, s.detail) for s in log.stages}
    assert stages["validate litert"] == ("skipped", "no runtime for this architecture here")
    [litert] = outcomes
    assert litert.artifact is not None and litert.validation is None and not litert.failures
    assert (tmp_path / "litert" / "artifact.json").is_file()


def test_build_options_reach_the_backends_that_read_them():
    from edgekit.cli import options_from, parser
    from edgekit.config import BuildConfig

    def config(*args):
        return options_from(BuildConfig, parser().parse_args(["build", *args]))

    options = config("--target", "ethos-u55-128", "--optimise", "Size", "--kernels", "ref").compile
    assert (options.optimise, options.kernels, options.force) == ("Size", "ref", False)
    default = config("--target", "host").compile
    assert (default.optimise, default.kernels) == (None, "auto")
    assert config("--target", "host", "--patch-overhead", "35%").compile.patch_overhead == 0.35


def test_every_option_field_is_an_argument_and_a_command_line_round_trip():
    """An option's one home is its dataclass field: the parser is made from the fields, and a
    configuration written back as a command line (as a manifest records it) parses to itself."""
    import dataclasses
    import shlex

    from edgekit.cli import options_from, parser
    from edgekit.config import BuildConfig, CompileOptions, ModelSpec, command_line, flag

    config = BuildConfig(
        "cortex-m7",
        model=ModelSpec(alpha=0.5, resolution=128),
        validate_inputs=3,
        onnx_calibration=("entropy",),
        compile=CompileOptions(patches="2x2", patch_overhead=0.3, kernels="ref", force=True),
    )
    words = shlex.split(command_line("build", config))[1:]
    assert options_from(BuildConfig, parser().parse_args(words)) == config
    build_help = subprocess.run(
        [sys.executable, "-m", "edgekit.cli", "build", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for cls in (BuildConfig, ModelSpec, CompileOptions):
        for f in dataclasses.fields(cls):
            if "option" in f.metadata:
                assert flag(f) in build_help, f.name


def test_a_backend_that_raises_anything_is_only_that_backend_failing(
    cli, host_build, tmp_path, monkeypatch
):
    """A bug in one backend (here a KeyError) fails that backend: the others still run, the
    report is written, the command exits 1, and the traceback is in the folder's build.log."""
    import shutil

    from edgekit.backends.litert import LiteRTBackend
    from edgekit.config import CompileOptions
    from edgekit.pipeline import Log, compile_stage
    from edgekit.platforms.targets import load_target
    from edgekit.quantization import Int8Model

    def broken(self, *args, **kwargs):
        raise KeyError("input_1")

    folder = tmp_path / "copy"
    shutil.copytree(host_build[0], folder)
    monkeypatch.setattr(LiteRTBackend, "run", broken)
    code, out, err = cli("validate", folder, "--inputs", 2, "--quiet")
    assert code == 1
    assert error_lines(err) == [
        "Error: backend litert failed (validate): internal error in edgekit (KeyError: "
        "'input_1'); this is a bug, its traceback is in build.log"
    ]
    assert "Traceback" in (folder / "build.log").read_text()
    report = json.loads((folder / "report.json").read_text())
    verdict = {v["backend"]: v["status"] for v in report["verdict"]}
    assert verdict == {"c": "ok", "litert": "failed", "tvm": "ok", "onnx": "ok"}
    assert "c on host: 2 inputs, bit-exact True" in out

    monkeypatch.setattr(LiteRTBackend, "compile", broken)
    tflite = (host_build[0] / "model_int8.tflite").read_bytes()
    work = tmp_path / "compiled"
    work.mkdir()
    from edgekit.backends.c import CBackend

    outcomes = compile_stage(
        {"litert": LiteRTBackend(), "c": CBackend()},
        Int8Model(tflite),
        load_target("host"),
        options=CompileOptions(patches="off"),
        out=work,
        log=Log(quiet=True),
    )
    litert, c = outcomes
    assert litert.artifact is None and "KeyError" in litert.failures[0]["reason"]
    assert c.artifact is not None and not c.failures
    assert sorted(p.name for p in work.iterdir()) == ["build.log", "c"]


def test_out_under_a_file_is_one_line_and_exit_2(cli, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    code, _, err = cli("build", "--target", "cortex-m7", "--out", tmp_path / "afile" / "sub")
    assert code == 2
    assert len(error_lines(err)) == 1 and "Traceback" not in err
    assert "afile" in error_lines(err)[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
