"""The ``vela`` backend: Arm's Vela compiles the int8 ``.tflite`` for an Ethos-U NPU.

Vela replaces the ops the NPU runs with one ``ethos-u`` custom op holding the NPU's command
stream and encoded weights; TFLite Micro's Ethos-U kernel hands that op to the NPU driver and
runs whatever is left on the Cortex-M. Vela keeps the int8 model's arithmetic, so the accuracy
of the int8 reference is the model's. Its cycles, memory and per-layer figures are Vela's own
performance model: estimates, since QEMU has no Ethos-U model and nothing here runs the NPU.

The artifact folder holds Vela's outputs as it names them (``model_int8_vela.tflite``,
``model_int8_summary_<system config>.csv``, ``model_int8_per-layer.csv``), its console log,
the compiled model as a C array for firmware, and a README.
"""

from __future__ import annotations

import csv
import importlib.util
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import numpy as np

from edgekit import __version__
from edgekit.artifacts import Artifact, BaseBackend, RunOutput
from edgekit.config import DEFAULTS, CompileOptions
from edgekit.errors import CannotRun, EdgekitError, InternalError, last_line
from edgekit.platforms.targets import Npu, Target
from edgekit.quantization import Int8Model

STEM = "model_int8"  # Vela names its outputs after the input file
VELA_INSTALL = "pip install 'ethos-u-vela>=4.0'"
VELA_CONFIG = "Arm/vela.ini"  # the configuration file that ships with Vela
TIMEOUT = 600.0
C_NAME = "ek_model_vela"
KIB = 1024

# Vela's per-layer CSV column -> (report key, type)
LAYER_COLUMNS = {
    "Original Operator": ("original_op", str),
    "NNG Operator": ("op", str),
    "Target": ("target", str),
    "Staging Usage": ("staging_bytes", int),
    "Op Cycles": ("cycles", int),
    "Network% (cycles)": ("cycles_pct", float),
    "NPU": ("npu_cycles", int),
    "SRAM AC": ("sram_access_cycles", int),
    "DRAM AC": ("dram_access_cycles", int),
    "OnFlash AC": ("on_chip_flash_access_cycles", int),
    "OffFlash AC": ("off_chip_flash_access_cycles", int),
    "MAC Count": ("macs", int),
    "Util% (MAC)": ("mac_util_pct", float),
    "Name": ("name", str),
}


class VelaBackend(BaseBackend):
    name = "vela"
    precision = "int8"

    def supports(self, target: Target) -> bool:
        return target.family == "npu" and target.npu is not None

    def compile(
        self,
        model: Int8Model,
        target: Target,
        out: Path,
        options: CompileOptions = DEFAULTS,
    ) -> Artifact:
        """Vela's compiled ``.tflite``, its figures (``details["vela"]``) and a C array of it."""
        if target.npu is None:
            raise InternalError(f"the vela backend compiled for {target.name}, which has no NPU")
        optimise = options.optimise or target.npu.optimise  # both checked when they were read
        out.mkdir(parents=True, exist_ok=True)
        stdout, command = run_vela(model.tflite, target.npu, optimise, out)
        (out / "vela.log").write_text(f"$ {command}\n{stdout}", encoding="utf-8")
        compiled = (out / f"{STEM}_vela.tflite").read_bytes()
        figures = {
            "estimates": True,  # Vela's performance model, not a measurement
            "vela_version": version("ethos-u-vela"),
            "command": command,
            "accelerator": target.npu.accelerator,
            "optimise": optimise,
            **read_summary(out / f"{STEM}_summary_{target.npu.system_config}.csv"),
            **read_operators(stdout),
            "compiled_ops": dict(Counter(compiled_ops(compiled))),
            "compiled_tflite": f"{STEM}_vela.tflite",
            "layers": read_layers(out / f"{STEM}_per-layer.csv"),
        }
        write_c_array(compiled, out)
        (out / "README.md").write_text(readme(figures, target), encoding="utf-8")
        ram = (figures["sram_bytes"] or 0) + (figures["dram_bytes"] or 0)
        return Artifact(self.name, out, self.precision, len(compiled), ram, {"vela": figures})

    def run(
        self, artifact: Artifact, target: Target, inputs: np.ndarray, layers: bool = False
    ) -> RunOutput:
        raise CannotRun(
            "QEMU has no Ethos-U model; Vela's figures are estimates (run the .tflite on a "
            "Corstone-300 FVP or an Ethos-U board)"
        )


# ---------------------------------------------------------------- running Vela


