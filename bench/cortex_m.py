"""edgekit's C on the QEMU Cortex-M boards in the build a user gets by default, against TFLite
Micro + CMSIS-NN.

    .venv/bin/python bench/cortex_m.py [--inputs N] [--skip-large] [--cores M4,M7,M55]
                                       [--models A,B] [--layers N]

The models: the four MLPerf Tiny reference architectures of the model zoo (tests/zoo.py: visual
wake words, ResNet-8, DS-CNN keyword spotting, the anomaly-detection autoencoder, made by the
plain TFLite converter with seeded weights), MobileNetV2 0.35@96 with 10 classes (the shipped
digits weights) and, unless ``--skip-large``, MobileNetV2 1.0@224 with 1000 classes (random
weights, batch norm conditioned on digits) on the M7 and M55 boards.

Each model is compiled by the c backend with the default options (``CompileOptions()``: the
fastest kernel variants, ``--patches auto``, which runs layer by layer when the arena fits the
board's RAM and else the fastest patch plan that fits) and once more with ``--kernels ref``;
1.0@224 needs ``--force``, as its weights exceed the real boards' flash. Per model and board:
instructions per inference (QEMU -icount: retired instructions, a proxy for cycles, not a
latency), instructions per MAC, the ratio to TFLite Micro + CMSIS-NN's instructions on the same
QEMU board (issue 20's anchors) and to the reference kernels', arena, flash and the kernels'
machine code (part of flash), RAM and whether it fits the target's board, the patch plan, and
whether N inputs (digits images for MobileNetV2, seeded int8 noise for the zoo) matched TFLite's
reference kernels bit for bit; then the layers with the most instructions.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CORES = ("cortex-m4", "cortex-m7", "cortex-m55")
SHORT = {"M4": "cortex-m4", "M7": "cortex-m7", "M33": "cortex-m33", "M55": "cortex-m55"}
ZOO = ("vww_mobilenet_v1", "ic_resnet8", "kws_ds_cnn", "ad_autoencoder")
BUILTIN = {
    "mobilenet_v2_0.35_96": dict(alpha=0.35, resolution=96, classes=None, weights=None),
    "mobilenet_v2_1.0_224": dict(alpha=1.0, resolution=224, classes=1000, weights="random"),
}
LARGE = "mobilenet_v2_1.0_224"
# TFLite Micro + CMSIS-NN, instructions per inference on the same QEMU boards (-icount shift=0):
# the MLPerf Tiny reference models' trained int8 files and MobileNetV2 (issues 9 and 20)
TFLM_CMSIS_NN = {
    "vww_mobilenet_v1": {"cortex-m7": 24_025_600, "cortex-m4": 24_102_000, "cortex-m55": 6_558_344},
    "ic_resnet8": {"cortex-m7": 30_028_960, "cortex-m4": 29_865_680, "cortex-m55": 4_913_844},
    "kws_ds_cnn": {"cortex-m7": 7_642_160, "cortex-m4": 7_696_400, "cortex-m55": 1_812_125},
    "ad_autoencoder": {"cortex-m7": 583_280, "cortex-m4": 583_000, "cortex-m55": 150_000},
    "mobilenet_v2_0.35_96": {
        "cortex-m7": 45_943_600,
        "cortex-m4": 46_085_040,
        "cortex-m55": 13_550_156,
    },
    "mobilenet_v2_1.0_224": {"cortex-m7": 783_723_520, "cortex-m55": 175_594_312},
}


def builtin_model(spec: dict, work: Path):
    """The built-in MobileNetV2 quantized as ``edgekit build`` does, and its evaluation data."""
    from edgekit.pipeline import BuildConfig, Log, ModelSpec, prepare
    from edgekit.platforms.targets import load_target

    out = work / f"q{len(list(work.iterdir()))}"
    out.mkdir()
    config = BuildConfig(target="cortex-m55", model=ModelSpec(**spec))
    _, data, model = prepare(config, load_target(config.target), {}, out=out, log=Log(quiet=True))
    return model.tflite, data.evaluation


def model_inputs(name: str, work: Path, count: int) -> tuple[bytes, np.ndarray]:
    """The model's int8 file and ``count`` input rows."""
    from edgekit.compiler.ir import read_tflite
    from edgekit.validation.artifacts import input_rows

    if name in BUILTIN:
        tflite, data = builtin_model(BUILTIN[name], work)
        return tflite, input_rows(tflite, data, count)
    import zoo

    tflite = zoo.make(name, work).read_bytes()
    graph = read_tflite(tflite)
    shape = graph.tensor(graph.inputs[0]).shape[1:]
    rng = np.random.default_rng(0)
    return tflite, rng.integers(-128, 128, (count, *shape)).astype(np.int8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=5, help="inputs run on each board")
    parser.add_argument("--skip-large", action="store_true", help="leave out 1.0@224")
    parser.add_argument("--cores", default="M4,M7,M55", help="comma-separated: M4,M7,M33,M55")
    parser.add_argument("--models", default=",".join([*ZOO, *BUILTIN]))
    parser.add_argument("--layers", type=int, default=0, help="top layers to list (0: none)")
    args = parser.parse_args()
    cores = [SHORT.get(c, c) for c in args.cores.split(",")]
    models = [m for m in args.models.split(",") if not (args.skip_large and m == LARGE)]

    from edgekit.backends.c import CBackend
    from edgekit.compiler.ir import macs, read_tflite
    from edgekit.config import CompileOptions
    from edgekit.errors import EdgekitError, first_line
    from edgekit.platforms.targets import load_target
    from edgekit.quantization import Int8Model
    from edgekit.validation.artifacts import reference

    print(
        f"{'model':<22} {'core':<11} {'instr/inf':>13} {'instr/MAC':>9} {'/TFLM':>6} "
        f"{'/ref':>6} {'arena B':>9} {'flash B':>9} {'code B':>7} {'RAM B':>8} {'fits':>4} "
        f"{'patches':>9} {'bit-exact':>9} {'s':>6}",
        flush=True,
    )
    backend = CBackend()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in models:
            wanted = [c for c in cores if name != LARGE or c in TFLM_CMSIS_NN[LARGE]]
            if not wanted:
                continue
            tflite, inputs = model_inputs(name, work, args.inputs)
            graph = read_tflite(tflite)
            n_macs = macs(graph)
            ref = reference(tflite, inputs, layers=False)
            for core in wanted:
                start, target = time.perf_counter(), load_target(core)
                counts, built = {}, {}
                try:
                    for kernels in ("ref", "auto"):
                        options = CompileOptions(kernels=kernels, force=name == LARGE)
                        folder = work / f"{name}-{core}-{kernels}"
                        built[kernels] = backend.compile(Int8Model(tflite), target, folder, options)
                        rows = inputs if kernels == "auto" else inputs[:1]
                        counts[kernels] = backend.run(
                            built[kernels], target, rows, layers=kernels == "auto" and args.layers
                        )
                except EdgekitError as exc:
                    print(f"{name:<22} {core:<11} does not build: {first_line(exc)}", flush=True)
                    continue
                artifact, run = built["auto"], counts["auto"]
                instructions = int(np.mean(run.instructions))
                tflm = TFLM_CMSIS_NN.get(name, {}).get(core)
                d = artifact.details
                fits = artifact.ram_bytes <= target.ram_bytes and (
                    artifact.flash_bytes <= target.flash_bytes
                )
                exact = int(sum(np.array_equal(a, b) for a, b in zip(run.outputs, ref.outputs)))
                plan = d["patches"]["grid"] if "patches" in d else "off"
                print(
                    f"{name:<22} {core:<11} {instructions:>13,} {instructions / n_macs:>9.2f} "
                    f"{instructions / tflm if tflm else float('nan'):>6.3f} "
                    f"{instructions / counts['ref'].instructions[0]:>6.3f} "
                    f"{d['arena_bytes']:>9,} {artifact.flash_bytes:>9,} "
                    f"{d['kernel_code_bytes']:>7,} {artifact.ram_bytes:>8,} "
                    f"{'yes' if fits else 'no':>4} {plan:>9} "
                    f"{f'{exact}/{len(inputs)}':>9} {time.perf_counter() - start:>6.1f}",
                    flush=True,
                )
                if args.layers and run.layer_instructions:
                    _top_layers(graph, d, run.layer_instructions, args.layers)
    print(
        "instr/MAC: instructions per multiply-accumulate of the int8 graph; QEMU counts retired "
        "instructions (-icount shift=0), a proxy for cycles, not a latency; /TFLM: against "
        "TFLite Micro + CMSIS-NN on the same QEMU board (nan: no figure); /ref: against the "
        "reference kernel variants (--kernels ref) on the same board; code B: the kernels' "
        "machine code, part of flash B; fits: RAM and flash within the target's board; "
        "patches: the grid --patches auto chose (off: layer by layer)"
    )


def _top_layers(graph, details: dict, counts, n: int) -> None:
    """The n layers with the most instructions: instructions, variant, instructions per MAC
    (with patches, the first layer the firmware reports is the whole patch stage)."""
    from edgekit.compiler.ir import op_macs

    variants = {r["layer"]: r["variant"] for r in details["kernels"]["layers"]}
    stage = "patches" in details
    rows = sorted(
        zip(counts, details["layer_ops"], details["layers"], strict=True), key=lambda r: -r[0]
    )
    for count, index, layer in rows[:n]:
        patched = stage and index == details["layer_ops"][0]
        m = None if patched else op_macs(graph, graph.ops[index])
        per_mac = f"{count / m:>6.2f}" if m else f"{'-':>6}"
        variant = "patch stage" if patched else str(variants.get(layer))
        print(f"    {count:>11,}  {per_mac}  {variant:<26} {layer}")


if __name__ == "__main__":
    main()
