"""``edgekit flash``: a build's Cortex-M firmware on a board, its validation inputs run there,
and the board's results merged into the build's report ("On the board").

A real board is reached through pyOCD's Python API: one debug probe is chosen, the image (the
ELF's load segments, at their load addresses) is programmed and read back to verify it, the
core is reset, and the firmware's semihosting requests (its input, output and tick files) are
served while the halted core is polled. The firmware times each inference with the core's
cycle counter (DWT CYCCNT), so the board gives cycles, and milliseconds at its clock.

The virtual board (``--emulate``) is the target's QEMU machine, which serves semihosting
itself: the same loop, run here end to end, with QEMU's instruction counts instead of cycles.
``--dry-run`` says what would be flashed where and checks it against the board's memory map,
touching no hardware. A firmware that failed validation in QEMU is not flashed unless forced.
"""

from __future__ import annotations

import io
import re
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.artifacts import Artifact, RunOutput
from edgekit.buildfolder import BuildFolder, load_build
from edgekit.config import Checked, inputs_option, option
from edgekit.errors import EdgekitError, first_line, last_line
from edgekit.platforms.qemu import (
    BOARDS,
    INPUT_FILE,
    OUTPUT_FILE,
    TICKS_FILE,
    Board,
    Firmware,
    boards_dir,
    build_firmware,
)
from edgekit.platforms.targets import Target, format_size

RUN_TIMEOUT = 600.0  # seconds one inference may take on a board
PACK_INSTALL = "pyocd pack install {target}"
SYS_EXIT, ADP_STOPPED_APPLICATION_EXIT, BKPT_SEMIHOST = 0x18, 0x20026, 0xBEAB


# ---------------------------------------------------------------- the image and the board


@dataclass(frozen=True)
class Region:
    """One MEMORY region of a board's linker script."""

    name: str
    origin: int
    length: int
    writable: bool

    def holds(self, address: int, size: int) -> bool:
        return self.origin <= address and address + size <= self.origin + self.length


@dataclass(frozen=True)
class Segment:
    """Bytes the image puts in non-volatile memory: one ELF load segment at its load address."""

    address: int
    data: bytes


@dataclass(frozen=True)
class Section:
    name: str
    address: int  # where it lives while the firmware runs
    load_address: int | None  # where its bytes are stored (None: not stored, e.g. .bss)
    size: int


@dataclass(frozen=True)
class Image:
    """A linked firmware image read back from its ELF, with the board it is linked for."""

    elf: Path
    board: Board
    regions: tuple[Region, ...]
    segments: tuple[Segment, ...]
    sections: tuple[Section, ...]

    def region_of(self, address: int, size: int = 1) -> Region | None:
        return next((r for r in self.regions if r.holds(address, max(size, 1))), None)


_MEMORY_LINE = re.compile(
    r"^\s*(\w+)\s*\(([rwxaiRWXAI!]+)\)\s*:\s*ORIGIN\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*,"
    r"\s*LENGTH\s*=\s*(0x[0-9a-fA-F]+|\d+)\s*([KM]?)",
    re.MULTILINE,
)


def memory_map(board: str) -> tuple[Region, ...]:
    """The MEMORY regions of ``boards/<board>.ld``, as the linker sees them."""
    script = (boards_dir() / f"{board}.ld").read_text(encoding="utf-8")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20}
    return tuple(
        Region(name, int(origin, 0), int(length, 0) * scale[unit], "w" in attrs.lower())
        for name, attrs, origin, length, unit in _MEMORY_LINE.findall(script)
    )


