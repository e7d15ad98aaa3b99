"""Kernel variants: selection per layer, and every DSP variant bit-exact on its QEMU board.

The DSP variants use ACLE intrinsics, which build only for Arm, so they are proven on the boards
(Cortex-M4, M7, M33, M55): one firmware per board runs a chain of single layers that covers the
edge cases (channel counts that are not a multiple of 4, odd pixel and channel counts, padding on
every side, stride 2, a 5x5 window, a clamp narrower than int8, one output channel) and every
layer's output is compared with TFLite's reference kernels.
"""

import re
import shutil
import subprocess

import numpy as np
import pytest
from test_kernels import KERNELS, randomize, samples

from edgekit.backends.c import CBackend
from edgekit.compiler import layouts, variants
from edgekit.compiler.codegen import generate_c
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.oprules import rule_doc
from edgekit.compiler.ops import OPS, select_kernels
from edgekit.config import CompileOptions
from edgekit.errors import EdgekitError
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

DSP_VARIANTS = {
    "conv2d_1x1_dsp",
    "conv2d_im2col_dsp",
    "depthwise_conv2d_3x3_dsp",
    "add_dsp",
    "mean_hw_dsp",
    "fully_connected_dsp",
}


def expected_variants(target) -> set[str]:
    """The DSP variants, each replaced by its MVE twin on a Helium core where there is one."""
    mve = {v.name for kind in OPS.values() for v in kind.variants if "mve" in v.features}
    if "mve" not in target.features:
        return DSP_VARIANTS
    twins = {n: n.replace("_dsp", "_mve") for n in DSP_VARIANTS}
    return {twins[n] if twins[n] in mve else n for n in DSP_VARIANTS}


@pytest.fixture(scope="module")
def chain():
    """The edge-case chain as an int8 .tflite (17x17x5 input, 1000 outputs). Weights scaled up
    before a ReLU6 give multipliers above 1/2 (a left shift or none), as well as the usual ones."""
    import keras

    from edgekit.quantization.converter import quantize

    rng = np.random.default_rng(9)
    layers = keras.layers
    x = inp = keras.Input((17, 17, 5), batch_size=1)
    stack = [
        layers.Conv2D(6, 3, strides=2, padding="same", activation="relu6"),  # 9x9, im2col
        layers.Conv2D(7, 1, activation="relu6"),  # odd pixels and channels, in 6
        layers.DepthwiseConv2D(3, padding="same"),  # padding on every side, 7 channels
        layers.DepthwiseConv2D(3, padding="valid", activation="relu6"),  # 7x7
        layers.Conv2D(16, 1, activation="relu6"),
        layers.ZeroPadding2D(((0, 1), (0, 1))),  # MobileNetV2's stride-2 pattern
        layers.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu6"),  # 3x3
        layers.DepthwiseConv2D(3, strides=2, padding="same"),  # 2x2: padding after only
        layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2),  # reference only
        layers.Conv2D(1, 1),  # one output channel
        layers.Conv2D(33, 1, activation="relu"),
        layers.Conv2D(12, 5, padding="same"),  # a 5x5 window: im2col, depth 825
    ]
    for layer in stack:
        x = layer(x)
    residual = layers.Conv2D(12, 1)(x)
    x = layers.Add()([x, residual])
    x = layers.Dense(1000)(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, x)
    for layer in model.layers:
        if layer.get_weights():
            randomize(layer, rng, channel_axes=2 if "depthwise" in layer.name else 1)
    for k, gain in ((0, 40), (1, 400), (3, 40)):  # large weights, then a ReLU6 caps the range
        kernel, bias = stack[k].get_weights()
        stack[k].set_weights([kernel * gain, bias])
    return quantize(model, samples(rng, (17, 17, 5), spread=4.0))


