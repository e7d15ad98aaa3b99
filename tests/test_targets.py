"""The target registry: shipped files load, carry the right facts, and bad files are rejected."""

import dataclasses
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.platforms.targets import (
    FAMILIES,
    Target,
    format_size,
    format_targets,
    list_targets,
    load_target,
    load_target_file,
    target_names,
)

SHIPPED = Path(__file__).resolve().parents[1] / "targets"
REQUIRED = {
    "rpi4",
    "rpi5",
    "rpi3",
    "rpi-armv7",
    "cortex-m4",
    "cortex-m7",
    "cortex-m33",
    "cortex-m55",
    "ethos-u55-128",
    "ethos-u55-256",
    "ethos-u65-256",
    "host",
}
MCU_MACHINES = {
    "cortex-m4": "mps2-an386",
    "cortex-m7": "mps2-an500",
    "cortex-m33": "mps2-an505",
    "cortex-m55": "mps3-an547",
}


def by_family(family: str) -> list[Target]:
    return [t for t in list_targets() if t.family == family]


def test_every_shipped_target_loads_under_its_own_name():
    targets = list_targets()
    assert {t.name for t in targets} == {p.stem for p in SHIPPED.glob("*.toml")}
    assert {t.name for t in targets} >= REQUIRED
    assert [t.name for t in targets] == target_names()
    for t in targets:
        assert load_target(t.name) is t
        assert t.ram_bytes > 0 and t.cflags and t.backends


def test_targets_are_sorted_by_family_then_listed_once():
    families = [FAMILIES.index(t.family) for t in list_targets()]
    assert families == sorted(families)
    assert len(set(target_names())) == len(target_names())


def test_targets_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_target("rpi4").ram_bytes = 1  # type: ignore[misc]


def test_each_mcu_names_its_qemu_board_and_fits_ram_inside_flash():
    mcus = {t.name: t for t in by_family("mcu")}
    assert set(MCU_MACHINES) <= set(mcus)
    for name, machine in MCU_MACHINES.items():
        t = mcus[name]
        assert (t.emulator.kind, t.emulator.binary) == ("qemu-system", "qemu-system-arm")
        assert t.emulator.machine == machine
        assert t.triple == "arm-none-eabi"
        assert f"-mcpu={t.cpu}" in t.cflags and "-mthumb" in t.cflags
        assert t.flash_bytes is not None and t.ram_bytes < t.flash_bytes


def test_npu_targets_run_their_cpu_side_on_the_m55_board():
    npus = {t.name: t for t in by_family("npu")}
    assert npus["ethos-u55-128"].npu.accelerator == "ethos-u55-128"
    assert npus["ethos-u55-128"].npu.macs == 128
    assert npus["ethos-u65-256"].npu.accelerator == "ethos-u65-256"
    assert npus["ethos-u65-256"].npu.macs == 256
    assert (npus["ethos-u55-256"].npu.accelerator, npus["ethos-u55-256"].npu.macs) == (
        "ethos-u55-256",
        256,
    )
    assert npus["ethos-u55-128"].npu.system_config == "Ethos_U55_High_End_Embedded"
    assert npus["ethos-u55-128"].npu.memory_mode == "Shared_Sram"
    assert npus["ethos-u65-256"].npu.system_config == "Ethos_U65_High_End"
    assert npus["ethos-u65-256"].npu.memory_mode == "Dedicated_Sram"
    for t in npus.values():
        assert t.emulator.machine == "mps3-an547"
        assert t.npu.optimise == "Performance"
        assert t.backends == ("vela", "c")
    assert all(t.npu is None for t in list_targets() if t.family != "npu")


