"""``edgekit flash``: the virtual board (QEMU) runs the whole loop end to end on real builds;
the pyOCD path is driven with pyOCD's probe interface replaced by fakes that record what they
were asked to do (no hardware here): probe choice, the errors, and which bytes go where."""

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import error_lines

from edgekit.errors import EdgekitError
from edgekit.ondevice import flash as flashing
from edgekit.ondevice.flash import (
    FlashOptions,
    Image,
    Segment,
    check_image,
    choose_probe,
    memory_map,
)
from edgekit.platforms.qemu import BOARDS

pytestmark = pytest.mark.skipif(
    not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
    reason="needs arm-none-eabi-gcc and qemu-system-arm: run 'make setup'",
)


@pytest.fixture(scope="module")
def builds(cortex_m7_build, tmp_path_factory):
    """Real builds of the built-in default: cortex-m7 is the session's (10 validation inputs,
    copied here: flashing rewrites its report); cortex-m55 is built from the same int8 .tflite,
    quantized once (2 validation inputs)."""
    from edgekit.config import ModelSpec
    from edgekit.pipeline import BuildConfig, build

    m7, code, err = cortex_m7_build
    assert code == 0, err
    out = {"cortex-m7": tmp_path_factory.mktemp("cortex-m7") / "build"}
    shutil.copytree(m7, out["cortex-m7"])
    out["cortex-m55"] = tmp_path_factory.mktemp("cortex-m55") / "build"
    model = ModelSpec(path=str(m7 / "model_int8.tflite"))
    build(BuildConfig("cortex-m55", model, validate_inputs=2), out["cortex-m55"], quiet=True)
    return out


class FakeProbe:
    """What pyOCD's ConnectHelper lists: a probe with a unique ID and a description."""

    def __init__(self, unique_id: str, description: str = "STM32 STLink") -> None:
        self.unique_id, self.description = unique_id, description


class FakeLink:
    """A debug probe session that records what it was asked to do; its flash holds what was
    programmed, so verification reads it back."""

    def __init__(self, probe, target_type: str, corrupt: bool = False) -> None:
        self.probe, self.target_type, self.corrupt = probe, target_type, corrupt
        self.calls, self.memory = [], {}

    def __enter__(self):
        self.calls.append(("open", self.probe.unique_id, self.target_type))
        return self

    def __exit__(self, *exc):
        self.calls.append(("close",))

    def program(self, segments):
        self.calls.append(("program", [(s.address, len(s.data)) for s in segments]))
        self.memory.update({s.address: s.data for s in segments})

    def read(self, address, size):
        self.calls.append(("read", address, size))
        data = self.memory[address][:size]
        return bytes([data[0] ^ 1]) + data[1:] if self.corrupt else data

    def reset(self):
        self.calls.append(("reset",))


def no_probes(monkeypatch, probes):
    """pyOCD's probe discovery replaced: it sees exactly ``probes``."""
    from pyocd.core.helpers import ConnectHelper

    monkeypatch.setattr(
        ConnectHelper, "get_all_connected_probes", staticmethod(lambda **kw: list(probes))
    )


@pytest.mark.parametrize("name", ["cortex-m7", "cortex-m55"])
def test_emulate_validate_runs_the_loop_and_reports_bit_exact_results(builds, cli, name):
    folder = builds[name]
    code, out, err = cli("flash", folder, "--emulate", "--validate", "--quiet")
    assert code == 0, err
    assert "bit-exact True, max abs diff 0" in out
    report = json.loads((folder / "report.json").read_text())
    board = report["flash"]
    assert board["kind"] == "flash" and board["emulated"] is True
    assert board["board"] == {"cortex-m7": "mps2-an500", "cortex-m55": "mps3-an547"}[name]
    (row,) = board["results"]
    assert row["bit_exact"] is True and row["top1_agreement"] == 1.0
    # by default the build's own validation inputs
    [validation] = report["validation"]
    assert row["inputs"] == validation["inputs"] == {"cortex-m7": 10, "cortex-m55": 2}[name]
    # the same firmware on the same inputs: QEMU's deterministic count equals the build's
    bench = next(b for b in report["benchmark"] if b["backend"] == "c")
    assert row["instructions"] == bench["instructions"]
    assert row["cycles"] is None and row["latency_ms"] is None  # QEMU has no cycles
    for page in ("report.md", "report.html"):
        text = (folder / page).read_text()
        assert "On the board" in text and "virtual board" in text
        assert f"{row['instructions']:,}" in text


