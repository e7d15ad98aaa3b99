"""The data-movement operators in the c backend, each bit-exact with LiteRT's reference kernels:
RESHAPE, SQUEEZE and EXPAND_DIMS as planner aliases (no kernel, no copy), and TRANSPOSE, SLICE,
STRIDED_SLICE, SPLIT, SPLIT_V, PACK and UNPACK as one strided copy each.

Single-op chains written with the flatbuffer schema carry the edge cases (negative axes and
strides, masks, shrunk axes, bounds clamped to the tensor, a rank-6 permutation, a -1 size,
SPLIT's outputs concatenated back in another order, an alias of the graph's input and of its
output); a converted Keras model (a PyTorch-style NCHW input, cropping, split and stack) chains
them as a model does. They run on the host under ASan and UBSan and on the M7 and M55 boards,
every layer compared with the reference.
"""

import numpy as np
import pytest

from edgekit.backends.c import CBackend, build_host, run_host
from edgekit.compiler.ir import read_tflite
from edgekit.compiler.ops import check_graph, plan_inputs, reference_kernels, require_supported
from edgekit.compiler.planner import plan_memory
from edgekit.errors import EdgekitError
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.validation.artifacts import reference

Q = (0.05, 3)  # the scale and zero point the copies keep
OPTIONS = {  # op kind: (its options table, {our key: the schema's field})
    "STRIDED_SLICE": ("StridedSliceOptions", {"begin_mask": "beginMask", "end_mask": "endMask",
                      "shrink": "shrinkAxisMask", "ellipsis": "ellipsisMask",
                      "new_axis": "newAxisMask"}),
    "SPLIT": ("SplitOptions", {"num": "numSplits"}),
    "SPLIT_V": ("SplitVOptions", {"num": "numSplits"}),
    "PACK": ("PackOptions", {"num": "valuesCount", "axis": "axis"}),
    "UNPACK": ("UnpackOptions", {"num": "num", "axis": "axis"}),
    "SQUEEZE": ("SqueezeOptions", {"dims": "squeezeDims"}),
    "CONCATENATION": ("ConcatenationOptions", {"axis": "axis"}),
}  # fmt: skip


class Chain:
    """An int8 .tflite written with the flatbuffer schema: activations and int32 constants,
    ops in order, the first tensor the graph input and the last op's first output its output."""

    def __init__(self, shape, quant=Q):
        self.tensors, self.ops = [(tuple(shape), quant, None)], []

    def const(self, values, quant=None) -> int:
        """An int32 constant, or with ``quant`` an int8 one."""
        dtype = np.int32 if quant is None else np.int8
        self.tensors.append((np.shape(values), quant, np.asarray(values, dtype)))
        return len(self.tensors) - 1

    def op(self, kind, inputs, shapes, quant=Q, **options) -> list[int]:
        """Add ``kind`` reading ``inputs`` (tensor indices, or int lists made constants) with
        one output per shape in ``shapes``; the outputs' indices."""
        inputs = [i if isinstance(i, int) else self.const(i) for i in inputs]
        outputs = []
        for shape in shapes:
            self.tensors.append((tuple(shape), quant, None))
            outputs.append(len(self.tensors) - 1)
        self.ops.append((kind, inputs, outputs, options))
        return outputs

    def tflite(self) -> bytes:
        import flatbuffers
        from tensorflow.lite.python import schema_py_generated as s

        model = s.ModelT()
        model.version, model.buffers, model.operatorCodes = 3, [s.BufferT()], []
        graph = s.SubGraphT()
        graph.tensors = []
        for n, (shape, quant, data) in enumerate(self.tensors):
            t = s.TensorT()
            t.shape, t.name, t.buffer = list(shape), f"t{n}", 0
            t.type = s.TensorType.INT32 if data is not None and quant is None else s.TensorType.INT8
            if quant is not None:
                t.quantization = s.QuantizationParametersT()
                t.quantization.scale, t.quantization.zeroPoint = [quant[0]], [quant[1]]
            if data is not None:
                buffer = s.BufferT()
                buffer.data = np.frombuffer(
                    data.astype(data.dtype.newbyteorder("<")).tobytes(), np.uint8
                )
                model.buffers.append(buffer)
                t.buffer = len(model.buffers) - 1
            graph.tensors.append(t)
        kinds = list(dict.fromkeys(kind for kind, *_ in self.ops))
        for kind in kinds:
            code = s.OperatorCodeT()
            code.builtinCode = getattr(s.BuiltinOperator, kind)
            code.deprecatedBuiltinCode, code.version = min(code.builtinCode, 127), 1
            model.operatorCodes.append(code)
        graph.operators = []
        for kind, inputs, outputs, options in self.ops:
            op = s.OperatorT()
            op.opcodeIndex, op.inputs, op.outputs = kinds.index(kind), inputs, outputs
            if kind in OPTIONS:
                table, fields = OPTIONS[kind]
                op.builtinOptionsType = getattr(s.BuiltinOptions, table)
                op.builtinOptions = getattr(s, table + "T")()
                for key, value in options.items():
                    setattr(op.builtinOptions, fields[key], value)
            graph.operators.append(op)
        graph.inputs, graph.outputs = [0], [self.ops[-1][2][0]]
        model.subgraphs = [graph]
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def _inputs(shape, count: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, (count, *shape)).astype(np.int8)


