"""Cortex-M firmware: built with arm-none-eabi-gcc for a board, run in QEMU, instructions counted.

The firmware and its host talk through semihosting files (see ``edgekit/boards/ek_board.h``): it
reads ``input.bin``, writes ``output.bin``, and writes the tick counts it measured to
``ticks.bin`` (little-endian uint64, the first one the whole measured run). The same image
therefore runs in QEMU and on a real board through a debug probe.

Instruction counts: QEMU runs with ``-icount shift=0`` (one instruction per nanosecond of virtual
time) and the board's timer ticks at a fixed virtual frequency, so instructions = ticks x
``Board.instructions_per_tick``; the count is the same on every run.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from edgekit.errors import EdgekitError
from edgekit.platforms.targets import Target, format_size

INPUT_FILE = "input.bin"
OUTPUT_FILE = "output.bin"
TICKS_FILE = "ticks.bin"

GCC = "arm-none-eabi-gcc"
GCC_INSTALL = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
QEMU_INSTALL = "apt-get install qemu-system-arm"
# -O2 and the warnings every edgekit C file must build cleanly with; sections per function and
# object so the linker drops whatever the firmware does not use.
CFLAGS = (
    "-O2",
    "-g",
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-ffunction-sections",
    "-fdata-sections",
)
LDFLAGS = ("-nostartfiles", "-Wl,--gc-sections")


@dataclass(frozen=True)
class Board:
    """A board edgekit links firmware for: its core, its linker script and its tick counter.

    ``instructions_per_tick`` is the counter's ratio under QEMU ``-icount shift=0``; it is None for
    real boards, which QEMU does not model (their counter is the DWT cycle counter). ``raw_image``
    is False where the image spans memory regions far apart, so that a raw ``.bin`` would be
    mostly gap; use the ``.hex`` or ``.elf`` there.
    """

    name: str
    description: str
    cpu: str
    counter: str
    instructions_per_tick: float | None = None
    raw_image: bool = True

    @property
    def linker_script(self) -> str:
        return f"{self.name}.ld"


# QEMU boards are named as QEMU's machines. CMSDK timer0 runs at 25 MHz on the MPS2 boards and
# 20 MHz on AN505 (SSE-200 MAINCLK); the SSE-300 system counter at 32 MHz: 1 GHz / those.
BOARDS = {
    b.name: b
    for b in (
        Board("mps2-an386", "Arm MPS2 AN386 (QEMU)", "cortex-m4", "cmsdk", 40.0),
        Board("mps2-an500", "Arm MPS2 AN500 (QEMU)", "cortex-m7", "cmsdk", 40.0),
        Board("mps2-an505", "Arm MPS2 AN505, SSE-200 (QEMU)", "cortex-m33", "cmsdk", 50.0),
        Board(
            "mps3-an547",
            "Arm MPS3 AN547, Corstone SSE-300 (QEMU)",
            "cortex-m55",
            "sse300",
            31.25,
            raw_image=False,
        ),
        Board("stm32f746g-disco", "ST STM32F746G-DISCO", "cortex-m7", "dwt"),
        Board("nucleo-h743zi2", "ST NUCLEO-H743ZI2", "cortex-m7", "dwt"),
        Board("nrf52840-dk", "Nordic nRF52840-DK", "cortex-m4", "dwt"),
    )
}


@dataclass(frozen=True)
class Firmware:
    """A linked firmware image for one board, with its sizes as ``arm-none-eabi-size`` gives them:
    flash = text + data (code, constants, initial values), RAM = data + bss (stack included)."""

    elf: Path
    bin: Path | None
    hex: Path
    flash_bytes: int
    ram_bytes: int
    board: str


@dataclass(frozen=True)
class RunResult:
    """What a firmware run left behind: its output file, its console, and its instruction counts
    (``counts`` has one entry per tick count the firmware wrote; ``instructions`` is the first,
    the whole measured run, or None if it wrote none)."""

    output: bytes
    instructions: int | None
    stdout: str
    counts: tuple[int, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)


def boards_dir() -> Path:
    """The folder of start-up code, board API and linker scripts shipped with edgekit."""
    return Path(str(files("edgekit.platforms.boards")))


def _tool(name: str, install: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise EdgekitError(f"{name} not found on PATH; install it with: {install}")
    return path


def _board_for(target: Target, board: str | None) -> Board:
    if target.triple != "arm-none-eabi":
        raise EdgekitError(
            f"target '{target.name}' is not a bare-metal Cortex-M target; firmware is built for "
            "targets whose triple is arm-none-eabi (cortex-m4, cortex-m7, cortex-m33, cortex-m55)"
        )
    name = board or (target.emulator.machine if target.emulator else None)
    if name is None or name not in BOARDS:
        raise EdgekitError(f"unknown board '{name}'; valid boards: {', '.join(BOARDS)}")
    found = BOARDS[name]
    if found.cpu != target.cpu:
        raise EdgekitError(
            f"board '{name}' has a {found.cpu} but target '{target.name}' is a {target.cpu}; "
            f"pick a board with a {target.cpu}: "
            + ", ".join(b.name for b in BOARDS.values() if b.cpu == target.cpu)
        )
    return found


def _first_problem(log: str) -> str:
    """The line of a compiler or linker log that says what went wrong."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for pattern in ("overflowed by", "error:", "undefined reference", "will not fit"):
        for line in lines:
            if pattern in line and not line.startswith("collect2"):
                return re.sub(r"^\S*/ld(\.bfd)?: ", "ld: ", line)
    return lines[0] if lines else "no message"


