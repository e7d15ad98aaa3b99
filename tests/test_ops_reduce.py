"""MEAN, SUM and REDUCE_MAX over any axes, ARG_MAX, PRELU, and QUANTIZE / DEQUANTIZE between
float32 and int8 in the c backend, each bit-exact with LiteRT's reference kernels.

Single-op models written with the flatbuffer schema carry the edge cases the converter would
not pick: reductions over every axis set of a 4-D tensor (negative and repeated axes, with and
without keep_dims), input and output quantization equal (TFLite's special case for MEAN) or
not, counts that are not powers of two, SUM rescaling up and down; ARG_MAX ties and both index
types; PRELU with each broadcast of alpha; float tensors inside the model (int8 ->
DEQUANTIZE -> float32 -> QUANTIZE -> int8) fed values at rounding ties, beyond the int8 range,
-0.0 and huge magnitudes. Converted Keras models show what the converter writes. Everything
runs on the host under ASan and UBSan and, chained, on the M7 and M55 boards, every layer
compared byte for byte with the reference.
"""

import itertools

import numpy as np
import pytest

from edgekit.backends.c import CBackend, build_host, run_host
from edgekit.compiler import emitters
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import check_graph, require_supported
from edgekit.errors import EdgekitError
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

SHAPE = (1, 5, 6, 7)  # odd, unequal sizes: no axis stands in for another
OPTIONS = {  # the schema's options table of each op kind that has one
    "MEAN": "ReducerOptions",
    "SUM": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions",
    "ARG_MAX": "ArgMaxOptions",
    "BATCH_MATMUL": "BatchMatMulOptions",
}
TYPES = {"int8": 9, "int16": 7, "float32": 0, "int32": 2, "int64": 4}  # schema TensorType values


# ---------------------------------------------------------------- models from the schema


def tensor(shape, quant=None, dtype="int8", data=None) -> dict:
    """A tensor for ``schema_model``: ``quant`` is (scale, zero point), ``data`` a constant."""
    return {"shape": shape, "quant": quant, "dtype": dtype, "data": data}


def schema_model(tensors, ops, inputs=(0,), outputs=None) -> bytes:
    """A .tflite of ``tensors`` (``tensor`` dicts) and ``ops`` as (kind, input indices, output
    index, options fields or None); the graph output is the last tensor unless given."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT()
    model.version, model.buffers, model.operatorCodes = 3, [s.BufferT()], []
    graph = s.SubGraphT()
    graph.tensors = []
    for n, spec in enumerate(tensors):
        t = s.TensorT()
        t.shape, t.type, t.name, t.buffer = list(spec["shape"]), TYPES[spec["dtype"]], f"t{n}", 0
        if spec["quant"] is not None:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [spec["quant"][0]], [spec["quant"][1]]
        if spec["data"] is not None:
            buffer = s.BufferT()
            raw = np.asarray(spec["data"], dtype=spec["dtype"]).tobytes()
            buffer.data = list(raw)
            t.buffer = len(model.buffers)
            model.buffers.append(buffer)
        graph.tensors.append(t)
    kinds = list(dict.fromkeys(kind for kind, *_ in ops))
    for kind in kinds:
        code = s.OperatorCodeT()
        code.builtinCode = getattr(s.BuiltinOperator, kind)
        code.deprecatedBuiltinCode, code.version = min(code.builtinCode, 127), 1
        model.operatorCodes.append(code)
    graph.operators = []
    for kind, op_inputs, output, options in ops:
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = kinds.index(kind), list(op_inputs), [output]
        if kind in OPTIONS:
            name = OPTIONS[kind]
            op.builtinOptionsType = getattr(s.BuiltinOptions, name)
            op.builtinOptions = getattr(s, name + "T")()
            for key, value in (options or {}).items():
                setattr(op.builtinOptions, key, value)
        graph.operators.append(op)
    graph.inputs = list(inputs)
    graph.outputs = [len(tensors) - 1] if outputs is None else list(outputs)
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def reference_outputs(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """The reference interpreter's output for one input, in-process (fast, for many cases)."""
    from edgekit.interpreter import interpreter

    interp = interpreter(tflite, reference=True)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def random_rows(shape, count: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (count, *shape)).astype(np.int8)


