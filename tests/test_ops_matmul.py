"""BATCH_MATMUL of two int8 tensors in the c backend, bit-exact with LiteRT's reference kernel.

A model written with the flatbuffer schema carries the edge cases: every adj_x / adj_y
combination, operands of rank 3 and 5, batch dimensions broadcast on either side or on both
(on different axes), odd sizes, zero points off zero, a constant right-hand side. Its operands
are computed from the one graph input by ops of tests/test_ops_reduce.py: an int8 rescale, and
reductions that keep their axes (broadcast shapes) or drop them (rank 3). A converted Keras
model shows what the converter writes for keras.ops.matmul (transposes folded into adj_x and
adj_y) and for a Dense layer on a rank-3 input (FULLY_CONNECTED, not BATCH_MATMUL). Everything
runs on the host under ASan and UBSan and on the M7 and M55 boards, every layer compared byte
for byte.
"""

import numpy as np
import pytest
from test_ops_reduce import (
    random_rows,
    reference_outputs,
    same_bytes,
    sanitized_run,
    schema_model,
    tensor,
)

from edgekit.backends.c import CBackend
from edgekit.compiler import emitters, fixedpoint
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import require_supported
from edgekit.errors import EdgekitError
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

SHAPE = (1, 2, 3, 4, 6)  # two batch axes, 4 x 6 matrices


def matmul_model() -> bytes:
    """BATCH_MATMULs of the input ``x`` (1x2x3x4x6), a rescaled copy ``a``, its MEAN over axis
    1 ``b`` (1x1x3x4x6), its REDUCE_MAX over axis 2 ``c`` (1x2x1x4x6) and over axes 1 and 2
    ``s`` (1x4x6, rank 3), and a constant 6x5 matrix."""
    tensors = [
        tensor(SHAPE, (0.05, 3)),  # 0: x
        tensor(SHAPE, (0.04, -6)),  # 1: a
        tensor((1,), dtype="int32", data=[1]),
        tensor((1, 1, 3, 4, 6), (0.03, 7)),  # 3: b
        tensor((1,), dtype="int32", data=[-3]),
        tensor((1, 2, 1, 4, 6), (0.05, 3)),  # 5: c
        tensor((2,), dtype="int32", data=[1, 2]),
        tensor((1, 4, 6), (0.05, 3)),  # 7: s
        tensor((6, 5), (0.01, 2), data=np.random.default_rng(2).integers(-128, 128, (6, 5))),
    ]
    ops = [
        ("QUANTIZE", [0], 1, None),
        ("MEAN", [0, 2], 3, {"keepDims": True}),
        ("REDUCE_MAX", [0, 4], 5, {"keepDims": True}),
        ("REDUCE_MAX", [0, 6], 7, {"keepDims": False}),
    ]

    def matmul(lhs, rhs, shape, quant, adj_x=False, adj_y=False):
        tensors.append(tensor(shape, quant))
        ops.append(("BATCH_MATMUL", [lhs, rhs], len(tensors) - 1, {"adjX": adj_x, "adjY": adj_y}))
        return len(tensors) - 1

    m1 = matmul(0, 1, (1, 2, 3, 4, 4), (0.6, -2), adj_y=True)  # x @ a^T
    matmul(0, 3, (1, 2, 3, 6, 6), (0.5, 9), adj_x=True)  # x^T @ b, b broadcast along axis 1
    matmul(5, m1, (1, 2, 3, 6, 4), (3.0, 1), adj_x=True, adj_y=True)  # c broadcast along 2
    matmul(3, 5, (1, 2, 3, 4, 4), (0.4, -100), adj_y=True)  # both broadcast, on other axes
    matmul(7, 0, (1, 2, 3, 4, 4), (2.0, 0), adj_y=True)  # rank 3 against rank 5
    matmul(0, 8, (1, 2, 3, 4, 5), (0.3, 50))  # a constant right-hand side
    return schema_model(tensors, ops)


def test_the_model_holds_every_case():
    graph = read_tflite(matmul_model())
    matmuls = [op for op in graph.ops if op.kind == "BATCH_MATMUL"]
    flags = {(op.options["adj_x"], op.options["adj_y"]) for op in matmuls}
    assert flags == {(False, False), (True, False), (False, True), (True, True)}
    assert any(graph.tensor(op.inputs[1]).data is not None for op in matmuls)


def test_batch_matmul_is_bit_exact_under_sanitizers(tmp_path):
    tflite = matmul_model()
    graph = read_tflite(tflite)
    inputs = random_rows(SHAPE[1:], 2, seed=1)
    run, _ = sanitized_run(tflite, inputs, tmp_path)
    want = reference(tflite, inputs, layers=True)
    same_bytes(run.outputs, want.outputs, "outputs")
    for i, got in enumerate(run.layers):
        same_bytes(got, want.layers[i], f"op {i} ({graph.ops[i].kind})")


