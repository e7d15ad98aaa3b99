"""The fast kernel variants of issues 18 and 19 against the reference kernels on the QEMU boards.

    .venv/bin/python bench/fast_ops.py [--cores cortex-m4,cortex-m7,cortex-m55] [--only TEXT]

The DSP and MVE variants of the table ops, MAX_POOL_2D, squeeze-and-excite MUL and ADD,
TRANSPOSE_CONV and dilated CONV_2D, and the 16x8 (int16 activations) CONV_2D, DEPTHWISE_CONV_2D,
FULLY_CONNECTED and TRANSPOSE_CONV, side by side with the reference kernels of their type in one
run, on single-op models the size of a small vision model's layers (the model builders of
tests/test_ops_unary.py, tests/test_ops_fast.py, tests/test_ops_dilation.py and
tests/test_ops_s16_conv.py). Each model is
built layer by layer twice per core, with ``--kernels ref`` and with the default kernels, and
run on one input on the core's board: the instructions of the measured layer (QEMU -icount,
retired instructions, not cycles) in each build, their ratio, instructions per output element,
the variant picked, and whether both builds' outputs matched TFLite's reference kernels bit
for bit.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CORES = ("cortex-m4", "cortex-m7", "cortex-m55")


def cases() -> list[tuple[str, bytes, int]]:
    """(label, model, index of the op measured)."""
    from test_ops_fast import excite_model, graph_model
    from test_ops_unary import pool, schema_model

    def single(kind, shape, out_shape, options=None, out_quant=(0.04, -5)):
        return schema_model([(shape, (0.05, 3)), (out_shape, out_quant)], [(kind, [0], 1, options)])

    def channels(kind: str, shape) -> bytes:
        """``kind`` of an H x W x C input and its per-channel mean (squeeze-and-excite)."""
        h, w, c = shape
        tensors = [((1, h, w, c), (0.05, 3), None), ((2,), None, [1, 2]),
                   ((1, 1, 1, c), (0.02, -4), None), ((1, h, w, c), (0.03, 7), None)]  # fmt: skip
        return graph_model(tensors, [("MEAN", [0, 1], 2, True), (kind, [0, 2], 3, "NONE")])

    assert excite_model  # the tests' edge cases; the bench measures layer-sized ops
    return [
        ("LOGISTIC 48x48x16", single("LOGISTIC", (1, 48, 48, 16), (1, 48, 48, 16), None,
                                     (1 / 256, -128)), 0),
        ("HARD_SWISH 24x24x37", single("HARD_SWISH", (1, 24, 24, 37), (1, 24, 24, 37)), 0),
        ("MAX_POOL 2x2/2 48x48x32", single("MAX_POOL_2D", (1, 48, 48, 32), (1, 24, 24, 32),
                                           pool((2, 2), (2, 2), 1), (0.05, 3)), 0),
        ("MAX_POOL 3x3/2 SAME 24x24x37", single("MAX_POOL_2D", (1, 24, 24, 37), (1, 12, 12, 37),
                                                pool((3, 3), (2, 2), 0), (0.05, 3)), 0),
        ("MUL 12x12x96 by 1x1x96", channels("MUL", (12, 12, 96)), 1),
        ("ADD 12x12x96 and 1x1x96", channels("ADD", (12, 12, 96)), 1),
        ("TRANSPOSE_CONV 3x3/2 12x12x32>16", transposed(), 0),
        ("CONV_2D 3x3 dil 2 24x24x16>16", dilated(), 0),
        *sixteen_bit(),
    ]  # fmt: skip


def sixteen_bit() -> list[tuple[str, bytes, int]]:
    """16x8 layers: int16 activations, int8 weights, int64 bias."""
    from test_ops_s16_conv import Chain

    def one(shape, build) -> bytes:
        chain = Chain(shape)
        return chain.model([build(chain)])

    return [
        ("16x8 CONV_2D 1x1 24x24x32>64", one((1, 24, 24, 32), lambda c: c.conv(0, 64, (1, 1))), 0),
        ("16x8 CONV_2D 3x3 24x24x16>32",
         one((1, 24, 24, 16), lambda c: c.conv(0, 32, (3, 3), activation="RELU")), 0),
        ("16x8 DEPTHWISE 3x3 24x24x32",
         one((1, 24, 24, 32), lambda c: c.depthwise(0, (3, 3), activation="RELU6")), 0),
        ("16x8 FULLY_CONNECTED 640>100", one((1, 1, 1, 640), lambda c: c.dense(0, 100)), 0),
        ("16x8 TRANSPOSE_CONV 3x3/2 12x12x32>16",
         one((1, 12, 12, 32), lambda c: c.transpose(0, 16, (3, 3), (2, 2))), 0),
    ]  # fmt: skip


def dilated() -> bytes:
    """A dilated 3x3 convolution, SAME: 24x24x16 to 24x24x16, dilation 2."""
    from test_ops_dilation import conv_model

    return conv_model([("CONV_2D", (3, 3), 16, (1, 1), (2, 2), "SAME", "RELU6")], (24, 24, 16))


def transposed() -> bytes:
    """A decoder's upsampling layer: 12x12x32 to 24x24x16, 3x3 filter, stride 2, SAME."""
    import keras
    from test_ops_dilation import convert

    inp = keras.Input((12, 12, 32), batch_size=1)
    layer = keras.layers.Conv2DTranspose(16, 3, strides=2, padding="same")
    return convert(keras.Model(inp, layer(inp)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", default=",".join(CORES), help="comma-separated cores to run")
    parser.add_argument("--only", default="", help="the ops whose label contains this text")
    args = parser.parse_args()

    from edgekit.backends.c import CBackend
    from edgekit.compiler.ir import read_tflite
    from edgekit.config import CompileOptions
    from edgekit.platforms.targets import load_target
    from edgekit.quantization import Int8Model
    from edgekit.validation.artifacts import reference

    print(
        f"{'op':<33} {'core':<11} {'variant':<26} {'ref instr':>11} {'fast instr':>11} "
        f"{'fast/ref':>8} {'ref/elem':>8} {'fast/elem':>9} bit-exact"
    )
    backend = CBackend()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, tflite, op_index in cases():
            if args.only not in label:
                continue
            graph = read_tflite(tflite)
            port = graph.tensor(graph.inputs[0])
            limits = np.iinfo(port.dtype)
            x = np.random.default_rng(0).integers(limits.min, limits.max + 1, (1, *port.shape[1:]))
            x = x.astype(port.dtype)
            want = reference(tflite, x).outputs
            elements = graph.tensor(graph.ops[op_index].outputs[0]).size
            for core in args.cores.split(","):
                target = load_target(core)
                counts, variant, exact = {}, None, True
                for kernels in ("ref", "auto"):
                    options = CompileOptions(kernels=kernels, patches="off")
                    out = work / f"{label[:8]}-{core}-{kernels}".replace(" ", "_")
                    artifact = backend.compile(Int8Model(tflite), target, out, options)
                    run = backend.run(artifact, target, x)
                    layer = artifact.details["layer_ops"].index(op_index)
                    counts[kernels] = run.layer_instructions[layer]
                    exact &= bool(np.array_equal(run.outputs.view(np.uint8), want.view(np.uint8)))
                    variant = artifact.details["kernels"]["layers"][op_index]["variant"]
                ref, fast = counts["ref"], counts["auto"]
                print(
                    f"{label:<33} {core:<11} {variant:<26} {ref:>11,} {fast:>11,} "
                    f"{fast / ref:>8.3f} {ref / elements:>8.2f} {fast / elements:>9.2f} "
                    f"{'yes' if exact else 'NO'}",
                    flush=True,
                )
    print(
        "instructions of the measured layer alone (QEMU -icount, retired instructions, a proxy "
        "for cycles, not a latency); /elem: per output element; bit-exact: both builds' outputs "
        "equal TFLite's reference kernels'"
    )


if __name__ == "__main__":
    main()