def same_bytes(got, want, what: str = "") -> None:
    """Byte-for-byte equality, whatever element type either side is read as."""
    got_bytes = np.ascontiguousarray(got).view(np.uint8).ravel()
    want_bytes = np.ascontiguousarray(want).view(np.uint8).ravel()
    np.testing.assert_array_equal(got_bytes, want_bytes, err_msg=what)


def sanitized_run(tflite: bytes, inputs: np.ndarray, tmp_path):
    """The model's C folder built for the host under ASan and UBSan (every finding fatal) and
    run on ``inputs``, every layer kept; and the compiled artifact."""
    artifact = CBackend().compile(Int8Model(tflite), load_target("host"), tmp_path / "c")
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    return run_host(binary, inputs, artifact.details["layer_bytes"]), artifact


def assert_layers_match(run, tflite: bytes, inputs: np.ndarray, layer_ops=None) -> None:
    """Outputs and every layer (those of ``layer_ops``, by default all) equal to the
    reference's, byte for byte."""
    want = reference(tflite, inputs, layers=True)
    same_bytes(run.outputs, want.outputs, "outputs")
    kinds = [op.kind for op in read_tflite(tflite).ops]
    layer_ops = range(len(kinds)) if layer_ops is None else layer_ops
    layers = [want.layers[i] for i in layer_ops]
    for i, got, expected in zip(layer_ops, run.layers, layers, strict=True):
        same_bytes(got, expected, f"op {i} ({kinds[i]})")


# ---------------------------------------------------------------- MEAN, SUM, REDUCE_MAX

AXIS_SETS = [s for n in range(1, 5) for s in itertools.combinations(range(4), n)]


def _axes(axes: tuple[int, ...], variant: int) -> list[int]:
    """The axis list as a model may write it: as is, negative, or with a repeat."""
    if variant == 1:
        return [a - 4 for a in axes]
    if variant == 2:
        return [*axes, axes[0] - 4]
    return list(axes)


def reductions_model() -> bytes:
    """MEAN, SUM and REDUCE_MAX of one 1x5x6x7 input over each of the 15 axis sets, with and
    without keep_dims, the axes written plainly, negative or repeated. MEAN's output shares
    the input's quantization in every third op (TFLite's special case in older kernels), else
    has its own; SUM's output scale is larger (a right shift) or smaller (a left shift) than
    the input's."""
    q_in = (0.05, 3)
    tensors, ops = [tensor(SHAPE, q_in)], []
    rank_scales = {"MEAN": [q_in, (0.02, -7), (0.11, 100)], "SUM": [(0.4, -20), (0.01, 5)]}
    for n, (kind, axes, keep) in enumerate(
        itertools.product(("MEAN", "SUM", "REDUCE_MAX"), AXIS_SETS, (False, True))
    ):
        written = _axes(axes, n % 3)
        out_shape = [1 if d in axes else s for d, s in enumerate(SHAPE) if keep or d not in axes]
        if len(out_shape) > 1 and out_shape[0] != 1:
            continue  # dropping the batch axis makes a batch of 5: static_batch_one refuses it
        quant = q_in if kind == "REDUCE_MAX" else rank_scales[kind][n % len(rank_scales[kind])]
        tensors.append(tensor((len(written),), dtype="int32", data=written))
        tensors.append(tensor(out_shape, quant))
        ops.append((kind, [0, len(tensors) - 2], len(tensors) - 1, {"keepDims": keep}))
    return schema_model(tensors, ops)


