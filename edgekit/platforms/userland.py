"""An emulated Raspberry Pi OS userland: Debian bookworm's Python 3.11 on the board's ISA.

edgekit runs its LiteRT and TVM artifacts for Linux boards as the board would: with the board's
Python (Raspberry Pi OS is Debian bookworm, Python 3.11) and the board's wheels, on the board's
instruction set under qemu-user, on the board's core. No chroot or binfmt_misc is needed:
``qemu-aarch64 -L ROOT`` looks up the guest's absolute paths (its dynamic loader and libraries,
``/proc/cpuinfo``) in ROOT first.

The root is built once per Debian architecture from Debian's and PyPI's own packages
(``apt-get download`` + ``dpkg -x``, ``pip download`` of manylinux wheels) into a cache folder
outside the repository, and reused by every board of that architecture: each board's core gets
its own view of the root (``cpus/<cores>x<cpu>``: links to the root's folders beside the board's
``proc/cpuinfo``), so a Cortex-A76 never reads a Cortex-A72's cpuinfo.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError, last_line
from edgekit.platforms.linux import (
    ARCHES,
    Arch,
    cache_home,
    cpuinfo_name,
    qemu_user,
    qemu_user_binary,
    write_cpuinfo,
)
from edgekit.platforms.targets import Target

PYTHON = "3.11"
# Bookworm's glibc is 2.36: wheels tagged manylinux_2_17 up to manylinux_2_36 run on it.
GLIBC = (2, 36)
SITE = Path("usr/lib/python3/dist-packages")
MANIFEST = "edgekit-userland.json"
FORMAT = 1
VIEWS = "cpus"

# The interpreter and the shared libraries that its stdlib, numpy and LiteRT load (every DT_NEEDED
# of every .so in a built root). libpython3.11-stdlib's other Depends (readline, ncurses, sqlite,
# db5.3, nsl, uuid) only serve modules edgekit's runners never import.
DEBIAN_BASE = (
    "libc6",
    "libgcc-s1",
    "libstdc++6",
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libexpat1",
    "zlib1g",
    "libssl3",
    "libffi8",
    "libbz2-1.0",
    "liblzma5",
)


@dataclass(frozen=True)
class Distribution:
    """What a Raspberry Pi OS userland holds on one architecture besides Debian's base: its
    default pip requirements (``packages``), and ``debian`` packages that stand in for wheels
    PyPI lacks there, with ``provides`` the pip projects they satisfy (name -> Debian package).
    """

    arch: Arch
    packages: tuple[str, ...]
    debian: tuple[str, ...] = ()
    provides: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.arch.debian

    @property
    def triplet(self) -> str:
        return self.arch.triplet

    @property
    def wheel_machine(self) -> str:
        return self.arch.wheel_machine

    def platforms(self) -> list[str]:
        legacy = [f"manylinux2014_{self.wheel_machine}"]
        return legacy + [
            f"manylinux_{GLIBC[0]}_{minor}_{self.wheel_machine}"
            for minor in range(17, GLIBC[1] + 1)
        ]


# By Debian architecture.
DISTRIBUTIONS = {
    d.name: d
    for d in (
        # 64-bit Raspberry Pi OS.
        Distribution(ARCHES["aarch64"], ("ai-edge-litert==2.3.*", "numpy<2.4")),
        # 32-bit Raspberry Pi OS. PyPI has no armv7l wheels of ai-edge-litert, numpy, apache-tvm
        # or onnxruntime; it has TensorFlow's tflite-runtime 2.14, which runs on Debian's own
        # numpy (1.24, as on the board).
        Distribution(
            ARCHES["armv7-a"],
            ("tflite-runtime==2.14.*",),
            debian=("python3-numpy", "libblas3", "liblapack3", "libgfortran5"),
            provides={"numpy": "python3-numpy"},
        ),
    )
}


@dataclass(frozen=True)
class Userland:
    """A built root seen by one board (``emulator``: its qemu-user command, ``-L`` its view of
    the root): run Python scripts in it as that board would."""

    root: Path
    spec: Distribution
    manifest: dict
    emulator: tuple[str, ...]

    @property
    def python(self) -> Path:
        return self.root / "usr" / "bin" / f"python{PYTHON}"

    @property
    def where(self) -> str:
        """``qemu-aarch64 -cpu cortex-a76``: what runs the scripts."""
        return f"{Path(self.emulator[0]).name} {' '.join(self.emulator[1:3])}"

    def command(self, script: Path | str, args: list[str]) -> list[str]:
        """The command line that runs ``script`` with the root's Python under QEMU."""
        return [*self.emulator, str(self.python), str(script), *args]

    def env(self) -> dict[str, str]:
        """The host environment without what would leak host Python or libraries into the guest."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "QEMU_")) and k not in ("LD_LIBRARY_PATH", "LD_PRELOAD")
        }
        env.update(PYTHONHOME=str(self.root / "usr"), PYTHONNOUSERSITE="1")
        return env

    def run(
        self, script: Path | str, args: list[str], cwd: Path, timeout: float
    ) -> subprocess.CompletedProcess:
        """Run ``script`` (relative to ``cwd`` or absolute) with ``args``; output captured as text.

        A non-zero exit or a timeout raises EdgekitError with the script's last line of stderr.
        """
        where = self.where
        try:
            done = subprocess.run(
                self.command(script, args),
                cwd=cwd,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise EdgekitError(
                f"{Path(script).name} did not finish within {timeout:g} s under {where}; it hangs, "
                "or it needs a larger timeout"
            ) from None
        if done.returncode != 0:
            raise EdgekitError(
                f"{Path(script).name} failed under {where} ({_exit(done.returncode)}): "
                f"{last_line(done.stderr)}"
            )
        return done


def default_cache(arch: str, packages: tuple[str, ...] | list[str] | None = None) -> Path:
    """``~/.cache/edgekit/userland-<arch>-py311`` (``$XDG_CACHE_HOME`` when set) for the Debian
    arch's default packages; other package sets get their own folder (a hash suffix), so callers
    that want different packages never rebuild each other's userland."""
    name = f"userland-{arch}-py{PYTHON.replace('.', '')}"
    if packages is not None and list(packages) != list(DISTRIBUTIONS[arch].packages):
        name += "-" + hashlib.sha256(json.dumps(list(packages)).encode()).hexdigest()[:8]
    return cache_home() / name


