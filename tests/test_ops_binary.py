"""Binary int8 operators with broadcasting in the c backend: ADD (broadcasting), SUB, MUL,
SQUARED_DIFFERENCE, MAXIMUM and MINIMUM, each bit-exact with LiteRT's reference kernels.

Tiny Keras models converted by the TFLite converter carry the edge cases (broadcast along each
axis, a 1x1x1x1 operand on either side, squeeze-and-excite, one tensor on both sides, different
scales on each side, fused activations, a constant operand); they run on the host under ASan
and UBSan and on the M7 and M55 boards, every layer compared with the reference.
"""

import subprocess

import numpy as np
import pytest

from edgekit.backends.c import CBackend, build_host
from edgekit.compiler import fixedpoint
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import plan_inputs, reference_kernels, select_kernels
from edgekit.compiler.planner import plan_memory
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

BROADCAST_SHAPE = (9, 11, 5)  # H, W, C: odd and unequal, so that no axis stands for another
CHAIN_SHAPE = (8, 8, 16)


def _quantize(model, shape, seed: int) -> bytes:
    from edgekit.quantization.converter import quantize

    samples = np.random.default_rng(seed).uniform(-1, 1, (16, *shape)).astype(np.float32)
    return quantize(model, samples)


def _inputs(shape, count: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (count, *shape)).astype(np.int8)


@pytest.fixture(scope="module")
def broadcasts() -> bytes:
    """ADD, SUB and MUL broadcast along H, W and C, a 1x1x1x1 operand on the left and on the
    right, one tensor on both sides, fused ReLU and ReLU6, and a constant operand."""
    import keras
    from keras import layers, ops

    h, w, c = BROADCAST_SHAPE
    x = inp = keras.Input(BROADCAST_SHAPE, batch_size=1)
    x = layers.Conv2D(c, 1)(inp)
    rows = layers.Conv2D(c, (h, 1))(inp)  # (1, 1, W, C)
    cols = layers.Conv2D(c, (1, w))(inp)  # (1, H, 1, C)
    plane = layers.Conv2D(1, 1)(inp)  # (1, H, W, 1)
    scalar = layers.Conv2D(1, 1)(layers.GlobalAveragePooling2D(keepdims=True)(inp))
    y = ops.relu(ops.add(x, rows))
    y = ops.subtract(cols, y)
    y = ops.multiply(y, plane)
    y = ops.add(scalar, y)
    y = ops.multiply(y, y)
    y = layers.ReLU(6.0)(ops.multiply(y, scalar))
    y = ops.add(y, np.linspace(-1, 1, c).reshape(1, 1, 1, c).astype("float32"))
    y = ops.subtract(y, rows)
    return _quantize(keras.Model(inp, y), BROADCAST_SHAPE, seed=0)


@pytest.fixture(scope="module")
def chain() -> bytes:
    """Squeeze-and-excite (MUL by a 1x1x1xC tensor), then SQUARED_DIFFERENCE, SUB, MAXIMUM,
    MINIMUM, an ADD of equal shapes (ADD's own kernels) and a broadcasting one."""
    import keras
    from keras import layers, ops

    channels = CHAIN_SHAPE[-1]
    inp = keras.Input(CHAIN_SHAPE, batch_size=1)
    x = layers.Conv2D(channels, 1)(inp)
    # a 1x1 convolution on the pooled 1x1xC converts to RESHAPE + FULLY_CONNECTED of rank 1
    # (which the frontend refuses today): the excitation is computed before the pooling
    se = layers.Conv2D(channels, 1, activation="relu")(inp)
    se = layers.GlobalAveragePooling2D(keepdims=True)(se)
    x = layers.Multiply()([x, se])
    y = layers.Conv2D(channels, 1)(inp)
    x = layers.Subtract()([x, ops.square(x - y)])
    x = layers.Minimum()([layers.Maximum()([x, y]), x])
    x = layers.Add()([x, y])
    # (the converter squeezes a 1x1x1xC addend to rank 1, which the frontend refuses today)
    x = ops.add(x, layers.Conv2D(channels, (CHAIN_SHAPE[0], 1))(inp))  # along H
    return _quantize(keras.Model(inp, x), CHAIN_SHAPE, seed=2)


def _ops(tflite: bytes):
    graph = read_tflite(tflite)
    return graph, [op for op in graph.ops if op.kind not in ("CONV_2D", "MEAN")]


def _shapes(graph, op):
    return tuple(graph.tensor(i).shape for i in op.inputs)


def test_the_models_hold_the_cases_under_test(broadcasts, chain):
    graph, binary = _ops(broadcasts)
    h, w, c = BROADCAST_SHAPE
    full = (1, h, w, c)
    shapes = {(op.kind, _shapes(graph, op)) for op in binary}
    assert ("ADD", (full, (1, 1, w, c))) in shapes  # along H
    assert ("SUB", ((1, h, 1, c), full)) in shapes  # along W, the smaller on the left
    assert ("MUL", (full, (1, h, w, 1))) in shapes  # along C
    assert ("ADD", ((1, 1, 1, 1), full)) in shapes and ("MUL", (full, (1, 1, 1, 1))) in shapes
    assert ("ADD", (full, (c,))) in shapes  # a constant, of rank 1
    assert any(op.kind == "MUL" and op.inputs[0] == op.inputs[1] for op in binary)
    activations = {op.options.get("activation") for op in binary}
    assert {"RELU", "RELU6", "NONE"} <= activations
    scales = {tuple(graph.tensor(i).quant.scale[0] for i in op.inputs) for op in binary}
    assert any(a != b for a, b in scales)

    graph, binary = _ops(chain)
    kinds = [op.kind for op in binary]
    assert kinds == ["MUL", "SQUARED_DIFFERENCE", "SUB", "MAXIMUM", "MINIMUM", "ADD", "ADD"]
    assert _shapes(graph, binary[0])[1] == (1, 1, 1, CHAIN_SHAPE[-1])  # squeeze-and-excite