def quantized_sum(x, axes, in_quant, out_quant, as_uint8=False) -> np.ndarray:
    """TFLite's QuantizedMeanOrSum for SUM, in numpy: the sum over ``axes`` less count times
    the input zero point, MultiplyByQuantizedMultiplier by input / output scale, plus the
    output zero point, clamped to int8 (or, ``as_uint8``, with the int8 bytes read and the
    result clamped as uint8, as LiteRT 2.3's BUILTIN_REF does)."""
    from edgekit.compiler import fixedpoint, tables

    x = np.ascontiguousarray(x).view(np.int8)  # int8 values, whichever way they were read
    values = (x.view(np.uint8) if as_uint8 else x).astype(np.int64)
    count = int(np.prod([x.shape[a] for a in axes]))
    sums = values.sum(axis=tuple(axes)) - in_quant[1] * count
    m, s = fixedpoint.quantize_multiplier(
        float(np.float32(in_quant[0])) / float(np.float32(out_quant[0]))
    )
    low, high = (0, 255) if as_uint8 else (-128, 127)
    out = [min(max(tables.multiply_by_quantized_multiplier(int(v), m, s) + out_quant[1], low), high)
           for v in sums.ravel()]  # fmt: skip
    return np.array(out, np.int64).astype(np.uint8).view(np.int8).reshape(sums.shape)


def _sum_quant(graph, op) -> tuple[list[int], tuple, tuple]:
    axes = sorted({int(a) % 4 for a in graph.constant(op.inputs[1])})
    quant = [(float(t.quant.scale[0]), int(t.quant.zero_point[0]))
             for t in (graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0]))]  # fmt: skip
    return axes, *quant


def test_reductions_over_every_axis_set_are_bit_exact_under_sanitizers(tmp_path):
    """MEAN and REDUCE_MAX against the reference kernels. SUM against the reference source's
    arithmetic on int8 values (``quantized_sum``): LiteRT 2.3's reference kernel runs that
    arithmetic on the bytes read as uint8 (test_reference_sum_reads_int8_as_uint8), and its
    optimized kernel rescales in float32 instead."""
    tflite = reductions_model()
    graph = read_tflite(tflite)
    assert len(graph.ops) == 3 * (15 * 2 - 4)
    inputs = np.concatenate(
        [random_rows(SHAPE[1:], 2, seed=7), np.full((1, *SHAPE[1:]), 127, np.int8),
         np.full((1, *SHAPE[1:]), -128, np.int8)]
    )  # fmt: skip
    artifact = CBackend().compile(Int8Model(tflite), load_target("host"), tmp_path / "c")
    variants = {row["variant"] for row in artifact.details["kernels"]["layers"]}
    assert variants == {"mean_hw_ref", "reduce_mean_ref", "reduce_sum_ref", "reduce_max_ref"}
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    for x in inputs:  # the layers of each input: the saturating ones too
        run = run_host(binary, x[None], artifact.details["layer_bytes"])
        want = reference(tflite, x[None], layers=True).layers
        for op in graph.ops:
            if op.kind == "SUM":
                want[op.index] = quantized_sum(x[None], *_sum_quant(graph, op))
            same_bytes(run.layers[op.index], want[op.index], f"op {op.index} ({op.kind})")


def test_reference_sum_reads_int8_as_uint8():
    """LiteRT 2.3's reference int8 SUM is the reference source's QuantizedMeanOrSum over the
    bytes read as uint8, clamped to [0, 255]: ``quantized_sum`` reproduces it exactly that way,
    which checks its arithmetic (the one edgekit runs on the int8 values). If this fails,
    LiteRT has fixed its reference kernel: compare SUM with it directly."""
    tflite = reductions_model()
    graph = read_tflite(tflite)
    x = np.concatenate([random_rows(SHAPE[1:], 2, seed=9), np.full((1, *SHAPE[1:]), -128, np.int8)])
    for row in x:
        want = reference(tflite, row[None], layers=True).layers
        for op in (op for op in graph.ops if op.kind == "SUM"):
            misread = quantized_sum(row[None], *_sum_quant(graph, op), as_uint8=True)
            same_bytes(want[op.index], misread, f"op {op.index}")


