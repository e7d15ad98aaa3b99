"""The README's commands, run as a user runs them: the installed ``edgekit`` console script in a
subprocess, started in a working directory of its own, with relative output folders (the default
``build/TARGET`` included) and a temporary folder of its own, which must be empty afterwards."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EDGEKIT = Path(sys.executable).with_name("edgekit")
# a quick host build: every backend, fewer calibration samples and validation inputs
QUICK = ["--calibration-samples", "16", "--onnx-calibration", "minmax", "--validate-inputs", "3"]


def edgekit(args: list[str], cwd: Path, tmp: Path, path: str | None = None, timeout: int = 1800):
    """Run the console script in ``cwd`` with ``TMPDIR=tmp`` (and ``PATH=path`` if given)."""
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [str(EDGEKIT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def left_behind(tmp: Path) -> list[str]:
    """What the run left in its temporary folder. ONNX Runtime keeps a session-id file there
    (``.ses``, 51 bytes, rewritten by every ORT process): not edgekit's, and not a folder."""
    return sorted(p.name for p in tmp.iterdir() if not (p.name == ".ses" and p.is_file()))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_a_relative_out_with_a_space_from_another_folder_runs_every_backend(tmp_path):
    work = tmp_path / "a user's folder"
    work.mkdir()
    done = edgekit(
        ["build", "--target", "host", "--out", "my builds/host", *QUICK], work, tmp_path / "tmp"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = work / "my builds" / "host"
    report = json.loads((out / "report.json").read_text())
    rows = {r["backend"]: r for r in report["validation"]}
    assert set(rows) == {"c", "litert", "tvm", "onnx"}
    assert rows["c"]["bit_exact"] and all(r["inputs"] == 3 for r in rows.values())
    assert report["failures"] == []
    assert [v["status"] for v in report["verdict"]] == ["ok"] * 4
    assert f"{Path('my builds/host/report.html')}:" in done.stdout
    # nothing left aside: no temporary build folder, no runner's temporary folder
    assert [p.name for p in (work / "my builds").iterdir()] == ["host"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert left_behind(tmp_path / "tmp") == []


def test_failed_backends_exit_1_named_last_and_the_rest_is_written(tmp_path):
    """With no C compiler on PATH, the c backend cannot build and TVM cannot link: those two
    fail, LiteRT and ONNX Runtime still run, the report is written, the exit status is 1."""
    done = edgekit(
        ["build", "--target", "host", *QUICK],
        tmp_path,
        tmp_path / "tmp",
        path=str(EDGEKIT.parent),  # the virtual environment's programs only: no cc, no gcc
    )
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.rstrip().splitlines()[-2:]
    assert last == error_lines(done.stderr)
    assert last[0].startswith("Error: backend c failed (compile): no C compiler found")
    assert last[1].startswith("Error: backend tvm failed (compile): TVM could not link")
    out = tmp_path / "build" / "host"  # the default folder, relative to where it was started
    report = json.loads((out / "report.json").read_text())
    assert {v["backend"]: v["status"] for v in report["verdict"]} == {
        "c": "failed",
        "litert": "ok",
        "tvm": "failed",
        "onnx": "ok",
    }
    assert not (out / "c").exists() and not (out / "tvm").exists()
    assert (out / "litert" / "run_litert.py").is_file()
    html = (out / "report.html").read_text()
    assert html.count("<tr class=failed>") == 2
    assert left_behind(tmp_path / "tmp") == []


def test_make_demo_is_the_command_the_demo_test_runs():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^TARGET \?= rpi4$", makefile, re.M)
    [recipe] = re.findall(r"^demo:.*\n\t(.+)$", makefile, re.M)
    assert recipe == "$(BIN)/edgekit build --target $(TARGET)"


@pytest.mark.slow
def test_make_demo_builds_every_raspberry_pi_backend_into_build_rpi4(tmp_path):
    """``make demo``'s command as a new user runs it (no options, the default folder): every
    artifact executed on aarch64 under emulation, int8 within a point of float."""
    done = edgekit(["build", "--target", "rpi4"], tmp_path, tmp_path / "tmp", timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "build" / "rpi4"
    report = json.loads((out / "report.json").read_text())
    model, acc = report["model"], report["accuracy"]
    assert (model["alpha"], model["resolution"], model["weights"]) == (1.0, 224, "digits")
    assert acc["float_top1"] >= 0.95 and abs(acc["float_top1"] - acc["int8_top1"]) <= 0.01
    assert all(layer["sqnr_db"] > 5 for layer in acc["layers"])
    rows = {r["backend"]: r for r in report["validation"]}
    assert set(rows) == {"c", "litert", "tvm", "onnx"}
    assert report["failures"] == [] and [v["status"] for v in report["verdict"]] == ["ok"] * 4
    assert rows["c"]["bit_exact"] and rows["c"]["runner"] == "qemu-aarch64 -cpu cortex-a72"
    for name in ("litert", "tvm", "onnx"):
        assert rows[name]["runner"].startswith("qemu-aarch64 -cpu cortex-a72"), name
    for name, row in rows.items():
        assert row["inputs"] == 20 and row["float_top1_agreement"] >= 0.9, name
        assert row["top1_agreement"] >= (0.9 if name == "onnx" else 0.99), name
    # ONNX Runtime's own quantization on aarch64: not TFLite's bytes, the same answers
    assert not rows["onnx"]["bit_exact"]
    assert [m["method"] for m in report["onnx"]["methods"]] == ["minmax", "entropy", "percentile"]
    assert all(m["top1"] >= 0.95 for m in report["onnx"]["methods"])
    # emulated: no latency is the board's, so none is reported, and the report says why
    assert all(b["latency_ms"] is None for b in report["benchmark"])
    assert "Latency not measured" in (out / "report.md").read_text()
    precisions = {a["backend"]: a["precision"] for a in report["artifacts"]}
    assert "float32-simulated" in precisions["tvm"]
    assert left_behind(tmp_path / "tmp") == []