@pytest.mark.parametrize("core", ["cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_dsp_variants_are_bit_exact_on_every_layer_in_qemu(chain, tmp_path, core):
    target = load_target(core)
    inputs = np.random.default_rng(1).integers(-128, 128, (3, 17, 17, 5)).astype(np.int8)
    artifact = CBackend().compile(Int8Model(chain), target, tmp_path)
    chosen = {row["variant"] for row in artifact.details["kernels"]["layers"]}
    assert chosen >= expected_variants(target)
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(chain, inputs, layers=True)
    np.testing.assert_array_equal(run.outputs, want.outputs)
    layers = artifact.details["kernels"]["layers"]
    for row, got, expected in zip(layers, run.layers, want.layers, strict=True):
        np.testing.assert_array_equal(got, expected, err_msg=f"{row['layer']} ({row['variant']})")


def test_reference_mode_builds_the_reference_kernels_only(chain, tmp_path):
    """``--kernels ref`` (for bisecting a difference) on a DSP board: no DSP file in the folder."""
    artifact = CBackend().compile(
        Int8Model(chain), load_target("cortex-m7"), tmp_path, CompileOptions(kernels="ref")
    )
    rows = artifact.details["kernels"]["layers"]
    assert artifact.details["kernels"]["mode"] == "ref"
    assert {r["variant"] for r in rows if r["variant"]} <= {
        v.name for kind in OPS.values() for v in kind.variants if v.reference
    }
    assert not list((tmp_path / "src").glob("*_dsp.*"))
    conv = next(r for r in rows if r["op"] == "CONV_2D")
    assert {"variant": "conv2d_1x1_dsp", "why": "--kernels ref"} in conv["passed_over"]


def test_selection_follows_features_and_constraints(chain):
    graph = read_tflite(chain)
    m7 = select_kernels(graph, load_target("cortex-m7"))
    host = select_kernels(graph, load_target("host"))
    assert all(c.variant.reference for c in host.values())  # ACLE is Arm-only
    by_kind = {}
    for op in graph.ops:
        if op.index in m7:
            by_kind.setdefault(op.kind, []).append(m7[op.index])
    first, pointwise = by_kind["CONV_2D"][0], by_kind["CONV_2D"][1]
    assert pointwise.variant.name == "conv2d_1x1_dsp"
    assert first.variant.name == "conv2d_im2col_dsp"
    assert first.passed_over == (
        ("conv2d_1x1_mve", "cortex-m7 lacks mve"),
        ("conv2d_im2col_mve", "cortex-m7 lacks mve"),
        ("conv2d_im2col_dilated_mve", "cortex-m7 lacks mve"),
        (
            "conv2d_1x1_dsp",
            "The filter is 1x1 with stride 1 (a matrix multiply of pixels by weights): "
            "its filter is 3x3 with stride 2x2",
        ),
    )
    multiplier = [c for c in by_kind["DEPTHWISE_CONV_2D"] if c.variant.reference]
    assert len(multiplier) == 1
    passed = [p for p in multiplier[0].passed_over if "lacks" not in p[1]]
    assert [name for name, _ in passed] == ["depthwise_conv2d_3x3_dsp", "depthwise_conv2d_dsp"]
    assert all(why.endswith("depth multiplier 2") for _, why in passed)
    ref_host = _pick(graph, graph.ops[1], load_target("host"))
    assert ref_host.passed_over[0] == ("conv2d_1x1_mve", "host lacks mve")
    assert ("conv2d_1x1_dsp", "host lacks dsp") in ref_host.passed_over
    m55 = select_kernels(graph, load_target("cortex-m55"))
    assert m55[graph.ops[0].index].variant.name == "conv2d_im2col_mve"
    with pytest.raises(EdgekitError, match="--kernels must be one of auto, ref"):
        select_kernels(graph, load_target("cortex-m7"), "fast")


def _pick(graph, op, target) -> variants.Choice:
    return variants.pick_variant(OPS[op.kind].variants, graph, op, target)


def test_every_op_ends_with_a_reference_variant_and_every_file_exists():
    for name, kind in OPS.items():
        if not kind.variants:  # the aliases: no kernel, the planner shares their bytes
            assert name in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS") and kind.in_place is not None
            continue
        last = kind.variants[-1]
        assert last.reference and not last.rules  # the last one runs every supported op
        assert last.layout == layouts.TFLITE  # the weights as the model stores them
        for v in kind.variants:
            assert set(v.sources) <= {p.name for p in KERNELS.iterdir()}
            assert all(rule.__doc__ and rule_doc(rule)[0] for rule in v.rules)
            # its C function, named after it, is defined in its first source file
            code = (KERNELS / v.sources[0]).read_text()
            assert re.search(rf"^void {v.symbol}\(", code, re.M), v.symbol


def test_planner_gives_im2col_its_scratch_and_keeps_it_apart(chain):
    graph = read_tflite(chain)
    cmodel = generate_c(graph, select_kernels(graph, load_target("cortex-m7")))
    plan = cmodel.plan
    first = graph.ops[0]
    at = plan.scratch(first.index)
    assert at is not None and plan.scratch(1) is not None  # the 1x1 widens a pixel pair too
    size = 24 * -(-3 * 3 * 5 // 4) + 8  # a pixel pair's windows, as bytes and as int16
    for t in (*first.inputs[:1], *first.outputs):
        b = plan.buffers[t]
        assert at + size <= b.offset or b.offset + b.size <= at
    assert "ek_conv2d_im2col_s8_dsp(" in cmodel.files["model.c"]
    assert f"arena.bytes + {at})" in cmodel.files["model.c"]
    assert {"ek_conv2d_dsp.c", "ek_dsp.h", "ek_depthwise_conv2d_3x3_dsp.c"} <= set(cmodel.files)


def test_dsp_kernels_refuse_to_build_without_the_dsp_extension(tmp_path):
    compiler = shutil.which("arm-none-eabi-gcc")
    assert compiler, "arm-none-eabi-gcc is missing: apt-get install gcc-arm-none-eabi"
    done = subprocess.run(
        [compiler, "-mcpu=cortex-m0", "-mthumb", "-std=c99", f"-I{KERNELS}", "-c"]
        + [str(KERNELS / "ek_conv2d_dsp.c"), "-o", str(tmp_path / "k.o")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "needs an Arm core with the DSP extension" in done.stderr


def test_mve_kernels_refuse_to_build_without_helium(tmp_path):
    compiler = shutil.which("arm-none-eabi-gcc")
    assert compiler, "arm-none-eabi-gcc is missing: apt-get install gcc-arm-none-eabi"
    done = subprocess.run(
        [compiler, *load_target("cortex-m7").cflags, "-std=c99", f"-I{KERNELS}", "-c"]
        + [str(KERNELS / "ek_conv2d_mve.c"), "-o", str(tmp_path / "k.o")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "needs an Arm core with Helium" in done.stderr


def test_tiled_weights_put_each_blocks_runs_together_zero_padded():
    """conv2d_*_mve's weight layout: [C_out / 4][K / 16][4][16], padding zero."""
    from edgekit.compiler.layouts import tiled_weights

    graph = read_tflite(_tiny_conv(out_c=5, depth=20))
    op = next(op for op in graph.ops if op.kind == "CONV_2D")
    rows = np.asarray(graph.constant(op.inputs[1]), np.int8).reshape(5, -1)
    tiled = tiled_weights(graph, op).reshape(2, 2, 4, 16)  # 2 blocks, 2 runs of 16
    assert tiled.dtype == np.int8
    np.testing.assert_array_equal(tiled[0, 0], rows[:4, :16])
    np.testing.assert_array_equal(tiled[0, 1, :, :4], rows[:4, 16:])
    np.testing.assert_array_equal(tiled[1, 0, 0], rows[4, :16])
    assert not tiled[0, 1, :, 4:].any() and not tiled[1, :, 1:].any()


def _tiny_conv(out_c: int, depth: int) -> bytes:
    import keras

    from edgekit.quantization.converter import quantize

    rng = np.random.default_rng(3)
    inp = keras.Input((3, 3, depth), batch_size=1)
    model = keras.Model(inp, keras.layers.Conv2D(out_c, 1)(inp))
    return quantize(model, samples(rng, (3, 3, depth), spread=1.0))


def test_build_option_reaches_the_c_backend():
    from edgekit.cli import options_from, parser
    from edgekit.config import BuildConfig

    def kernels(*args: str) -> str:
        args = parser().parse_args(["build", "--target", "cortex-m7", *args])
        return options_from(BuildConfig, args).compile.kernels

    assert kernels("--kernels", "ref") == "ref"
    assert kernels() == "auto"
    with pytest.raises(EdgekitError, match="--kernels takes auto or ref, got 'fast'"):
        kernels("--kernels", "fast")


def test_lanes16_flags_are_the_ones_ek_mve_h_defines():
    header = (KERNELS / "ek_mve.h").read_text()
    for name, value in (("LEFT", layouts.MVE_LEFT), ("ZERO", layouts.MVE_ZERO)):
        assert re.search(rf"#define EK_MVE_{name} {value}\b", header)


def test_a_weight_of_minus_128_keeps_the_helium_depthwise_off(chain):
    """Its 16-bit pair sums hold only TFLite's weight range; a -128 weight falls back to DSP."""
    from dataclasses import replace

    graph = read_tflite(chain)
    op = next(o for o in graph.ops if o.kind == "DEPTHWISE_CONV_2D")
    m55 = load_target("cortex-m55")
    assert _pick(graph, op, m55).variant.name == "depthwise_conv2d_3x3_mve"
    tensors = list(graph.tensors)
    weights = np.array(tensors[op.inputs[1]].data)
    weights.flat[0] = -128
    tensors[op.inputs[1]] = replace(tensors[op.inputs[1]], data=weights)
    choice = _pick(replace(graph, tensors=type(graph.tensors)(tensors)), op, m55)
    assert choice.variant.name == "depthwise_conv2d_3x3_dsp"
    assert choice.passed_over == (
        (
            "depthwise_conv2d_3x3_mve",
            "The weights are in [-127, 127], TFLite's int8 weight range (so that two products "
            "of a weight and an input add up in 16 bits): a weight is -128",
        ),
    )