def read_image(elf: Path, board: str) -> Image:
    """The load segments and allocated sections of ``elf``, linked for ``board``."""
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile

    try:
        with open(elf, "rb") as f:
            parsed = ELFFile(f)
            loads = [s for s in parsed.iter_segments() if s["p_type"] == "PT_LOAD"]
            segments = tuple(
                Segment(s["p_paddr"], s.data()[: s["p_filesz"]]) for s in loads if s["p_filesz"]
            )
            sections = []
            for sec in parsed.iter_sections():
                if not sec["sh_flags"] & SH_FLAGS.SHF_ALLOC or not sec["sh_size"]:
                    continue
                stored = sec["sh_type"] != "SHT_NOBITS"
                home = next((s for s in loads if s.section_in_segment(sec)), None)
                load = (
                    home["p_paddr"] + sec["sh_addr"] - home["p_vaddr"] if stored and home else None
                )
                sections.append(Section(sec.name, sec["sh_addr"], load, sec["sh_size"]))
    except (OSError, ValueError) as exc:
        raise EdgekitError(f"cannot read firmware {elf} ({first_line(exc)}); rebuild it") from None
    except Exception as exc:  # pyelftools' ELFError and friends: not an ELF file
        raise EdgekitError(f"{elf} is not a firmware ELF ({first_line(exc)}); rebuild it") from None
    return Image(elf, BOARDS[board], memory_map(board), segments, tuple(sections))


def check_image(image: Image) -> tuple[int, int]:
    """(flash bytes, RAM bytes) the image uses; raises if any byte falls outside the board's
    memory map: stored bytes outside its read-only memory, or a section outside any region."""
    problems = []
    for seg in image.segments:
        region = image.region_of(seg.address, len(seg.data))
        if region is None or region.writable:
            problems.append(
                f"{len(seg.data)} bytes at 0x{seg.address:08x} are not in the board's flash"
            )
    for sec in image.sections:
        if image.region_of(sec.address, sec.size) is None:
            problems.append(
                f"section {sec.name} (0x{sec.address:08x}, {sec.size} B) is in no region"
            )
    flash = sum(len(s.data) for s in image.segments)
    ram = sum(
        s.size for s in image.sections if (r := image.region_of(s.address, s.size)) and r.writable
    )
    for what, used, regions in (
        ("flash", flash, [r for r in image.regions if not r.writable]),
        ("RAM", ram, [r for r in image.regions if r.writable]),
    ):
        have = sum(r.length for r in regions)
        if used > have:
            problems.append(
                f"it needs {format_size(used)} of {what}, the board has {format_size(have)}"
            )
    if problems:
        raise EdgekitError(
            f"firmware {image.elf.name} does not fit {image.board.description}: "
            + "; ".join(problems)
            + "; shrink the model (alpha, resolution) and build again"
        )
    return flash, ram


# ---------------------------------------------------------------- what to flash


@dataclass(frozen=True)
class FlashOptions(Checked):
    """``edgekit flash``: which board, reached how, and what runs there."""

    probe: str | None = option(None, "debug probe unique ID (default: the only one)", metavar="UID")
    pyocd_target: str | None = option(
        None, "pyOCD target type (default: the target file's)", metavar="TYPE"
    )
    emulate: bool = option(False, "the target's QEMU board, no hardware")
    validate: bool = option(
        False, "run the build's validation inputs and merge the results into its report"
    )
    force: bool = option(False, "flash a firmware that failed validation in QEMU")
    inputs: int | None = inputs_option()


@dataclass(frozen=True)
class Plan:
    """What ``edgekit flash`` puts where: the image, the board, and how it is reached."""

    folder: Path
    build: BuildFolder
    target: Target
    image: Image
    emulate: bool
    pyocd_target: str | None  # None on the virtual board
    clock_hz: int | None
    qemu_validation: dict | None  # the build's validation row of the c firmware in QEMU


