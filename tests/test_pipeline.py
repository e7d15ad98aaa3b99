import json
from dataclasses import asdict

import pytest

from edgekit.pipeline import BuildConfig, ModelSpec, build, quantize_only, report_only


def test_build_writes_every_artifact_and_the_report_contract(host_build):
    out, report = host_build
    for name in (
        "model_float.keras",
        "model_int8.tflite",
        "build.json",
        "report.json",
        "report.md",
        "report.html",
    ):
        assert (out / name).stat().st_size > 0
    saved = json.loads((out / "report.json").read_text())
    for key in (
        "edgekit_version",
        "target",
        "model",
        "dataset",
        "accuracy",
        "artifacts",
        "validation",
        "benchmark",
    ):
        assert key in saved
    assert saved["target"] == "host"
    model = saved["model"]
    assert (model["name"], model["alpha"], model["resolution"], model["classes"]) == (
        "mobilenet_v2",
        0.35,
        96,
        10,
    )
    assert model["weights"] == "digits"
    assert model["params"] == pytest.approx(400e3, rel=0.05)
    assert model["macs"] == pytest.approx(10.7e6, rel=0.02)
    assert saved["dataset"] == {
        **saved["dataset"],
        "name": "digits",
        "calibration_samples": 128,
        "eval_samples": 359,
    }
    backends = {a["backend"]: a for a in saved["artifacts"]}
    assert backends["tflite"]["precision"] == "int8"
    assert backends["keras"]["precision"] == "float32"
    assert backends["tflite"]["bytes"] == (out / "model_int8.tflite").stat().st_size
    assert (out / backends["litert"]["path"] / "run_litert.py").is_file()
    assert [s["name"] for s in saved["stages"]] == [
        "data",
        "model",
        "quantize",
        "quantize onnx",
        "evaluate",
        "evaluate onnx",
        "compile c",
        "compile litert",
        "compile tvm",
        "compile onnx",
        "validate c",
        "validate litert",
        "validate tvm",
        "validate onnx",
        "float32",
    ]
    assert saved["failures"] == []
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no backend left aside
    assert {v["backend"]: v["bit_exact"] for v in saved["validation"]}["c"] is True
    for row in saved["validation"]:  # checked against the float model and the labels too
        assert row["float_top1_agreement"] >= 0.9 and row["top1"] >= 0.9
    # the host target runs natively: each artifact's latency is this machine's, and measured
    latency = {b["backend"]: b for b in saved["benchmark"]}
    assert all(latency[name]["latency_ms"] > 0 for name in ("c", "litert", "tvm", "onnx"))
    assert latency["c"]["latency_inferences"] == 20
    assert "Fastest where measured:" in (out / "report.md").read_text()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_shipped_checkpoint_is_accurate_in_float_and_int8(host_build):
    acc = host_build[1]["accuracy"]
    assert acc["float_top1"] >= 0.95
    assert acc["top1_drop_points"] <= 1.0
    assert acc["top1_agreement"] >= 0.98
    assert acc["logits_sqnr_db"] > 15
    assert sum(map(sum, acc["confusion_matrix"]["int8"])) == 359


def test_quantize_then_report_reproduces_the_build(host_build, tmp_path):
    _, report = host_build
    folder = tmp_path / "q"
    quantize_only(BuildConfig(target="host"), folder, quiet=True)
    assert not (folder / "report.json").exists()
    again = report_only(folder, max_drop=None, quiet=True)
    assert again["accuracy"]["int8_top1"] == report["accuracy"]["int8_top1"]
    assert again["accuracy"]["float_top1"] == report["accuracy"]["float_top1"]
    assert (folder / "report.html").is_file()


