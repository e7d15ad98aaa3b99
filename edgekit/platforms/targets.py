"""The target registry: one TOML file per board in ``targets/`` (shipped in the wheel).

Adding a target is adding a file: ``targets/<name>.toml`` with the keys of ``Target`` (see any
shipped file for the layout). Every file is loaded and validated once, on first use; a mistake in
a file is an ``EdgekitError`` naming the file and what to fix, never a half-loaded target.
"""

from __future__ import annotations

import configparser
import functools
import importlib.util
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import NoReturn

from edgekit.config import VELA_OPTIMISE
from edgekit.errors import EdgekitError
from edgekit.frontend.mobilenet import MobileNetConfig
from edgekit.platforms.linux import ARCHES, CORES

# The TOML files ship as data package "edgekit.target_files" (pyproject maps it to targets/): a
# package named after this module would shadow it in an installed wheel.
FILES_PACKAGE = "edgekit.target_files"

FAMILIES = ("host", "linux", "mcu", "npu")
EMULATOR_KINDS = ("qemu-system", "qemu-user")
FEATURES = ("fpu", "dsp", "mve", "neon", "dotprod", "fp16", "i8mm", "sse2", "avx2")
# Vela's --accelerator-config names; the suffix is the MACs per cycle.
NPU_ACCELERATORS = (
    "ethos-u55-32",
    "ethos-u55-64",
    "ethos-u55-128",
    "ethos-u55-256",
    "ethos-u65-256",
    "ethos-u65-512",
    "ethos-u85-128",
    "ethos-u85-256",
    "ethos-u85-512",
    "ethos-u85-1024",
    "ethos-u85-2048",
)


@dataclass(frozen=True)
class Emulator:
    """How validation runs code for a target: ``qemu-system`` boots a machine, ``qemu-user``
    runs a Linux executable under an emulated cpu."""

    kind: str
    binary: str
    machine: str | None = None
    cpu: str | None = None


@dataclass(frozen=True)
class Npu:
    """The neural accelerator of an npu target, by its Vela accelerator config name, and the
    system config and memory mode of Vela's ``vela.ini`` that describe the board around it."""

    accelerator: str
    macs: int
    system_config: str
    memory_mode: str
    optimise: str = "Performance"  # Vela's --optimise: Performance or Size


@dataclass(frozen=True)
class Flash:
    """The real board ``edgekit flash`` programs: the board file it links for
    (``edgekit/platforms/boards/<board>.ld``), pyOCD's target type and the core clock."""

    board: str
    pyocd_target: str
    clock_hz: int


@dataclass(frozen=True)
class Target:
    """One board: its core and compiler flags, memory budget, emulator and defaults."""

    name: str
    description: str
    family: str
    cpu: str
    arch: str
    triple: str
    cflags: tuple[str, ...]
    features: tuple[str, ...]
    board: str
    ram_bytes: int
    flash_bytes: int | None
    emulator: Emulator | None
    alpha: float
    resolution: int
    backends: tuple[str, ...]
    npu: Npu | None
    cores: int | None = None
    flash: Flash | None = None

    def fits(self, ram_bytes: int | None, flash_bytes: int | None) -> bool | None:
        """Whether a firmware of these sizes fits the board (a flash_bytes of None on the
        target: no flash limit); None when a size was not measured."""
        if ram_bytes is None or flash_bytes is None:
            return None
        return ram_bytes <= self.ram_bytes and (
            self.flash_bytes is None or flash_bytes <= self.flash_bytes
        )


Fail = Callable[[str], NoReturn]

# What a value must be, as the error message says it, and the check.
_STR, _INT, _NUM, _STRS, _TABLE = (
    "a non-empty string",
    "an integer",
    "a number",
    "a list of strings",
    "a table",
)
_KIND_CHECKS = {
    _STR: lambda v: isinstance(v, str) and v != "",
    _INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    _NUM: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    _STRS: lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    _TABLE: lambda v: isinstance(v, dict),
}
# key -> (kind, required)
_TOP_KEYS = {
    "name": (_STR, True),
    "description": (_STR, True),
    "family": (_STR, True),
    "cpu": (_STR, True),
    "arch": (_STR, True),
    "triple": (_STR, True),
    "cflags": (_STRS, True),
    "features": (_STRS, True),
    "board": (_STR, True),
    "ram_bytes": (_INT, True),
    "flash_bytes": (_INT, False),
    "cores": (_INT, False),
    "backends": (_STRS, True),
    "model": (_TABLE, True),
    "emulator": (_TABLE, False),
    "npu": (_TABLE, False),
    "flash": (_TABLE, False),
}
_EMULATOR_KEYS = {
    "kind": (_STR, True),
    "binary": (_STR, True),
    "machine": (_STR, False),
    "cpu": (_STR, False),
}
_NPU_KEYS = {
    "accelerator": (_STR, True),
    "macs": (_INT, True),
    "system_config": (_STR, True),
    "memory_mode": (_STR, True),
    "optimise": (_STR, False),
}
_FLASH_KEYS = {"board": (_STR, True), "pyocd_target": (_STR, True), "clock_hz": (_INT, True)}
_MODEL_KEYS = {"alpha": (_NUM, True), "resolution": (_INT, True)}


