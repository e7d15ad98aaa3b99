"""The foundation's acceptance for microcontrollers: the default cortex-m7 build, through the CLI
(the Raspberry Pi default is ``make demo``'s test in test_commands.py)."""

import json

import pytest

from edgekit.interpreter import interpreter


@pytest.mark.slow
def test_default_build_keeps_int8_within_a_point_of_float(cortex_m7_build):
    out, code, err = cortex_m7_build  # edgekit build --target cortex-m7 --max-drop 1 ...
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    model, acc = report["model"], report["accuracy"]
    assert (model["alpha"], model["resolution"], model["weights"]) == (0.35, 96, "digits")
    assert acc["float_top1"] >= 0.95
    assert abs(acc["float_top1"] - acc["int8_top1"]) <= 0.01
    assert report["gate"] == {"max_drop": 1, "passed": True}
    ops = interpreter((out / "model_int8.tflite").read_bytes())._get_ops_details()
    assert len(acc["layers"]) == len(ops)  # a per-layer SQNR for every quantized layer
    assert all(layer["sqnr_db"] > 5 for layer in acc["layers"])
    # the c backend: firmware proven in QEMU
    [row] = report["validation"]
    assert row["backend"] == "c" and row["runner"] == "qemu-system-arm mps2-an500"
    assert row["bit_exact"] and row["inputs"] == 10 and row["max_abs_diff"] == 0
    [bench] = report["benchmark"]
    c = next(a for a in report["artifacts"] if a["backend"] == "c")
    assert c["fits"]["ok"] and c["arena_bytes"] < c["arena_lower_bound"]
    # the fastest plan that fits the board's 320 KiB of RAM: layer by layer (issue 20), every
    # layer counted
    assert "patches" not in c and c["arena_bytes"] == 130_176
    assert bench["instructions"] > 10e6 and len(bench["layers"]) == len(ops)
    # the float model's C on the same board (issue 20): its figures beside int8's
    float32 = report["float32"]
    assert float32["where"] == "board" and float32["reason"] is None
    f32, int8 = float32["float32"], float32["int8"]
    assert int8["instructions"] == bench["instructions"] and int8["fits"]
    assert f32["instructions"] > 3 * int8["instructions"]
    # float32 activations take four times int8's bytes, the float kernels' own scratch beside
    assert f32["arena_bytes"] >= 4 * int8["arena_bytes"] and not f32["fits"]
    assert f32["max_abs_diff"] < 1e-4
    assert (out / "c" / "firmware" / "firmware.elf").is_file()
    assert (out / "c" / "src" / "model.c").is_file()