# ---------------------------------------------------------------- ARG_MAX, PRELU


def arg_max_prelu_model() -> bytes:
    """ARG_MAX along each axis (negative too), int32 and int64 indices, on an input with ties
    (every value repeats: the first of equal maxima wins); PRELU with alpha of every shape the
    converter writes (per element, shared over height and width, one value) and more, alpha's
    zero point off zero, rescaling up and down."""
    q_in = (0.05, 3)
    tensors, ops = [tensor(SHAPE, q_in)], []
    for n, axis in enumerate((1, 2, 3, -1, -3, -2)):  # axis 0 would leave a batch of 5
        dtype = ("int32", "int64")[n % 2]
        out_shape = [s for d, s in enumerate(SHAPE) if d != axis % 4]
        tensors += [tensor((), dtype="int32", data=axis), tensor(out_shape, dtype=dtype)]
        options = {"outputType": TYPES[dtype]}
        ops.append(("ARG_MAX", [0, len(tensors) - 2], len(tensors) - 1, options))
    rng = np.random.default_rng(5)
    alphas = [SHAPE[1:], (1, 1, SHAPE[3]), (1,), (SHAPE[1], 1, 1), (SHAPE[2], 1), SHAPE]
    outs = [(0.04, -5), (0.08, 20), (0.01, -128), (0.05, 3), (0.3, 0), (0.02, 7)]
    for alpha_shape, quant in zip(alphas, outs, strict=True):
        values = rng.integers(-128, 128, alpha_shape)
        tensors += [tensor(alpha_shape, (0.02, -9), data=values), tensor(SHAPE, quant)]
        ops.append(("PRELU", [0, len(tensors) - 2], len(tensors) - 1, None))
    return schema_model(tensors, ops)


def test_arg_max_and_prelu_are_bit_exact_under_sanitizers(tmp_path):
    tflite = arg_max_prelu_model()
    inputs = random_rows(SHAPE[1:], 2, seed=3) // 16 * 16  # 16 values: ties everywhere
    run, _ = sanitized_run(tflite, inputs, tmp_path)
    assert_layers_match(run, tflite, inputs)
    graph = read_tflite(tflite)
    assert {graph.tensor(op.outputs[0]).dtype for op in graph.ops} == {"int8", "int32", "int64"}


# ---------------------------------------------------------------- QUANTIZE, DEQUANTIZE of float

# (scale, zero point): both ends of the int8 range, large and tiny scales, a scale with no
# short binary expansion
FLOAT_QUANT = [(0.1, 0), (0.05, 3), (1.0, -5), (0.1, -128), (1.0, 127), (1 / 3, -100),
               (1e-30, 10), (3e30, -1), (2.0**-20, 0)]  # fmt: skip
EDGE_FLOATS = np.array(
    [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 0.50000006, 0.0, -0.0, 1e-45,
     -1e-45, 1.2e-38, 6.35, -6.45, 12.75, -12.85, 127.5, -128.5, 127.49999, 1000.0, -1000.0,
     1e10, -1e10, 2147483520.0, -2147483648.0, 2147483648.0, 3e38, -3e38, np.inf, -np.inf,
     np.nan, 1e-30, 5e-31, -1.5e-30, 3e30, -4.5e30],
    np.float32,
)  # fmt: skip
# (ties at .5, after the division too; beyond int8 and int32; -0.0; subnormals; inf; NaN)


def float_model(kind: str, quant, size: int) -> bytes:
    """DEQUANTIZE int8 -> float32 or QUANTIZE float32 -> int8 of ``size`` values."""
    shapes = [tensor((size,), quant), tensor((size,), dtype="float32")]
    if kind == "QUANTIZE":
        shapes.reverse()
    return schema_model(shapes, [(kind, [0], 1, None)])


@pytest.mark.parametrize("quant", FLOAT_QUANT)
def test_dequantize_table_is_the_reference_for_every_int8_input(quant):
    """The table emitters.dequantize writes, bit for bit the reference's float32 results."""
    every = np.arange(-128, 128, dtype=np.int8)
    want = reference_outputs(float_model("DEQUANTIZE", quant, 256), every)
    same_bytes(emitters.dequantize_table(*quant), want)