def _run_tool(cmd: list[str], what: str, log: Path) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        log.write_text(" ".join(cmd) + "\n" + output, encoding="utf-8")
        raise EdgekitError(f"{what} failed: {_first_problem(output)} (full log: {log})")
    return output


def _sizes(size_tool: str, elf: Path, log: Path) -> tuple[int, int]:
    # Berkeley format: "text data bss dec hex filename" then one row of figures.
    row = _run_tool([size_tool, str(elf)], "arm-none-eabi-size", log).splitlines()[-1].split()
    text, data, bss = (int(v) for v in row[:3])
    return text + data, data + bss


def check_budget(fw: Firmware, target: Target) -> None:
    """Raise if the firmware needs more RAM or flash than the target has (both sizes named)."""
    problems = []
    budgets = (
        ("RAM", fw.ram_bytes, target.ram_bytes),
        ("flash", fw.flash_bytes, target.flash_bytes),
    )
    for what, need, have in budgets:
        if have is not None and need > have:
            problems.append(
                f"{format_size(need)} ({need} bytes) of {what} but {target.name} has "
                f"{format_size(have)} ({have} bytes)"
            )
    if problems:
        raise EdgekitError(
            f"firmware {fw.elf.name} needs {'; and '.join(problems)}; shrink the model "
            "(alpha, resolution, classes) or pass force=True (--force) to build it anyway"
        )


def build_firmware(
    sources: list[Path],
    include_dirs: list[Path],
    target: Target,
    out_dir: Path,
    board: str | None = None,
    force: bool = False,
) -> Firmware:
    """Compile and link ``sources`` with edgekit's start-up code into ``out_dir/firmware.*``.

    ``board`` defaults to the target's QEMU machine; a real board (``BOARDS``) links for its
    memory map instead. Sources must build with ``-std=c99 -Wall -Wextra -Werror`` and define
    ``int main(void)``, whose return value is the exit status. A firmware larger than the
    target's RAM or flash budget is an error unless ``force``. A failed build leaves no firmware
    files behind, only ``build.log`` when a tool failed.
    """
    found = _board_for(target, board)
    gcc = _tool(GCC, GCC_INSTALL)
    size_tool = _tool("arm-none-eabi-size", GCC_INSTALL)
    objcopy = _tool("arm-none-eabi-objcopy", GCC_INSTALL)
    boards = boards_dir()
    board_sources = [
        boards / "startup.c",
        boards / "semihost.c",
        boards / f"counter_{found.counter}.c",
    ]

    out_dir.mkdir(parents=True, exist_ok=True)
    elf, hex_ = out_dir / "firmware.elf", out_dir / "firmware.hex"
    bin_ = out_dir / "firmware.bin" if found.raw_image else None
    log = out_dir / "build.log"
    written = [elf, hex_, out_dir / "firmware.map"] + ([bin_] if bin_ else [])
    cmd = [
        gcc,
        *target.cflags,
        *CFLAGS,
        *(f"-I{d}" for d in [boards, *include_dirs]),
        *(str(s) for s in [*sources, *board_sources]),
        *LDFLAGS,
        f"-L{boards}",
        f"-T{found.linker_script}",
        f"-Wl,-Map={out_dir / 'firmware.map'}",
        "-o",
        str(elf),
    ]
    try:
        for path in [*written, log]:
            path.unlink(missing_ok=True)
        _run_tool(cmd, f"{GCC} for {target.name} on {found.name}", log)
        flash_bytes, ram_bytes = _sizes(size_tool, elf, log)
        fw = Firmware(elf, bin_, hex_, flash_bytes, ram_bytes, found.name)
        if not force:
            check_budget(fw, target)
        _run_tool([objcopy, "-O", "ihex", str(elf), str(hex_)], "arm-none-eabi-objcopy", log)
        if bin_ is not None:
            _run_tool([objcopy, "-O", "binary", str(elf), str(bin_)], "arm-none-eabi-objcopy", log)
    except EdgekitError:
        for path in written:  # build.log stays: it says what went wrong
            path.unlink(missing_ok=True)
        raise
    return fw


