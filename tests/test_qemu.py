"""Firmware built with arm-none-eabi-gcc really runs in QEMU on every Cortex-M board, with right
output and deterministic instruction counts."""

import struct
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.platforms.qemu import BOARDS, build_firmware, run_firmware
from edgekit.platforms.targets import load_target

FIRMWARE = Path(__file__).parent / "firmware" / "checksum.c"
CORES = ["cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"]
DATA = bytes(range(7, 250, 3))


def expected(data: bytes, loops: int) -> bytes:
    """What checksum.c must write for ``data`` and ``loops``."""
    table = [0x11, 0x22, 0x44, 0x88]
    mapped = bytearray()
    for i, b in enumerate(data):
        mapped.append(((b ^ table[i & 3]) + 7) & 0xFF)
        table[i & 3] = (table[i & 3] + 1) & 0xFF
    x = 1
    for _ in range(loops):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    return mapped + struct.pack("<4I", sum(data), 0, x, loops)


def run(fw, target, loops: int):
    result = run_firmware(fw, target, struct.pack("<I", loops) + DATA, timeout=30)
    assert result.output == expected(DATA, loops)
    return result.instructions


def write_c(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "main.c"
    path.write_text('#include "ek_board.h"\n' + body)
    return path


@pytest.fixture(scope="module")
def m4_firmware(tmp_path_factory):
    target = load_target("cortex-m4")
    return build_firmware([FIRMWARE], [], target, tmp_path_factory.mktemp("m4")), target


@pytest.mark.parametrize("core", CORES)
def test_firmware_runs_and_counts_instructions_linearly(core, tmp_path):
    target = load_target(core)
    fw = build_firmware([FIRMWARE], [], target, tmp_path)
    assert fw.elf.is_file() and fw.hex.is_file()
    assert fw.board == target.emulator.machine
    assert (fw.bin is not None) == BOARDS[fw.board].raw_image
    assert 0 < fw.flash_bytes < 16 * 1024 and fw.ram_bytes >= 4096 + 16 * 1024  # buf + stack

    one = run(fw, target, 20000)
    assert one == run(fw, target, 20000), "instruction counts differ between identical runs"
    two, three = run(fw, target, 40000), run(fw, target, 60000)
    assert two / one == pytest.approx(2, rel=0.02)
    # Each extra 20000 iterations costs the same, to the counter's resolution.
    tick = BOARDS[fw.board].instructions_per_tick
    assert abs((three - two) - (two - one)) <= 2 * tick
    print(f"{core} on {fw.board}: {one} instructions for 20000 iterations")


def test_real_boards_link_for_their_memory_maps(tmp_path):
    boards = [
        ("stm32f746g-disco", "cortex-m7", 0x08000000, 0x20000000 + 320 * 1024),
        ("nucleo-h743zi2", "cortex-m7", 0x08000000, 0x24000000 + 512 * 1024),
        ("nrf52840-dk", "cortex-m4", 0x00000000, 0x20000000 + 256 * 1024),
    ]
    for name, core, flash, ram_top in boards:
        fw = build_firmware([FIRMWARE], [], load_target(core), tmp_path / name, board=name)
        # The image starts with the vector table: the stack at the top of RAM, reset in flash.
        stack, reset = struct.unpack("<2I", fw.bin.read_bytes()[:8])
        assert stack == ram_top and flash < reset < flash + fw.flash_bytes
        with pytest.raises(EdgekitError, match="QEMU machine"):
            run_firmware(fw, load_target(core), b"")
    with pytest.raises(EdgekitError, match="has a cortex-m4 but target 'cortex-m7'"):
        build_firmware([FIRMWARE], [], load_target("cortex-m7"), tmp_path, board="nrf52840-dk")


def test_firmware_over_the_ram_budget_needs_force(tmp_path):
    source = write_c(
        tmp_path,
        "static uint8_t big[300 * 1024];\n"
        "int main(void) { big[0] = 42; return ek_write_file(EK_OUTPUT_FILE, big, 1); }\n",
    )
    target = load_target("cortex-m4")
    with pytest.raises(EdgekitError) as info:
        build_firmware([source], [], target, tmp_path / "out")
    message = str(info.value)
    assert "RAM" in message and "(262144 bytes)" in message and "force" in message
    assert not (tmp_path / "out" / "firmware.elf").exists()

    fw = build_firmware([source], [], target, tmp_path / "out", force=True)
    assert fw.ram_bytes > 300 * 1024 > target.ram_bytes
    assert f"({fw.ram_bytes} bytes)" in message
    assert run_firmware(fw, target, b"").output == b"\x2a"  # the QEMU board has the room


def test_warnings_are_errors(tmp_path):
    source = write_c(tmp_path, "int main(void) { int unused; return 0; }\n")
    with pytest.raises(EdgekitError, match="unused variable"):
        build_firmware([source], [], load_target("cortex-m7"), tmp_path / "out")
    assert (tmp_path / "out" / "build.log").is_file()


def test_hanging_firmware_is_stopped_at_the_timeout(tmp_path):
    source = write_c(tmp_path, "int main(void) { for (;;) { } }\n")
    target = load_target("cortex-m7")
    fw = build_firmware([source], [], target, tmp_path / "out")
    with pytest.raises(EdgekitError, match="did not finish within 1 s"):
        run_firmware(fw, target, b"", timeout=1)


def test_faulting_firmware_fails_with_its_message(tmp_path):
    source = write_c(tmp_path, 'int main(void) { __asm__ volatile("udf #0"); return 0; }\n')
    target = load_target("cortex-m33")
    fw = build_firmware([source], [], target, tmp_path / "out")
    with pytest.raises(EdgekitError, match="exit status 1.*unexpected exception"):
        run_firmware(fw, target, b"")


def test_missing_tools_give_one_line_naming_the_package(tmp_path, monkeypatch, m4_firmware):
    fw, target = m4_firmware
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EdgekitError) as info:
        build_firmware([FIRMWARE], [], target, tmp_path / "out")
    assert str(info.value).endswith("apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
    with pytest.raises(EdgekitError) as info:
        run_firmware(fw, target, b"")
    assert str(info.value).endswith("apt-get install qemu-system-arm")
    assert "\n" not in str(info.value)
