"""The foundation's acceptance: the default build of each target family, through the CLI."""

import json

import pytest

from edgekit.runtime import interpreter


@pytest.mark.slow
@pytest.mark.parametrize("target, alpha, resolution", [("rpi4", 1.0, 224), ("cortex-m7", 0.35, 96)])
def test_default_build_keeps_int8_within_a_point_of_float(cli, tmp_path, target, alpha, resolution):
    out = tmp_path / target
    code, stdout, err = cli(
        "build",
        "--target",
        target,
        "--out",
        out,
        "--max-drop",
        1,
        "--validate-inputs",
        10,
        "--quiet",
    )
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    model, acc = report["model"], report["accuracy"]
    assert (model["alpha"], model["resolution"], model["weights"]) == (alpha, resolution, "digits")
    assert acc["float_top1"] >= 0.95
    assert abs(acc["float_top1"] - acc["int8_top1"]) <= 0.01
    assert report["gate"] == {"max_drop": 1, "passed": True}
    ops = interpreter((out / "model_int8.tflite").read_bytes())._get_ops_details()
    assert len(acc["layers"]) == len(ops)  # a per-layer SQNR for every quantized layer
    assert all(layer["sqnr_db"] > 5 for layer in acc["layers"])
    if target == "rpi4":  # every artifact executed on aarch64 under emulation
        rows = {r["backend"]: r for r in report["validation"]}
        assert set(rows) == {"c", "litert", "tvm", "onnx"}
        assert rows["c"]["bit_exact"] and rows["c"]["runner"] == "qemu-aarch64 -cpu cortex-a72"
        for name in ("litert", "tvm"):
            assert rows[name]["runner"].startswith("qemu-aarch64 -cpu cortex-a72")
            assert rows[name]["top1_agreement"] >= 0.99 and rows[name]["inputs"] == 10
        # ONNX Runtime's own quantization on aarch64: not TFLite's bytes, the same answers
        assert rows["onnx"]["runner"].startswith("qemu-aarch64") and not rows["onnx"]["bit_exact"]
        assert rows["onnx"]["top1_agreement"] >= 0.9
        for name in ("c", "litert", "tvm", "onnx"):
            assert rows[name]["float_top1_agreement"] >= 0.9
        # emulated: no latency is the board's, so none is reported, and the report says why
        assert all(b["latency_ms"] is None for b in report["benchmark"])
        assert "Latency not measured" in (out / "report.md").read_text()
        precisions = {a["backend"]: a["precision"] for a in report["artifacts"]}
        assert "float32-simulated" in precisions["tvm"]
        assert [m["method"] for m in report["onnx"]["methods"]] == [
            "minmax",
            "entropy",
            "percentile",
        ]
        assert all(m["top1"] >= 0.95 for m in report["onnx"]["methods"])
    if target == "cortex-m7":  # the c backend: firmware proven in QEMU
        [row] = report["validation"]
        assert row["backend"] == "c" and row["runner"] == "qemu-system-arm mps2-an500"
        assert row["bit_exact"] and row["inputs"] == 10 and row["max_abs_diff"] == 0
        [bench] = report["benchmark"]
        assert bench["instructions"] > 10e6 and len(bench["layers"]) == len(ops)
        c = next(a for a in report["artifacts"] if a["backend"] == "c")
        assert c["fits"]["ok"] and c["arena_bytes"] < c["arena_lower_bound"]
        assert (out / "c" / "firmware" / "firmware.elf").is_file()
        assert (out / "c" / "src" / "model.c").is_file()
