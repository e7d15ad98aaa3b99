"""The emulated Raspberry Pi OS userland really runs LiteRT on aarch64 (and TFLite on armhf) and
its reference kernels give the host's bytes."""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.platforms.targets import load_target
from edgekit.platforms.userland import DISTRIBUTIONS, MANIFEST, ensure_userland

# Runs inside the userland and on the host: the model on each input with each op resolver; the
# outputs, and every tensor of the last input (XNNPACK's delegate keeps its own), to .npy files.
RUNNER = """\
import sys

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
except ImportError:  # 32-bit Raspberry Pi OS: TensorFlow's tflite-runtime
    from tflite_runtime.interpreter import Interpreter, OpResolverType

model, inputs = sys.argv[1:3]
for resolver in sys.argv[3:]:
    interp = Interpreter(
        model_path=model,
        experimental_op_resolver_type=getattr(OpResolverType, resolver),
        experimental_preserve_all_tensors=resolver != "AUTO",
        num_threads=1,
    )
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    results = []
    for x in np.load(inputs):
        interp.set_tensor(inp["index"], x[None])
        interp.invoke()
        results.append(interp.get_tensor(out["index"])[0].copy())
    np.save(resolver + ".npy", np.stack(results))
    tensors = {}
    for detail in interp.get_tensor_details() if resolver != "AUTO" else ():
        if not detail["name"]:  # the kernels' own scratch tensors (im2col, sums)
            continue
        try:
            tensors[str(detail["index"])] = interp.get_tensor(detail["index"])
        except ValueError:  # no data: a scratch or optional tensor
            pass
    np.savez(resolver + "-tensors.npz", **tensors)
"""
# The spec (reference kernels), the optimized builtin kernels, and the default (XNNPACK).
RESOLVERS = ["BUILTIN_REF", "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "AUTO"]
INPUTS = 4


@dataclass
class Outputs:
    outputs: dict[str, np.ndarray]
    tensors: dict[str, dict[str, np.ndarray]]


def load_outputs(folder: Path, resolvers: list[str]) -> Outputs:
    tensors = {}
    for name in resolvers:
        with np.load(folder / f"{name}-tensors.npz") as npz:
            tensors[name] = {key: npz[key] for key in npz.files}
    return Outputs({name: np.load(folder / f"{name}.npy") for name in resolvers}, tensors)


@pytest.fixture(scope="module")
def case(host_build, tmp_path_factory):
    """The host build's int8 MobileNetV2 (0.35@96), a few digits as int8 inputs, and the host's
    LiteRT outputs and tensors for them, from the same runner script."""
    from edgekit.frontend.data import load_dataset, preprocess
    from edgekit.interpreter import interpreter, io_quantization

    work = tmp_path_factory.mktemp("userland")
    model = (host_build[0] / "model_int8.tflite").read_bytes()
    (work / "model.tflite").write_bytes(model)
    detail = interpreter(model, reference=True).get_input_details()[0]
    images = preprocess(load_dataset("digits", detail["shape"][1]).images[:INPUTS])
    np.save(work / "inputs.npy", io_quantization(detail).quantize(images))
    (work / "runner.py").write_text(RUNNER)
    (work / "host").mkdir()
    args = [str(work / "runner.py"), str(work / "model.tflite"), str(work / "inputs.npy")]
    subprocess.run([sys.executable, *args, *RESOLVERS], cwd=work / "host", check=True)
    return work, args, load_outputs(work / "host", RESOLVERS)


def emulated(board: str, work: Path, args: list[str], resolvers: list[str]) -> Outputs:
    start = time.perf_counter()
    userland = ensure_userland(load_target(board))
    arch = userland.spec.name
    built = time.perf_counter() - start
    start = time.perf_counter()
    assert ensure_userland(load_target(board)).manifest == userland.manifest
    cached = time.perf_counter() - start
    assert cached < 1.0
    (work / arch).mkdir()
    start = time.perf_counter()
    userland.run(args[0], [*args[1:], *resolvers], work / arch, timeout=600)
    ran = time.perf_counter() - start
    print(
        f"\n{arch} userland {userland.root} ({userland.manifest['bytes'] / 2**20:.0f} MiB, "
        f"built in {userland.manifest['build_seconds']} s): ensure {built:.1f} s, cached "
        f"{cached * 1000:.1f} ms, {len(resolvers)} resolvers x {INPUTS} inputs {ran:.1f} s"
    )
    return load_outputs(work / arch, resolvers)


def differences(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> str:
    """How far two runs' tensors are apart: tensors and values that differ, the largest step."""
    assert a.keys() == b.keys()
    steps = [np.abs(a[k].astype(np.int64) - b[k].astype(np.int64)).ravel() for k in a]
    size = sum(s.size for s in steps)
    return (
        f"{sum(bool(s.any()) for s in steps)}/{len(steps)} tensors, "
        f"{sum(np.count_nonzero(s) for s in steps)}/{size} values differ, "
        f"max {max(int(s.max(initial=0)) for s in steps)} LSB"
    )


def report(arch: str, got: Outputs, host: Outputs, skip: frozenset[str] = frozenset()) -> None:
    """Print how far each emulated resolver is from the host (tensors in ``skip`` left out)."""

    def kept(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {key: tensor for key, tensor in tensors.items() if key not in skip}

    ref = host.outputs["BUILTIN_REF"]
    for name, outputs in got.outputs.items():
        print(
            f"{arch} {name} output vs host BUILTIN_REF: {differences({'0': outputs}, {'0': ref})}"
        )
        for against in dict.fromkeys(("BUILTIN_REF", name)):
            if got.tensors[name] and host.tensors[against]:
                print(
                    f"{arch} {name} tensors vs host {against}: "
                    + differences(kept(got.tensors[name]), kept(host.tensors[against]))
                )


@pytest.mark.slow
def test_litert_reference_kernels_on_aarch64_give_the_hosts_bytes(case):
    work, args, host = case
    got = emulated("rpi4", work, args, RESOLVERS)
    report("arm64", got, host)
    print(
        f"host {RESOLVERS[1]} tensors vs host BUILTIN_REF: "
        + differences(host.tensors[RESOLVERS[1]], host.tensors["BUILTIN_REF"])
    )
    assert got.outputs["BUILTIN_REF"].tobytes() == host.outputs["BUILTIN_REF"].tobytes()
    for key, tensor in host.tensors["BUILTIN_REF"].items():
        assert got.tensors["BUILTIN_REF"][key].tobytes() == tensor.tobytes(), key
    # The optimized kernels are not the spec: reported above, held to top-1 agreement.
    for name in RESOLVERS[1:]:
        assert (got.outputs[name].argmax(1) == host.outputs["BUILTIN_REF"].argmax(1)).all()


@pytest.mark.slow
def test_tflite_runtime_reference_kernels_on_armhf_give_the_hosts_bytes(case):
    work, args, host = case
    got = emulated("rpi-armv7", work, args, RESOLVERS[:2])
    assert got.outputs["BUILTIN_REF"].tobytes() == host.outputs["BUILTIN_REF"].tobytes()
    # tflite-runtime 2.14 runs a residual ADD in place even with preserve_all_tensors: the ADD's
    # input then holds the ADD's output. Every tensor must still be one of the host's, bytewise.
    ref = host.tensors["BUILTIN_REF"]
    reference = {tensor.tobytes() for tensor in ref.values()}
    for key, tensor in got.tensors["BUILTIN_REF"].items():
        assert tensor.tobytes() in reference, key
    aliased = frozenset(
        k for k, t in got.tensors["BUILTIN_REF"].items() if t.tobytes() != ref[k].tobytes()
    )
    print(f"armhf: {len(aliased)} tensors hold the output of the ADD that consumed them in place")
    report("armhf", got, host, skip=aliased)
    assert (got.outputs[RESOLVERS[1]].argmax(1) == host.outputs["BUILTIN_REF"].argmax(1)).all()


@pytest.mark.slow
def test_a_package_without_armv7l_wheels_says_so_and_leaves_nothing(tmp_path):
    cache = tmp_path / "userland"
    with pytest.raises(EdgekitError, match="armv7l wheels.*tflite-runtime") as error:
        ensure_userland(load_target("rpi-armv7"), ("ai-edge-litert==2.3.*",), cache)
    assert "\n" not in str(error.value)
    assert [p.name for p in tmp_path.iterdir()] == [".userland.lock"]


@pytest.mark.slow
def test_an_unreachable_index_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    cache = tmp_path / "userland"
    with pytest.raises(EdgekitError, match="pip download of aarch64 wheels .* failed") as error:
        ensure_userland(load_target("rpi4"), ("numpy<2.4",), cache)
    assert "\n" not in str(error.value)
    assert not cache.exists()


def test_missing_qemu_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EdgekitError, match="qemu-aarch64 not found.*apt-get install qemu-user"):
        ensure_userland(load_target("rpi4"), cache=tmp_path / "userland")


def test_a_board_without_a_userland_lists_the_architectures_with_one(tmp_path):
    with pytest.raises(EdgekitError, match=r"host has no .*aarch64 \(arm64\), armv7-a \(armhf\)"):
        ensure_userland(load_target("host"), cache=tmp_path / "userland")


# Prints the guest's HWCAP (the ISA features QEMU's core has) and its /proc/cpuinfo.
CPU_PROBE = r"""
#include <stdio.h>
#include <sys/auxv.h>
int main(void) {
    char line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    printf("hwcap %lx\n", getauxval(AT_HWCAP));
    while (f && fgets(line, sizeof line, f)) fputs(line, stdout);
    return 0;
}
"""
HWCAP_ASIMDDP = 1 << 20


@pytest.fixture(scope="module")
def cpu_probe(tmp_path_factory):
    """``CPU_PROBE`` as a static aarch64 executable."""
    folder = tmp_path_factory.mktemp("probe")
    (folder / "probe.c").write_text(CPU_PROBE)
    cmd = ["aarch64-linux-gnu-gcc", "-static", "-O2", "probe.c", "-o", "probe"]
    subprocess.run(cmd, cwd=folder, check=True)
    return folder / "probe"


def test_boards_of_one_arch_share_the_root_each_with_its_own_core_and_cpuinfo(tmp_path, cpu_probe):
    # a ready root (its manifest, a folder) stands in for a built one: nothing is downloaded
    root = tmp_path / "userland"
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "proc" / "cpuinfo").write_text("a Cortex-A72's, left by an older edgekit\n")
    requested = list(DISTRIBUTIONS["arm64"].packages)
    manifest = {"format": 1, "arch": "arm64", "requested": requested}
    (root / MANIFEST).write_text(json.dumps(manifest))
    seen = {}
    for board, part in (("rpi5", "0xd0b"), ("rpi3", "0xd03"), ("rpi4", "0xd08")):
        userland = ensure_userland(load_target(board), cache=root)
        cpu = load_target(board).emulator.cpu
        assert userland.where == f"qemu-aarch64 -cpu {cpu}"
        view = Path(userland.emulator[userland.emulator.index("-L") + 1])
        assert view.parent.parent == root and (view / "usr" / "lib").is_dir()
        done = subprocess.run(
            [*userland.emulator, str(cpu_probe)], capture_output=True, text=True, check=True
        )
        hwcap = int(done.stdout.split()[1], 16)
        assert done.stdout.count(f"CPU part\t: {part}") == 4, done.stdout
        seen[board] = hwcap, done.stdout
    # the Pi 5's dot product, in what QEMU's core has and in what its cpuinfo says
    assert seen["rpi5"][0] & HWCAP_ASIMDDP and "asimddp" in seen["rpi5"][1]
    assert not seen["rpi4"][0] & HWCAP_ASIMDDP and "asimddp" not in seen["rpi4"][1]
    assert sorted(p.name for p in (root / "cpus").iterdir()) == [
        "4xcortex-a53",
        "4xcortex-a72",
        "4xcortex-a76",
    ]