def test_dry_run_prints_the_image_the_board_and_its_memory_map(builds, cli):
    folder = builds["cortex-m7"]
    code, out, err = cli("flash", folder, "--dry-run")
    assert code == 0, err
    elf = folder / "c" / "firmware-stm32f746g-disco" / "firmware.elf"
    assert f"image: {elf}" in out
    assert "ST STM32F746G-DISCO (stm32f746g-disco)" in out
    assert "pyOCD target type stm32f746nghx" in out
    assert "FLASH  0x08000000-0x080fffff" in out and "RAM    0x20000000-0x2004ffff" in out
    assert "nothing was flashed (--dry-run)" in out
    # the load segments are the ELF's, as the toolchain's readelf lists them
    readelf = subprocess.run(
        ["arm-none-eabi-readelf", "-lW", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    loads = [line.split() for line in readelf.splitlines() if line.strip().startswith("LOAD")]
    stored = [(int(f[3], 16), int(f[4], 16)) for f in loads if int(f[4], 16)]  # PhysAddr, FileSiz
    assert stored and stored[0][0] == 0x08000000
    for address, size in stored:
        assert f"0x{address:08x}  {size:>9,} bytes  -> FLASH" in out
    for section in (".text", ".rodata", ".data", ".bss", ".stack"):
        assert f"  {section}" in out


def test_dry_run_on_the_virtual_board_names_qemu(builds, cli):
    code, out, _ = cli("flash", builds["cortex-m55"], "--dry-run", "--emulate")
    assert code == 0
    assert "via QEMU qemu-system-arm -machine mps3-an547" in out
    assert "ITCM   0x00000000" in out and "QSPI   0x28000000" in out


def test_an_image_outside_the_board_s_flash_is_refused():
    board = "stm32f746g-disco"
    image = Image(
        Path("firmware.elf"),
        BOARDS[board],
        memory_map(board),
        (Segment(0x20000000, b"\0" * 64),),  # in RAM, which a probe does not program
        (),
    )
    with pytest.raises(EdgekitError, match=r"64 bytes at 0x20000000 are not in the board's flash"):
        check_image(image)


def test_no_probe_is_a_one_line_error(builds, cli, monkeypatch):
    no_probes(monkeypatch, [])
    code, _, err = cli("flash", builds["cortex-m7"])
    assert code == 2
    assert error_lines(err) == [
        "Error: no debug probe connected (pyOCD sees none); plug in the board's debug USB "
        "port, or pass --emulate to run on the QEMU board"
    ]


def test_several_probes_are_listed_and_one_is_chosen_by_its_id():
    probes = [FakeProbe("0670FF505055877267"), FakeProbe("E6614C311B4A2C2B", "CMSIS-DAP")]
    with pytest.raises(EdgekitError) as err:
        choose_probe(None, probes)
    assert str(err.value) == (
        "2 debug probes connected: 0670FF505055877267 (STM32 STLink), E6614C311B4A2C2B "
        "(CMSIS-DAP); choose one with --probe UID"
    )
    assert choose_probe("E6614C311B4A2C2B", probes) is probes[1]
    assert choose_probe("0670ff", probes) is probes[0]  # pyOCD's contains match
    with pytest.raises(EdgekitError, match="no debug probe matches --probe 1234; pyOCD sees: 0670"):
        choose_probe("1234", probes)


def test_a_target_pyocd_does_not_know_names_the_pack_to_install(builds, cli, monkeypatch):
    no_probes(monkeypatch, [FakeProbe("0670FF505055877267")])
    if "built into" in flashing.pyocd_support("stm32f746nghx"):
        pytest.skip("this pyOCD knows the STM32F746 without a pack")
    code, _, err = cli("flash", builds["cortex-m7"])
    assert code == 2
    assert error_lines(err) == [
        "Error: pyOCD does not know target type 'stm32f746nghx' without a CMSIS pack; run: "
        "pyocd pack install stm32f746nghx"
    ]


def test_the_right_image_goes_to_the_right_address(builds, tmp_path):
    folder = builds["cortex-m7"]
    probe = FakeProbe("0670FF505055877267")
    links = []

    def connect(chosen, target_type):
        links.append(FakeLink(chosen, target_type))
        return links[-1]

    record = flashing.flash(
        folder,
        FlashOptions(pyocd_target="stm32f767zi"),
        quiet=True,
        connect=connect,
        probes=lambda: [probe],
    )
    (link,) = links
    elf = folder / "c" / "firmware-stm32f746g-disco" / "firmware.elf"
    subprocess.run(
        ["arm-none-eabi-objcopy", "-O", "binary", str(elf), tmp_path / "fw.bin"], check=True
    )
    raw = (tmp_path / "fw.bin").read_bytes()
    assert link.calls[0] == ("open", "0670FF505055877267", "stm32f767zi")
    (programmed,) = [c[1] for c in link.calls if c[0] == "program"]
    assert programmed[0][0] == 0x08000000  # the STM32's flash, where it boots from
    for address, size in programmed:  # each segment is the .bin's bytes at its offset
        assert link.memory[address] == raw[address - 0x08000000 :][:size]
    assert sum(size for _, size in programmed) == record["programmed_bytes"]
    reads = [(c[1], c[2]) for c in link.calls if c[0] == "read"]
    assert reads == programmed  # every byte read back
    assert link.calls[-2:] == [("reset",), ("close",)]
    assert record["results"] == [] and record["host"] == "0670FF505055877267 (STM32 STLink)"


def test_a_verify_mismatch_stops_the_flash(builds):
    probe = FakeProbe("0670FF505055877267")
    with pytest.raises(EdgekitError, match="verify failed: the .* bytes at 0x08000000"):
        flashing.flash(
            builds["cortex-m7"],
            FlashOptions(pyocd_target="stm32f767zi"),
            quiet=True,
            connect=lambda p, t: FakeLink(p, t, corrupt=True),
            probes=lambda: [probe],
        )


def test_a_firmware_that_failed_in_qemu_is_flashed_only_with_force(builds, cli, tmp_path):
    folder = tmp_path / "failed"
    shutil.copytree(builds["cortex-m55"], folder)
    report = json.loads((folder / "report.json").read_text())
    for row in report["validation"]:
        row["bit_exact"] = False
    (folder / "report.json").write_text(json.dumps(report))
    code, _, err = cli("flash", folder, "--emulate", "--dry-run")
    assert code == 2
    assert error_lines(err) == [
        "Error: the c firmware failed validation in QEMU (its outputs differ from the "
        "reference); fix the build, or pass --force to flash it anyway"
    ]
    code, out, _ = cli("flash", folder, "--emulate", "--dry-run", "--force")
    assert code == 0 and "nothing was flashed" in out


def test_a_target_without_a_real_board_says_to_emulate(builds, cli):
    code, _, err = cli("flash", builds["cortex-m55"], "--dry-run")
    assert code == 2
    assert error_lines(err) == [
        "Error: target cortex-m55 names no real board to flash (no [flash] table in its target "
        "file); pass --emulate to run on its QEMU board"
    ]


class FakeCore:
    """A halted Cortex-M as pyOCD's SemihostAgent sees it, running a scripted firmware: each
    resume runs to the firmware's next semihosting call (BKPT 0xAB, r0 = request, r1 = args)."""

    RAM, PC = 0x20000000, 0x08000100

    def __init__(self, firmware):
        self.memory = bytearray(0x10000)
        self.registers = {"pc": self.PC, "r0": 0, "r1": 0}
        self.firmware, self.steps, self.halted_on_bkpt = firmware, None, False
        self.core, self.session = self, type("S", (), {"log_tracebacks": False})()

    # pyOCD's Target
    def get_target_context(self):
        return self

    def reset_and_halt(self):
        self.steps, self.halted_on_bkpt = self.firmware(self), False

    def resume(self):
        result = self.registers["r0"]
        self.registers["pc"] = self.PC  # back at the (one) semihosting BKPT
        self.registers["r0"], self.registers["r1"] = self.steps.send(
            result if self.halted_on_bkpt else None
        )
        self.halted_on_bkpt = True

    def get_state(self):
        from pyocd.core.target import Target

        return Target.State.HALTED

    # pyOCD's DebugContext
    def find_breakpoint(self, pc):
        return None

    def read32(self, address):
        from pyocd.coresight.cortex_m import CortexM

        assert address == CortexM.DFSR
        return CortexM.DFSR_BKPT if self.halted_on_bkpt else 0

    def read16(self, address):
        assert address == self.PC
        return flashing.BKPT_SEMIHOST

    def read_core_register(self, name):
        return self.registers[name]

    def write_core_register(self, name, value):
        self.registers[name] = value

    def read_memory_block8(self, address, size):
        start = address - self.RAM
        return list(self.memory[start : start + size])

    def read_memory_block32(self, address, count):
        start = address - self.RAM
        return list(struct.unpack_from(f"<{count}I", self.memory, start))

    def write_memory_block8(self, address, data):
        start = address - self.RAM
        self.memory[start : start + len(data)] = bytes(data)

    # the firmware's side
    def put(self, offset, data: bytes) -> int:
        self.memory[offset : offset + len(data)] = data
        return self.RAM + offset


def edgekit_main(core):
    """What main_semihosting.c does, as semihosting requests: no layers.flag, read input.bin,
    write ticks.bin and output.bin (here: the input reversed), exit 0."""
    args = 0x100

    def request(op, *words):
        core.put(args, struct.pack(f"<{len(words)}I", *words))
        return (yield op, core.RAM + args)

    def open_(name, mode):
        path = core.put(0x200, name.encode() + b"\0")
        return (yield from request(0x01, path, mode, len(name)))

    assert (yield from open_("layers.flag", 1)) == -1  # not provided: the host has no file
    fd = yield from open_("input.bin", 1)  # mode 1: "rb"
    unread = yield from request(0x06, fd, core.RAM + 0x1000, 16)  # SYS_READ
    assert unread == 0
    yield from request(0x02, fd)  # SYS_CLOSE
    data = bytes(core.memory[0x1000:0x1010])
    for name, payload in (("ticks.bin", struct.pack("<Q", 123456)), ("output.bin", data[::-1])):
        fd = yield from open_(name, 5)  # mode 5: "wb"
        yield from request(0x05, fd, core.put(0x2000, payload), len(payload))  # SYS_WRITE
        yield from request(0x02, fd)
    yield flashing.SYS_EXIT, flashing.ADP_STOPPED_APPLICATION_EXIT


def test_semihosting_is_served_through_pyocd_s_agent_until_the_firmware_exits(tmp_path):
    (tmp_path / "input.bin").write_bytes(bytes(range(16)))
    status, _ = flashing.serve_semihosting(FakeCore(edgekit_main), tmp_path, timeout=10)
    assert status == 0
    assert (tmp_path / "output.bin").read_bytes() == bytes(range(16))[::-1]
    assert struct.unpack("<Q", (tmp_path / "ticks.bin").read_bytes()) == (123456,)
    assert not (tmp_path / "layers.bin").exists()
