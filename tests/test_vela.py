"""The vela backend: a real ``edgekit build --target ethos-u55-128`` and Vela itself, run again
here on the same int8 model, must give the same figures; the other Ethos-U targets compile
the build's model; the C array is the compiled model and builds as firmware C."""

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.backends.vela import STEM, VelaBackend, read_operators
from edgekit.config import CompileOptions
from edgekit.errors import CannotRun
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model

VELA = Path(sys.executable).with_name("vela")  # ethos-u-vela is a dependency: never skipped


@pytest.fixture(scope="module")
def npu_build(tmp_path_factory):
    """``edgekit build --target ethos-u55-128`` on the built-in default (few validation inputs:
    only the c artifact runs, in QEMU)."""
    from edgekit.pipeline import BuildConfig, build

    out = tmp_path_factory.mktemp("ethos") / "build"
    report = build(BuildConfig(target="ethos-u55-128", validate_inputs=2), out, quiet=True)
    return out, report


def vela_itself(model: Path, target_name: str, out: Path, optimise: str = "Performance"):
    """Vela's CLI run by hand with the target file's settings: its summary row and layers."""
    npu = load_target(target_name).npu
    subprocess.run(
        [str(VELA), str(model), "--accelerator-config", npu.accelerator, "--config",
         "Arm/vela.ini", "--system-config", npu.system_config, "--memory-mode",
         npu.memory_mode, "--optimise", optimise, "--verbose-performance",
         "--output-dir", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    stem = model.stem
    with open(out / f"{stem}_summary_{npu.system_config}.csv", newline="") as f:
        summary = next(csv.DictReader(f))
    with open(out / f"{stem}_per-layer.csv", newline="") as f:
        layers = list(csv.DictReader(f))
    return summary, layers


def assert_same_figures(vela: dict, summary: dict, layers: list[dict]) -> None:
    assert vela["estimates"] is True
    assert vela["cycles_total"] == int(summary["cycles_total"])
    assert vela["cycles_npu"] == int(summary["cycles_npu"])
    assert vela["macs"] == int(summary["nn_macs"])
    assert vela["core_clock_hz"] == float(summary["core_clock"])
    assert vela["inference_ms"] == pytest.approx(float(summary["inference_time"]) * 1000)
    assert vela["inference_ms"] == pytest.approx(
        vela["cycles_total"] / vela["core_clock_hz"] * 1000
    )
    for key, column in (
        ("sram_bytes", "sram_memory_used"),
        ("dram_bytes", "dram_memory_used"),
        ("off_chip_flash_bytes", "off_chip_flash_memory_used"),
    ):
        assert vela[key] == round(float(summary[column]) * 1024)
    assert [layer["cycles"] for layer in vela["layers"]] == [int(r["Op Cycles"]) for r in layers]
    assert [layer["macs"] for layer in vela["layers"]] == [int(r["MAC Count"]) for r in layers]
    assert [layer["target"] for layer in vela["layers"]] == [r["Target"] for r in layers]


def vela_row(report: dict) -> dict:
    return next(a for a in report["artifacts"] if a["backend"] == "vela")


def test_report_json_carries_vela_s_own_figures(npu_build, tmp_path):
    out, report = npu_build
    summary, layers = vela_itself(out / "model_int8.tflite", "ethos-u55-128", tmp_path)
    row = vela_row(json.loads((out / "report.json").read_text()))
    assert_same_figures(row["vela"], summary, layers)
    assert row["vela"]["accelerator"] == "ethos-u55-128"
    assert row["vela"]["system_config"] == "Ethos_U55_High_End_Embedded"
    assert row["vela"]["memory_mode"] == "Shared_Sram"
    assert row["ram_bytes"] == row["vela"]["sram_bytes"]
    assert row["flash_bytes"] == (out / "vela" / f"{STEM}_vela.tflite").stat().st_size
    assert row["fits"]["ok"] is True
    # MobileNetV2's int8 ops all map to the NPU: one ethos-u op, nothing left for the CPU
    assert row["vela"]["npu_operators"] > 0 and row["vela"]["cpu_operators"] == 0
    assert row["vela"]["cpu_fallback"] == []
    assert row["vela"]["compiled_ops"] == {"CUSTOM:ethos-u": 1}


def test_the_npu_artifact_is_skipped_not_failed_and_the_c_firmware_is_checked(npu_build):
    _, report = npu_build
    verdict = {r["backend"]: r for r in report["verdict"]}
    assert verdict["vela"]["status"] == "skipped"
    assert "QEMU has no Ethos-U model" in verdict["vela"]["reason"]
    assert verdict["c"]["status"] == "ok" and verdict["c"]["bit_exact"] is True
    assert report["failures"] == []
    assert report["accuracy"]["int8_top1"] is not None  # the int8 reference figures stay


def test_report_pages_call_vela_s_figures_estimates(npu_build):
    out, report = npu_build
    vela = vela_row(report)["vela"]
    html, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    for page in (html, md):
        assert "Ethos-U NPU: Vela estimates for ethos-u55-128" in page
        assert "not measurements" in page
        assert f"{vela['cycles_total']:,}" in page
        assert f"{vela['inference_ms']:.3f} ms at 500 MHz" in page
    assert f"All {len(vela['layers'])} rows" in html  # the per-layer estimates, folded


def test_the_c_array_is_the_compiled_model_and_builds_as_firmware_c(npu_build, tmp_path):
    folder = npu_build[0] / "vela"
    compiled = (folder / f"{STEM}_vela.tflite").read_bytes()
    source = (folder / "model_vela.c").read_text()
    body = source[source.index("{") :]
    assert bytes(int(b, 16) for b in re.findall(r"0x([0-9a-f]{2})", body)) == compiled
    assert f"EK_MODEL_VELA_LEN {len(compiled)}u" in (folder / "model_vela.h").read_text()
    gcc = shutil.which("arm-none-eabi-gcc")
    assert gcc, "arm-none-eabi-gcc is missing: 'make setup' installs it (gcc-arm-none-eabi)"
    flags = ["-mcpu=cortex-m55", "-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c"]
    obj = tmp_path / "model_vela.o"
    subprocess.run([gcc, *flags, str(folder / "model_vela.c"), "-o", str(obj)], check=True)
    readme = (folder / "README.md").read_text()
    assert "AddEthosU" in readme and "ETHOSU_ARCH=u55" in readme


@pytest.mark.parametrize("name", ["ethos-u55-256", "ethos-u65-256"])
def test_the_other_npu_targets_compile_with_vela_s_figures(npu_build, tmp_path, name):
    model = npu_build[0] / "model_int8.tflite"
    target = load_target(name)
    artifact = VelaBackend().compile(
        Int8Model(model.read_bytes(), None), target, tmp_path / "vela", CompileOptions()
    )
    summary, layers = vela_itself(model, name, tmp_path / "by-hand")
    vela = artifact.details["vela"]
    assert_same_figures(vela, summary, layers)
    assert vela["accelerator"] == name
    reference = vela_row(npu_build[1])["vela"]  # the same model on ethos-u55-128
    assert vela["macs"] == reference["macs"]
    if name == "ethos-u55-256":  # twice the MACs per cycle, the same system: fewer NPU cycles
        assert vela["cycles_npu"] < reference["cycles_npu"]
    else:  # U65 High End: 1 GHz, the tensor arena and weights in DRAM
        assert vela["core_clock_hz"] == 1e9 and vela["dram_bytes"] > 0
        assert vela["feature_map_storage"] == "DRAM"
    with pytest.raises(CannotRun, match="QEMU has no Ethos-U model"):
        VelaBackend().run(artifact, target, None)


def test_optimise_size_is_passed_to_vela(npu_build, tmp_path):
    model = npu_build[0] / "model_int8.tflite"
    artifact = VelaBackend().compile(
        Int8Model(model.read_bytes(), None),
        load_target("ethos-u55-128"),
        tmp_path / "vela",
        CompileOptions(optimise="Size"),
    )
    vela = artifact.details["vela"]
    assert "--optimise Size" in vela["command"] and vela["optimise"] == "Size"
    summary, layers = vela_itself(model, "ethos-u55-128", tmp_path / "by-hand", "Size")
    assert_same_figures(vela, summary, layers)
    # Size trades speed for memory: less SRAM than the build's Performance schedule
    assert vela["sram_bytes"] < vela_row(npu_build[1])["vela"]["sram_bytes"]


def test_cpu_fallback_ops_are_read_by_name_from_vela_s_listing():
    # the lines Vela's --show-cpu-operations prints (stats_writer: "   KIND: OP = NAME (...)")
    stdout = (
        "CPU operators = 1 (33.3%)\n"
        "   CPU: Tanh = model/act/Tanh (outputs [1, 1, 1, 10])\n"
        "NPU operators = 2 (66.7%)\n"
        "   NPU: Conv2D = model/conv/Conv2D (outputs [1, 8, 8, 16])\n"
        "   NPU: Add = model/add/Add (outputs [1, 8, 8, 16])\n"
    )
    assert read_operators(stdout) == {
        "npu_operators": 2,
        "cpu_operators": 1,
        "cpu_fallback": [{"op": "Tanh", "name": "model/act/Tanh"}],
    }