HARNESS = r"""
#include <stdio.h>
#include "ek_kernels.h"
/* argv: scale zero_point count; stdin: count float32 values; stdout: count int8 values */
int main(int argc, char **argv)
{
    static float in[1024];
    static int8_t out[1024];
    ek_quantize_params p;
    (void)argc;
    p.scale = strtof(argv[1], NULL);
    p.zero_point = (int32_t)strtol(argv[2], NULL, 10);
    p.size = (int32_t)strtol(argv[3], NULL, 10);
    if (fread(in, sizeof(float), (size_t)p.size, stdin) != (size_t)p.size) return 1;
    ek_quantize_float_s8_ref(&p, in, out);
    fwrite(out, 1, (size_t)p.size, stdout);
    return 0;
}
"""


def test_quantize_kernel_matches_the_reference_on_float_edge_values(tmp_path):
    """ek_quantize_float_s8_ref, under ASan and UBSan, on float32 values fed directly (ties,
    -0.0, subnormals, values beyond int8 and int32, inf, NaN): where the quotient leaves int32
    the reference's cast gives INT32_MIN on x86, then its sum with the zero point wraps."""
    import subprocess
    from importlib import resources

    from edgekit.backends.c import HOST_CFLAGS, SANITIZE_CFLAGS

    kernels = resources.files("edgekit.compiler.kernels")
    (tmp_path / "harness.c").write_text("#include <stdlib.h>\n" + HARNESS)
    binary = tmp_path / "harness"
    subprocess.run(
        ["cc", *HOST_CFLAGS, *SANITIZE_CFLAGS, "-I", str(kernels), str(tmp_path / "harness.c"),
         str(kernels / "ek_quantize.c"), "-o", str(binary)],
        check=True,
    )  # fmt: skip
    values = np.concatenate([EDGE_FLOATS, -EDGE_FLOATS[:20] * 3.0, EDGE_FLOATS[:20] / 7])
    for scale, zero in FLOAT_QUANT:
        want = reference_outputs(float_model("QUANTIZE", (scale, zero), values.size), values)
        args = [f"{np.float32(scale).item()!r}", str(zero), str(values.size)]
        done = subprocess.run([binary, *args], input=values.tobytes(), capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
        same_bytes(np.frombuffer(done.stdout, np.int8), want, f"scale {scale}, zero {zero}")


def float_chain_model() -> bytes:
    """Float32 tensors inside the model, as the converter writes a float model's ends around
    int8 ops: int8 -> DEQUANTIZE -> QUANTIZE -> int8, four times, with scales that make the
    float values ties at .5 of the next scale, values beyond the int8 range (both signs, both
    zero point signs), and huge ones (beyond int32, and inf after the division)."""
    shape = (1, 16, 16)
    pairs = [((0.5, 0), (1.0, 3)), ((1.0, -7), (0.25, -2)), ((0.02, 9), (0.03, -128)),
             ((3e30, 0), (1e-8, 5)), ((1e30, 100), (1e-9, -3))]  # fmt: skip
    tensors, ops = [tensor(shape, pairs[0][0])], []
    for n, (q_float, q_out) in enumerate(pairs):
        tensors[-1]["quant"] = q_float  # the int8 side DEQUANTIZE reads
        tensors += [tensor(shape, dtype="float32"), tensor(shape, q_out)]
        ops += [("DEQUANTIZE", [len(tensors) - 3], len(tensors) - 2, None),
                ("QUANTIZE", [len(tensors) - 2], len(tensors) - 1, None)]  # fmt: skip
        if n + 1 < len(pairs):  # an int8 rescale into the next pair's scale (the table op)
            tensors.append(tensor(shape, pairs[n + 1][0]))
            ops.append(("QUANTIZE", [len(tensors) - 2], len(tensors) - 1, None))
    return schema_model(tensors, ops)


def test_float_tensors_inside_the_model_are_bit_exact_under_sanitizers(tmp_path):
    tflite = float_chain_model()
    graph = read_tflite(tflite)
    assert {graph.tensor(op.outputs[0]).dtype for op in graph.ops} == {"int8", "float32"}
    inputs = np.stack([np.arange(-128, 128, dtype=np.int8).reshape(16, 16),
                       np.arange(127, -129, -1).astype(np.int8).reshape(16, 16)])  # fmt: skip
    run, artifact = sanitized_run(tflite, inputs, tmp_path)
    assert_layers_match(run, tflite, inputs)
    variants = [row["variant"] for row in artifact.details["kernels"]["layers"]]
    assert set(variants) == {"dequantize_ref", "quantize_float_ref", "lut_ref"}


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "kind, axes, out_quant, what",
    [
        ("REDUCE_MAX", [1], (0.1, 3), "scale 0.1"),  # TFLite's REDUCE_MAX refuses it too
        ("SUM", [], (0.05, 3), "axes are []"),
        ("MEAN", [4], (0.05, 3), "axes are [4]"),
    ],
)
def test_reductions_the_kernels_do_not_take_are_refused_in_one_line(kind, axes, out_quant, what):
    out_shape = [s for d, s in enumerate(SHAPE) if d not in axes]
    tensors = [tensor(SHAPE, (0.05, 3)), tensor((len(axes),), dtype="int32", data=axes),
               tensor(out_shape, out_quant)]  # fmt: skip
    tflite = schema_model(tensors, [(kind, [0, 1], 2, {"keepDims": False})])
    with pytest.raises(EdgekitError) as err:
        require_supported(read_tflite(tflite), load_target("cortex-m7"))
    message = str(err.value)
    assert "\n" not in message and message.startswith(kind) and what in message


