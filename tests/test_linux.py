"""Each Linux board runs on its own core: QEMU's model of it, with the board's /proc/cpuinfo."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgekit.backends.c import CBackend
from edgekit.errors import EdgekitError
from edgekit.platforms.linux import ARCHES, cpuinfo, cross_compiler, qemu_user
from edgekit.platforms.targets import list_targets, load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import input_rows, reference

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
# Linux's arm64 HWCAP bits, from bit 0.
HWCAPS = (
    *("fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp"),
    *("asimdhp", "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3", "sm4"),
    "asimddp",
)
# The Raspberry Pis' cores as their MIDR part numbers.
PARTS = {"rpi3": "0xd03", "rpi4": "0xd08", "rpi5": "0xd0b", "rpi-armv7": "0xc07"}


def probe(folder: Path) -> Path:
    """``CPU_PROBE`` built as a static aarch64 executable in ``folder``."""
    (folder / "probe.c").write_text(CPU_PROBE)
    cmd = ["aarch64-linux-gnu-gcc", "-static", "-O2", "probe.c", "-o", "probe"]
    subprocess.run(cmd, cwd=folder, check=True)
    return folder / "probe"


def run_probe(command: list[str], exe: Path) -> tuple[set[str], str]:
    """The features QEMU's core has (HWCAP) and the /proc/cpuinfo ``exe`` sees under ``command``."""
    out = subprocess.run([*command, str(exe)], capture_output=True, text=True, check=True).stdout
    hwcap = int(out.split()[1], 16)
    return {name for bit, name in enumerate(HWCAPS) if hwcap >> bit & 1}, out


def test_each_linux_board_shows_its_own_core_in_cpuinfo():
    for name, part in PARTS.items():
        text = cpuinfo(load_target(name))
        assert text.count(f"CPU part\t: {part}\n") == 4 and text.count("processor\t: ") == 4
        assert "CPU implementer\t: 0x41\n" in text
    rpi5 = cpuinfo(load_target("rpi5"))
    assert "asimddp" in rpi5 and "CPU variant\t: 0x4\n" in rpi5
    assert "asimddp" not in cpuinfo(load_target("rpi4"))
    armv7 = cpuinfo(load_target("rpi-armv7"))
    assert "model name\t: ARMv7 Processor rev 5 (v7l)" in armv7 and "CPU architecture: 7" in armv7


def test_every_linux_board_has_its_arch_facts():
    for t in list_targets():
        if t.family == "linux":
            arch = ARCHES[t.arch]
            assert (arch.triplet, arch.qemu_user) == (t.triple, t.emulator.binary)
            assert arch.cross_package.startswith("gcc-")


def test_programs_see_the_cpuinfo_and_features_of_the_boards_core(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    exe = probe(tmp_path)
    for name in ("rpi3", "rpi4", "rpi5"):
        command = qemu_user(load_target(name))
        assert command[1:3] == ["-cpu", load_target(name).emulator.cpu]
        has, text = run_probe(command, exe)
        assert text.count(f"CPU part\t: {PARTS[name]}") == 4
        # what the cpuinfo lists, QEMU's core has (evtstrm is the kernel's timer, not the ISA)
        listed = {
            f for line in text.splitlines() if line.startswith("Features") for f in line.split()[2:]
        }
        assert listed - {"evtstrm"} <= has, name
        assert ("asimddp" in has) == (name == "rpi5")


def test_a_missing_cross_compiler_names_the_arch_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EdgekitError, match="apt-get install gcc-arm-linux-gnueabihf$"):
        cross_compiler(load_target("rpi-armv7"))


@pytest.fixture(scope="module")
def model(host_build):
    """The shipped 0.35@96 digits model (int8) and 4 evaluation inputs with their reference."""
    from edgekit.frontend.data import load_dataset, splits

    tflite = (host_build[0] / "model_int8.tflite").read_bytes()
    inputs = input_rows(tflite, splits(load_dataset("digits", 96)).evaluation, 4)
    return tflite, inputs, reference(tflite, inputs)


@pytest.mark.parametrize("board, cpu", [("rpi3", "cortex-a53"), ("rpi5", "cortex-a76")])
def test_c_executable_runs_bit_exact_on_the_boards_core(model, tmp_path, board, cpu):
    tflite, inputs, ref = model
    target = load_target(board)
    artifact = CBackend().compile(Int8Model(tflite), target, tmp_path)
    run = CBackend().run(artifact, target, inputs)
    assert run.runner == f"qemu-aarch64 -cpu {cpu}"
    np.testing.assert_array_equal(run.outputs, ref.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["litert", "tvm"])
def test_runners_run_on_the_pi5s_cortex_a76_with_its_cpuinfo(model, tmp_path, backend):
    from edgekit.backends import registry
    from edgekit.platforms.userland import ensure_userland

    tflite, inputs, ref = model
    rpi5, runner = load_target("rpi5"), registry()[backend]
    artifact = runner.compile(Int8Model(tflite), rpi5, tmp_path / backend)
    if backend == "tvm":
        assert "+dotprod" in artifact.details["target"]["mattr"]
    run = runner.run(artifact, rpi5, inputs)
    assert run.runner.startswith("qemu-aarch64 -cpu cortex-a76 ")
    assert np.mean(run.outputs.argmax(1) == ref.outputs.argmax(1)) >= 0.75
    userland = ensure_userland(rpi5, runner.packages.get("arm64"))
    script = "print(open('/proc/cpuinfo').read())"
    text = userland.run("-c", [script], tmp_path, timeout=120).stdout
    assert text.count("CPU part\t: 0xd0b") == 4 and "asimddp" in text