def _assert_layers_match(run, tflite: bytes, inputs, layer_ops) -> None:
    want = reference(tflite, inputs, layers=True)
    np.testing.assert_array_equal(run.outputs, want.outputs)
    kinds = [op.kind for op in read_tflite(tflite).ops]
    for i, got in zip(layer_ops, run.layers, strict=True):
        np.testing.assert_array_equal(got, want.layers[i], err_msg=f"op {i} {kinds[i]}")


# ---------------------------------------------------------------- the models


def parts_chain() -> bytes:
    """NHWC to NCHW, a strided slice walking three axes backwards and one forwards, a RESHAPE,
    SPLIT along -1 concatenated back in another order, SQUEEZE, EXPAND_DIMS, PACK of one tensor
    twice, UNPACK, SPLIT_V with a -1 size, its parts concatenated in another order."""
    c = Chain((1, 6, 5, 4))
    (x,) = c.op("TRANSPOSE", [0, [0, 3, 1, 2]], [(1, 4, 6, 5)])
    (x,) = c.op(
        "STRIDED_SLICE", [x, [0, -1, 5, 0], [1, 0, 0, 1], [1, -1, -2, 2]], [(1, 3, 3, 3)],
        begin_mask=0, end_mask=0b1000, shrink=0,
    )  # fmt: skip
    (x,) = c.op("RESHAPE", [x, [1, 9, 3]], [(1, 9, 3)])
    a, b, d = c.op("SPLIT", [[-1], x], [(1, 9, 1)] * 3, num=3)
    (x,) = c.op("CONCATENATION", [d, a, b], [(1, 27, 1)], axis=1)
    (x,) = c.op("SQUEEZE", [x], [(1, 27)], dims=[-1])
    (x,) = c.op("EXPAND_DIMS", [x, [1]], [(1, 1, 27)])
    (x,) = c.op("PACK", [x, x], [(1, 1, 2, 27)], num=2, axis=-2)
    a, b = c.op("UNPACK", [x], [(1, 1, 27)] * 2, num=2, axis=2)
    (x,) = c.op("CONCATENATION", [b, a], [(1, 1, 54)], axis=-1)
    a, b, d = c.op("SPLIT_V", [x, [10, -1, 4], [2]], [(1, 1, 10), (1, 1, 40), (1, 1, 4)], num=3)
    c.op("CONCATENATION", [b, d, a], [(1, 1, 54)], axis=2)
    return c.tflite()


def slices_chain() -> bytes:
    """SLICE with a -1 size, a strided slice that shrinks the last axis (negative begin, masks
    on two axes), one whose begin and end lie outside the tensor (TFLite clamps them, walking
    forwards on one axis and backwards on the other), a rank-6 permutation and PACK along the
    last axis."""
    c = Chain((1, 7, 6, 5))
    (x,) = c.op("SLICE", [0, [0, 2, 1, 0], [1, -1, 4, 3]], [(1, 5, 4, 3)])
    (x,) = c.op(
        "STRIDED_SLICE", [x, [0, 0, 0, -2], [1, 0, 0, 0], [1, 1, 1, 1]], [(1, 5, 4)],
        begin_mask=0b0110, end_mask=0b0110, shrink=0b1000,
    )  # fmt: skip
    (x,) = c.op(
        "STRIDED_SLICE", [x, [0, -100, 10], [1, 100, -100], [1, 2, -1]], [(1, 3, 4)],
        begin_mask=0, end_mask=0, shrink=0,
    )  # fmt: skip
    (x,) = c.op("RESHAPE", [x, [1, 2, 1, 3, 2, 1]], [(1, 2, 1, 3, 2, 1)])
    (x,) = c.op("TRANSPOSE", [x, [2, 4, 0, 3, 5, 1]], [(1, 2, 1, 3, 1, 2)])
    (x,) = c.op("RESHAPE", [x, [1, 12]], [(1, 12)])
    c.op("PACK", [x, x, x], [(1, 12, 3)], num=3, axis=2)
    return c.tflite()