def test_an_arg_max_over_a_computed_axis_and_a_prelu_alpha_that_does_not_broadcast_are_refused():
    """arg_max_axis and prelu_alpha: each refusal is one line naming the op."""
    cases = [
        (  # the axis is an activation, not a constant
            [tensor(SHAPE, (0.05, 3)), tensor((1,), dtype="int32"),
             tensor(SHAPE[:-1], dtype="int32")],
            [("ARG_MAX", [0, 1], 2, {"outputType": 2})], (0, 1), "ARG_MAX", "not one constant",
        ),
        (  # alpha of 3 values against 7 channels
            [tensor(SHAPE, (0.05, 3)), tensor((3,), (0.01, 0), data=[1, 2, 3]),
             tensor(SHAPE, (0.05, 3))],
            [("PRELU", [0, 1], 2, None)], (0,), "PRELU", "alpha [3]",
        ),
    ]  # fmt: skip
    for tensors, ops, inputs, kind, what in cases:
        graph = read_tflite(schema_model(tensors, ops, inputs=inputs))
        failures = [f.rule for f in check_graph(graph, load_target("cortex-m7")) if not f.ok]
        assert failures == [{"ARG_MAX": "arg_max_axis", "PRELU": "prelu_alpha"}[kind]]
        with pytest.raises(EdgekitError) as err:
            require_supported(graph, load_target("cortex-m7"))
        message = str(err.value)
        assert "\n" not in message and message.startswith(kind) and what in message


def test_float_model_input_and_output_are_bit_exact(tmp_path):
    """QUANTIZE reading a float32 graph input and DEQUANTIZE writing a float32 graph output,
    as the converter writes a model with float I/O, on the edge values."""
    size = EDGE_FLOATS.size
    tensors = [tensor((1, size), dtype="float32"), tensor((1, size), (0.05, 3)),
               tensor((1, size), dtype="float32")]  # fmt: skip
    tflite = schema_model(tensors, [("QUANTIZE", [0], 1, None), ("DEQUANTIZE", [1], 2, None)])
    inputs = np.stack([EDGE_FLOATS, -EDGE_FLOATS])
    run, _ = sanitized_run(tflite, inputs, tmp_path)
    assert_layers_match(run, tflite, inputs)