def _rescale(products: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier of positive int32 values, vectorized."""
    left, right = max(shift, 0), max(-shift, 0)
    high = ((products << left) * multiplier + (1 << 30)) >> 31
    return (high + ((1 << right) >> 1)) >> right


def test_multiplier_is_the_float32_product_of_the_scales():
    """TFLite multiplies the operands' float32 scales in float32 (GetQuantizedConvolutionMultipler),
    not in double: on scales where the two round to different Q31 multipliers, 1x1 products
    that tell them apart match the float32 one."""
    rng = np.random.default_rng(1)
    a, b = (v.ravel() for v in np.meshgrid(np.arange(1, 128), np.arange(1, 128)))
    products = (a * b).astype(np.int64)
    told = 0
    while told < 4:
        s1, s2, s3 = (float(np.float32(v)) for v in rng.uniform(0.001, 0.1, 3))
        ours = emitters.batch_matmul_multiplier(s1, s2, s3)
        double = fixedpoint.quantize_multiplier(s1 * s2 / s3)
        want, other = _rescale(products, *ours), _rescale(products, *double)
        apart = np.flatnonzero((want != other) & (want < 127))
        if ours == double or not apart.size:
            continue
        k = apart[0]
        tensors = [tensor((1, 1, 1), (s, 0)) for s in (s1, s2, s3)]
        tflite = schema_model(tensors, [("BATCH_MATMUL", [0, 1], 2, {})], inputs=(0, 1))
        assert _two_inputs(tflite, a[k], b[k]) == want[k]
        told += 1


def _two_inputs(tflite: bytes, a, b) -> int:
    from edgekit.interpreter import interpreter

    interp = interpreter(tflite, reference=True)
    first, second = interp.get_input_details()
    interp.set_tensor(first["index"], np.full((1, 1, 1), a, np.int8))
    interp.set_tensor(second["index"], np.full((1, 1, 1), b, np.int8))
    interp.invoke()
    return int(interp.get_tensor(interp.get_output_details()[0]["index"]).ravel()[0])


def test_batch_matmul_whose_shapes_do_not_match_is_refused_in_one_line():
    tensors = [tensor((1, 4, 6), (0.05, 3)), tensor((1, 4, 6), (0.05, 3)),
               tensor((1, 4, 4), (0.5, 0))]  # fmt: skip
    tflite = schema_model(tensors, [("BATCH_MATMUL", [0, 0], 2, {})])  # 4x6 @ 4x6: K differs
    with pytest.raises(EdgekitError) as err:
        require_supported(read_tflite(tflite), load_target("cortex-m7"))
    message = str(err.value)
    assert "\n" not in message and message.startswith("BATCH_MATMUL") and "[1, 4, 6]" in message
    with pytest.raises(Exception):  # noqa: B017 - LiteRT refuses it too, in its own words
        reference_outputs(tflite, np.zeros((1, 4, 6), np.int8))


# ---------------------------------------------------------------- the converter's matmuls


@pytest.fixture(scope="module")
def keras_matmuls() -> bytes:
    """keras.ops.matmul of computed tensors with their transposes: x @ x^T, x^T @ q, r @ x."""
    import keras
    from keras import ops

    from edgekit.quantization.converter import quantize

    x = inp = keras.Input((5, 6), batch_size=1)
    q = ops.matmul(x, ops.transpose(x, (0, 2, 1)))  # 1x5x5
    r = ops.matmul(ops.transpose(x, (0, 2, 1)), q)  # 1x6x5
    y = ops.matmul(r, x)  # 1x6x6
    samples = np.random.default_rng(0).uniform(-1, 1, (16, 5, 6)).astype(np.float32)
    return quantize(keras.Model(inp, y), (samples,))


def test_converted_matmuls_fold_transposes_and_are_bit_exact(keras_matmuls, tmp_path):
    graph = read_tflite(keras_matmuls)
    matmuls = [op for op in graph.ops if op.kind == "BATCH_MATMUL"]
    assert len(matmuls) == 3 and not any(op.kind == "TRANSPOSE" for op in graph.ops)
    assert {(op.options["adj_x"], op.options["adj_y"]) for op in matmuls} >= {(False, True)}
    inputs = random_rows((5, 6), 3, seed=3)
    run, _ = sanitized_run(keras_matmuls, inputs, tmp_path)
    want = reference(keras_matmuls, inputs, layers=True)
    same_bytes(run.outputs, want.outputs)
    for got, expected in zip(run.layers, want.layers, strict=True):
        same_bytes(got, expected)


def test_dense_on_a_rank3_input_converts_to_fully_connected_not_batch_matmul():
    """What a Dense layer (or a matmul by a constant) on a rank-3 input becomes: a
    FULLY_CONNECTED keeping its leading dimensions, so BATCH_MATMUL meets constants only in
    models written otherwise (the schema model above has one)."""
    import keras

    from edgekit.quantization.converter import quantize

    x = inp = keras.Input((5, 6), batch_size=1)
    y = keras.layers.Dense(3)(x)
    y = keras.ops.matmul(y, np.ones((3, 2), np.float32))
    samples = np.random.default_rng(0).uniform(-1, 1, (16, 5, 6)).astype(np.float32)
    graph = read_tflite(quantize(keras.Model(inp, y), (samples,)))
    kinds = [op.kind for op in graph.ops]
    assert kinds == ["FULLY_CONNECTED", "FULLY_CONNECTED"]
    assert all(op.options["keep_num_dims"] for op in graph.ops)


# ---------------------------------------------------------------- on the boards


@pytest.mark.parametrize("core", ["cortex-m7", "cortex-m55"])
def test_batch_matmul_is_bit_exact_on_every_layer_on_the_board(core, tmp_path):
    tflite = matmul_model()
    graph = read_tflite(tflite)
    target = load_target(core)
    inputs = random_rows(SHAPE[1:], 2, seed=4)
    artifact = CBackend().compile(Int8Model(tflite), target, tmp_path)
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(tflite, inputs, layers=True)
    same_bytes(run.outputs, want.outputs, "outputs")
    for i, got in zip(artifact.details["layer_ops"], run.layers, strict=True):
        same_bytes(got, want.layers[i], f"op {i} ({graph.ops[i].kind})")