def test_linux_boards_run_under_qemu_user_with_their_own_cpu():
    for name, cpu in {"rpi3": "cortex-a53", "rpi4": "cortex-a72", "rpi5": "cortex-a76"}.items():
        t = load_target(name)
        assert (t.arch, t.triple, t.cpu) == ("aarch64", "aarch64-linux-gnu", cpu)
        assert (t.emulator.kind, t.emulator.binary, t.emulator.cpu) == (
            "qemu-user",
            "qemu-aarch64",
            cpu,
        )
        assert t.flash_bytes is None and t.cores == 4
    armv7 = load_target("rpi-armv7")
    assert (armv7.arch, armv7.triple) == ("armv7-a", "arm-linux-gnueabihf")
    assert (armv7.emulator.binary, armv7.emulator.cpu) == ("qemu-arm", "cortex-a7")
    assert "-mfloat-abi=hard" in armv7.cflags
    assert "dotprod" in load_target("rpi5").features
    assert "mve" in load_target("cortex-m55").features
    assert load_target("host").emulator is None


def test_default_models_and_backends_follow_the_family():
    for t in by_family("linux"):
        assert (t.alpha, t.resolution) == (1.0, 224)
        assert t.backends == ("c", "litert", "tvm", "onnx")
    for t in by_family("mcu") + by_family("npu") + by_family("host"):
        assert (t.alpha, t.resolution) == (0.35, 96)
    assert all(t.backends == ("c",) for t in by_family("mcu"))
    assert load_target("host").backends == ("c", "litert", "tvm", "onnx")


def test_unknown_target_lists_every_valid_name():
    with pytest.raises(EdgekitError) as err:
        load_target("rpi9")
    message = str(err.value)
    assert message.startswith("unknown target 'rpi9'; valid targets: host, ")
    assert all(name in message for name in target_names())


def test_format_targets_shows_every_target_in_aligned_columns():
    table = format_targets(list_targets())
    lines = table.splitlines()
    assert lines[0].split() == [
        "NAME",
        "FAMILY",
        "CPU",
        "BOARD",
        "RAM",
        "FLASH",
        "MODEL",
        "BACKENDS",
    ]
    assert [line.split()[0] for line in lines[1:]] == target_names()
    column = lines[0].index("FAMILY")
    assert all(line[column - 2 : column] == "  " for line in lines)
    m7 = next(line for line in lines if line.startswith("cortex-m7 "))
    assert "STM32F746G-DISCO" in m7 and "320 KiB" in m7 and "1 MiB" in m7 and "0.35@96" in m7
    rpi4 = next(line for line in lines if line.startswith("rpi4 "))
    assert "4 GiB" in rpi4 and "1.0@224" in rpi4 and "c,litert,tvm,onnx" in rpi4


def test_format_size_uses_the_largest_whole_unit():
    assert format_size(None) == "-"
    assert format_size(512) == "512 B"
    assert format_size(520 * 1024) == "520 KiB"
    assert format_size(3 << 19) == "1.5 MiB"
    assert format_size(8 << 30) == "8 GiB"


def shipped_npu_settings(name: str) -> str:
    """The lines of a shipped [npu] table after accelerator and macs (Vela's settings)."""
    text = (SHIPPED / f"{name}.toml").read_text(encoding="utf-8")
    return text[text.index("macs = ") :].split("\n", 1)[1].split("\n\n", 1)[0] + "\n"


