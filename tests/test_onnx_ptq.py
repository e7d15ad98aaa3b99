"""The ONNX backend on the shipped MobileNetV2 0.35@96 digits model: export, ORT static int8
quantization with each calibration method, accuracy, and the precision ORT really runs in."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgekit.errors import CannotRun, EdgekitError
from edgekit.frontend.data import load_splits, preprocess
from edgekit.quantization.onnx_ptq import METHODS, quantize_onnx
from edgekit.templates.run_onnxruntime import int8_path
from edgekit.validation.onnx import host_int8_path


@pytest.fixture(scope="module")
def model(host_build):
    import keras

    return keras.models.load_model(host_build[0] / "model_float.keras")


@pytest.fixture(scope="module")
def data(model):
    return load_splits("digits", [tuple(model.input_shape[1:])])


@pytest.fixture(scope="module")
def section(host_build):
    """The onnx stage of the host build (its target lists onnx): the folder and report block."""
    out, report = host_build
    return out, report["onnx"]


def rows(section):
    return {row["method"]: row for row in section[1]["methods"]}


def test_float_onnx_matches_keras(model, data, section, host_build):
    import onnxruntime as ort

    out, block = section
    images = preprocess(data.evaluation.images[:32])
    session = ort.InferenceSession(
        str(out / block["float_path"]), providers=["CPUExecutionProvider"]
    )
    (name,) = [i.name for i in session.get_inputs()]
    assert session.get_inputs()[0].shape == [1, 96, 96, 3]
    got = np.concatenate([session.run(None, {name: x[None]})[0] for x in images])
    np.testing.assert_allclose(got, model.predict(images, verbose=0), rtol=0, atol=1e-4)
    assert block["float_top1"] == host_build[1]["accuracy"]["float_top1"]


@pytest.mark.parametrize("method", METHODS)
def test_each_method_gives_an_int8_qdq_model_with_per_channel_weights(section, method):
    out, _ = section
    graph = onnx.load(out / rows(section)[method]["path"]).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {o: node for node in graph.node for o in node.output}
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    for q in (node for node in graph.node if node.op_type == "QuantizeLinear"):
        assert weights[q.input[2]].dtype == np.int8  # int8 activations
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert len(convs) == 52
    for conv in convs:
        dq = producer[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        kernel, scale = weights[dq.input[0]], weights[dq.input[1]]
        assert kernel.dtype == np.int8
        assert scale.shape == (kernel.shape[0],)  # one scale per output channel
        # the board's model: full 8-bit symmetric weights, not reduce_range's 7 bits
        assert np.abs(kernel).max() == 127 and kernel.min() >= -127


@pytest.mark.parametrize("method", METHODS)
def test_each_method_keeps_float_accuracy(section, method):
    block = section[1]
    row = rows(section)[method]
    assert row["top1"] >= 0.9
    assert abs(block["float_top1"] - row["top1"]) <= 0.03
    assert row["top1_agreement_with_float"] >= 0.97
    assert row["model_bytes"] == (section[0] / row["path"]).stat().st_size
    assert row["model_bytes"] < 0.5 * block["float_bytes"]


def test_report_counts_every_conv_on_integer_or_float_kernels(section):
    for row in section[1]["methods"]:
        ops = row["executed_ops"]
        assert ops["integer"].get("QLinearConv", 0) + ops["float"].get("Conv", 0) == 52
        kind = "int8" if not ops["float"] else "mixed" if ops["integer"] else "float-simulated"
        assert row["computes_in"].startswith(kind)


X86_CPUS = {  # /proc/cpuinfo flags -> does ONNX Runtime's u8 x s8 kernel saturate there?
    "avx2 only (AMD EPYC Rome/Milan, Intel Haswell..Coffee Lake)": ({"sse4_1", "avx2"}, True),
    "AVX-512 without VNNI (Intel Skylake-SP)": ({"avx2", "avx512f", "avx512bw"}, True),
    "AVX-512 VNNI (Intel Cascade Lake+, AMD Zen 4)": ({"avx2", "avx512bw", "avx512_vnni"}, False),
    "AVX-VNNI (Intel Alder Lake)": ({"avx2", "avx_vnni"}, False),
    "AMX (Intel Sapphire Rapids)": ({"avx2", "avx512bw", "avx512_vnni", "amx_int8"}, False),
    "no AVX2": ({"sse4_1"}, True),
}


@pytest.mark.parametrize("flags, saturates", X86_CPUS.values(), ids=X86_CPUS)
def test_int8_path_follows_the_kernels_onnx_runtime_picks_for_the_cpu(flags, saturates):
    path = int8_path("x86_64", flags)
    assert path["integer_kernels_saturate"] is saturates
    assert path["runs_on"].startswith("as written" if saturates else "on integer kernels")
    assert set(path["cpu_features"]) <= flags


def test_arm_boards_run_on_integer_kernels_and_unknown_cpus_run_as_written():
    for machine in ("aarch64", "arm64"):
        path = int8_path(machine)
        assert not path["integer_kernels_saturate"] and path["cpu_features"] is None
    assert int8_path("riscv64")["integer_kernels_saturate"]
    assert int8_path("x86_64", set())["integer_kernels"] == "x86 without AVX2, not identified"


def test_report_records_the_host_int8_path_and_evaluates_what_the_board_computes(section):
    block = section[1]
    assert block["reduce_range"] is False
    recorded = dict(block["host_int8_path"])
    assert recorded.pop("reason") and recorded == host_int8_path()
    saturates = recorded["integer_kernels_saturate"]
    for row in block["methods"]:
        if saturates:  # this CPU's kernels would not compute what the board does: as written
            assert row["computes_in"].startswith("float-simulated")
            assert 0 <= row["host_integer_kernels_top1"] <= 1  # measured beside, for the record
        else:
            assert not row["computes_in"].startswith("float-simulated")
            assert row["host_integer_kernels_top1"] is None


def test_unknown_calibration_method_is_a_one_line_error(section, tmp_path):
    out, block = section
    with pytest.raises(EdgekitError) as caught:
        quantize_onnx(
            out / block["float_path"],
            np.zeros((1, 96, 96, 3), np.float32),
            "kl",
            tmp_path / "m.onnx",
        )
    message = str(caught.value)
    assert "\n" not in message
    assert "'kl'" in message and "minmax, entropy, percentile" in message
    assert not (tmp_path / "m.onnx").exists()


@pytest.fixture(scope="module")
def onnx_bundle(section, host_build):
    from edgekit.artifacts import Artifact
    from edgekit.validation.artifacts import input_rows, reference

    tflite = (host_build[0] / "model_int8.tflite").read_bytes()
    artifact = Artifact.load(section[0] / "onnx")  # the host build made the bundle
    evaluation = load_splits("digits", [(96, 96, 3)]).evaluation
    inputs = input_rows(tflite, evaluation, 20)
    return artifact, inputs, reference(tflite, inputs)


def test_onnx_bundle_runs_the_int8_model_on_the_same_int8_inputs(onnx_bundle, section):
    from edgekit.backends.onnxruntime import ONNXRuntimeBackend
    from edgekit.platforms.targets import load_target
    from edgekit.validation.artifacts import compare_outputs

    artifact, inputs, ref = onnx_bundle
    assert artifact.details["model"] == "model_int8_minmax.onnx"
    assert (artifact.path / "run_onnxruntime.py").is_file()
    assert "onnxruntime" in (artifact.path / "requirements.txt").read_text()
    run = ONNXRuntimeBackend().run(artifact, load_target("host"), inputs)
    assert run.runner == "host python" and run.native and len(run.latency_us) == 20
    row = compare_outputs(ref, run, "onnx", [])
    # another quantizer (ORT's ranges), so not the same bytes; the same answers
    assert not row["bit_exact"] and row["top1_agreement"] >= 0.9


def test_onnx_bundle_has_no_32_bit_arm_runtime(onnx_bundle):
    from edgekit.backends.onnxruntime import ONNXRuntimeBackend
    from edgekit.platforms.targets import load_target

    artifact, inputs, _ = onnx_bundle
    with pytest.raises(CannotRun, match="no emulated armv7-a userland"):
        ONNXRuntimeBackend().run(artifact, load_target("rpi-armv7"), inputs[:1])


@pytest.mark.slow
def test_onnx_bundle_on_aarch64_gives_the_answers_the_host_evaluated(onnx_bundle):
    """The Pi's integer kernels (emulated Cortex-A72) against the host's run of the same bundle,
    which runs the model the way the report's ONNX accuracy was measured on this CPU."""
    from edgekit.backends.onnxruntime import ONNXRuntimeBackend
    from edgekit.platforms.targets import load_target
    from edgekit.validation.artifacts import compare_outputs

    artifact, inputs, ref = onnx_bundle
    board = ONNXRuntimeBackend().run(artifact, load_target("rpi4"), inputs)
    assert board.runner.startswith("qemu-aarch64 -cpu cortex-a72") and not board.native
    host = ONNXRuntimeBackend().run(artifact, load_target("host"), inputs)
    assert np.mean(board.outputs.argmax(1) == host.outputs.argmax(1)) >= 0.95
    assert compare_outputs(ref, board, "onnx", [])["top1_agreement"] >= 0.9


def test_a_method_that_made_an_earlier_ones_model_says_so(section):
    out, _ = section
    made = {}
    for method, row in rows(section).items():
        first = made.setdefault((out / row["path"]).read_bytes(), method)
        assert row["identical_to"] == (first if first != method else None)