def plan(folder: Path, options: FlashOptions) -> Plan:
    """The image to flash from build folder ``folder`` and the board it goes to; for a real
    board the firmware is linked from the build's C folder (each time: it matches the C)."""
    build = load_build(folder)
    target = build.target
    if target.triple != "arm-none-eabi" or not (build.folder / "c" / "artifact.json").is_file():
        raise EdgekitError(
            f"'{folder}' holds no Cortex-M firmware ({target.name} is a {target.family} target); "
            "build for a Cortex-M target (see 'edgekit targets'), or use 'edgekit deploy' for "
            "Linux boards"
        )
    artifact = Artifact.load(build.folder / "c")
    validation = next((r for r in build.report.get("validation", []) if r["backend"] == "c"), None)
    failed = [f for f in build.report.get("failures", []) if f.get("backend") == "c"]
    if (failed or (validation and not validation.get("bit_exact"))) and not options.force:
        why = failed[0]["reason"] if failed else "its outputs differ from the reference"
        raise EdgekitError(
            f"the c firmware failed validation in QEMU ({why}); fix the build, or pass --force "
            "to flash it anyway"
        )
    if options.emulate:
        board = target.emulator.machine if target.emulator else None
        if board not in BOARDS or BOARDS[board].instructions_per_tick is None:
            raise EdgekitError(f"{target.name} has no QEMU board to emulate; flash a real board")
        elf = artifact.path / "firmware" / "firmware.elf"
        if not elf.is_file():
            raise EdgekitError(f"{elf} is missing; run 'edgekit build --target {target.name}'")
        image = read_image(elf, board)
        return Plan(build.folder, build, target, image, True, None, None, validation)
    if target.flash is None:
        raise EdgekitError(
            f"target {target.name} names no real board to flash (no [flash] table in its target "
            "file); pass --emulate to run on its QEMU board"
        )
    elf = board_firmware(artifact.path, target, target.flash.board).elf
    return Plan(
        build.folder,
        build,
        target,
        read_image(elf, target.flash.board),
        False,
        options.pyocd_target or target.flash.pyocd_target,
        target.flash.clock_hz,
        validation,
    )


def board_firmware(c_folder: Path, target: Target, board: str) -> Firmware:
    """The c artifact's model linked for a real ``board`` (its memory map and the DWT cycle
    counter), into ``c/firmware-<board>/``; the same sources as the QEMU firmware."""
    src = c_folder / "src"
    sources = sorted(p for p in src.glob("*.c") if p.name != "main.c")  # main.c: stdio main
    if not sources:
        raise EdgekitError(f"{src} holds no generated C; rebuild with 'edgekit build'")
    return build_firmware(
        sources,
        [src, boards_dir()],
        target,
        c_folder / f"firmware-{board}",
        board=board,
        force=True,  # checked against the board's memory map by check_image
    )


def describe(p: Plan) -> str:
    """What would be flashed where, for ``--dry-run``: the image, its load segments and
    sections, the board's memory map and how full it would be."""
    flash, ram = check_image(p.image)
    board = p.image.board
    how = (
        f"QEMU {p.target.emulator.binary} -machine {board.name} (semihosting served by QEMU)"
        if p.emulate
        else f"pyOCD target type {p.pyocd_target} ({pyocd_support(p.pyocd_target)})"
    )
    lines = [
        f"image: {p.image.elf}",
        f"board: {board.description} ({board.name}), {p.target.cpu}; via {how}",
        "memory map (" + str(boards_dir() / f"{board.name}.ld") + "):",
        *(
            f"  {r.name:<6} 0x{r.origin:08x}-0x{r.origin + r.length - 1:08x}  "
            f"{format_size(r.length):>8}  {'rwx' if r.writable else 'rx (read-only)'}"
            for r in p.image.regions
        ),
        "load segments (programmed):",
        *(
            f"  0x{s.address:08x}  {len(s.data):>9,} bytes  -> {p.image.region_of(s.address).name}"
            for s in p.image.segments
        ),
        "sections:",
        *(
            f"  {s.name:<12} 0x{s.address:08x}  {s.size:>9,} bytes"
            + (
                f"  stored at 0x{s.load_address:08x}"
                if s.load_address not in (None, s.address)
                else ""
                if s.load_address is not None
                else "  (not stored)"
            )  # fmt: skip
            for s in p.image.sections
        ),
    ]
    for what, used, writable in (("flash", flash, False), ("RAM", ram, True)):
        have = sum(r.length for r in p.image.regions if r.writable == writable)
        lines.append(f"{what}: {used:,} of {have:,} bytes ({used / have:.0%})")
    lines.append("fits: yes; nothing was flashed (--dry-run)")
    return "\n".join(lines)


# ---------------------------------------------------------------- pyOCD