def vela_args(network: Path, npu: Npu, optimise: str, out: Path) -> list[str]:
    """Vela's command-line arguments for the target's NPU: the per-layer CSV and the list of
    ops left to the CPU included."""
    return [
        str(network),
        "--accelerator-config",
        npu.accelerator,
        "--config",
        VELA_CONFIG,
        "--system-config",
        npu.system_config,
        "--memory-mode",
        npu.memory_mode,
        "--optimise",
        optimise,
        "--verbose-performance",
        "--show-cpu-operations",
        "--output-dir",
        str(out),
    ]


def run_vela(tflite: bytes, npu: Npu, optimise: str, out: Path) -> tuple[str, str]:
    """Run Vela (the venv's ``python -m ethosu.vela``) on ``tflite`` into ``out``; its console
    output and the command as a user would type it."""
    if importlib.util.find_spec("ethosu") is None:
        raise EdgekitError(f"Arm Vela is not installed; install it with: {VELA_INSTALL}")
    with tempfile.TemporaryDirectory(prefix="edgekit-vela-") as tmp:
        network = Path(tmp) / f"{STEM}.tflite"
        network.write_bytes(tflite)
        args = vela_args(network, npu, optimise, out)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "ethosu.vela", *args],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"Vela did not finish within {TIMEOUT:g} s") from None
    shown = ["vela", f"{STEM}.tflite", *args[1:-1], "OUT"]
    command = shlex.join(shown)
    if done.returncode != 0 or not (out / f"{STEM}_vela.tflite").is_file():
        why = last_line(done.stderr or done.stdout, "Error")
        raise EdgekitError(
            f"Vela failed for {npu.accelerator} ({npu.system_config}, {npu.memory_mode}): "
            f"{why}; check the target's [npu] table"
        )
    return done.stdout, command


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _kib_bytes(text: str | None) -> int | None:
    value = _number(text)
    return None if value is None else round(value * KIB)


def read_summary(path: Path) -> dict:
    """The figures of Vela's summary CSV that the report gives, memory in bytes."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            row = next(csv.DictReader(f))
    except (OSError, StopIteration) as exc:
        raise EdgekitError(f"Vela wrote no summary {path.name} ({exc})") from None

    def integer(key: str) -> int | None:
        value = _number(row.get(key))
        return None if value is None else round(value)

    return {
        "system_config": row.get("system_config"),
        "memory_mode": row.get("memory_mode"),
        "core_clock_hz": integer("core_clock"),
        "cycles_npu": integer("cycles_npu"),
        "cycles_total": integer("cycles_total"),
        "inference_ms": (
            None
            if _number(row.get("inference_time")) is None
            else _number(row.get("inference_time")) * 1000
        ),
        "inferences_per_second": _number(row.get("inferences_per_second")),
        "macs": integer("nn_macs"),
        "sram_bytes": _kib_bytes(row.get("sram_memory_used")),
        "dram_bytes": _kib_bytes(row.get("dram_memory_used")),
        "on_chip_flash_bytes": _kib_bytes(row.get("on_chip_flash_memory_used")),
        "off_chip_flash_bytes": _kib_bytes(row.get("off_chip_flash_memory_used")),
        "weights_storage": row.get("weights_storage_area"),
        "feature_map_storage": row.get("feature_map_storage_area"),
        "original_weight_bytes": integer("total_original_weights"),
        "encoded_weight_bytes": integer("total_npu_encoded_weights"),
        "summary_csv": path.name,
    }


def read_layers(path: Path) -> list[dict]:
    """Vela's per-layer estimates (``--verbose-performance``), one dict per Vela operator."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise EdgekitError(f"Vela wrote no per-layer CSV {path.name} ({exc})") from None
    layers = []
    for row in rows:
        layer = {}
        for column, (key, kind) in LAYER_COLUMNS.items():
            text = row.get(column)
            if kind is str:
                layer[key] = text
            else:
                value = _number(text)
                layer[key] = None if value is None else kind(value)
        layers.append(layer)
    return layers


def read_operators(stdout: str) -> dict:
    """Vela's NPU and CPU operator counts and the ops it leaves to the CPU, by type and name,
    from its console summary (``--show-cpu-operations``)."""
    counts: dict[str, int | None] = {"CPU": None, "NPU": None}
    fallback = []
    for line in stdout.splitlines():
        for kind in counts:
            if line.startswith(f"{kind} operators = "):
                counts[kind] = int(line.split("=", 1)[1].split()[0])
        if line.startswith("   CPU: "):
            op, _, rest = line[len("   CPU: ") :].partition(" = ")
            fallback.append({"op": op.strip(), "name": rest.rsplit(" (", 1)[0].strip()})
    return {
        "npu_operators": counts["NPU"],
        "cpu_operators": counts["CPU"],
        "cpu_fallback": fallback,
    }


