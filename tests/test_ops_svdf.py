"""SVDF, int8 with int16 state, in the c backend: bit-exact with LiteRT's reference kernels over
streams of frames, the state carried from one inference to the next.

A single-op model written with the flatbuffer schema carries the edge cases, six SVDF layers
reading one 13-feature frame: rank 1 and 2, a memory of 1 frame and of 16, unit counts that
are not multiples of 4, with and without bias, rescales of the feature product to the state
and of the time sums to the output that shift left and right, a state scale so small that the
state saturates at the int16 limits, time sums that overflow int32 (TFLite's wrap), an output
zero point of 0 (TFLite's integer SVDF leaves ReLU to the output's quantization: negative
values come out). The streaming keyword model of tests/svdf_models.py (SVDF -> SVDF ->
FULLY_CONNECTED -> SOFTMAX) is the model a user brings. Every op's output is made a graph
output, so that every layer of every frame is compared (the layer dumps hold the first frame
only): over 24 frames on the host under ASan and UBSan (the reference variant) and on the M7
and M55 boards (the DSP and MVE variants). The reference is one BUILTIN_REF interpreter
invoked once per frame, as TFLite Micro runs the model.
"""

from dataclasses import dataclass, replace

import numpy as np
import pytest
from svdf_models import finish, stream, svdf_kws, svdf_options
from test_ops_reduce import same_bytes, sanitized_run, schema_model, tensor

from edgekit.backends.c import CBackend
from edgekit.compiler import recurrent
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import check_op, require_supported
from edgekit.config import CompileOptions
from edgekit.errors import EdgekitError
from edgekit.interpreter import interpreter
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model

FRAMES = 24
FEATURES = 13  # the edge-case model's frame: not a multiple of 4
IN_QUANT = (0.05, 5)


# ---------------------------------------------------------------- models


def every_layer_out(tflite: bytes) -> bytes:
    """``tflite`` with each op's output a graph output, in op order."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(tflite, 0))
    graph = model.subgraphs[0]
    graph.outputs = [op.outputs[0] for op in graph.operators]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@dataclass(frozen=True)
class Case:
    """One SVDF layer of the edge-case model: its sizes, its weights' and state's scales, its
    output's quantization; time weights and bias are drawn within their limits."""

    units: int
    rank: int
    memory: int
    bias: bool = True
    feature_scale: float = 0.01
    time_limit: int = 512  # TFLite's quantizer keeps time weights within 10 bits
    time_scale: float = 0.001
    state_scale: float = 0.002
    output: tuple[float, int] = (0.02, -128)
    bias_limit: int = 3000


EDGE_CASES = {
    "rank 1, memory 1": Case(5, 1, 1),
    "rank 2, no bias": Case(7, 2, 10, bias=False, state_scale=0.003, output=(0.03, -20)),
    # input x feature scale / state scale = 2.5: a left shift, the state saturates
    "state saturates": Case(3, 2, 16, feature_scale=0.02, state_scale=0.0004, output=(0.05, -128)),
    # state x time scale / output scale = 4: the output's rescale shifts left
    "output left shift": Case(
        6, 1, 3, feature_scale=1e-6, time_limit=3, state_scale=0.004, output=(1e-6, 0),
        bias_limit=20,
    ),
    # no clamp at zero: TFLite's integer SVDF runs with RELU but leaves it to the output's grid
    "output zero point 0": Case(9, 1, 4, output=(0.02, 0)),
    # 32 products of saturated state and time weights near 32767: the int32 sums wrap
    "time sums wrap": Case(2, 2, 16, feature_scale=0.02, time_limit=32767, state_scale=0.0001,
                           output=(0.5, 3)),
}  # fmt: skip


def edge_model(cases=EDGE_CASES, activation: str = "RELU", variable: bool = True) -> bytes:
    """One SVDF per case, each reading the input frame; every output a graph output."""
    rng = np.random.default_rng(19)
    tensors, ops, options, variables = [tensor((1, FEATURES), IN_QUANT)], [], {}, []
    for c in cases.values():
        filters, at, limit = c.units * c.rank, len(tensors), c.time_limit
        feature = rng.integers(-127, 128, (filters, FEATURES))
        time = rng.integers(-limit, limit + 1, (filters, c.memory))
        time.flat[: min(2, time.size)] = (limit, -limit)[: time.size]  # the extremes
        bias = rng.integers(-c.bias_limit, c.bias_limit + 1, c.units)
        tensors += [
            tensor(feature.shape, (c.feature_scale, 0), data=feature),
            tensor(time.shape, (c.time_scale, 0), "int16", time),
            tensor((c.units,), (c.state_scale * c.time_scale, 0), "int32", bias),
            tensor((1, filters * c.memory), (c.state_scale, 0), "int16"),
            tensor((1, c.units), c.output),
        ]
        options[len(ops)] = svdf_options(c.rank, activation)
        ops.append(("SVDF", [0, at, at + 1, at + 2 if c.bias else -1, at + 3], at + 4, None))
        variables += [at + 3] if variable else []
    outputs = [op[2] for op in ops]
    return finish(schema_model(tensors, ops, outputs=outputs), options, variables)