def pyocd_support(target_type: str | None) -> str:
    """'built into pyOCD', 'from an installed CMSIS pack', or what to run to add it."""
    from pyocd.target import TARGET
    from pyocd.target.pack.pack_target import ManagedPacks, normalise_target_type_name

    name = normalise_target_type_name(target_type or "")
    if name in TARGET:
        return "built into pyOCD"
    try:
        packs = {
            normalise_target_type_name(d.part_number) for d in ManagedPacks.get_installed_targets()
        }
    except Exception:  # no pack index yet: nothing installed
        packs = set()
    if name in packs:
        return "from an installed CMSIS pack"
    return "needs a CMSIS pack: " + PACK_INSTALL.format(target=target_type)


def connected_probes() -> list:
    """The debug probes pyOCD sees now (CMSIS-DAP, ST-LINK, J-Link, ...), without waiting."""
    from pyocd.core.helpers import ConnectHelper

    return list(ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False))


def _probe_line(probe) -> str:
    return f"{probe.unique_id} ({probe.description})"


def choose_probe(unique_id: str | None, probes: list):
    """The probe to use: the one whose unique ID is (or contains) ``unique_id``, or the only one
    connected; none or several is an error listing what pyOCD sees."""
    seen = ", ".join(_probe_line(p) for p in probes) or "none"
    if unique_id is not None:
        exact = [p for p in probes if p.unique_id == unique_id]
        matches = exact or [p for p in probes if unique_id.lower() in p.unique_id.lower()]
        if len(matches) == 1:
            return matches[0]
        problem = "no debug probe matches" if not matches else "several debug probes match"
        raise EdgekitError(f"{problem} --probe {unique_id}; pyOCD sees: {seen}")
    if not probes:
        raise EdgekitError(
            "no debug probe connected (pyOCD sees none); plug in the board's debug USB port, "
            "or pass --emulate to run on the QEMU board"
        )
    if len(probes) > 1:
        raise EdgekitError(
            f"{len(probes)} debug probes connected: {seen}; choose one with --probe UID"
        )
    return probes[0]