def ensure_userland(
    target: Target, packages: tuple[str, ...] | None = None, cache: Path | None = None
) -> Userland:
    """The emulated userland of ``target``'s board with the pip requirements ``packages``, built
    if needed: its architecture's root, run on its core with its ``/proc/cpuinfo``.

    ``packages`` defaults to the architecture's LiteRT (ai-edge-litert on arm64, tflite-runtime
    on armhf). The root lives in ``cache`` (default: ``default_cache(arch, packages)``), shared
    by the boards of that architecture; it is built in a temporary folder beside it and renamed
    into place when complete, and rebuilt only when the requested packages change. Needs
    qemu-user, and Debian's apt for the first build.
    """
    spec = next((d for d in DISTRIBUTIONS.values() if d.arch.name == target.arch), None)
    if spec is None or target.emulator is None or target.emulator.kind != "qemu-user":
        runs = ", ".join(f"{d.arch.name} ({d.name})" for d in DISTRIBUTIONS.values())
        raise EdgekitError(
            f"{target.name} has no emulated Raspberry Pi OS userland; there is one for "
            f"qemu-user boards of: {runs}"
        )
    qemu_user_binary(target)  # missing qemu stops it before anything is downloaded
    requested = list(spec.packages if packages is None else packages)
    root = Path(cache) if cache is not None else default_cache(spec.name, requested)
    manifest = _manifest_for(root, spec, requested)
    if manifest is None:
        root.parent.mkdir(parents=True, exist_ok=True)
        with _locked(root.parent / f".{root.name}.lock"):
            # Another process may have built it while this one waited.
            manifest = _manifest_for(root, spec, requested) or _build(spec, requested, root, target)
    emulator = qemu_user(target, _view(root, target))
    return Userland(root, spec, manifest, tuple(emulator))


