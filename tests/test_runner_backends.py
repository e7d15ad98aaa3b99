"""The litert and tvm backends: bundles with runners, run as the board runs them."""

import numpy as np
import pytest

from edgekit.backends.litert import LiteRTBackend
from edgekit.backends.tvm import TVMBackend, tvm_target
from edgekit.errors import CannotRun, EdgekitError
from edgekit.frontend.data import load_dataset, splits
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import compare_outputs, input_rows, reference


@pytest.fixture(scope="module")
def model(host_build):

    tflite = (host_build[0] / "model_int8.tflite").read_bytes()
    inputs = input_rows(tflite, splits(load_dataset("digits", 96)).evaluation, 20)
    return tflite, inputs, reference(tflite, inputs)


def test_litert_bundle_runs_its_runner_on_the_host(model, tmp_path):
    tflite, inputs, ref = model
    artifact = LiteRTBackend().compile(Int8Model(tflite), load_target("host"), tmp_path)
    assert (tmp_path / "model_int8.tflite").read_bytes() == tflite
    assert "ai-edge-litert" in (tmp_path / "requirements.txt").read_text()
    run = LiteRTBackend().run(artifact, load_target("host"), inputs)
    row = compare_outputs(ref, run, "litert", [])
    # XNNPACK is not the reference arithmetic and rounds differently on different CPUs (30 LSB
    # of the softmax output on an AVX2-only EPYC): what holds on any CPU is the same answer
    # wherever the reference's is clear (its top class ahead by a quarter of the int8 range),
    # near ties aside, with no output moved that far (a wrong model or scale moves it further)
    ranked = np.sort(ref.outputs.astype(np.int32), axis=1)
    clear = ranked[:, -1] - ranked[:, -2] >= 64
    assert clear.sum() >= 0.75 * len(inputs)
    assert np.array_equal(run.outputs.argmax(1)[clear], ref.outputs.argmax(1)[clear])
    assert row["top1_agreement"] >= 0.9 and row["max_abs_diff"] < 64


def test_tvm_compiles_and_runs_in_float_simulated_int8(model, host_build):
    from edgekit.artifacts import Artifact

    tflite, inputs, ref = model
    backend = TVMBackend()
    artifact = Artifact.load(host_build[0] / "tvm")  # TVMBackend.compile's, in the host build
    assert "float32-simulated" in artifact.precision
    assert (artifact.path / "model.so").stat().st_size > 100_000
    run = backend.run(artifact, load_target("host"), inputs[:8])
    assert run.outputs.shape == (8, 10) and run.outputs.dtype == np.int8
    agreement = np.mean(run.outputs.argmax(1) == ref.outputs[:8].argmax(1))
    assert agreement >= 0.875


def test_tvm_targets_follow_the_target_files():
    assert tvm_target(load_target("rpi4")) == {
        "kind": "llvm",
        "mtriple": "aarch64-linux-gnu",
        "mcpu": "cortex-a72",
        "mattr": ["+neon"],
    }
    assert "+dotprod" in tvm_target(load_target("rpi5"))["mattr"]
    armv7 = tvm_target(load_target("rpi-armv7"))
    assert (armv7["mtriple"], armv7["mfloat-abi"]) == ("armv7a-linux-gnueabihf", "hard")
    assert tvm_target(load_target("host")) == {"kind": "llvm"}


def test_a_failing_backend_does_not_lose_the_others(host_build, tmp_path, monkeypatch):
    from edgekit.backends import registry
    from edgekit.config import CompileOptions
    from edgekit.pipeline import Log, compile_stage, validate_stage
    from edgekit.quantization import Int8Model

    def broken(self, *args, **kwargs):
        raise EdgekitError("TVM could not compile the model: simulated failure")

    monkeypatch.setattr(TVMBackend, "compile", broken)
    host = load_target("host")
    tflite = (host_build[0] / "model_int8.tflite").read_bytes()
    backends = {n: registry()[n] for n in ("tvm", "litert")}
    log = Log(quiet=True)
    outcomes = compile_stage(
        backends, Int8Model(tflite), host, options=CompileOptions(), out=tmp_path, log=log
    )
    validate_stage(
        outcomes,
        backends,
        tflite,
        target=host,
        data=splits(load_dataset("digits", 96)).evaluation,
        count=4,
        out=tmp_path,
        log=log,
    )
    stages = {s.name: (s.status, s.detail) for s in log.stages}
    assert stages["compile tvm"] == ("failed", "TVM could not compile the model: simulated failure")
    tvm, litert = outcomes
    assert tvm.artifact is None and tvm.failures[0]["stage"] == "compile"
    assert not (tmp_path / "tvm").exists() and not (tmp_path / ".tvm.tmp").exists()
    assert litert.validation["inputs"] == 4 and not litert.failures
    assert (tmp_path / "litert" / "model_int8.tflite").is_file()


# TVM's library for rpi4, run on aarch64 in the emulated userland, is make demo's test's (in
# test_commands.py): every artifact of the rpi4 build checked there against the reference.
@pytest.mark.slow
def test_litert_runs_on_aarch64_in_the_emulated_raspberry_pi_userland(model, tmp_path):
    tflite, inputs, ref = model
    rpi4, backend = load_target("rpi4"), LiteRTBackend()
    artifact = backend.compile(Int8Model(tflite), rpi4, tmp_path)
    run = backend.run(artifact, rpi4, inputs[:5])
    assert run.runner.startswith("qemu-aarch64 -cpu cortex-a72")
    assert np.mean(run.outputs.argmax(1) == ref.outputs[:5].argmax(1)) >= 0.8


def test_tvm_links_for_32_bit_raspberry_pi_os_but_has_no_runtime_there(tiny_int8, tmp_path):
    armv7 = load_target("rpi-armv7")
    artifact = TVMBackend().compile(Int8Model(tiny_int8), armv7, tmp_path)
    header = (tmp_path / "model.so").read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and header[4] == 1 and header[18] == 40  # 32-bit, EM_ARM
    with pytest.raises(CannotRun, match="no emulated armv7-a userland"):
        TVMBackend().run(artifact, armv7, np.zeros((1, 16, 16, 3), np.int8))


def test_a_linker_failure_is_one_line_naming_the_target(tiny_int8, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "aarch64-linux-gnu-gcc"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'ld: error: cannot link this board' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    with pytest.raises(EdgekitError) as caught:
        TVMBackend().compile(Int8Model(tiny_int8), load_target("rpi4"), tmp_path / "tvm")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("TVM could not link the library for rpi4:")
    assert "cannot link this board" in message