class PyOCDLink:
    """One pyOCD session on one probe: program and verify an image, run it with semihosting."""

    def __init__(self, probe, target_type: str) -> None:
        from pyocd.core.session import Session

        self.session = Session(probe, options={"target_override": target_type})
        self.target = None

    def __enter__(self) -> PyOCDLink:
        try:
            self.session.open()
        except Exception as exc:  # pyOCD's TargetSupportError, probe and transfer errors
            raise EdgekitError(f"pyOCD could not connect: {first_line(exc)}") from None
        self.target = self.session.board.target
        return self

    def __exit__(self, *exc) -> None:
        self.session.close()

    def program(self, segments: tuple[Segment, ...]) -> None:
        from pyocd.flash.loader import FlashLoader

        loader = FlashLoader(self.session)
        for seg in segments:
            loader.add_data(seg.address, seg.data)
        loader.commit()

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.target.read_memory_block8(address, size))

    def reset(self) -> None:
        """Reset the core and let the firmware run."""
        self.target.reset()

    def run(self, work: Path, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
        return serve_semihosting(self.target, work, timeout)


def serve_semihosting(target, work: Path, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    """Reset pyOCD's ``target`` and serve its semihosting requests (files in ``work``) until
    the firmware exits; its exit status (0: success) and console text."""
    from pyocd.core.target import Target as CoreTarget
    from pyocd.debug.semihost import ConsoleIOHandler, SemihostAgent

    context = target.get_target_context()
    console = io.BytesIO()
    agent = SemihostAgent(
        context, io_handler=_folder_io(work), console=ConsoleIOHandler(io.BytesIO(), console)
    )
    target.reset_and_halt()
    target.resume()
    deadline = time.monotonic() + timeout
    try:
        while True:
            state = target.get_state()
            if state == CoreTarget.State.HALTED:
                status = _exit_status(context)
                if status is not None:
                    return status, console.getvalue().decode(errors="replace")
                if not agent.check_and_handle_semihost_request():
                    pc = context.read_core_register("pc")
                    raise EdgekitError(
                        f"the core halted at pc 0x{pc:08x} outside semihosting (a fault or a "
                        "breakpoint); check the firmware in QEMU with 'edgekit flash --emulate'"
                    )
                target.resume()
            elif state == CoreTarget.State.LOCKUP:
                raise EdgekitError("the core locked up (a fault in the fault handler)")
            elif time.monotonic() > deadline:
                raise EdgekitError(f"the firmware did not finish within {timeout:g} s")
            else:
                time.sleep(0.0005)
    finally:
        agent.cleanup()


def _exit_status(context) -> int | None:
    """The firmware's exit status when the core halted on a semihosting SYS_EXIT, else None
    (pyOCD's agent does not handle SYS_EXIT)."""
    from pyocd.coresight.cortex_m import CortexM

    if not context.read32(CortexM.DFSR) & CortexM.DFSR_BKPT:
        return None
    pc = context.read_core_register("pc")
    if context.read16(pc) != BKPT_SEMIHOST or context.read_core_register("r0") != SYS_EXIT:
        return None
    return 0 if context.read_core_register("r1") == ADP_STOPPED_APPLICATION_EXIT else 1


def _folder_io(work: Path):
    from pyocd.debug.semihost import InternalSemihostIOHandler, SpecialFile

    class FolderIO(InternalSemihostIOHandler):
        """pyOCD's in-process file handler, with the firmware's files in one folder."""

        def open(self, fnptr: int, fnlen: int, mode: str) -> int:
            special, name = self._std_open(fnptr, fnlen, mode)
            if special is SpecialFile.SEMIHOSTING_FEATURES_FILE:
                return super().open(fnptr, fnlen, mode)
            if special is not None:
                return special
            try:
                f = open(work / Path(name).name, mode)  # noqa: SIM115 (closed by cleanup/close)
            except OSError as exc:
                self._errno = exc.errno or 2
                return -1
            fd, self.next_fd = self.next_fd, self.next_fd + 1
            self.open_files[fd] = f
            return fd

    return FolderIO()


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class BoardRun:
    outputs: np.ndarray  # int8, one row per input
    cycles: tuple[int, ...] | None  # per inference, the DWT cycle counter's (real boards)
    instructions: tuple[int, ...] | None  # per inference, QEMU's count (virtual board)
    runner: str


def program_and_verify(link, image: Image) -> None:
    """Program the image's load segments and read every byte back."""
    link.program(image.segments)
    for seg in image.segments:
        if link.read(seg.address, len(seg.data)) != seg.data:
            raise EdgekitError(
                f"verify failed: the {len(seg.data)} bytes at 0x{seg.address:08x} read back "
                "differently; check the probe's connection and flash it again"
            )


def run_on_board(link, inputs: np.ndarray, probe: str) -> BoardRun:
    """Every input through the flashed firmware in order after one reset (a recurrent model's
    state carries from one to the next, as in the reference); cycles from ``ticks.bin``, whose
    blocks (a run's total, then its layers') follow one another."""
    inputs = np.ascontiguousarray(inputs, np.int8).reshape(len(inputs), -1)
    with tempfile.TemporaryDirectory(prefix="edgekit-flash-") as tmp:
        work = Path(tmp)
        (work / INPUT_FILE).write_bytes(inputs.tobytes())
        status, console = link.run(work, RUN_TIMEOUT * max(len(inputs), 1))
        if status != 0 or not (work / OUTPUT_FILE).is_file():
            said = last_line(console) if console.strip() else "no console output"
            raise EdgekitError(f"the firmware failed on the board (exit status {status}): {said}")
        outputs = np.frombuffer((work / OUTPUT_FILE).read_bytes(), np.int8)
        raw = (work / TICKS_FILE).read_bytes() if (work / TICKS_FILE).is_file() else b""
    ticks = struct.unpack(f"<{len(raw) // 8}Q", raw[: len(raw) // 8 * 8])
    per_run = len(ticks) // len(inputs) if len(inputs) else 0
    cycles = ticks[::per_run] if per_run and per_run * len(inputs) == len(ticks) else ()
    return BoardRun(outputs.reshape(len(inputs), -1), cycles or None, None, f"pyOCD {probe}")


def run_emulated(p: Plan, inputs: np.ndarray) -> BoardRun:
    """Each input through the QEMU board's firmware (QEMU serves semihosting itself)."""
    from edgekit.backends.c import CBackend

    run = CBackend().run(Artifact.load(p.folder / "c"), p.target, inputs)
    return BoardRun(run.outputs, None, run.instructions, run.runner)


def flash(
    folder: Path,
    options: FlashOptions,
    *,
    quiet: bool = False,
    connect: Callable | None = None,
    probes: Callable[[], list] = connected_probes,
) -> dict:
    """``edgekit flash``: program, verify and reset a real board (the QEMU board instead runs
    the first evaluation input); with ``validate``, run the build's validation inputs there and
    add the board's results to the build's report as its ``flash`` section. The flash record;
    its ``results`` are empty where nothing ran. ``connect`` and ``probes`` are pyOCD's (a test
    passes fakes)."""
    from edgekit.progress import Log
    from edgekit.validation.artifacts import input_rows

    p = plan(folder, options)
    check_image(p.image)
    build = p.build
    validate = options.validate
    count = min(
        options.inputs or (build.config.validate_inputs if validate else 1),
        len(build.data.evaluation),
    )
    log = Log(quiet)
    x = input_rows(build.tflite, build.data.evaluation, count)
    if options.emulate:
        with log.stage("run") as detail:
            run = run_emulated(p, x)
            detail.append(f"{count} inputs on {run.runner}")
        where = f"QEMU {p.image.board.name}"
    else:
        chosen = choose_probe(options.probe, probes())
        support = pyocd_support(p.pyocd_target)
        if support.startswith("needs"):
            raise EdgekitError(
                f"pyOCD does not know target type '{p.pyocd_target}' without a CMSIS pack; run: "
                + PACK_INSTALL.format(target=p.pyocd_target)
            )
        link = (connect or PyOCDLink)(chosen, p.pyocd_target)
        with link:
            with log.stage("program") as detail:
                program_and_verify(link, p.image)
                detail.append(
                    f"{sum(len(s.data) for s in p.image.segments):,} bytes to "
                    f"{_probe_line(chosen)}, verified"
                )
            if not validate:
                link.reset()
                return _record(p, x, None, _probe_line(chosen))
            with log.stage("run") as detail:
                run = run_on_board(link, x, chosen.unique_id)
                detail.append(f"{count} inputs on {p.image.board.description}")
        where = _probe_line(chosen)
    record = _record(p, x, run, where)
    if validate:
        build.report["flash"] = record
        build.write_report()
    return record


def _record(p: Plan, inputs: np.ndarray, run: BoardRun | None, where: str) -> dict:
    """The report's "On the board" section for a flashed (or emulated) board; no results
    where the firmware was only programmed (``run`` None)."""
    facts = {
        "kind": "flash",
        "host": where,
        "machine": p.image.board.description,
        "board": p.image.board.name,
        "emulated": p.emulate,
        "image": str(p.image.elf.relative_to(p.folder)),
        "programmed_bytes": sum(len(s.data) for s in p.image.segments),
        "pyocd_target": p.pyocd_target,
        "clock_hz": p.clock_hz,
        "inputs": len(inputs) if run is not None else 0,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "fastest": None,
    }
    if run is None:
        return {**facts, "results": []}
    from edgekit.validation.artifacts import REFERENCE, compare_outputs, reference

    build = p.build
    ref = reference(build.tflite, inputs, stage="flash")
    row = compare_outputs(
        ref, RunOutput(run.outputs, run.runner), "c", [], **build.expected(len(inputs))
    )
    cycles = float(np.median(run.cycles)) if run.cycles else None
    counted = [c for c in (run.instructions or ()) if c is not None]
    qemu = (p.qemu_validation or {}).get("runner")
    bench = next((b for b in build.report.get("benchmark", []) if b["backend"] == "c"), {})
    row.update(
        status="ok",
        precision="int8",
        cycles=cycles,
        latency_ms=round(cycles / p.clock_hz * 1000, 3) if cycles and p.clock_hz else None,
        instructions=int(round(float(np.mean(counted)))) if counted else None,
        qemu_instructions=bench.get("instructions"),
        qemu_runner=bench.get("runner") or qemu,
    )
    return {**facts, "reference": REFERENCE, "results": [row]}
