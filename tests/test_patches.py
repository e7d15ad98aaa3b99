"""Patch-based execution: the region arithmetic, the plans auto chooses, and patched C that is
byte for byte TFLite's reference kernels, on the host under the sanitizers (reference kernels)
and in QEMU with each board's kernel variants, layer by layer from the cut, on MobileNetV2 and
on a CNN edgekit did not build."""

import tempfile

import numpy as np
import pytest
from conftest import error_lines

from edgekit.backends.c import BASELINE, CBackend, build_host, run_host, write_c_folder
from edgekit.compiler import patches
from edgekit.compiler.codegen import generate_c
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import reference_kernels, select_kernels
from edgekit.config import CompileOptions
from edgekit.errors import EdgekitError
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference


@pytest.fixture(scope="module")
def mobilenet(host_build) -> bytes:
    """MobileNetV2 0.35@96, 10 classes, int8: the host build's model."""
    return (host_build[0] / "model_int8.tflite").read_bytes()


@pytest.fixture(scope="module")
def custom_cnn() -> bytes:
    """A CNN edgekit did not build, converted by the plain TFLite converter (int8 in and out):
    a stride-2 convolution, a residual block, an explicit PAD, average pooling, a VALID 3x3
    convolution, then global pooling and a dense layer."""
    import keras
    import tensorflow as tf
    from keras import layers

    x = inp = keras.Input((21, 21, 3), batch_size=1)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)  # 11x11
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = layers.Add()([x, layers.Conv2D(8, 1)(y)])
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(x)  # 12x12
    x = layers.AveragePooling2D(2)(x)  # 6x6
    x = layers.Conv2D(12, 3, padding="valid", activation="relu")(x)  # 4x4
    x = layers.Dense(10)(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inp, x)
    samples = np.random.default_rng(0).uniform(-1, 1, (8, 21, 21, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as saved:
        spec = tf.TensorSpec([1, 21, 21, 3], tf.float32)
        model.export(saved, format="tf_saved_model", verbose=False, input_signature=[spec])
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        converter.representative_dataset = lambda: ([s[None]] for s in samples)
        return converter.convert()


def _inputs(tflite: bytes, count: int, seed: int = 0) -> np.ndarray:
    graph = read_tflite(tflite)
    shape = (count, *graph.tensor(graph.inputs[0]).shape[1:])
    return np.random.default_rng(seed).integers(-128, 128, shape).astype(np.int8)


def _assert_layers_equal(ref, run, layer_ops, names):
    np.testing.assert_array_equal(run.outputs, ref.outputs)
    assert len(run.layers) == len(layer_ops)
    for name, op, got in zip(names, layer_ops, run.layers, strict=True):
        np.testing.assert_array_equal(got, ref.layers[op], err_msg=name)


# ---------------------------------------------------------------- region arithmetic


def test_regions_walk_back_through_strides_padding_and_a_residual(mobilenet):
    graph = read_tflite(mobilenet)
    # block_2_add (op 9, 24x24): rows 8-15 of the cut, through the residual block and
    # block_1's stride-2 depthwise (SAME, pad top 0 at 48 rows) down to Conv1 (stride 2)
    rows = patches.axis_regions(graph, 9, (8, 16), 0)
    out = lambda op: graph.ops[op].outputs[0]  # noqa: E731
    assert rows[out(9)] == rows[out(8)] == (8, 16)  # the ADD and the projection: the tile
    assert rows[out(6)] == (7, 17)  # block_2's 3x3 depthwise needs a row each side
    assert rows[out(5)] == (7, 17)  # block_2's input: the expansion's rows cover the skip's
    assert rows[out(3)] == (14, 35)  # block_1's stride-2 3x3: rows 2*7 to 2*16 + 2
    assert rows[out(0)] == (13, 36)  # and the 3x3 depthwise before it: a row each side
    assert rows[graph.inputs[0]] == (26, 73)  # Conv1, 3x3 stride 2, SAME (pad top 0 at 96)
    top = patches.axis_regions(graph, 9, (0, 8), 0)  # clipped at the top edge
    assert (top[out(6)], top[out(3)], top[out(0)], top[graph.inputs[0]]) == (
        (0, 9), (0, 19), (0, 20), (0, 41),
    )  # fmt: skip


def test_a_cut_inside_a_residual_block_is_refused(mobilenet):
    graph = read_tflite(mobilenet)
    assert patches.cut_problem(graph, 9) is None  # block_2_add: the block's end
    problem = patches.cut_problem(graph, 7)  # block_2's depthwise: the skip crosses the cut
    assert "block_2_add" in problem and "besides the cut" in problem
    assert 7 not in patches.valid_cuts(graph) and {5, 9} <= set(patches.valid_cuts(graph))


def test_bands_are_even_and_cover_the_axis():
    assert patches.bands(24, 5) == [(0, 4), (4, 9), (9, 14), (14, 19), (19, 24)]
    assert patches.bands(3, 3) == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize(
    "mode, cut, message",
    [
        ("3y3", None, "--patches takes auto, smallest, off or a grid RxC"),
        ("1x1", None, "at least two tiles"),
        ("off", "block_1", "needs --patches auto, smallest or RxC"),
        ("auto", "no_such_layer", "names no layer"),
        ("auto", "block_2_depthwise", "cannot end a patch stage"),
        ("auto", "logits", "cannot end a patch stage"),
        ("30x30", "9", "does not divide a 24x24 cut"),
    ],
)
def test_bad_patch_options_say_what_to_do(mobilenet, mode, cut, message):
    graph = read_tflite(mobilenet)
    with pytest.raises(EdgekitError, match=message):
        patches.plan_patches(
            graph, reference_kernels(graph), CompileOptions(patches=mode, patch_cut=cut)
        )


def test_smallest_takes_the_smallest_arena_within_the_overhead_budget(mobilenet):
    graph = read_tflite(mobilenet)
    kernels = select_kernels(graph, load_target("cortex-m7"))
    plan = patches.plan_patches(graph, kernels, CompileOptions(patches="smallest"))
    assert plan.plan.arena_bytes <= 40_000 < plan.plain.arena_bytes == 130_176
    assert 0 < plan.overhead <= CompileOptions().patch_overhead
    # a smaller budget: fewer, larger tiles
    tight = patches.plan_patches(
        graph, kernels, CompileOptions(patches="smallest", patch_overhead=0.03)
    )
    assert tight.overhead <= 0.03 and tight.plan.arena_bytes > plan.plan.arena_bytes
    free = CompileOptions(patches="smallest", patch_overhead=0.0)
    assert patches.plan_patches(graph, kernels, free) is None  # nothing is free
    # the tiles partition the cut tensor, and every tile fits the patch area
    h, w = graph.tensor(plan.cut_tensor).shape[1:3]
    assert sum(t.box.h * t.box.w for t in plan.tiles) == h * w
    assert max(t.plan.arena_bytes for t in plan.tiles) == plan.patch_bytes
    details = patches.patch_details(plan, graph)
    live = details["live_bytes"]
    assert (
        max(live["without"]) <= plan.plain.arena_bytes
        and max(live["with"]) <= plan.plan.arena_bytes
    )
    assert max(live["with"]) < max(live["without"])


def test_auto_takes_the_fastest_plan_that_fits(mobilenet):
    """--patches auto: layer by layer when the arena fits (no limit, or a limit above it);
    under --arena-limit or the room a board leaves, the plan with the least estimated work
    that fits, which costs less than the smallest plan; a limit nothing fits is an error."""
    graph = read_tflite(mobilenet)
    kernels = select_kernels(graph, load_target("cortex-m7"))
    auto = CompileOptions()
    assert patches.plan_patches(graph, kernels, auto) is None
    assert patches.plan_patches(graph, kernels, auto, room=130_176) is None
    smallest = patches.plan_patches(graph, kernels, CompileOptions(patches="smallest"))
    limited = patches.plan_patches(graph, kernels, CompileOptions(arena_limit=71_600))
    assert limited.plan.arena_bytes <= 71_600 < limited.plain.arena_bytes
    assert 0 < limited.work < smallest.work
    room = patches.plan_patches(graph, kernels, auto, room=71_600)
    assert (room.cut, room.grid) == (limited.cut, limited.grid)
    # --arena-limit wins over the room; the room alone never fails (the RAM check says why)
    over = CompileOptions(arena_limit=200_000)
    assert patches.plan_patches(graph, kernels, over, room=71_600) is None
    fallback = patches.plan_patches(graph, kernels, auto, room=1_000)
    assert fallback.plan.arena_bytes == smallest.plan.arena_bytes
    with pytest.raises(EdgekitError, match="no plan fits --arena-limit 1000: the smallest"):
        patches.plan_patches(graph, kernels, CompileOptions(arena_limit=1_000))


def test_auto_fits_the_boards_ram_less_the_reserve(mobilenet, tmp_path):
    """On the M7 board (320 KiB): layer by layer by default; with --ram-reserve the fastest
    plan that leaves the reserve free, its layer-by-layer firmware kept beside; a reserve no
    plan leaves is one line that names it, and no firmware is left behind."""
    m7 = load_target("cortex-m7")
    plain = CBackend().compile(Int8Model(mobilenet), m7, tmp_path / "a")
    assert "patches" not in plain.details and not (tmp_path / "a" / BASELINE).exists()
    reserve = 200_000
    kept = CBackend().compile(
        Int8Model(mobilenet), m7, tmp_path / "b", CompileOptions(ram_reserve=reserve)
    )
    assert kept.ram_bytes + reserve <= m7.ram_bytes < plain.ram_bytes + reserve
    assert kept.details["patches"]["estimated_overhead"] < 0.05
    assert (tmp_path / "b" / BASELINE / "firmware.elf").is_file()
    with pytest.raises(EdgekitError) as err:
        CBackend().compile(
            Int8Model(mobilenet), m7, tmp_path / "c", CompileOptions(ram_reserve=300_000)
        )
    assert "\n" not in str(err.value) and "--ram-reserve 300000" in str(err.value)
    assert not (tmp_path / "c" / "firmware").exists()


def test_patches_are_off_by_default_on_linux_and_host_targets(mobilenet, tmp_path):
    artifact = CBackend().compile(Int8Model(mobilenet), load_target("host"), tmp_path)
    assert "patches" not in artifact.details
    assert artifact.details["layer_ops"] == list(range(len(read_tflite(mobilenet).ops)))


# ---------------------------------------------------------------- bit-exact


@pytest.mark.parametrize("mode, cut", [("3x3", "5"), ("2x5", "9"), ("8x8", "9"), ("4x3", "12")])
def test_patched_c_is_bit_exact_under_the_sanitizers(mobilenet, tmp_path, mode, cut):
    """Reference kernels on the host, ASan and UBSan: grids even and uneven, one tile per
    three rows, stages ending after block_1 (a stride-2 stage), after block_2's residual
    ADD, and after block_3 (two stride-2 depthwise layers)."""
    graph = read_tflite(mobilenet)
    kernels = reference_kernels(graph)
    plan = patches.plan_patches(graph, kernels, CompileOptions(patches=mode, patch_cut=cut))
    cmodel = generate_c(graph, kernels, plan)
    assert cmodel.plan.arena_bytes < plan.plain.arena_bytes
    binary = build_host(write_c_folder(cmodel, tmp_path / "src"), tmp_path / "host", sanitize=True)
    inputs = _inputs(mobilenet, 2)
    run = run_host(binary, inputs, list(cmodel.layer_bytes))
    ref = reference(mobilenet, inputs, layers=True)
    assert cmodel.layer_ops[0] == plan.cut
    _assert_layers_equal(ref, run, cmodel.layer_ops, cmodel.layers)


@pytest.mark.parametrize("core, mode", [("cortex-m55", "3x2"), ("cortex-m7", "2x3")])
def test_patched_firmware_with_kernel_variants_is_bit_exact_in_qemu(
    custom_cnn, core, mode, tmp_path
):
    """A custom CNN from the plain TFLite converter on each board's fastest variants (Helium on
    the M55, DSP on the M7), patched through a stride-2 convolution, a residual ADD, a PAD and
    an average pooling; and the firmware without patches, which measures the overhead."""
    tflite = custom_cnn
    target = load_target(core)
    options = CompileOptions(patches=mode, patch_cut="5")  # the average pooling
    artifact = CBackend().compile(Int8Model(tflite), target, tmp_path, options)
    details = artifact.details["patches"]
    assert details["grid"] == mode and (tmp_path / BASELINE / "firmware.elf").is_file()
    assert [r["op"] for r in artifact.details["kernels"]["layers"]][: details["cut_op"] + 1] == [
        "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "PAD", "AVERAGE_POOL_2D",
    ]  # fmt: skip
    fastest = "_mve" if "mve" in target.features else "_dsp"
    stage = artifact.details["kernels"]["layers"][: details["cut_op"] + 1]
    assert any(r["variant"].endswith(fastest) for r in stage)
    inputs = _inputs(tflite, 3, seed=1)
    run = CBackend().run(artifact, target, inputs, layers=True)
    _assert_layers_equal(
        reference(tflite, inputs, layers=True),
        run,
        artifact.details["layer_ops"],
        artifact.details["layers"],
    )
    assert run.instructions_without_patches and all(run.instructions_without_patches)


def test_patched_build_through_the_cli_on_a_users_model(custom_cnn, tmp_path, cli):
    """edgekit build --model on the custom CNN for the M7 board: auto patches it, validates it
    bit-exact in QEMU and reports both arenas and the measured overhead."""
    model = tmp_path / "cnn.tflite"
    model.write_bytes(custom_cnn)
    out = tmp_path / "out"
    code, _, err = cli(
        "build", "--target", "cortex-m7", "--model", model, "--out", out, "--validate-inputs",
        "3", "--patches", "2x2", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    import json

    report = json.loads((out / "report.json").read_text())
    c = next(a for a in report["artifacts"] if a["backend"] == "c")
    bench = next(b for b in report["benchmark"] if b["backend"] == "c")
    valid = next(v for v in report["validation"] if v["backend"] == "c")
    assert c["patches"]["grid"] == "2x2" and c["arena_bytes"] < c["patches"]["arena_bytes_without"]
    assert valid["bit_exact"] and bench["instructions_without_patches"] > 0
    # both counted on the first input; the mean over three inputs is within a fraction of it
    assert bench["patch_overhead"] == pytest.approx(
        bench["instructions"] / bench["instructions_without_patches"] - 1, abs=0.005
    )
    text = (out / "report.md").read_text()
    assert "Patch-based execution: c" in text and "2x2 grid" in text


def test_bad_patch_option_is_one_error_line(cli, tmp_path):
    code, _, err = cli("build", "--target", "cortex-m7", "--patches", "3by3", "--out", tmp_path)
    assert code != 0 and len(error_lines(err)) == 1 and "--patches takes" in err
    code, _, err = cli("build", "--target", "cortex-m7", "--patch-overhead", "x", "--out", tmp_path)
    assert code != 0 and "--patch-overhead takes a percentage" in err