def test_int8_tflite_alone_is_reported_without_a_float_reference(host_build, tmp_path):
    out, report = host_build
    alone = build(
        BuildConfig(
            target="host", model=ModelSpec(path=str(out / "model_int8.tflite")), data="digits"
        ),
        tmp_path / "int8",
        quiet=True,
    )
    acc = alone["accuracy"]
    assert acc["int8_top1"] == report["accuracy"]["int8_top1"]  # same model, same data
    assert acc["float_top1"] is None and acc["top1_agreement"] is None and acc["layers"] == []
    stages = {s["name"]: s["status"] for s in alone["stages"]}
    assert stages["quantize"] == "skipped"
    assert alone["dataset"]["calibration_samples"] == 0
    assert not (tmp_path / "int8" / "model_float.keras").exists()


def test_users_keras_model_is_quantized_and_compared(host_build, tmp_path):
    out, report = host_build
    user = build(
        BuildConfig(
            target="cortex-m7", model=ModelSpec(path=str(out / "model_float.keras")), data="digits"
        ),
        tmp_path / "user",
        quiet=True,
    )
    assert user["model"]["source"].endswith("model_float.keras")
    assert user["model"]["alpha"] is None and user["model"]["resolution"] == 96
    assert user["accuracy"]["float_top1"] == pytest.approx(report["accuracy"]["float_top1"])
    assert len(user["accuracy"]["layers"]) == len(report["accuracy"]["layers"])


def test_failed_build_leaves_the_previous_output_untouched(tmp_path):
    from edgekit.errors import EdgekitError

    out = tmp_path / "out"
    out.mkdir()
    (out / "marker").write_text("previous build")
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a model")
    with pytest.raises(EdgekitError):
        build(BuildConfig(target="host", model=ModelSpec(path=str(bad))), out, quiet=True)
    assert [p.name for p in out.iterdir()] == ["marker"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.keras", "out"]


def test_users_saved_model_is_quantized_and_reported_again_from_its_folder(host_build, tmp_path):
    import keras
    import tensorflow as tf

    out, report = host_build
    saved = tmp_path / "saved"
    model = keras.models.load_model(out / "model_float.keras")
    model.export(
        saved,
        format="tf_saved_model",
        verbose=False,
        input_signature=[tf.TensorSpec([None, 96, 96, 3], tf.float32)],
    )
    folder = tmp_path / "sm"
    config = BuildConfig(target="host", model=ModelSpec(path=str(saved)), data="digits")
    first = build(config, folder, quiet=True)
    assert first["accuracy"]["float_top1"] == pytest.approx(report["accuracy"]["float_top1"])
    assert abs(first["accuracy"]["int8_top1"] - report["accuracy"]["int8_top1"]) <= 0.01
    assert first["model"]["params"] is None  # an opaque SavedModel has no layer view
    assert not (folder / "model_float.keras").exists()
    again = report_only(folder, max_drop=None, quiet=True)
    assert again["accuracy"]["float_top1"] == first["accuracy"]["float_top1"]


def test_onnx_calibration_methods_are_chosen_and_survive_build_json():
    from edgekit.config import ONNX_METHODS
    from edgekit.quantization.onnx_ptq import METHODS

    assert ONNX_METHODS == METHODS
    config = BuildConfig(target="rpi4", onnx_calibration=["entropy"])
    assert config.onnx_calibration == ("entropy",)
    assert BuildConfig.from_dict(json.loads(json.dumps(asdict(config)))) == config


def test_a_target_naming_a_backend_edgekit_does_not_have_is_one_error():
    """The backend registry is the one list of backends: a target file naming another fails
    before anything is built, saying which backends exist."""
    from dataclasses import replace

    import pytest

    from edgekit.errors import EdgekitError
    from edgekit.pipeline import Log, selected_backends
    from edgekit.platforms.targets import load_target

    target = replace(load_target("cortex-m7"), backends=("c", "tflm"))
    with pytest.raises(EdgekitError, match="names backend 'tflm'.*known: c, litert, tvm"):
        selected_backends(BuildConfig(target="cortex-m7"), target, Log(quiet=True))