def code_bytes(elf: Path, functions: set[str]) -> int:
    """Bytes of machine code in ``elf`` of the named functions (the kernels, and static helpers
    of theirs that the compiler did not inline)."""
    nm = _tool("arm-none-eabi-nm", GCC_INSTALL)
    done = subprocess.run([nm, "-S", str(elf)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise EdgekitError(f"arm-none-eabi-nm failed on {elf}: {done.stderr.strip()[:200]}")
    total = 0
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT" and parts[3] in functions:
            total += int(parts[1], 16)
    return total


def run_firmware(
    fw: Firmware,
    target: Target,
    input: bytes,
    timeout: float = 120,
    files: dict[str, bytes] | None = None,
    collect: tuple[str, ...] = (),
) -> RunResult:
    """Run ``fw`` in QEMU on the target's machine with ``input`` as its input file.

    ``files`` are further input files for the firmware; the files named in ``collect`` that it
    writes come back in ``RunResult.files``.

    Raises if the firmware fails (non-zero exit, fault), writes no output, or is still running
    after ``timeout`` seconds of wall-clock time.
    """
    board = BOARDS[fw.board]
    emulator = target.emulator
    if emulator is None or emulator.machine != fw.board or board.instructions_per_tick is None:
        machine = emulator.machine if emulator else None
        raise EdgekitError(
            f"firmware {fw.elf} is built for board '{fw.board}', which QEMU machine "
            f"'{machine}' of target '{target.name}' does not run; build it with board=None"
        )
    machine, per_tick = emulator.machine, board.instructions_per_tick
    qemu = _tool(emulator.binary, QEMU_INSTALL)
    cmd = [
        qemu,
        "-machine",
        machine,
        "-cpu",
        target.cpu,
        "-nographic",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0",
        "-kernel",
        str(fw.elf.resolve()),
    ]
    with tempfile.TemporaryDirectory(prefix="edgekit-qemu-") as tmp:
        work = Path(tmp)
        (work / INPUT_FILE).write_bytes(input)
        for name, data in (files or {}).items():
            (work / name).write_bytes(data)
        try:
            done = subprocess.run(
                cmd, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise EdgekitError(
                f"firmware {fw.elf.name} did not finish within {timeout:g} s on {machine} and was "
                "stopped; it hangs, or it needs a larger timeout"
            ) from None
        stdout = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            last = stdout.strip().splitlines()[-1] if stdout.strip() else "no console output"
            raise EdgekitError(
                f"firmware {fw.elf.name} failed on {machine} (QEMU exit status "
                f"{done.returncode}): {last}"
            )
        if not (work / OUTPUT_FILE).is_file():
            raise EdgekitError(f"firmware {fw.elf.name} wrote no {OUTPUT_FILE} on {machine}")
        output = (work / OUTPUT_FILE).read_bytes()
        ticks_path = work / TICKS_FILE
        raw = ticks_path.read_bytes() if ticks_path.is_file() else b""
        extra = {name: (work / name).read_bytes() for name in collect if (work / name).is_file()}
    ticks = struct.unpack(f"<{len(raw) // 8}Q", raw[: len(raw) // 8 * 8])
    counts = tuple(round(t * per_tick) for t in ticks)
    return RunResult(output, counts[0] if counts else None, stdout, counts, extra)
