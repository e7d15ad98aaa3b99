"""Facts about the Linux platforms edgekit builds for: each architecture and each Cortex-A core.

A target file says a board's ``arch``, its core (``emulator.cpu``) and how many it has
(``cores``); what follows from those lives here, once: Debian's name for the architecture, what
``uname -m`` says on it, the Debian package of its cross compiler, its qemu-user binary, LLVM's
triple, and the ``/proc/cpuinfo`` a board with that core shows. Adding a board with one of these
cores is adding a target file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgekit.errors import EdgekitError


class Emulator(Protocol):
    cpu: str  # the core qemu-user emulates (-cpu)
    binary: str  # qemu-user's program, e.g. qemu-aarch64


class Target(Protocol):
    """What these functions read of a target (``edgekit.platforms.targets.Target``, which
    imports this module's tables: a structural type keeps the import one-way)."""

    name: str
    arch: str
    triple: str
    cores: int | None
    emulator: Emulator


QEMU_USER_PACKAGE = "qemu-user"


@dataclass(frozen=True)
class Arch:
    """A Linux architecture, under the name target files give it (``arch``).

    ``machines`` are what ``uname -m`` prints on it, the first also its wheels' platform tag;
    ``qemu_user`` is None where edgekit runs the programs natively.
    """

    name: str
    debian: str
    triplet: str
    machines: tuple[str, ...]
    cross_package: str
    llvm_triple: str
    qemu_user: str | None = None
    hard_float: bool = False

    @property
    def wheel_machine(self) -> str:
        return self.machines[0]


ARCHES = {
    a.name: a
    for a in (
        Arch(
            "aarch64",
            "arm64",
            "aarch64-linux-gnu",
            ("aarch64", "arm64"),
            "gcc-aarch64-linux-gnu",
            "aarch64-linux-gnu",
            "qemu-aarch64",
        ),
        # 32-bit Raspberry Pi OS passes floats in VFP registers: LLVM's objects link with the
        # gnueabihf toolchain's only with the hard-float ABI. An ARMv8 core runs it as armv8l.
        Arch(
            "armv7-a",
            "armhf",
            "arm-linux-gnueabihf",
            ("armv7l", "armv8l"),
            "gcc-arm-linux-gnueabihf",
            "armv7a-linux-gnueabihf",
            "qemu-arm",
            hard_float=True,
        ),
        Arch(
            "x86_64",
            "amd64",
            "x86_64-linux-gnu",
            ("x86_64",),
            "gcc-x86-64-linux-gnu",
            "x86_64-linux-gnu",
        ),
    )
}


@dataclass(frozen=True)
class Core:
    """An Arm core as Linux lists it in ``/proc/cpuinfo`` (part number, variant and revision of
    its MIDR) on the Raspberry Pi that has it, with that kernel's ``Features`` line: the ISA
    features the board really has, which QEMU's model of the core also has (QEMU's Cortex-A53
    and A72 add the crypto extension the Pi's BCM2837 and BCM2711 lack)."""

    name: str
    arch: str
    part: int
    variant: int
    revision: int
    bogomips: str
    features: tuple[str, ...]

    def cpuinfo(self, cores: int) -> str:
        """``/proc/cpuinfo`` of a board with ``cores`` of these, as its kernel prints it."""
        model = f"model name\t: ARMv7 Processor rev {self.revision} (v7l)\n"
        block = (
            (model if self.arch == "armv7-a" else "")
            + f"BogoMIPS\t: {self.bogomips}\nFeatures\t: {' '.join(self.features)}\n"
            f"CPU implementer\t: 0x41\nCPU architecture: {7 if self.arch == 'armv7-a' else 8}\n"
            f"CPU variant\t: 0x{self.variant:x}\nCPU part\t: 0x{self.part:03x}\n"
            f"CPU revision\t: {self.revision}\n"
        )
        return "".join(f"processor\t: {n}\n{block}\n" for n in range(cores))


_V8 = ("fp", "asimd", "evtstrm", "crc32", "cpuid")
CORES = {
    c.name: c
    for c in (
        Core("cortex-a53", "aarch64", 0xD03, 0x0, 4, "38.40", _V8),  # Raspberry Pi 3
        Core("cortex-a72", "aarch64", 0xD08, 0x0, 3, "108.00", _V8),  # Raspberry Pi 4
        Core(  # Raspberry Pi 5: ARMv8.2-A, dot product (asimddp), half precision
            "cortex-a76",
            "aarch64",
            0xD0B,
            0x4,
            1,
            "108.00",
            (
                *("fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics"),
                *("fphp", "asimdhp", "cpuid", "asimdrdm", "lrcpc", "dcpop", "asimddp"),
            ),
        ),
        Core(  # Raspberry Pi 2 v1.1
            "cortex-a7",
            "armv7-a",
            0xC07,
            0x0,
            5,
            "38.40",
            (
                *("half", "thumb", "fastmult", "vfp", "edsp", "neon", "vfpv3", "tls", "vfpv4"),
                *("idiva", "idivt", "vfpd32", "lpae", "evtstrm"),
            ),
        ),
    )
}


def arch_of(target: Target) -> Arch:
    """The target's architecture; one a target file can name but edgekit does not know is an
    error saying which it knows."""
    try:
        return ARCHES[target.arch]
    except KeyError:
        raise EdgekitError(
            f"{target.name}'s architecture '{target.arch}' is not a Linux architecture edgekit "
            f"knows; use one of {', '.join(ARCHES)}"
        ) from None


def cross_compiler(target: Target) -> str:
    """The path of the target's GNU C cross compiler, ``<triple>-gcc``."""
    cc = shutil.which(f"{target.triple}-gcc")
    if cc is None:
        raise EdgekitError(
            f"{target.triple}-gcc not found; install it with: apt-get install "
            f"{arch_of(target).cross_package}"
        )
    return cc


def cpuinfo(target: Target) -> str:
    """The ``/proc/cpuinfo`` the target's board shows: its ``cores`` of its emulated core."""
    return CORES[target.emulator.cpu].cpuinfo(target.cores or 1)


def cpuinfo_name(target: Target) -> str:
    """A folder name for the target's cpuinfo, e.g. ``4xcortex-a76``."""
    return f"{target.cores or 1}x{target.emulator.cpu}"


def write_cpuinfo(root: Path, target: Target) -> Path:
    """``root/proc/cpuinfo`` for the target, replaced whole (never half-written) if it differs;
    ``root``, for ``qemu-user -L``."""
    text = cpuinfo(target)
    path = root / "proc" / "cpuinfo"
    try:
        if path.read_text(encoding="utf-8") == text:
            return root
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".cpuinfo-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return root


def cache_home() -> Path:
    """``~/.cache/edgekit`` (``$XDG_CACHE_HOME/edgekit`` when set)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgekit"


def qemu_user(target: Target, root: Path | None = None) -> list[str]:
    """The command prefix that runs the target's Linux programs as its board would: its
    qemu-user on its core (``-cpu``), its paths looked up in ``root`` first (``-L``), where
    ``/proc/cpuinfo`` is the board's. ``root`` defaults to a folder that holds only that file,
    enough for static executables."""
    qemu = qemu_user_binary(target)
    if root is None:
        root = write_cpuinfo(cache_home() / "cpuinfo" / cpuinfo_name(target), target)
    return [qemu, "-cpu", target.emulator.cpu, "-L", str(root)]


def qemu_user_binary(target: Target) -> str:
    """The path of the target's qemu-user (``emulator.binary``)."""
    qemu = shutil.which(target.emulator.binary)
    if qemu is None:
        raise EdgekitError(
            f"{target.emulator.binary} not found on PATH; install it with: apt-get install "
            f"{QEMU_USER_PACKAGE}"
        )
    return qemu