def _run_sanitized(tflite: bytes, inputs: np.ndarray, tmp_path) -> tuple[np.ndarray, np.ndarray]:
    artifact = CBackend().compile(Int8Model(tflite), load_target("host"), tmp_path / "c")
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    (tmp_path / "input.bin").write_bytes(inputs.tobytes())
    done = subprocess.run(
        [str(binary), "input.bin", "output.bin", "layers.bin"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr  # any ASan or UBSan finding is fatal
    assert done.stderr == ""
    outputs = np.frombuffer((tmp_path / "output.bin").read_bytes(), np.int8)
    return outputs.reshape(len(inputs), -1), np.frombuffer(
        (tmp_path / "layers.bin").read_bytes(), np.int8
    )


@pytest.mark.parametrize("name", ["broadcasts", "chain"])
def test_host_build_is_sanitizer_clean_and_bit_exact_on_every_layer(name, request, tmp_path):
    tflite = request.getfixturevalue(name)
    shape = BROADCAST_SHAPE if name == "broadcasts" else CHAIN_SHAPE
    inputs = _inputs(shape)
    want = reference(tflite, inputs, layers=True)
    outputs, layers = _run_sanitized(tflite, inputs, tmp_path)
    np.testing.assert_array_equal(outputs, want.outputs.reshape(len(inputs), -1))
    np.testing.assert_array_equal(layers, np.concatenate([a.ravel() for a in want.layers]))


def _values(graph, ref, tensor: int, first_input: np.ndarray) -> np.ndarray:
    """A tensor's int8 values for the first input: the graph input, a constant or a layer."""
    t = graph.tensor(tensor)
    if t.data is not None:
        return np.asarray(graph.constant(tensor)).reshape(t.shape)
    producer = graph.producer(tensor)
    values = first_input if producer is None else ref.layers[producer.index]
    return np.asarray(values).reshape(t.shape)


def test_mul_outputs_round_ties_of_both_signs_as_tflite_does(broadcasts):
    """The final rounding of MUL (a right shift rounding half away from zero, after the high
    multiply) meets exact ties, above and below zero, on these inputs; the outputs still match."""
    graph = read_tflite(broadcasts)
    inputs = _inputs(BROADCAST_SHAPE)
    ref = reference(broadcasts, inputs, layers=True)
    ties = {1: 0, -1: 0}
    for op in (op for op in graph.ops if op.kind == "MUL"):
        (s1, z1), (s2, z2), (so, _) = (
            (float(graph.tensor(i).quant.scale[0]), int(graph.tensor(i).quant.zero_point[0]))
            for i in (*op.inputs, op.outputs[0])
        )
        a, b = (_values(graph, ref, i, inputs[0]).astype(np.int64) for i in op.inputs)
        product = (a - z1) * (b - z2)
        f32 = [float(np.float32(s)) for s in (s1, s2, so)]
        multiplier, shift = fixedpoint.quantize_multiplier(f32[0] * f32[1] / f32[2])
        assert shift < 0
        ab = product * multiplier
        nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
        high = np.sign(nudged) * (np.abs(nudged) >> 31)  # C's division: towards zero
        tied = (high & ((1 << -shift) - 1)) == 1 << (-shift - 1)
        ties[1] += int(np.sum(tied & (high > 0)))
        ties[-1] += int(np.sum(tied & (high < 0)))
    assert ties[1] > 0 and ties[-1] > 0, ties
    # and the C rounds them as TFLite does: test_host_build_is_sanitizer_clean_... compares
    # every layer of this model on these inputs


def test_squeeze_and_excite_mul_runs_in_place_and_equal_shapes_keep_adds_kernels(chain):
    graph = read_tflite(chain)
    rules, scratch = plan_inputs(graph, reference_kernels(graph))
    plan = plan_memory(graph, rules=rules, scratch=scratch)
    mul = next(op for op in graph.ops if op.kind == "MUL")
    assert any(p.op == mul.index and p.input == mul.inputs[0] for p in plan.in_place)
    adds = [op for op in graph.ops if op.kind == "ADD"]
    for core, fastest in (("host", "add_ref"), ("cortex-m7", "add_dsp"), ("cortex-m55", "add_mve")):
        choices = select_kernels(graph, load_target(core))
        assert [choices[op.index].variant.name for op in adds] == [fastest, "add_broadcast_ref"]
    assert reference_kernels(graph)[adds[0].index].variant.name == "add_ref"


@pytest.mark.parametrize("core, board", [("cortex-m7", "mps2-an500"), ("cortex-m55", "mps3-an547")])
def test_chain_is_bit_exact_on_every_layer_on_the_boards(chain, tmp_path, core, board):
    target = load_target(core)
    inputs = _inputs(CHAIN_SHAPE)
    artifact = CBackend().compile(Int8Model(chain), target, tmp_path)
    run = CBackend().run(artifact, target, inputs, layers=True)
    assert run.runner == f"qemu-system-arm {board}"
    want = reference(chain, inputs, layers=True)
    np.testing.assert_array_equal(run.outputs, want.outputs)
    ops = artifact.details["layer_ops"]
    assert len(run.layers) == len(ops)
    for got, expected in zip(run.layers, [want.layers[i] for i in ops], strict=True):
        np.testing.assert_array_equal(got.ravel(), np.asarray(expected).ravel())
