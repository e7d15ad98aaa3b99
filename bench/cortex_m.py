"""edgekit's C on the QEMU Cortex-M boards: instructions, memory, bit-exactness.

    .venv/bin/python bench/cortex_m.py [--inputs N] [--skip-large] [--cores M7,M55] [--layers N]

For MobileNetV2 0.35@96 with 10 classes (the shipped digits weights) and 1000 classes (random
weights with batch norm conditioned on digits, so that every layer stays alive) on M4, M7, M33
and M55, and 1.0@224 with 1000 classes on the M55 and M7 boards (QEMU's M55 board has 8 MiB of
flash, its M7 board 4 MiB, both enough for the weights; a real STM32F746 has 1 MiB, so the M7's
"fits" says no):
instructions per inference (QEMU -icount, retired instructions, not cycles), instructions per
MAC, the ratio to the reference kernel variants (``--kernels ref``, built and run in the same
bench run) and to TFLite Micro + CMSIS-NN's published figures where there is one, arena bytes
against the layer-by-layer lower bound, flash bytes (the kernels' code among them) and RAM bytes
against the target's board, and whether N evaluation inputs matched TFLite's reference kernels
bit for bit; then the layers with the most instructions, with their kernel variant and
instructions per MAC.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
MODELS = (
    ("0.35@96, 10 classes", dict(alpha=0.35, resolution=96, classes=None, weights=None), CORES),
    (
        "0.35@96, 1000 classes",
        dict(alpha=0.35, resolution=96, classes=1000, weights="random"),
        CORES,
    ),
    (
        "1.0@224, 1000 classes",
        dict(alpha=1.0, resolution=224, classes=1000, weights="random"),
        ("cortex-m55", "cortex-m7"),
    ),
)
# TFLite Micro + CMSIS-NN, instructions per inference on the same QEMU boards (issue 9's figures).
TFLM_CMSIS_NN = {
    ("0.35@96, 10 classes", "cortex-m7"): 45_943_640,
    ("0.35@96, 10 classes", "cortex-m55"): 13_550_125,
    ("1.0@224, 1000 classes", "cortex-m55"): 175_594_312,
    ("1.0@224, 1000 classes", "cortex-m7"): 783_723_520,
}


def quantized(spec: dict, work: Path):
    from edgekit.pipeline import BuildConfig, Log, ModelSpec, prepare
    from edgekit.platforms.targets import load_target

    out = work / f"q{len(list(work.iterdir()))}"
    out.mkdir()
    config = BuildConfig(target="cortex-m55", model=ModelSpec(**spec))
    target = load_target(config.target)
    _, data, model = prepare(config, target, {}, out=out, log=Log(quiet=True))
    return model.tflite, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20)
    parser.add_argument("--skip-large", action="store_true", help="leave out 1.0@224")
    parser.add_argument("--cores", default=",".join(CORES), help="comma-separated cores to run")
    parser.add_argument("--layers", type=int, default=10, help="top layers to list (0: none)")
    args = parser.parse_args()
    wanted = set(args.cores.split(","))

    from edgekit.backends.c import CBackend
    from edgekit.compiler.ir import macs, read_tflite
    from edgekit.config import CompileOptions
    from edgekit.platforms.targets import load_target
    from edgekit.quantization import Int8Model
    from edgekit.validation.artifacts import validate

    head = (
        f"{'model':<22} {'core':<11} {'instr/inf':>13} {'instr/MAC':>9} {'/ref':>6} "
        f"{'/TFLM':>6} {'arena B':>9} {'bound B':>9} {'arena/bound':>11} {'flash B':>9} "
        f"{'code B':>7} {'RAM B':>9} {'fits':>5} {'bit-exact':>9} {'s':>6}"
    )
    print(head, flush=True)
    backend = CBackend()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, spec, cores in MODELS[: 2 if args.skip_large else 3]:
            cores = [c for c in cores if c in wanted]
            if not cores:
                continue
            tflite, data = quantized(spec, work)
            graph = read_tflite(tflite)
            n_macs = macs(graph)
            for core in cores:
                start = time.perf_counter()
                target = load_target(core)
                builds = {}
                for kernels in ("ref", "auto"):
                    artifact = backend.compile(
                        Int8Model(tflite),
                        target,
                        work / f"{core}-{label[:4]}-{kernels}",
                        CompileOptions(force=True, kernels=kernels, patches="off"),
                    )
                    count = args.inputs if kernels == "auto" else 1
                    builds[kernels] = (
                        artifact,
                        *validate(
                            backend,
                            artifact,
                            target,
                            tflite=tflite,
                            data=data.evaluation,
                            count=count,
                            macs=n_macs,
                        ),
                    )
                artifact, row, bench = builds["auto"]
                ref_instructions = builds["ref"][2]["instructions"]
                tflm = TFLM_CMSIS_NN.get((label, core))
                d = artifact.details
                fits = (
                    artifact.ram_bytes <= target.ram_bytes
                    and artifact.flash_bytes <= target.flash_bytes
                )
                print(
                    f"{label:<22} {core:<11} {bench['instructions']:>13,} "
                    f"{bench['instructions_per_mac']:>9.2f} "
                    f"{bench['instructions'] / ref_instructions:>6.3f} "
                    f"{bench['instructions'] / tflm if tflm else float('nan'):>6.3f} "
                    f"{d['arena_bytes']:>9,} "
                    f"{d['arena_lower_bound']:>9,} "
                    f"{d['arena_bytes'] / d['arena_lower_bound']:>11.3f} "
                    f"{artifact.flash_bytes:>9,} {d['kernel_code_bytes']:>7,} "
                    f"{artifact.ram_bytes:>9,} "
                    f"{'yes' if fits else 'no':>5} "
                    f"{str(row['bit_exact']) + '/' + str(row['inputs']):>9} "
                    f"{time.perf_counter() - start:>6.1f}",
                    flush=True,
                )
                _top_layers(graph, d["kernels"]["layers"], bench.get("layers", []), args.layers)
    print(
        "instr/MAC: instructions per multiply-accumulate of the int8 graph; QEMU counts retired "
        "instructions (-icount shift=0), a proxy for cycles, not a latency; /ref: against the "
        "reference kernel variants (--kernels ref) on the same board; /TFLM: against TFLite "
        "Micro + CMSIS-NN (nan: no figure); code B: the kernels' machine code, part of flash B"
    )


def _top_layers(graph, kernels: list[dict], counts: list[dict], n: int) -> None:
    """The n layers with the most instructions: instructions, variant, instructions per MAC."""
    from edgekit.compiler.ir import op_macs

    rows = sorted(zip(counts, kernels, graph.ops, strict=True), key=lambda r: -r[0]["instructions"])
    for count, kernel, op in rows[:n]:
        m = op_macs(graph, op)
        per_mac = f"{count['instructions'] / m:>6.2f}" if m else f"{'-':>6}"
        print(
            f"    {count['instructions']:>11,}  {per_mac}  {str(kernel['variant']):<26} "
            f"{kernel['layer']}"
        )


if __name__ == "__main__":
    main()