def aliases_chain() -> bytes:
    """A RESHAPE of the graph's input read after the input's last reader (a LOGISTIC, which
    would write over its input in place were the alias not keeping those bytes), the two
    added, and a RESHAPE to the graph's output."""
    c = Chain((1, 4, 4, 8))
    (kept,) = c.op("RESHAPE", [0, [1, 16, 8]], [(1, 16, 8)])
    (x,) = c.op("LOGISTIC", [0], [(1, 4, 4, 8)], quant=(1 / 256, -128))
    (x,) = c.op("RESHAPE", [x, [1, 16, 8]], [(1, 16, 8)], quant=(1 / 256, -128))
    (x,) = c.op("ADD", [kept, x], [(1, 16, 8)], quant=(0.07, -10))
    c.op("RESHAPE", [x, [1, 128]], [(1, 128)], quant=(0.07, -10))
    return c.tflite()


SCHEMA_MODELS = {"parts": parts_chain, "slices": slices_chain, "aliases": aliases_chain}


@pytest.fixture(scope="module")
def keras_chain() -> bytes:
    """A PyTorch-style NCHW input permuted to NHWC, a convolution, its channels split in three
    and two parts added, Cropping2D, the parts stacked and unstacked, a slice of the channels,
    Flatten and a dense layer."""
    import keras
    from keras import layers, ops

    from edgekit.quantization.converter import quantize

    inp = keras.Input((3, 10, 9), batch_size=1)
    x = layers.Conv2D(6, 3, padding="same")(layers.Permute((2, 3, 1))(inp))  # 10 x 9 x 6
    a, b, c = ops.split(x, 3, axis=-1)
    crop = layers.Cropping2D(((1, 2), (2, 1)))
    x = ops.stack([crop(layers.Add()([a, c])), crop(b)], axis=1)  # 2 x 7 x 6 x 2
    first, second = ops.unstack(x, axis=1)
    x = layers.Subtract()([second, first])
    x = layers.Dense(5)(layers.Flatten()(x[:, 1:, ::-2, :]))
    samples = np.random.default_rng(0).uniform(-1, 1, (16, 3, 10, 9)).astype(np.float32)
    return quantize(keras.Model(inp, x), (samples,))


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("name", sorted(SCHEMA_MODELS))
def test_edge_cases_are_bit_exact_on_every_layer_under_sanitizers(name, tmp_path):
    tflite = SCHEMA_MODELS[name]()
    graph = read_tflite(tflite)
    inputs = _inputs(graph.tensor(graph.inputs[0]).shape[1:])
    artifact = CBackend().compile(Int8Model(tflite), load_target("host"), tmp_path / "c")
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    run = run_host(binary, inputs, artifact.details["layer_bytes"])
    _assert_layers_match(run, tflite, inputs, artifact.details["layer_ops"])
    model_c = (artifact.path / "src" / "model.c").read_text()
    assert "ek_copy(" not in model_c  # every RESHAPE, SQUEEZE and EXPAND_DIMS is an alias


def test_aliases_share_bytes_and_keep_them_from_in_place_writes():
    graph = read_tflite(aliases_chain())
    plan = plan_memory(graph, **dict(zip(("rules", "scratch"), plan_inputs(
        graph, reference_kernels(graph)))))  # fmt: skip
    for op in graph.ops:
        if op.kind == "RESHAPE":
            assert plan.offset(op.inputs[0]) == plan.offset(op.outputs[0])
    logistic = next(op for op in graph.ops if op.kind == "LOGISTIC")
    assert plan.offset(logistic.outputs[0]) != plan.offset(logistic.inputs[0])
    assert {graph.ops[p.op].kind for p in plan.in_place if p.alias} == {"RESHAPE"}
    # the graph's output is the ADD's bytes: read from there, nothing copied
    add = next(op for op in graph.ops if op.kind == "ADD")
    assert plan.offset(graph.outputs[0]) == plan.offset(add.outputs[0])