def test_dequantize_of_a_constant_is_refused_in_one_line():
    """A constant's conversion belongs in the converter (a weight-only quantized model's
    DEQUANTIZE of its weights): the kernels convert activations."""
    tensors = [tensor((4,), (0.1, 0)), tensor((4,), (0.1, 0), data=[1, 2, 3, 4]),
               tensor((4,), dtype="float32"), tensor((4,), (0.1, 0))]  # fmt: skip
    ops = [("DEQUANTIZE", [1], 2, None), ("QUANTIZE", [2], 3, None)]
    with pytest.raises(EdgekitError) as err:
        require_supported(read_tflite(schema_model(tensors, ops)), load_target("host"))
    message = str(err.value)
    assert "\n" not in message and message.startswith("DEQUANTIZE") and "constant int8" in message


# ---------------------------------------------------------------- converted models, boards


def _quantize(model, shape, seed: int = 0) -> bytes:
    from edgekit.quantization.converter import quantize

    samples = np.random.default_rng(seed).uniform(-1, 1, (16, *shape)).astype(np.float32)
    return quantize(model, (samples,))


@pytest.fixture(scope="module")
def keras_reductions() -> bytes:
    """What the converter writes for Keras reductions and PReLU: PRELU with alpha per element
    and shared over height and width, REDUCE_MAX and SUM keeping their axes, MEAN over two
    axes dropping them, GlobalMaxPooling2D."""
    import keras
    from keras import layers, ops

    x = inp = keras.Input(SHAPE[1:], batch_size=1)
    a = layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 0.5))(
        layers.Conv2D(6, 1)(x)
    )
    b = layers.PReLU(shared_axes=[1, 2], alpha_initializer="ones")(
        layers.Conv2D(6, 3, padding="same")(x)
    )
    y = ops.max(a, axis=2, keepdims=True) * ops.sum(b, axis=-1, keepdims=True)
    y = y + layers.GlobalMaxPooling2D(keepdims=True)(y)
    return _quantize(keras.Model(inp, ops.mean(y, axis=(1, 3))), SHAPE[1:])


@pytest.fixture(scope="module")
def keras_arg_max() -> bytes:
    """tf.math.argmax with int32 indices as the model's output (keras.ops.argmax converts to
    ops the c backend lacks)."""
    import keras
    import tensorflow as tf

    x = inp = keras.Input(SHAPE[1:], batch_size=1)
    y = keras.layers.Conv2D(5, 1)(x)
    y = keras.layers.Lambda(lambda t: tf.math.argmax(t, axis=-1, output_type=tf.int32))(y)
    return _quantize(keras.Model(inp, y), SHAPE[1:])


def test_converted_reductions_and_prelu_are_bit_exact_under_sanitizers(keras_reductions, tmp_path):
    graph = read_tflite(keras_reductions)
    kinds = [op.kind for op in graph.ops]
    assert {"PRELU", "REDUCE_MAX", "SUM", "MEAN"} <= set(kinds)
    alphas = {graph.tensor(op.inputs[1]).shape for op in graph.ops if op.kind == "PRELU"}
    assert alphas == {SHAPE[1:3] + (6,), (1, 1, 6)}
    inputs = random_rows(SHAPE[1:], 2, seed=4)
    run, _ = sanitized_run(keras_reductions, inputs, tmp_path)
    want = reference(keras_reductions, inputs, layers=True)
    sums = [op.index for op in graph.ops if op.kind == "SUM"]
    downstream = min(sums)  # the reference's SUM is not the int8 arithmetic: see above
    for op in graph.ops:
        expected = want.layers[op.index]
        if op.kind == "SUM":
            x = want.layers[graph.producer(op.inputs[0]).index]
            x = x.reshape(graph.tensor(op.inputs[0]).shape)
            expected = quantized_sum(x, *_sum_quant(graph, op))
        if op.index <= downstream:
            same_bytes(run.layers[op.index], expected, f"op {op.index} ({op.kind})")


