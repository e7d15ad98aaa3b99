"""The ``c`` backend: edgekit's own C99 from the int8 ``.tflite``, built as Cortex-M firmware
(run in QEMU's board emulation), as a static Linux executable for a Raspberry Pi / Cortex-A
board (run under QEMU user-mode emulation), or as a host program (run here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np

from edgekit.artifacts import Artifact, BaseBackend, RunOutput, parse_latency
from edgekit.compiler.codegen import PREFIX, CModel, generate_c
from edgekit.compiler.ir import read_tflite, without_shape_computations
from edgekit.compiler.ops import require_supported, select_kernels
from edgekit.compiler.patches import patch_details, plan_patches
from edgekit.compiler.variants import kernel_report
from edgekit.config import DEFAULTS, CompileOptions
from edgekit.errors import EdgekitError, InternalError, first_line
from edgekit.platforms.linux import ARCHES, cross_compiler, qemu_user
from edgekit.platforms.targets import Target
from edgekit.quantization import Int8Model

HOST_CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2"]
# AddressSanitizer and UndefinedBehaviorSanitizer, every finding fatal (tests, debugging).
SANITIZE_CFLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g"]
# Debian package of the cross compiler of each Linux triple that runs under QEMU here.
CROSS_PACKAGES = {a.triplet: a.cross_package for a in ARCHES.values() if a.qemu_user}
LAYERS_FLAG, LAYERS_FILE = "layers.flag", "layers.bin"
BASELINE = "firmware-without-patches"  # beside firmware/ when the build runs patches


class CBackend(BaseBackend):
    name = "c"
    precision = "int8"
    bit_exact = True

    def supports(self, target: Target) -> bool:
        return target.family in ("mcu", "npu", "host") or target.triple in CROSS_PACKAGES

    def compile(
        self,
        model: Int8Model,
        target: Target,
        out: Path,
        options: CompileOptions = DEFAULTS,
    ) -> Artifact:
        """The C folder (``out/src``) and, for microcontrollers, the firmware (``out/firmware``)."""
        # op indices here are the folded graph's; ``origin`` maps them back to the file's
        graph, origin = without_shape_computations(read_tflite(model.tflite))
        require_supported(graph, target)
        kernels = select_kernels(graph, target, options.kernels)
        plain = generate_c(graph, kernels, prefix=options.prefix)
        room, built = None, None
        if _fits_board(target, options):
            # what the board's RAM leaves for the arena: the RAM less the rest of the firmware
            # (stack, state, the program's own data) and --ram-reserve, measured on the firmware
            # that runs layer by layer; --patches auto then takes the fastest plan within it
            built = _firmware(
                plain, write_c_folder(plain, out / "src"), target, out=out / "firmware"
            )
            room = (
                target.ram_bytes - options.ram_reserve - (built.ram_bytes - plain.plan.arena_bytes)
            )
        patches = plan_patches(graph, kernels, options, room)
        cmodel = plain
        if patches is not None:
            cmodel = generate_c(graph, kernels, patches, options.prefix)
            if built is not None:  # kept beside, to measure what the patches cost
                shutil.rmtree(out / "src")
                (out / "firmware").rename(out / BASELINE)
        folder = write_c_folder(cmodel, out / "src")
        # a float .tflite (the float32 reference's C, edgekit.floatref) computes in float32
        precision = "float32" if cmodel.precision == "float32" else self.precision
        details = {
            "arena_bytes": cmodel.plan.arena_bytes,
            "arena_lower_bound": cmodel.plan.lower_bound,
            "peak_layer": cmodel.plan.peak_layer,
            "weight_bytes": cmodel.weight_bytes,
            "in_place_ops": len({p.op for p in cmodel.plan.in_place}),
            "layers": list(cmodel.layers),
            "layer_ops": [origin[i] for i in cmodel.layer_ops],
            "layer_bytes": list(cmodel.layer_bytes),
            "kernels": kernel_report(graph, kernels, options.kernels),
        }
        if patches is not None:
            details["patches"] = patch_details(patches, graph)
            details["peak_layer"] = details["patches"]["peak"]
        if target.family == "host":
            build_host(folder, out / "host")
            return Artifact(self.name, out, precision, None, cmodel.plan.arena_bytes, details)
        if target.family == "linux":
            binary = build_host(folder, out / "linux", cross=target)
            details["executable"] = str(binary.relative_to(out))
            details["executable_bytes"] = binary.stat().st_size
            return Artifact(self.name, out, precision, None, cmodel.plan.arena_bytes, details)
        from edgekit.platforms.qemu import code_bytes

        if built is not None and patches is None:
            fw = built
        else:
            fw = _firmware(cmodel, folder, target, out=out / "firmware")
        try:
            _check_room(fw, target, options)
        except EdgekitError:  # no firmware is left that the board cannot hold
            for folder_name in ("firmware", BASELINE):
                shutil.rmtree(out / folder_name, ignore_errors=True)
            raise
        details["kernel_code_bytes"] = code_bytes(fw.elf, kernel_functions(cmodel))
        if patches is not None:  # the same model layer by layer, to measure what patches cost
            if built is None:
                with tempfile.TemporaryDirectory(prefix="edgekit-plain-") as tmp:
                    plain_src = write_c_folder(plain, Path(tmp) / "src")
                    _firmware(plain, plain_src, target, out=out / BASELINE)
            details["patches"]["baseline_firmware"] = f"{BASELINE}/firmware.elf"
        details["firmware"] = {
            "elf": str(fw.elf.relative_to(out)),
            "hex": str(fw.hex.relative_to(out)),
            "bin": str(fw.bin.relative_to(out)) if fw.bin else None,
        }
        return Artifact(self.name, out, precision, fw.flash_bytes, fw.ram_bytes, details)

    def run(
        self, artifact: Artifact, target: Target, inputs: np.ndarray, layers: bool = False
    ) -> RunOutput:
        sizes = artifact.details["layer_bytes"] if layers else None
        if target.family == "host":
            return run_host(artifact.path / "host" / "model_run", inputs, sizes)
        if target.family == "linux":
            return run_host(
                artifact.path / "linux" / "model_run", inputs, sizes, emulator=qemu_user(target)
            )
        return _run_qemu(artifact, target, inputs, layers=layers)


def _firmware(cmodel: CModel, folder: Path, target: Target, *, out: Path):
    """The C folder ``folder`` (``cmodel``'s) with the semihosting main as the target's QEMU
    board firmware in ``out``, whatever its size (``_check_room`` checks it)."""
    from edgekit.platforms.qemu import boards_dir, build_firmware

    sources = [folder / n for n in cmodel.files if n.endswith(".c")]
    sources.append(folder / "main_semihosting.c")
    return build_firmware(sources, [folder, boards_dir()], target, out, force=True)


def _fits_board(target: Target, options: CompileOptions) -> bool:
    """Whether --patches auto fits the plan to the board's RAM (no --arena-limit given)."""
    return (
        target.family in ("mcu", "npu")
        and target.ram_bytes is not None
        and options.patches == "auto"
        and options.arena_limit is None
    )


def _check_room(fw, target: Target, options: CompileOptions) -> None:
    """Raise unless ``--force`` if the firmware with --ram-reserve left free does not fit the
    target's RAM and flash."""
    from edgekit.platforms.qemu import check_budget

    if options.force:
        return
    check_budget(fw, target)
    if target.ram_bytes is not None and fw.ram_bytes + options.ram_reserve > target.ram_bytes:
        raise EdgekitError(
            f"firmware {fw.elf.name} needs {fw.ram_bytes} bytes of RAM, which leaves "
            f"{target.ram_bytes - fw.ram_bytes} of {target.name}'s {target.ram_bytes} free, less "
            f"than --ram-reserve {options.ram_reserve}; lower the reserve, pass --arena-limit, "
            "or shrink the model"
        )


def kernel_functions(cmodel: CModel) -> set[str]:
    """The functions the kernel files define (a definition starts its line: calls are
    indented), whose code the firmware's flash holds beside the weights."""
    kernels = {p.name for p in resources.files("edgekit.compiler.kernels").iterdir()}
    return {
        name
        for file, text in cmodel.files.items()
        if file in kernels
        for name in re.findall(r"^[A-Za-z][^;(]*?\b(ek_\w+)\s*\(", text, re.M)
    }


# ---------------------------------------------------------------- the C folder


def write_c_folder(cmodel: CModel, folder: Path) -> Path:
    """Write the generated sources, the example mains, build files and README into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    templates = resources.files("edgekit.templates")
    for name, text in cmodel.files.items():
        (folder / name).write_text(text)
    sources = " ".join(n for n in cmodel.files if n.endswith(".c"))
    for name in ("main.c", "main_semihosting.c", "Makefile", "CMakeLists.txt", "README.md"):
        text = (templates / name).read_text()
        text = text.replace("@SOURCES@", sources).replace("@ARENA@", str(cmodel.plan.arena_bytes))
        if cmodel.prefix != PREFIX:  # the templates are written for the default prefix
            text = re.sub(r"\bmodel(?=[_.])", cmodel.prefix, text)
            text = re.sub(r"\bMODEL_", cmodel.prefix.upper() + "_", text)
        (folder / name).write_text(text)
    return folder


def build_host(
    folder: Path, out: Path, *, cross: Target | None = None, sanitize: bool = False
) -> Path:
    """``folder``'s model with its stdio ``main.c`` as a program, warnings as errors: for this
    machine (with ``sanitize``, under ASan and UBSan, any finding fatal), or with ``cross`` a
    static executable for that Linux target."""
    if cross is None:
        cc, flags = shutil.which("cc") or shutil.which("gcc"), SANITIZE_CFLAGS if sanitize else []
        if cc is None:
            raise EdgekitError("no C compiler found; install one with: apt-get install gcc")
    else:
        if sanitize:  # the sanitizer runtimes do not link into a static executable
            raise InternalError("sanitized builds are for this machine only: leave out cross")
        cc, flags = cross_compiler(cross), [*cross.cflags, "-static"]
    out.mkdir(parents=True, exist_ok=True)
    binary = out / "model_run"
    sources = sorted(str(p) for p in folder.glob("*.c") if p.name != "main_semihosting.c")
    done = subprocess.run(
        [cc, *HOST_CFLAGS, *flags, "-I", str(folder), *sources, "-o", str(binary)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        missing = [line for line in done.stderr.splitlines() if "No such file" in line]
        if missing:  # the toolchain lacks a C library header: an installation to complete
            raise EdgekitError(
                f"{Path(cc).name} cannot build the C folder: {missing[0].strip()}; install its "
                "C library (libc6-dev, or the cross compiler's Debian package)"
            )
        raise InternalError(f"the generated C does not compile: {first_line(done.stderr)}")
    return binary


def run_host(
    binary: Path,
    inputs: np.ndarray,
    layer_bytes: list[int] | None = None,
    *,
    emulator: list[str] | None = None,
) -> RunOutput:
    """Run the program on int8 ``inputs`` (one row per input), all in one process, natively or
    under ``emulator`` (a QEMU user-mode command); with ``layer_bytes``, also every layer's
    output for the first input."""
    with tempfile.TemporaryDirectory(prefix="edgekit-run-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(np.ascontiguousarray(inputs).tobytes())
        cmd = [*(emulator or []), str(binary.resolve()), "input.bin", "output.bin"]
        cmd += [LAYERS_FILE] if layer_bytes else []
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if done.returncode != 0:
            raise EdgekitError(f"{binary.name} failed: {first_line(done.stderr or done.stdout)}")
        outputs = np.frombuffer((work / "output.bin").read_bytes(), np.int8)
        dumped = (work / LAYERS_FILE).read_bytes() if layer_bytes else None
    runner = f"{Path(emulator[0]).name} -cpu {emulator[2]}" if emulator else "host"
    layers = _split(dumped, layer_bytes) if dumped is not None else None
    return RunOutput(
        outputs.reshape(len(inputs), -1),
        runner,
        layers=layers,
        latency_us=parse_latency(done.stdout),
        native=emulator is None,
    )


def _split(dumped: bytes, sizes: list[int]) -> list[np.ndarray]:
    """The per-layer outputs in a layers dump, one array per layer."""
    data, out, start = np.frombuffer(dumped, np.int8), [], 0
    for n in sizes:
        out.append(data[start : start + n])
        start += n
    return out


def _run_qemu(artifact: Artifact, target: Target, inputs: np.ndarray, *, layers: bool) -> RunOutput:
    run = _run_firmware(artifact, artifact.path / "firmware", target, inputs=inputs, layers=layers)
    baseline = artifact.path / BASELINE
    if "patches" in artifact.details and (baseline / "firmware.elf").is_file():
        # the first input is enough: the instruction counts are deterministic per input
        plain = _run_firmware(artifact, baseline, target, inputs=inputs[:1], layers=False)
        if not np.array_equal(plain.outputs, run.outputs[:1]):
            raise InternalError(
                f"{BASELINE}/firmware.elf gives other outputs than the patched firmware; "
                "rebuild with --patches off and report the model as an edgekit bug"
            )
        run = replace(run, instructions_without_patches=plain.instructions)
    return run


def _run_firmware(
    artifact: Artifact, fw_dir: Path, target: Target, *, inputs: np.ndarray, layers: bool
) -> RunOutput:
    from edgekit.platforms.qemu import BOARDS, Firmware, run_firmware

    fw = Firmware(
        fw_dir / "firmware.elf",
        fw_dir / "firmware.bin",
        fw_dir / "firmware.hex",
        artifact.flash_bytes or 0,
        artifact.ram_bytes or 0,
        target.emulator.machine,
    )
    if target.emulator is None or target.emulator.machine not in BOARDS:
        raise InternalError(f"{target.name}'s firmware was built for a board QEMU does not run")
    # one boot runs every input in order, as the device would: a recurrent model's state
    # carries from one run to the next exactly as in the reference interpreter
    inputs = np.ascontiguousarray(inputs)
    result = run_firmware(
        fw,
        target,
        inputs.tobytes(),
        timeout=600 + 60 * len(inputs),
        files={LAYERS_FLAG: b"1"} if layers else None,
        collect=(LAYERS_FILE,) if layers else (),
    )
    per_run = len(result.counts) // max(len(inputs), 1)
    if per_run * len(inputs) != len(result.counts) or not per_run:
        raise InternalError(f"the firmware wrote {len(result.counts)} tick counts for "
                            f"{len(inputs)} runs")  # fmt: skip
    outputs = np.frombuffer(result.output, np.int8).reshape(len(inputs), -1)
    counts = result.counts[::per_run]
    layer_counts = result.counts[1:per_run]
    dumped = result.files.get(LAYERS_FILE, b"") if layers else None
    layer_outputs = _split(dumped, artifact.details["layer_bytes"]) if dumped else None
    runner = f"{target.emulator.binary} {target.emulator.machine}"
    return RunOutput(outputs, runner, tuple(counts), tuple(layer_counts), layer_outputs)