def _view(root: Path, target: Target) -> Path:
    """The root as the target's board sees it: ``root/cpus/<cores>x<cpu>``, relative links to
    the root's own folders and files beside the board's ``proc/cpuinfo``. Made on first use,
    so a board with another core shares the root without rebuilding it."""
    view = root / VIEWS / cpuinfo_name(target)
    entries = [e for e in root.iterdir() if e.name not in (VIEWS, "proc", MANIFEST)]
    if not view.is_dir():
        view.parent.mkdir(exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{view.name}-", dir=view.parent))
        for entry in entries:
            (work / entry.name).symlink_to(Path("..", "..", entry.name))
        try:
            work.rename(view)
        except OSError:  # another process made it first
            shutil.rmtree(work)
    return write_cpuinfo(view, target)


def _manifest_for(root: Path, spec: Distribution, requested: list[str]) -> dict | None:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wanted = {"format": FORMAT, "arch": spec.name, "requested": requested}
    return manifest if all(manifest.get(k) == v for k, v in wanted.items()) else None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(spec: Distribution, requested: list[str], root: Path, target: Target) -> dict:
    start = time.perf_counter()
    for stale in root.parent.glob(f".{root.name}.build-*"):  # left by a build that was killed
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{root.name}.build-", dir=root.parent))
    try:
        new = work / "root"
        debs = _download_debs(spec, (*DEBIAN_BASE, *spec.debian), work / "debs")
        debian = {}
        for deb in debs:
            name, version = _deb_fields(deb)
            debian[name] = version
            _check_run(["dpkg-deb", "-x", str(deb), str(new)], f"unpacking {deb.name}")
        _link_alternatives(new / "usr" / "lib" / spec.triplet)
        site = new / SITE
        site.mkdir(parents=True, exist_ok=True)
        provided = {
            project: _upstream(debian[package]) for project, package in spec.provides.items()
        }
        wheels = {}
        for wheel in _download_wheels(spec, requested, provided, work / "wheels"):
            name, version = wheel.name.split("-")[:2]
            if name.replace("_", "-").lower() not in provided:
                _unpack_wheel(wheel, site)
                wheels[name.replace("_", "-").lower()] = version
        size = sum(f.stat().st_size for f in new.rglob("*") if f.is_file())
        _check_python(Userland(new, spec, {}, tuple(qemu_user(target, _view(new, target)))), work)
        manifest = {
            "format": FORMAT,
            "arch": spec.name,
            "requested": requested,
            "python": debian["python3.11-minimal"],
            "debian": debian,
            "wheels": wheels,
            "bytes": size,
            "build_seconds": round(time.perf_counter() - start, 1),
        }
        (new / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        if root.exists():
            root.rename(work / "old")
        new.rename(root)
        return manifest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_python(userland: Userland, cwd: Path) -> None:
    """The stdlib modules that load the Debian libraries import, or the build stops here."""
    try:
        userland.run("-c", ["import bz2, ctypes, hashlib, lzma, pyexpat, ssl, zlib"], cwd, 120)
    except EdgekitError as exc:
        raise EdgekitError(
            f"the new {userland.spec.name} userland's Python does not work: {exc}"
        ) from None


def _download_debs(spec: Distribution, names: tuple[str, ...], dest: Path) -> list[Path]:
    """``apt-get download`` of ``names`` for ``spec`` (Debian's index refreshed once if needed)."""
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise EdgekitError(
                f"{tool} not found: the emulated userland is built from Debian's packages, "
                "which needs a Debian or Ubuntu host (or a ready cache folder)"
            )
    _enable_architecture(spec.name)
    dest.mkdir(parents=True)
    cmd = ["apt-get", "download", *(f"{name}:{spec.name}" for name in names)]
    done = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
    if done.returncode != 0 and os.geteuid() == 0:
        # The index may predate the arch or lag behind the mirror: refresh it once and retry.
        subprocess.run(["apt-get", "update"], capture_output=True)
        done = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
    if done.returncode != 0:
        raise EdgekitError(
            f"apt-get download of Debian {spec.name} packages failed: "
            f"{last_line(done.stderr, 'E:')} (check the network; run apt-get update)"
        )
    return sorted(dest.glob("*.deb"))


def _enable_architecture(arch: str) -> None:
    native = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    foreign = subprocess.run(
        ["dpkg", "--print-foreign-architectures"], capture_output=True, text=True
    )
    if arch in (native.stdout + foreign.stdout).split():
        return
    if os.geteuid() != 0:
        raise EdgekitError(
            f"Debian architecture {arch} is not enabled on this host; run: "
            f"sudo dpkg --add-architecture {arch} && sudo apt-get update"
        )
    _check_run(["dpkg", "--add-architecture", arch], f"dpkg --add-architecture {arch}")
    subprocess.run(["apt-get", "update"], capture_output=True)


def _deb_fields(deb: Path) -> tuple[str, str]:
    out = _check_run(["dpkg-deb", "-f", str(deb), "Package", "Version"], f"reading {deb.name}")
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return fields["Package"], fields["Version"]


def _upstream(version: str) -> str:
    """Debian's ``1:1.24.2-1+deb12u1`` -> upstream ``1.24.2``."""
    return re.sub(r"-[^-]*$", "", version.split(":", 1)[-1])


def _link_alternatives(libdir: Path) -> None:
    """The BLAS and LAPACK links update-alternatives makes (dpkg -x runs no scripts)."""
    for lib in ("blas", "lapack"):
        target = libdir / lib / f"lib{lib}.so.3"
        if target.exists():
            (libdir / target.name).symlink_to(f"{lib}/{target.name}")


def _download_wheels(
    spec: Distribution, requested: list[str], provided: dict[str, str], dest: Path
) -> list[Path]:
    """``pip download`` of the requirements' binary wheels for Python 3.11 on ``spec``.

    Projects that Debian provides on this arch are offered to pip as empty stand-in wheels of
    Debian's version, so pip resolves everything else against them and never looks for them.
    """
    dest.mkdir(parents=True)
    stand_ins = dest.parent / "stand-ins"
    stand_ins.mkdir()
    for project, version in provided.items():
        _stand_in_wheel(stand_ins, project, version)
    if not requested:
        return []
    platforms = [arg for p in spec.platforms() for arg in ("--platform", p)]
    cmd = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", *platforms, "--python-version", PYTHON, "--implementation", "cp",
        "--abi", f"cp{PYTHON.replace('.', '')}", "--find-links", str(stand_ins),
        "--dest", str(dest), *requested,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        problem = last_line(done.stderr, "ERROR:").removeprefix("ERROR: ")
        raise EdgekitError(
            f"pip download of {spec.wheel_machine} wheels for Python {PYTHON} failed: {problem} "
            f"(check the network, and that PyPI has manylinux {spec.wheel_machine} wheels of "
            f"{', '.join(requested)}; for {spec.name} it has: {', '.join(spec.packages)})"
        )
    return sorted(dest.glob("*.whl"))


def _stand_in_wheel(folder: Path, project: str, version: str) -> None:
    info = f"{project}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{project}-{version}-py3-none-any.whl", "w") as whl:
        whl.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
        )
        whl.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        whl.writestr(f"{info}/RECORD", "")


def _unpack_wheel(wheel: Path, site: Path) -> None:
    """Install a wheel the way pip would for the modules (scripts and headers left out)."""
    with zipfile.ZipFile(wheel) as whl:
        whl.extractall(site)
    for data in site.glob("*.data"):
        for kind in ("purelib", "platlib"):
            if (data / kind).is_dir():
                shutil.copytree(data / kind, site, dirs_exist_ok=True)
        shutil.rmtree(data)


def _check_run(cmd: list[str], what: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise EdgekitError(f"{what} failed: {last_line(done.stderr)}")
    return done.stdout


def _exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit {code}"