def test_converted_arg_max_is_bit_exact_under_sanitizers(keras_arg_max, tmp_path):
    graph = read_tflite(keras_arg_max)
    assert graph.ops[-1].kind == "ARG_MAX" and graph.tensor(graph.outputs[0]).dtype == "int32"
    inputs = random_rows(SHAPE[1:], 3, seed=6)
    run, _ = sanitized_run(keras_arg_max, inputs, tmp_path)
    assert_layers_match(run, keras_arg_max, inputs)


def board_chain_model() -> bytes:
    """Every op of this file in one model: PRELU, then DEQUANTIZE and QUANTIZE through float32,
    MEAN over height and width (the DSP and MVE kernels on the boards) and over other axes,
    SUM, REDUCE_MAX, ARG_MAX with int64 and int32 indices."""
    q = (0.03, 10)
    tensors = [
        tensor(SHAPE, (0.05, 3)),
        tensor((1, 1, 7), (0.02, -9), data=np.arange(-60, 80, 20)),
        tensor(SHAPE, (0.04, -5)),
        tensor(SHAPE, dtype="float32"),
        tensor(SHAPE, q),  # 4
    ]
    ops = [("PRELU", [0, 1], 2, None), ("DEQUANTIZE", [2], 3, None), ("QUANTIZE", [3], 4, None)]
    reductions = [
        ("MEAN", [1, 2], True, (1, 1, 1, 7), (0.02, -3)),
        ("MEAN", [3, -3], False, (1, 6), (0.01, 4)),
        ("SUM", [2], True, (1, 5, 1, 7), (0.2, -6)),
        ("REDUCE_MAX", [1, 3], True, (1, 1, 6, 1), q),
    ]
    for kind, axes, keep, shape, quant in reductions:
        tensors += [tensor((len(axes),), dtype="int32", data=axes), tensor(shape, quant)]
        ops.append((kind, [4, len(tensors) - 2], len(tensors) - 1, {"keepDims": keep}))
    for axis, dtype, shape in ((-1, "int64", (1, 5, 6)), (1, "int32", (1, 6, 7))):
        tensors += [tensor((), dtype="int32", data=axis), tensor(shape, dtype=dtype)]
        options = {"outputType": TYPES[dtype]}
        ops.append(("ARG_MAX", [4, len(tensors) - 2], len(tensors) - 1, options))
    tensors += [tensor((1,), dtype="int32", data=[2]), tensor((1, 5, 7), (0.05, 0))]
    ops.append(("MEAN", [4, len(tensors) - 2], len(tensors) - 1, {"keepDims": False}))
    return schema_model(tensors, ops)


@pytest.mark.parametrize("core", ["cortex-m7", "cortex-m55"])
def test_chain_is_bit_exact_on_every_layer_on_the_board(core, tmp_path):
    tflite = board_chain_model()
    graph = read_tflite(tflite)
    target = load_target(core)
    inputs = random_rows(SHAPE[1:], 2, seed=8)
    artifact = CBackend().compile(Int8Model(tflite), target, tmp_path)
    variants = {row["variant"] for row in artifact.details["kernels"]["layers"]}
    assert {"mean_hw_dsp" if core == "cortex-m7" else "mean_hw_mve", "reduce_mean_ref"} <= variants
    run = CBackend().run(artifact, target, inputs, layers=True)
    want = reference(tflite, inputs, layers=True)
    same_bytes(run.outputs, want.outputs, "outputs")
    quantized = want.layers[2].reshape(SHAPE)  # QUANTIZE's output, which the SUM reads
    for i, got in zip(artifact.details["layer_ops"], run.layers, strict=True):
        op = graph.ops[i]
        expected = want.layers[i]
        if op.kind == "SUM":
            expected = quantized_sum(quantized, *_sum_quant(graph, op))
        same_bytes(got, expected, f"op {i} ({op.kind})")