def _check_table(data: dict, spec: dict, where: str, fail: Fail) -> dict:
    """Reject unknown keys, missing keys and values of the wrong kind in one TOML table."""
    for key in data:
        if key not in spec:
            fail(f"unknown key '{where}{key}'; valid keys are {', '.join(spec)}")
    for key, (kind, required) in spec.items():
        if key not in data:
            if required:
                fail(f"missing key '{where}{key}' ({kind})")
        elif not _KIND_CHECKS[kind](data[key]):
            fail(f"'{where}{key}' must be {kind}, got {data[key]!r}")
    return data


def _check_choices(values: Iterable[str], allowed: tuple[str, ...], what: str, fail: Fail) -> None:
    for value in values:
        if value not in allowed:
            fail(f"unknown {what} '{value}'; use one of {', '.join(allowed)}")


def _parse(data: dict, stem: str, fail: Fail) -> Target:
    _check_table(data, _TOP_KEYS, "", fail)
    if data["name"] != stem:
        fail(f"name '{data['name']}' must equal the file name; rename one to match")
    family = data["family"]
    _check_choices([family], FAMILIES, "family", fail)
    _check_choices(data["features"], FEATURES, "feature", fail)
    if not data["backends"]:
        fail("'backends' is empty; list at least one default backend")
    if data["ram_bytes"] <= 0:
        fail(f"'ram_bytes' must be positive, got {data['ram_bytes']}")
    if data.get("flash_bytes", 1) <= 0:
        fail(f"'flash_bytes' must be positive, got {data['flash_bytes']}; omit it for no limit")

    emulator = None
    if "emulator" in data:
        raw = _check_table(data["emulator"], _EMULATOR_KEYS, "emulator.", fail)
        _check_choices([raw["kind"]], EMULATOR_KINDS, "emulator kind", fail)
        needed = "machine" if raw["kind"] == "qemu-system" else "cpu"
        if needed not in raw:
            fail(f"an emulator of kind '{raw['kind']}' needs 'emulator.{needed}'")
        emulator = Emulator(**raw)
        if emulator.kind == "qemu-user":
            _check_linux_emulator(data["arch"], emulator, fail)
    elif family != "host":
        fail(f"family '{family}' needs an [emulator] table; only host targets run natively")

    if family == "linux":
        if data["arch"] not in ARCHES:
            fail(f"unknown Linux arch '{data['arch']}'; use one of {', '.join(ARCHES)}")
        if data["triple"] != ARCHES[data["arch"]].triplet:
            fail(f"'triple' of an {data['arch']} board must be {ARCHES[data['arch']].triplet}")
        if "cores" not in data:
            fail("a linux board needs 'cores' (its emulated /proc/cpuinfo lists that many)")
    if data.get("cores", 1) <= 0:
        fail(f"'cores' must be positive, got {data['cores']}")

    npu = None
    if "npu" in data:
        raw = _check_table(data["npu"], _NPU_KEYS, "npu.", fail)
        _check_choices([raw["accelerator"]], NPU_ACCELERATORS, "npu accelerator", fail)
        if raw["macs"] != int(raw["accelerator"].rsplit("-", 1)[1]):
            fail(f"'npu.macs' {raw['macs']} does not match accelerator '{raw['accelerator']}'")
        _check_choices([raw.get("optimise", "Performance")], VELA_OPTIMISE, "npu.optimise", fail)
        _check_vela_config(raw["system_config"], raw["memory_mode"], fail)
        npu = Npu(**raw)
    if npu is None and family == "npu":
        fail("family 'npu' needs an [npu] table (accelerator, macs)")
    if npu is not None and family != "npu":
        fail(f"family '{family}' has no NPU; remove the [npu] table or set family = 'npu'")

    flash = None
    if "flash" in data:
        if family != "mcu":
            fail(f"family '{family}' is not flashed with pyOCD; remove the [flash] table")
        raw = _check_table(data["flash"], _FLASH_KEYS, "flash.", fail)
        if not files("edgekit.platforms.boards").joinpath(f"{raw['board']}.ld").is_file():
            fail(f"no board file for 'flash.board' '{raw['board']}' in edgekit/platforms/boards")
        if raw["clock_hz"] <= 0:
            fail(f"'flash.clock_hz' must be positive, got {raw['clock_hz']}")
        flash = Flash(**raw)

    model = _check_table(data["model"], _MODEL_KEYS, "model.", fail)
    try:
        MobileNetConfig(alpha=float(model["alpha"]), resolution=model["resolution"])
    except EdgekitError as exc:
        fail(f"[model] {exc}")

    return Target(
        name=data["name"],
        description=data["description"],
        family=family,
        cpu=data["cpu"],
        arch=data["arch"],
        triple=data["triple"],
        cflags=tuple(data["cflags"]),
        features=tuple(data["features"]),
        board=data["board"],
        ram_bytes=data["ram_bytes"],
        flash_bytes=data.get("flash_bytes"),
        emulator=emulator,
        alpha=float(model["alpha"]),
        resolution=model["resolution"],
        backends=tuple(data["backends"]),
        npu=npu,
        cores=data.get("cores"),
        flash=flash,
    )