def compiled_ops(tflite: bytes) -> list[str]:
    """The operators of the Vela-compiled model: ``CUSTOM:ethos-u`` for each NPU part, and the
    builtin ops TFLite Micro runs on the Cortex-M."""
    from edgekit.compiler.ir import read_tflite

    return [op.kind for op in read_tflite(tflite).ops]


# ---------------------------------------------------------------- firmware files


def write_c_array(data: bytes, out: Path) -> None:
    """``model_vela.h`` and ``model_vela.c``: the compiled model as a 16-byte aligned const
    array, as TFLite Micro's Ethos-U driver needs it (the command stream is read in place)."""
    header = f"/* Generated by edgekit {__version__}: do not edit; regenerate with edgekit. */\n"
    (out / "model_vela.h").write_text(
        header
        + "#ifndef EK_MODEL_VELA_H\n#define EK_MODEL_VELA_H\n\n"
        + f"#define {C_NAME.upper()}_LEN {len(data)}u\n"
        + f"extern const unsigned char {C_NAME}[{C_NAME.upper()}_LEN];\n\n#endif\n",
        encoding="ascii",
    )
    rows = [", ".join(f"0x{b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16)]
    body = ",\n    ".join(rows)
    (out / "model_vela.c").write_text(
        header
        + '#include "model_vela.h"\n\n'
        + "#if defined(__GNUC__)\n#define EK_ALIGN16 __attribute__((aligned(16)))\n#else\n"
        + "#define EK_ALIGN16\n#endif\n\n"
        + f"const unsigned char {C_NAME}[{C_NAME.upper()}_LEN] EK_ALIGN16 = {{\n    {body}\n}};\n",
        encoding="ascii",
    )


def readme(figures: dict, target: Target) -> str:
    """How to run the compiled model with TFLite Micro, with this build's figures."""
    if target.npu is None:
        raise InternalError(f"{target.name} has no NPU")
    arch = target.npu.accelerator.split("-")[1]  # u55, u65, u85
    cpu_ops = sorted({k for k in figures["compiled_ops"] if k != "CUSTOM:ethos-u"})
    left = (
        "every op runs on the NPU: the model is one `ethos-u` op"
        if not cpu_ops
        else "the Cortex-M runs " + ", ".join(cpu_ops) + "; register those in the op resolver"
    )

    def size(key: str) -> str:
        return "-" if figures.get(key) is None else f"{figures[key]:,} bytes"

    return f"""# {target.name}: MobileNetV2 compiled by Arm Vela {figures["vela_version"]}

Generated by edgekit {__version__}. Vela was run as

    {figures["command"]}

Files:

- `{figures["compiled_tflite"]}`: the model for TFLite Micro; {left}.
- `model_vela.c`, `model_vela.h`: the same bytes as `const unsigned char {C_NAME}[]`,
  16-byte aligned, for firmware without a file system.
- `{figures["summary_csv"]}`, `{STEM}_per-layer.csv`, `vela.log`: Vela's own figures.

Vela's estimates for {figures["accelerator"]} ({figures["system_config"]},
{figures["memory_mode"]}, --optimise {figures["optimise"]}), not measurements (QEMU has no
Ethos-U model): {figures["cycles_total"]:,} cycles per inference, {figures["inference_ms"]:.3f} ms
at {figures["core_clock_hz"] / 1e6:g} MHz; SRAM {size("sram_bytes")}, DRAM {size("dram_bytes")},
off-chip flash {size("off_chip_flash_bytes")}.

## Running it with TFLite Micro

1. Build TFLite Micro with the Ethos-U kernel and driver, e.g.
   `make -f tensorflow/lite/micro/tools/make/Makefile TARGET=cortex_m_generic
   TARGET_ARCH={target.cpu} CO_PROCESSOR=ethos_u ETHOSU_ARCH={arch} microlite`.
2. Initialise the NPU driver once at start-up (`ethosu_init` with the NPU's base address).
3. Load the model from `{C_NAME}` with `tflite::GetModel`, and add the Ethos-U op to the
   resolver: `tflite::MicroMutableOpResolver<1> resolver; resolver.AddEthosU();`.
4. Give the interpreter its tensor arena in {figures["feature_map_storage"] or "SRAM"}: Vela's
   figure for that memory plus TFLite Micro's own bookkeeping (with a Dedicated_Sram memory
   mode the SRAM is the NPU's cache, handed to the driver as its fast memory). Then
   `AllocateTensors()` and `Invoke()` as for any model; the input and output are the int8
   model's: quantize the input with its scale and zero point.

The `c` artifact beside this one is the same model on the Cortex-M alone (edgekit's C, run
and checked in QEMU): compare its instruction counts with these estimates.
"""
