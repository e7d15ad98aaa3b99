"""CONCATENATION in place (issue 18): where every dimension before the axis is 1, the planner
puts each input in its stretch of the output and the concatenation costs no code; elsewhere,
and where that would put a tensor at two places, it copies. Every model runs bit-exact against
LiteRT's reference kernels, on the host under ASan and UBSan and on the Cortex-M7 board.
"""

import re

import numpy as np
import pytest
from test_ops_unary import assert_layers_match, sanitized_run, schema_model

from edgekit.backends.c import CBackend
from edgekit.compiler.ir import read_tflite, without_shape_computations
from edgekit.compiler.ops import plan_inputs, reference_kernels
from edgekit.compiler.planner import plan_memory
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

Q = (0.05, -3)  # every tensor's scale and zero point in the schema models


def copies(artifact) -> set[int]:
    """The op indices whose concatenation copies run in model.c."""
    code = (artifact.path / "src" / "model.c").read_text()
    return {int(i) for i in re.findall(r"ek_concatenation_s8_ref\(&\w+_op(\d+)_input", code)}


def concatenations(tflite: bytes) -> list[int]:
    graph, _ = without_shape_computations(read_tflite(tflite))
    return [op.index for op in graph.ops if op.kind == "CONCATENATION"]


def arena_with_copies(tflite: bytes) -> int:
    """The arena of the same model whose concatenations all copy."""
    graph, _ = without_shape_computations(read_tflite(tflite))
    rules, scratch = plan_inputs(graph, reference_kernels(graph))
    for i in concatenations(tflite):
        rules[i] = None
    return plan_memory(graph, rules=rules, scratch=scratch).arena_bytes


@pytest.fixture(scope="module")
def dense_branches() -> bytes:
    """Two Dense branches of one input concatenated into one vector, then a Dense layer."""
    import keras

    from edgekit.quantization.converter import quantize

    layers = keras.layers
    x = inp = keras.Input((16,), batch_size=1)
    a, b = layers.Dense(12, activation="relu")(x), layers.Dense(20)(x)
    x = layers.Dense(4)(layers.Concatenate()([a, b]))
    samples = np.random.default_rng(0).uniform(-1, 1, (16, 16)).astype(np.float32)
    return quantize(keras.Model(inp, x), samples)


def test_a_concatenation_of_vectors_costs_no_code_and_no_arena(dense_branches, tmp_path):
    inputs = np.random.default_rng(1).integers(-128, 128, (4, 16)).astype(np.int8)
    run, artifact = sanitized_run(dense_branches, inputs, tmp_path)
    assert_layers_match(run, dense_branches, inputs)
    assert len(concatenations(dense_branches)) == 1 and not copies(artifact)
    # the copy holds both branches and their concatenation at once; in place, the branches are it
    assert artifact.details["arena_bytes"] < arena_with_copies(dense_branches)


def test_a_concatenation_of_vectors_in_place_is_bit_exact_on_the_board(dense_branches, tmp_path):
    target = load_target("cortex-m7")
    inputs = np.random.default_rng(2).integers(-128, 128, (3, 16)).astype(np.int8)
    artifact = CBackend().compile(Int8Model(dense_branches), target, tmp_path)
    assert not copies(artifact)
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(dense_branches, inputs, layers=True)
    np.testing.assert_array_equal(run.outputs, want.outputs)
    layers = [want.layers[i] for i in artifact.details["layer_ops"]]
    for got, expected in zip(run.layers, layers, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_channels_copy_and_heights_do_not(tmp_path):
    """Along the channels of an image each input is H * W stretches of the output, so that
    concatenation copies; along the height each input is one stretch."""
    import keras

    from edgekit.quantization.converter import quantize

    layers = keras.layers
    x = inp = keras.Input((4, 3, 2), batch_size=1)
    a, b = layers.Conv2D(4, 1)(x), layers.Conv2D(3, 3, padding="same")(x)
    x = layers.Concatenate(axis=3)([a, b])  # 7 channels
    x = layers.Concatenate(axis=1)([x, layers.Conv2D(7, 1)(x)])  # height 8
    x = layers.Dense(3)(layers.Flatten()(x))
    samples = np.random.default_rng(0).uniform(-1, 1, (16, 4, 3, 2)).astype(np.float32)
    tflite = quantize(keras.Model(inp, x), samples)
    channels, height = concatenations(tflite)
    inputs = np.random.default_rng(3).integers(-128, 128, (3, 4, 3, 2)).astype(np.int8)
    run, artifact = sanitized_run(tflite, inputs, tmp_path)
    assert_layers_match(run, tflite, inputs)
    assert copies(artifact) == {channels}


def test_an_input_read_again_after_the_concatenation_stays_correct(tmp_path):
    """t1 is read after the concatenation that holds it, and that concatenation is itself an
    input of another: t1 lies inside both outputs, and no op writes over it in place."""
    tensors = [((1, 8), Q)] * 3 + [((1, 16), Q), ((1, 8), Q), ((1, 24), Q)]
    ops = [
        ("RELU", [0], 1, None),
        ("RELU6", [0], 2, None),
        ("CONCATENATION", [1, 2], 3, {"axis": 1}),
        ("LEAKY_RELU", [1], 4, {"alpha": 0.3}),
        ("CONCATENATION", [3, 4], 5, {"axis": 1}),
    ]
    tflite = schema_model(tensors, ops)
    inputs = np.random.default_rng(4).integers(-128, 128, (3, 1, 8)).astype(np.int8)
    run, artifact = sanitized_run(tflite, inputs, tmp_path)
    assert_layers_match(run, tflite, inputs)
    assert not copies(artifact)
    graph = read_tflite(tflite)
    rules, scratch = plan_inputs(graph, reference_kernels(graph))
    plan = plan_memory(graph, rules=rules, scratch=scratch)
    assert plan.offset(1) == plan.offset(3) == plan.offset(5)
    assert plan.offset(4) == plan.offset(5) + 16


def test_a_tensor_in_two_concatenations_makes_one_copy(tmp_path):
    """t1 starts both t4 and t5: in place, t3 and t2 would share bytes, so t5 copies; t6 then
    holds t4 and t5 side by side."""
    tensors = [((1, 8), Q)] * 4 + [((1, 16), Q)] * 2 + [((1, 32), Q)]
    ops = [
        ("RELU", [0], 1, None),
        ("RELU6", [0], 2, None),
        ("LEAKY_RELU", [0], 3, {"alpha": 0.3}),
        ("CONCATENATION", [1, 2], 4, {"axis": 1}),
        ("CONCATENATION", [1, 3], 5, {"axis": 1}),
        ("CONCATENATION", [4, 5], 6, {"axis": 1}),
    ]
    tflite = schema_model(tensors, ops)
    inputs = np.random.default_rng(5).integers(-128, 128, (3, 1, 8)).astype(np.int8)
    run, artifact = sanitized_run(tflite, inputs, tmp_path)
    assert_layers_match(run, tflite, inputs)
    assert copies(artifact) == {4}