def edge_frames(count: int = FRAMES, seed: int = 3) -> np.ndarray:
    """Random frames over the whole int8 range, the first few at its ends."""
    frames = np.random.default_rng(seed).integers(-128, 128, (count, 1, FEATURES))
    frames[0], frames[1] = 127, -128
    return frames.astype(np.int8)


# ---------------------------------------------------------------- the reference


def reference_stream(tflite: bytes, frames: np.ndarray) -> list[list[np.ndarray]]:
    """Every op's output for each frame: one BUILTIN_REF interpreter, invoked once per frame
    (its variable tensors carry the state)."""
    interp = interpreter(tflite, reference=True, preserve_all=True)
    index = interp.get_input_details()[0]["index"]
    outputs = [op.outputs[0] for op in read_tflite(tflite).ops]
    steps = []
    for x in frames:
        interp.set_tensor(index, x)
        interp.invoke()
        steps.append([interp.get_tensor(t).copy() for t in outputs])
    return steps


def assert_stream_matches(run, tflite: bytes, frames: np.ndarray, layer_ops=None) -> None:
    """Every op's output of every frame (the graph outputs: ``every_layer_out``) and the
    first frame's layer dumps, byte for byte the reference's."""
    want = reference_stream(tflite, frames)
    sizes = [w.nbytes for w in want[0]]
    kinds = [op.kind for op in read_tflite(tflite).ops]
    assert run.outputs.shape == (len(frames), sum(sizes))
    for t, (got, expected) in enumerate(zip(run.outputs, want, strict=True)):
        parts = np.split(got, np.cumsum(sizes)[:-1])
        for n, (a, b) in enumerate(zip(parts, expected, strict=True)):
            same_bytes(a, b, f"frame {t}, op {n} ({kinds[n]})")
    layer_ops = range(len(kinds)) if layer_ops is None else layer_ops
    for n, got in zip(layer_ops, run.layers, strict=True):
        same_bytes(got, want[0][n], f"layer of op {n} ({kinds[n]}), frame 0")


# ---------------------------------------------------------------- the host, sanitized


@pytest.fixture(scope="module")
def edges() -> bytes:
    return edge_model()


@pytest.fixture(scope="module")
def kws() -> bytes:
    return every_layer_out(svdf_kws())


def test_edge_cases_are_bit_exact_over_a_stream_under_sanitizers(edges, tmp_path):
    frames = edge_frames()
    run, artifact = sanitized_run(edges, frames, tmp_path)
    assert {row["variant"] for row in artifact.details["kernels"]["layers"]} == {"svdf_ref"}
    assert_stream_matches(run, edges, frames)


def test_edge_cases_reach_what_they_name(edges):
    """The cases do what their names say: each output takes several values over the stream,
    the saturating state holds int16's limits, the output with zero point 0 goes negative, the
    rescales shift the way the case names, and the wrapping sums leave int32 (in int64)."""
    graph, frames = read_tflite(edges), edge_frames()
    steps = reference_stream(edges, frames)
    names = list(EDGE_CASES)
    for n, name in enumerate(names):
        assert len(np.unique([s[n] for s in steps])) >= 3, name
    feature, output = zip(*(recurrent.svdf_scales(graph, op) for op in graph.ops), strict=True)
    shifts = {name: (f[1], o[1]) for name, f, o in zip(names, feature, output, strict=True)}
    assert shifts["state saturates"][0] > 0 and shifts["output left shift"][1] > 0
    assert shifts["rank 1, memory 1"][0] < 0 and shifts["rank 1, memory 1"][1] < 0
    assert min(s[names.index("output zero point 0")].min() for s in steps) < 0
    # the state's newest entries of the saturating case, recomputed: beyond int16
    op = graph.ops[names.index("state saturates")]
    weights = graph.constant(op.inputs[1]).astype(np.int64)
    products = (frames[:, 0].astype(np.int64) + 5) @ weights.T
    (m, s), _ = recurrent.svdf_scales(graph, op)
    assert np.abs(products * m * 2.0 ** (s - 31)).max() > 32767
    # the wrapping case's time sums, from the reference's state after each frame: beyond int32
    op = graph.ops[names.index("time sums wrap")]
    time = graph.constant(op.inputs[2]).astype(np.int64).reshape(2, -1)
    bias = graph.constant(op.inputs[3]).astype(np.int64)
    interp = interpreter(edges, reference=True)
    sums = []
    for x in frames:
        interp.set_tensor(interp.get_input_details()[0]["index"], x)
        interp.invoke()
        state = interp.get_tensor(op.inputs[4]).astype(np.int64).reshape(2, -1)
        sums.append((state * time).sum(axis=1) + bias)
    assert np.abs(sums).max() > 2**31