# Each bad file is a shipped file with one edit: (base target, text to replace, replacement,
# what the error must say).
BAD_FILES = {
    "unknown key": (
        "cortex-m7",
        "ram_bytes = 327680",
        "ram_bytes = 327680\nram = 1",
        "unknown key 'ram'",
    ),
    "unknown key in a table": (
        "cortex-m7",
        "resolution = 96",
        "resolution = 96\nclasses = 10",
        "unknown key 'model.classes'",
    ),
    "missing key": ("cortex-m7", 'triple = "arm-none-eabi"\n', "", "missing key 'triple'"),
    "missing table": (
        "cortex-m7",
        "[model]\nalpha = 0.35\nresolution = 96\n",
        "",
        "missing key 'model'",
    ),
    "string for integer": (
        "cortex-m7",
        "ram_bytes = 327680",
        'ram_bytes = "320K"',
        "'ram_bytes' must be an integer",
    ),
    "bool for integer": (
        "cortex-m7",
        "ram_bytes = 327680",
        "ram_bytes = true",
        "'ram_bytes' must be an integer",
    ),
    "string for list": (
        "cortex-m7",
        'backends = ["c"]',
        'backends = "c"',
        "'backends' must be a list of strings",
    ),
    "empty string": (
        "cortex-m7",
        'cpu = "cortex-m7"',
        'cpu = ""',
        "'cpu' must be a non-empty string",
    ),
    "unknown family": ("cortex-m7", 'family = "mcu"', 'family = "fpga"', "unknown family 'fpga'"),
    "unknown emulator kind": (
        "cortex-m7",
        'kind = "qemu-system"',
        'kind = "renode"',
        "unknown emulator kind 'renode'",
    ),
    "qemu-system without machine": (
        "cortex-m7",
        'machine = "mps2-an500"\n',
        "",
        "needs 'emulator.machine'",
    ),
    "qemu-user without cpu": (
        "rpi4",
        'cpu = "cortex-a72"\n\n[model]',
        "\n[model]",
        "needs 'emulator.cpu'",
    ),
    "zero cores": ("rpi4", "cores = 4", "cores = 0", "'cores' must be positive"),
    "linux board without cores": ("rpi4", "cores = 4\n", "", "a linux board needs 'cores'"),
    "unknown qemu-user cpu": (
        "rpi4",
        'cpu = "cortex-a72"\n\n[model]',
        'cpu = "cortex-a99"\n\n[model]',
        "unknown aarch64 emulator cpu 'cortex-a99'; use one of cortex-a53, cortex-a72, cortex-a76",
    ),
    "qemu-user cpu of another arch": (
        "rpi-armv7",
        'cpu = "cortex-a7"\n\n[model]',
        'cpu = "cortex-a72"\n\n[model]',
        "unknown armv7-a emulator cpu 'cortex-a72'; use one of cortex-a7",
    ),
    "qemu-user of another arch": (
        "rpi4",
        'binary = "qemu-aarch64"',
        'binary = "qemu-arm"',
        "'emulator.binary' of an aarch64 board must be qemu-aarch64",
    ),
    "linux triple of another arch": (
        "rpi4",
        'triple = "aarch64-linux-gnu"',
        'triple = "arm-linux-gnueabihf"',
        "'triple' of an aarch64 board must be aarch64-linux-gnu",
    ),
    "unknown linux arch": (
        "rpi4",
        'arch = "aarch64"',
        'arch = "riscv64"',
        "qemu-user runs aarch64, armv7-a boards here, not 'riscv64'",
    ),
    "mcu without emulator": (
        "cortex-m7",
        '[emulator]\nkind = "qemu-system"\nbinary = "qemu-system-arm"\nmachine = "mps2-an500"\n',
        "",
        "needs an [emulator] table",
    ),
    "zero ram": (
        "cortex-m7",
        "ram_bytes = 327680",
        "ram_bytes = 0",
        "'ram_bytes' must be positive",
    ),
    "negative flash": (
        "cortex-m7",
        "flash_bytes = 1048576",
        "flash_bytes = -1",
        "'flash_bytes' must be positive",
    ),
    "no backend": ("cortex-m7", 'backends = ["c"]', "backends = []", "'backends' is empty"),
    "unknown feature": (
        "cortex-m7",
        'features = ["fpu", "dsp"]',
        'features = ["simd"]',
        "unknown feature 'simd'",
    ),
    "unsupported alpha": (
        "cortex-m7",
        "alpha = 0.35",
        "alpha = 0.3",
        "[model] alpha 0.3 is not supported",
    ),
    "unsupported resolution": (
        "cortex-m7",
        "resolution = 96",
        "resolution = 100",
        "[model] resolution 100 is not supported",
    ),
    "npu table on an mcu": (
        "cortex-m7",
        "[model]",
        '[npu]\naccelerator = "ethos-u55-128"\nmacs = 128\nsystem_config = '
        '"Ethos_U55_High_End_Embedded"\nmemory_mode = "Shared_Sram"\n\n[model]',
        "has no NPU",
    ),
    "npu target without npu table": (
        "ethos-u55-128",
        '[npu]\naccelerator = "ethos-u55-128"\nmacs = 128\n'
        + shipped_npu_settings("ethos-u55-128"),
        "",
        "needs an [npu] table",
    ),
    "unknown accelerator": (
        "ethos-u55-128",
        'accelerator = "ethos-u55-128"',
        'accelerator = "ethos-u99-128"',
        "unknown npu accelerator 'ethos-u99-128'",
    ),
    "macs not matching the accelerator": (
        "ethos-u55-128",
        "macs = 128",
        "macs = 256",
        "'npu.macs' 256 does not match",
    ),
    "unknown vela system config": (
        "ethos-u55-128",
        'system_config = "Ethos_U55_High_End_Embedded"',
        'system_config = "Ethos_U55_Fast"',
        "unknown 'npu.system_config' 'Ethos_U55_Fast'; Vela's vela.ini has",
    ),
    "unknown vela memory mode": (
        "ethos-u65-256",
        'memory_mode = "Dedicated_Sram"',
        'memory_mode = "Shared"',
        "unknown 'npu.memory_mode' 'Shared'",
    ),
    "tensor arena in read-only flash": (
        "ethos-u55-128",
        'memory_mode = "Shared_Sram"',
        'memory_mode = "Dedicated_Sram"',
        "puts the tensor arena in OffChipFlash, which 'Ethos_U55_High_End_Embedded' cannot",
    ),
    "unknown vela optimise": (
        "ethos-u55-128",
        'optimise = "Performance"',
        'optimise = "Speed"',
        "unknown npu.optimise 'Speed'; use one of Performance, Size",
    ),
    "npu without a system config": (
        "ethos-u55-128",
        'system_config = "Ethos_U55_High_End_Embedded"\n',
        "",
        "missing key 'npu.system_config'",
    ),
    "unknown flash board": (
        "cortex-m7",
        'board = "stm32f746g-disco"',
        'board = "stm32f999-disco"',
        "no board file for 'flash.board' 'stm32f999-disco'",
    ),
    "zero flash clock": (
        "cortex-m4",
        "clock_hz = 64000000",
        "clock_hz = 0",
        "'flash.clock_hz' must be positive",
    ),
    "broken TOML": (
        "cortex-m7",
        'board = "STM32F746G-DISCO"',
        "board = STM32F746G-DISCO",
        "not valid TOML",
    ),
}


