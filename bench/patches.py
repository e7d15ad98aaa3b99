"""Patch-based execution on the QEMU Cortex-M boards: arena with and without patches, against
TFLite Micro's, and the instruction overhead, both measured in one run.

    .venv/bin/python bench/patches.py [--inputs N] [--skip-large]

For MobileNetV2 0.35@96 with 10 classes (the shipped digits weights) on the M7 and M55 boards
and 1.0@224 with 1000 classes (random weights, batch norm conditioned on digits) on the M55
board, each built as ``edgekit build`` builds it (``--patches auto``, the default): the arena,
the arena of the same build layer by layer, their ratios to TFLite Micro's arena for the same
model (issue 12's figures), the cut, the grid and where the peak now is; instructions per
inference with patches (the mean over the inputs) and without (the firmware the build links
without patches, run on the first input) and the overhead, measured on the first input and as
estimated when the plan was chosen; and whether the N evaluation inputs matched TFLite's
reference kernels bit for bit, every layer from the cut on compared for the first input.
"""

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from cortex_m import quantized  # noqa: E402

MODELS = (
    ("0.35@96, 10 classes", dict(alpha=0.35, resolution=96, classes=None, weights=None),
     ("cortex-m7", "cortex-m55")),
    ("1.0@224, 1000 classes", dict(alpha=1.0, resolution=224, classes=1000, weights="random"),
     ("cortex-m55",)),
)  # fmt: skip
TFLM_ARENA = {"0.35@96, 10 classes": 204_756, "1.0@224, 1000 classes": 1_659_828}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20)
    parser.add_argument("--skip-large", action="store_true", help="leave out 1.0@224")
    args = parser.parse_args()

    from edgekit.backends.c import CBackend
    from edgekit.compiler.ir import macs, read_tflite
    from edgekit.config import CompileOptions
    from edgekit.platforms.targets import load_target
    from edgekit.quantization import Int8Model
    from edgekit.report.firmware import short_layer_name
    from edgekit.validation.artifacts import validate

    print(
        f"{'model':<22} {'core':<11} {'arena B':>9} {'without B':>10} {'/TFLM':>6} "
        f"{'without/TFLM':>12} {'cut':<20} {'grid':>5} {'peak':<18} {'instructions':>13} "
        f"{'without':>13} {'overhead':>8} {'estimated':>9} bit-exact  layers"
    )
    backend = CBackend()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, spec, cores in MODELS:
            if args.skip_large and spec["alpha"] == 1.0:
                continue
            tflite, data = quantized(spec, work)
            n_macs = macs(read_tflite(tflite))
            for core in cores:
                target = load_target(core)
                artifact = backend.compile(
                    Int8Model(tflite), target, work / f"{core}-{label[:4]}",
                    CompileOptions(force=True),
                )  # fmt: skip
                row, bench = validate(
                    backend,
                    artifact,
                    target,
                    tflite=tflite,
                    data=data.evaluation,
                    count=args.inputs,
                    layers=True,
                    macs=n_macs,
                )
                p = artifact.details["patches"]
                tflm = TFLM_ARENA[label]
                exact = row["bit_exact"] and row["first_differing_layer"] is None
                print(
                    f"{label:<22} {core:<11} {p['arena_bytes']:>9,} "
                    f"{p['arena_bytes_without']:>10,} "
                    f"{p['arena_bytes'] / tflm:>6.3f} {p['arena_bytes_without'] / tflm:>12.3f} "
                    f"{short_layer_name(p['cut']):<20} {p['grid']:>5} "
                    f"{short_layer_name(p['peak']):<18} {bench['instructions']:>13,} "
                    f"{bench['instructions_without_patches']:>13,} "
                    f"{bench['patch_overhead']:>8.1%} {p['estimated_overhead']:>9.1%} "
                    f"{str(exact):<10} {row['layers_compared']} from the cut, "
                    f"{row['inputs']} inputs",
                    flush=True,
                )


if __name__ == "__main__":
    main()