def test_keyword_model_is_bit_exact_over_a_stream_under_sanitizers(kws, tmp_path):
    frames = stream(kws, FRAMES)
    run, artifact = sanitized_run(kws, frames, tmp_path)
    variants = [row["variant"] for row in artifact.details["kernels"]["layers"]]
    assert variants == ["svdf_ref", "svdf_ref", "fully_connected_ref", "softmax_ref"]
    assert_stream_matches(run, kws, frames)


def test_keyword_model_is_not_degenerate(kws):
    """The model of tests/svdf_models.py runs in the reference interpreter and its outputs
    follow the input: the scores change from frame to frame and the top class changes over
    the stream; the state carries (the same frame scores differently after others)."""
    frames = stream(kws, 40)
    scores = np.stack([step[-1].ravel() for step in reference_stream(kws, frames)])
    assert len(np.unique(scores, axis=0)) > 30
    assert len(set(scores.argmax(axis=1))) >= 3
    again = reference_stream(kws, np.concatenate([frames[5:6], frames[:6]]))
    assert not np.array_equal(again[0][-1], again[-1][-1])


# ---------------------------------------------------------------- the boards


@pytest.mark.parametrize("core, feature", [("cortex-m7", "dsp"), ("cortex-m55", "mve")])
def test_svdf_is_bit_exact_over_a_stream_on_the_boards(edges, kws, tmp_path, core, feature):
    """The DSP and MVE variants, which the boards pick, over the same streams."""
    target = load_target(core)
    for name, tflite, frames in (("edges", edges, edge_frames()), ("kws", kws, stream(kws, 20))):
        options = CompileOptions(patches="off")
        artifact = CBackend().compile(Int8Model(tflite), target, tmp_path / name, options)
        variants = {row["variant"] for row in artifact.details["kernels"]["layers"]}
        assert f"svdf_{feature}" in variants and "svdf_ref" not in variants
        run = CBackend().run(artifact, target, frames, layers=True)
        assert_stream_matches(run, tflite, frames, artifact.details["layer_ops"])


# ---------------------------------------------------------------- refusals


def _refusal(tflite: bytes) -> str:
    graph = read_tflite(tflite)
    with pytest.raises(EdgekitError) as error:
        require_supported(graph, load_target("cortex-m7"))
    message = str(error.value)
    assert "\n" not in message and message.startswith("SVDF ")
    return message


def _one_case(**changes):
    return {"case": replace(EDGE_CASES["rank 2, no bias"], **changes)}


def test_svdf_activation_refuses_no_activation_as_tflite_does():
    """TFLite's integer SVDF runs with RELU only (BUILTIN_REF fails to invoke otherwise)."""
    tflite = edge_model(_one_case(), activation="NONE")
    with pytest.raises(RuntimeError, match="kTfLiteActRelu"):
        reference_stream(tflite, edge_frames(2))
    assert "fused activation is NONE" in _refusal(tflite)


def test_svdf_shapes_refuses_a_state_that_is_not_variable():
    message = _refusal(edge_model(_one_case(), variable=False))
    assert "is not a variable tensor" in message


def test_svdf_shapes_refuses_a_rank_that_does_not_divide_the_filters():
    graph = read_tflite(edge_model(_one_case()))
    op = graph.ops[0]
    odd = type(op)(op.index, op.kind, op.inputs, op.outputs, {**op.options, "rank": 3})
    failure = check_op(graph, odd, load_target("cortex-m7"))[-1]
    assert failure.rule == "svdf_shapes" and not failure.ok and "rank 3" in failure.message


def test_svdf_types_refuses_int8_time_weights():
    """CMSIS-NN also runs int8 time weights and state; TFLite's reference kernels do not."""
    graph = read_tflite(edge_model(_one_case()))
    op = graph.ops[0]
    tensors = list(graph.tensors)
    time = tensors[op.inputs[2]]
    tensors[op.inputs[2]] = replace(time, dtype="int8", data=time.data.astype(np.int8))
    failure = check_op(replace(graph, tensors=tuple(tensors)), op, load_target("cortex-m7"))[-1]
    assert failure.rule == "svdf_types" and not failure.ok and "int8, not int16" in failure.message