def test_the_keras_model_holds_the_ops_under_test(keras_chain):
    kinds = {op.kind for op in read_tflite(keras_chain).ops}
    assert kinds >= {"TRANSPOSE", "STRIDED_SLICE", "PACK", "UNPACK"}
    assert kinds & {"SPLIT", "SPLIT_V"} and kinds & {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


@pytest.mark.parametrize("core", ["cortex-m7", "cortex-m55"])
def test_every_model_is_bit_exact_on_every_layer_on_the_board(keras_chain, tmp_path, core):
    target = load_target(core)
    models = {"keras": keras_chain} | {name: make() for name, make in SCHEMA_MODELS.items()}
    for name, tflite in models.items():
        graph = read_tflite(tflite)
        inputs = _inputs(graph.tensor(graph.inputs[0]).shape[1:], seed=5)
        artifact = CBackend().compile(Int8Model(tflite), target, tmp_path / name)
        run = CBackend().run(artifact, target, inputs, layers=True)
        assert run.runner.startswith("qemu-system-arm")
        _assert_layers_match(run, tflite, inputs, artifact.details["layer_ops"])


def _strided(shape, begin, end, strides, **masks) -> bytes:
    c = Chain(shape)
    masks = {"begin_mask": 0, "end_mask": 0, "shrink": 0} | masks
    c.op("STRIDED_SLICE", [0, begin, end, strides], [(1, 4, 4, 2)], **masks)
    return c.tflite()


def _one_op(kind, params, shapes, first=0, quant=Q, **options) -> bytes:
    c = Chain((1, 4, 4, 2))
    c.op(kind, [first, *params] if kind != "SPLIT" else [*params, first], shapes, quant, **options)
    return c.tflite()


def _computed_permutation() -> bytes:
    c = Chain((1, 4, 4, 2))
    (perm,) = c.op("RESHAPE", [0, [32]], [(32,)])
    c.op("TRANSPOSE", [0, perm], [(1, 2, 4, 4)])
    return c.tflite()


def _constant_reshape() -> bytes:
    c = Chain((1, 4, 4, 2))
    c.op("RESHAPE", [c.const(np.ones((1, 4, 4, 2)), Q), [1, 32]], [(1, 32)])
    return c.tflite()


REFUSED = {  # case: (model, the rule that refuses it, what its one-line error names)
    "constant reshaped": (_constant_reshape, "alias_input", "its input is a constant"),
    "slice into the wrong shape": (
        lambda: _one_op("SLICE", [[0, 0, 0, 0], [1, 2, 2, 2]], [(1, 2, 2, 1)]),
        "copy_shapes", "is [1, 2, 2, 1], TFLite's [1, 2, 2, 2]"),
    "ellipsis": (lambda: _strided((1, 4, 4, 2), [0] * 4, [1, 4, 4, 2], [1] * 4, ellipsis=2),
                 "strided_slice_bounds", "ellipsis_mask"),
    "new axis": (lambda: _strided((1, 4, 4, 2), [0] * 4, [1, 4, 4, 2], [1] * 4, new_axis=4),
                 "strided_slice_bounds", "new_axis_mask"),
    "shrunk axis of two": (lambda: _strided((1, 4, 4, 2), [0, 0, 0, 0], [1, 4, 4, 1], [1] * 4,
                           shrink=8, end_mask=8), "strided_slice_bounds",
                           "which keep [1, 4, 4, 2] elements"),
    "computed permutation": (_computed_permutation, "transpose_permutation", "permutation None"),
    "negative axis in a permutation": (
        lambda: _one_op("TRANSPOSE", [[0, -1, 1, 2]], [(1, 2, 4, 4)]), "transpose_permutation",
        "permutation [0, -1"),
    "slice past the end": (
        lambda: _one_op("SLICE", [[0, 3, 0, 0], [1, 2, -1, -1]], [(1, 2, 4, 2)]), "slice_bounds",
        "begin [0, 3"),
    "uneven split": (lambda: _one_op("SPLIT", [[3]], [(1, 4, 4, 1)] * 3, num=3), "split_parts",
                     "3 outputs"),
    "split sizes off by one": (
        lambda: _one_op("SPLIT_V", [[1, 2], [-1]], [(1, 4, 4, 1), (1, 4, 4, 2)], num=2),
        "split_parts", "sizes [1, 2]"),
    "pack into the wrong shape": (
        lambda: _one_op("PACK", [], [(1, 4, 4, 3)], num=1, axis=3), "split_parts",
        "output [1, 4, 4, 3]"),
    "transpose that rescales": (
        lambda: _one_op("TRANSPOSE", [[0, 3, 1, 2]], [(1, 2, 4, 4)], quant=(0.1, 3)),
        "moved_quantization", "the output scale 0.1"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_the_reference_does_not_run_or_a_copy_cannot_do_is_refused_in_one_line(case):
    make, rule, named = REFUSED[case]
    graph, target = read_tflite(make()), load_target("cortex-m7")
    failures = [f for f in check_graph(graph, target) if not f.ok]
    assert [f.rule for f in failures] == [rule]
    with pytest.raises(EdgekitError) as err:
        require_supported(graph, target)
    message = str(err.value)
    assert "\n" not in message and named in message, message