def vela_ini() -> configparser.ConfigParser | None:
    """Arm's ``vela.ini`` as the installed ethos-u-vela ships it; None where Vela is missing."""
    spec = importlib.util.find_spec("ethosu")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        path = Path(root) / "config_files" / "Arm" / "vela.ini"
        if path.is_file():
            ini = configparser.ConfigParser()
            ini.read(path, encoding="utf-8")
            return ini
    return None


def _check_vela_config(system: str, mode: str, fail: Fail) -> None:
    """The system config and memory mode exist in Vela's vela.ini, and the memory mode puts
    the tensor arena on a port of that system whose memory can be written (SRAM or DRAM)."""
    ini = vela_ini()
    if ini is None:  # without Vela the names cannot be checked; the vela backend says so
        return
    for kind, name in (("System_Config", system), ("Memory_Mode", mode)):
        names = [s.split(".", 1)[1] for s in ini.sections() if s.startswith(kind + ".")]
        if name not in names:
            key = "system_config" if kind == "System_Config" else "memory_mode"
            fail(f"unknown 'npu.{key}' '{name}'; Vela's vela.ini has {', '.join(names)}")
    section = f"Memory_Mode.{mode}"
    while "arena_mem_area" not in ini[section] and "inherit" in ini[section]:
        section = ini[section]["inherit"]
    axi = ini[section].get("arena_mem_area", "Axi0").lower()  # Axi0 or Axi1
    port = ini[f"System_Config.{system}"].get(f"{axi}_port", "Sram")
    if port not in ("Sram", "Dram"):
        fail(
            f"memory mode '{mode}' puts the tensor arena in {port}, which '{system}' cannot "
            "write; use Shared_Sram or Sram_Only, or a system config with DRAM"
        )


def _check_linux_emulator(arch: str, emulator: Emulator, fail: Fail) -> None:
    """A qemu-user emulator runs the arch's qemu on a core of that arch that edgekit knows."""
    known = ARCHES.get(arch)
    if known is None or known.qemu_user is None:
        runs = [a.name for a in ARCHES.values() if a.qemu_user]
        fail(f"qemu-user runs {', '.join(runs)} boards here, not '{arch}'")
    if emulator.binary != known.qemu_user:
        fail(f"'emulator.binary' of an {arch} board must be {known.qemu_user}")
    cores = [c.name for c in CORES.values() if c.arch == arch]
    if emulator.cpu not in cores:
        fail(f"unknown {arch} emulator cpu '{emulator.cpu}'; use one of {', '.join(cores)}")


def load_target_file(path: str | Path | Traversable) -> Target:
    """Load and validate one target file; any problem is an EdgekitError naming the file."""
    path = Path(path) if isinstance(path, str) else path

    def fail(problem: str) -> NoReturn:
        raise EdgekitError(f"target file {path}: {problem}")

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read it ({exc.strerror or exc})")
    except tomllib.TOMLDecodeError as exc:
        fail(f"not valid TOML ({exc}); fix the syntax")
    return _parse(data, path.name.removesuffix(".toml"), fail)


def _sort_key(target: Target) -> tuple:
    # Natural order, so cortex-m4 comes before cortex-m33.
    parts = re.split(r"(\d+)", target.name)
    return FAMILIES.index(target.family), [int(p) if p.isdigit() else p for p in parts]


@functools.cache
def _registry() -> dict[str, Target]:
    shipped = (f for f in files(FILES_PACKAGE).iterdir() if f.name.endswith(".toml"))
    targets = sorted((load_target_file(f) for f in shipped), key=_sort_key)
    return {t.name: t for t in targets}


def list_targets() -> list[Target]:
    """Every shipped target, sorted by family then name."""
    return list(_registry().values())


def target_names() -> list[str]:
    """The names ``load_target`` accepts, in ``list_targets`` order."""
    return list(_registry())


def load_target(name: str) -> Target:
    """The shipped target called ``name``; an unknown name lists the valid ones."""
    try:
        return _registry()[name]
    except KeyError:
        raise EdgekitError(
            f"unknown target '{name}'; valid targets: {', '.join(target_names())}"
        ) from None


def format_size(n: int | None) -> str:
    """Bytes in the largest binary unit that keeps the figure at least 1: '320 KiB', '4 GiB'."""
    if n is None:
        return "-"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{round(n / size, 1):g} {unit}"
    return f"{n} B"


def format_targets(targets: Iterable[Target]) -> str:
    """A plain aligned table of targets, as ``edgekit targets`` prints it."""
    rows = [("NAME", "FAMILY", "CPU", "BOARD", "RAM", "FLASH", "MODEL", "BACKENDS")]
    rows += [
        (
            t.name,
            t.family,
            t.cpu,
            t.board,
            format_size(t.ram_bytes),
            format_size(t.flash_bytes),
            f"{t.alpha}@{t.resolution}",
            ",".join(t.backends),
        )
        for t in targets
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