def shipped_text(name: str) -> str:
    return (SHIPPED / f"{name}.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("base", ["cortex-m7", "rpi4", "ethos-u55-128", "host"])
def test_a_copied_shipped_file_loads_like_the_original(tmp_path, base):
    path = tmp_path / f"{base}.toml"
    path.write_text(shipped_text(base))
    assert load_target_file(path) == load_target(base)
    assert load_target_file(str(path)) == load_target(base)


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_rejected_with_a_one_line_message(tmp_path, case):
    base, old, new, expected = BAD_FILES[case]
    text = shipped_text(base)
    assert old in text, "the edit must apply to the shipped file"
    path = tmp_path / f"{base}.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(EdgekitError) as err:
        load_target_file(path)
    message = str(err.value)
    assert expected in message
    assert str(path) in message and "\n" not in message


def test_name_must_equal_the_file_stem(tmp_path):
    path = tmp_path / "my-board.toml"
    path.write_text(shipped_text("cortex-m7"))
    with pytest.raises(EdgekitError, match="name 'cortex-m7' must equal the file name"):
        load_target_file(path)


def test_a_missing_file_is_an_edgekit_error(tmp_path):
    with pytest.raises(EdgekitError, match="cannot read it"):
        load_target_file(tmp_path / "nowhere.toml")
