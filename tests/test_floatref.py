"""int8 against float32 where the model runs (edgekit.floatref): LiteRT's two models timed on
this host for the host and Linux targets; on a microcontroller the float model's C on the board
(the acceptance build in test_e2e.py checks that one); and a quantized .tflite alone, which has
no float model to run, says so."""

from edgekit import floatref
from edgekit.frontend.modelio import SourceModel
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.signature import Signature


def test_host_build_times_float32_against_int8_on_this_cpu(host_build):
    out, report = host_build
    section = report["float32"]
    assert section["where"] == "host" and section["reason"] is None
    assert "LiteRT" in section["runner"] and "this host" in section["runner"]
    f32, int8 = section["float32"], section["int8"]
    assert f32["latency_ms"] > 0 and int8["latency_ms"] > 0
    assert int8["flash_bytes"] == (out / "model_int8.tflite").stat().st_size
    assert f32["flash_bytes"] > 2 * int8["flash_bytes"]  # float32 weights, four bytes each
    markdown = (out / "report.md").read_text()
    assert "## int8 against float32" in markdown and "Latency on this host" in markdown


def test_a_quantized_tflite_alone_has_no_float_model(host_build):
    tflite = (host_build[0] / "model_int8.tflite").read_bytes()
    source = SourceModel(
        name="model",
        float_model=None,
        tflite=tflite,
        signature=Signature.of(tflite),
        source="model.tflite",
        weights="trained",
    )
    model = Int8Model(tflite)
    section = floatref.compare(source, model, load_target("cortex-m7"), None, None, (None, None))
    assert section["float32"] is None and section["int8"]["instructions"] is None
    assert section["reason"] == (
        "model.tflite is a quantized .tflite: there is no float model to run"
    )
    assert floatref.summary(section) == section["reason"]
    # an NPU's figures are Vela's (its own section): no float32 comparison there
    npu = load_target("ethos-u55-128")
    assert floatref.compare(source, model, npu, None, None, (None, None)) is None
