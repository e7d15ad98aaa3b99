"""The op support check: MobileNetV2 passes on every Cortex-M target, each rule rejects what it
should with a one-line message, and docs/supported-ops.md is generated from the same rules."""

import re
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgekit.compiler.ir import Graph, Quant, read_tflite
from edgekit.compiler.ops import (
    GENERIC_RULES,
    OPS,
    check_graph,
    check_op,
    require_supported,
    rules_for,
    supported_ops_markdown,
)
from edgekit.errors import EdgekitError
from edgekit.platforms.targets import list_targets, load_target

DOCS = Path(__file__).resolve().parents[1] / "docs" / "supported-ops.md"
MOBILENET_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"}


@pytest.fixture(scope="module")
def target():
    return load_target("cortex-m7")


def _samples(model, count: int = 4) -> np.ndarray:
    shape = (count, *model.input_shape[1:])
    return np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)


def _int8(model) -> bytes:
    from edgekit.quantization.converter import quantize

    return quantize(model, _samples(model))


def _convert(model, quantized: bool) -> bytes:
    """The quantize stage's recipe with float32 input and output (QUANTIZE / DEQUANTIZE at the
    edges), or no quantization at all."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as saved:
        spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
        model.export(saved, format="tf_saved_model", verbose=False, input_signature=[spec])
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if quantized:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            samples = _samples(model)
            converter.representative_dataset = lambda: ([s[None]] for s in samples)
        return converter.convert()


@pytest.fixture(scope="module")
def mobilenet(host_build) -> Graph:
    """MobileNetV2 0.35@96, 10 classes, from the shipped digits checkpoint, int8 (the host
    build's: the quantize stage's model)."""
    return read_tflite((host_build[0] / "model_int8.tflite").read_bytes())


@pytest.fixture(scope="module")
def graphs() -> dict[str, Graph]:
    """Small real models: one of every supported op but MEAN ('ok'), float I/O ('float_io'),
    no quantization ('float'), and layers the c backend refuses ('refused')."""
    import keras
    import tensorflow as tf
    from keras import layers

    x = inp = keras.Input((12, 12, 3), batch_size=1)
    x = layers.ZeroPadding2D(((1, 0), (1, 0)))(x)
    x = layers.Conv2D(8, 3, strides=2, padding="valid", activation="relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")(x)
    x = layers.Add()([x, layers.Conv2D(8, 1)(y)])
    z = layers.Conv2D(8, 1)(x)  # the binary ops (tests/test_ops_binary.py runs them)
    x = layers.Subtract()([layers.Multiply()([x, z]), keras.ops.square(x - z)])
    x = layers.Minimum()([layers.Maximum()([x, z]), z])
    x = layers.Flatten()(layers.AveragePooling2D(2)(x))
    x = layers.Softmax()(layers.Dense(5, bias_initializer="ones")(x))
    ok = keras.Model(inp, x)

    x = inp = keras.Input((6, 6, 3), batch_size=1)
    small = keras.Model(inp, layers.Softmax()(layers.Conv2D(4, 1)(x)))

    x = inp = keras.Input((12, 12, 4), batch_size=1)
    dilated = layers.Conv2D(8, 3, dilation_rate=2, padding="same")(x)
    grouped = layers.Conv2D(8, 3, groups=2, padding="same")(dilated)
    channel_mean = layers.Lambda(lambda t: tf.reduce_mean(t, axis=-1, keepdims=True))(grouped)
    broadcast = layers.Add()([grouped, channel_mean])
    pooled = layers.Flatten()(layers.UpSampling2D(2, name="pool")(dilated))
    refused = keras.Model(inp, [broadcast, layers.Dense(3)(pooled)])

    x = inp = keras.Input((8, 8, 3), batch_size=1)  # the table ops, MAX_POOL_2D, CONCATENATION
    p = layers.MaxPooling2D(3, strides=2, padding="same")(layers.Conv2D(4, 3)(x))
    activations = ["sigmoid", "tanh", "hard_swish", layers.LeakyReLU(), layers.ReLU(6.0)]
    branches = [layers.Activation(a)(p) if isinstance(a, str) else a(p) for a in activations]
    branches += [layers.ReLU()(p), layers.Lambda(lambda t: tf.clip_by_value(t, -1.0, 1.0))(p)]
    unary = keras.Model(inp, layers.Dense(3)(layers.Flatten()(layers.Concatenate()(branches))))

    x = inp = keras.Input((6, 5, 3), batch_size=1)  # TRANSPOSE_CONV and the resizes
    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same", bias_initializer="ones")(x)
    x = layers.Resizing(7, 9, interpolation="nearest")(x)
    resize = keras.Model(inp, layers.UpSampling2D(2, interpolation="bilinear")(x))

    return {
        "ok": read_tflite(_int8(ok)),
        "resize": read_tflite(_int8(resize)),
        "float_io": read_tflite(_convert(small, quantized=True)),
        "float": read_tflite(_convert(small, quantized=False)),
        "refused": read_tflite(_int8(refused)),
        "unary": read_tflite(_int8(unary)),
    }


# ---------------------------------------------------------------- models that pass


def test_mobilenet_v2_passes_on_every_cortex_m_target(mobilenet):
    assert {op.kind for op in mobilenet.ops} == MOBILENET_OPS
    mcus = [t for t in list_targets() if t.family == "mcu"]
    assert {t.name for t in mcus} >= {"cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"}
    for target in mcus:
        require_supported(mobilenet, target)
    findings = check_graph(mobilenet, mcus[0])
    assert all(f.ok for f in findings)
    assert len(findings) == sum(len(rules_for(op.kind)) for op in mobilenet.ops)


# operators whose models (converted and single-op) pass in their own test files
OPS_ELSEWHERE = {
    "tests/test_ops_shape.py": (
        "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V",
        "PACK", "UNPACK",
    ),
    "tests/test_ops_reduce.py": ("SUM", "REDUCE_MAX", "ARG_MAX", "PRELU", "DEQUANTIZE"),
    "tests/test_ops_matmul.py": ("BATCH_MATMUL",),
    "tests/test_ops_lstm.py": ("UNIDIRECTIONAL_SEQUENCE_LSTM",),
    "tests/test_ops_svdf.py": ("SVDF",),
}  # fmt: skip


def test_small_models_with_every_other_supported_op_pass(graphs, target):
    ok, float_io = graphs["ok"], graphs["float_io"]
    unary, resize = graphs["unary"], graphs["resize"]
    elsewhere = {kind for kinds in OPS_ELSEWHERE.values() for kind in kinds}
    here = {op.kind for op in (*ok.ops, *unary.ops, *resize.ops)} | MOBILENET_OPS
    assert here | elsewhere >= set(OPS)
    for path, kinds in OPS_ELSEWHERE.items():
        assert all(f'"{kind}"' in Path(path).read_text() for kind in kinds), path
    require_supported(ok, target)
    require_supported(unary, target)
    require_supported(resize, target)
    # float input and output: QUANTIZE and DEQUANTIZE at the edges run like any other op
    assert {"QUANTIZE", "DEQUANTIZE"} <= {op.kind for op in float_io.ops}
    require_supported(float_io, target)


def test_absent_bias_and_depth_multiplier_2_are_accepted(graphs, target):
    refused = graphs["refused"]
    dense = next(op for op in refused.ops if op.kind == "FULLY_CONNECTED")
    assert dense.inputs[2] == -1  # the converter drops an all-zero bias
    assert all(f.ok for f in check_op(refused, dense, target))
    depthwise = next(op for op in graphs["ok"].ops if op.kind == "DEPTHWISE_CONV_2D")
    assert depthwise.options["depth_multiplier"] == 2


# ---------------------------------------------------------------- each rule rejects


def _op(graph: Graph, kind: str, nth: int = 0):
    return [op for op in graph.ops if op.kind == kind][nth]


def _edit_tensor(graph: Graph, index: int, **changes) -> Graph:
    tensors = list(graph.tensors)
    tensors[index] = replace(tensors[index], **changes)
    return replace(graph, tensors=tuple(tensors))


def _edit_op(graph: Graph, op, **changes) -> Graph:
    ops = list(graph.ops)
    ops[op.index] = replace(op, **changes)
    return replace(graph, ops=tuple(ops))


def _edit_options(graph: Graph, kind: str, **options) -> tuple[Graph, int]:
    op = _op(graph, kind)
    return _edit_op(graph, op, options={**op.options, **options}), op.index


def _edit_input(graph: Graph, kind: str, k: int, **changes) -> tuple[Graph, int]:
    op = _op(graph, kind)
    return _edit_tensor(graph, op.inputs[k], **changes), op.index


def _edit_output(graph: Graph, kind: str, **changes) -> tuple[Graph, int]:
    op = _op(graph, kind)
    return _edit_tensor(graph, op.outputs[0], **changes), op.index


def _quant(scale: float, zero_point: int) -> Quant:
    return Quant(np.array([scale]), np.array([zero_point]))


def _unsupported_kind(g):
    return g["refused"], _op(g["refused"], "TILE").index


def _missing_input(g):
    conv = _op(g["ok"], "CONV_2D")
    return _edit_op(g["ok"], conv, inputs=conv.inputs[:1]), conv.index


def _float_activations(g):
    """An int8 convolution with a float32 output: float32 and int8 mixed in one op."""
    return _edit_output(g["ok"], "CONV_2D", dtype="float32", quant=None)


def _batch_two(g):
    conv = _op(g["ok"], "CONV_2D")
    shape = g["ok"].tensor(conv.outputs[0]).shape
    return _edit_output(g["ok"], "CONV_2D", shape=(2, *shape[1:]))


def _weights_zero_point(g):
    conv = _op(g["ok"], "CONV_2D")
    q = g["ok"].tensor(conv.inputs[1]).quant
    return _edit_input(g["ok"], "CONV_2D", 1, quant=replace(q, zero_point=q.zero_point + 3))


def _int64_bias(g):
    bias = g["ok"].tensor(_op(g["ok"], "CONV_2D").inputs[2])
    return _edit_input(g["ok"], "CONV_2D", 2, dtype="int64", data=bias.data.astype(np.int64))


def _grouped_conv(g):
    return g["refused"], _op(g["refused"], "CONV_2D", 1).index


def _depthwise_channels(g):
    op = _op(g["ok"], "DEPTHWISE_CONV_2D")
    shape = g["ok"].tensor(op.outputs[0]).shape
    return _edit_output(g["ok"], "DEPTHWISE_CONV_2D", shape=(*shape[:3], shape[3] + 1))


def _pool_channels(g):
    op = _op(g["ok"], "AVERAGE_POOL_2D")
    shape = g["ok"].tensor(op.outputs[0]).shape
    return _edit_output(g["ok"], "AVERAGE_POOL_2D", shape=(*shape[:3], shape[3] * 2))


def _pool_rescales(g):
    op = _op(g["ok"], "AVERAGE_POOL_2D")
    q = g["ok"].tensor(op.outputs[0]).quant
    return _edit_output(g["ok"], "AVERAGE_POOL_2D", quant=_quant(q.scale[0] * 2, 0))


def _negative_padding(g):
    pads = np.array([[0, 0], [-1, 2], [1, 0], [0, 0]], np.int32)
    return _edit_input(g["ok"], "PAD", 1, data=pads)


def _reshape_size(g):
    return _edit_output(g["ok"], "RESHAPE", shape=(1, 71))


def _dense_input_size(g):
    return _edit_input(g["ok"], "FULLY_CONNECTED", 0, shape=(1, 71))


def _softmax_zero_point(g):
    return _edit_output(g["ok"], "SOFTMAX", quant=_quant(1 / 256, 0))


def _bilinear_by_2000(g):
    """One input row resized to 2000 with half-pixel centers: the last position is past it."""
    op = _op(g["resize"], "RESIZE_BILINEAR")
    graph = _edit_tensor(g["resize"], op.inputs[1], data=np.array([2000, 18], np.int32))
    graph = _edit_tensor(graph, op.outputs[0], shape=(1, 2000, 18, 4))
    return _edit_tensor(graph, op.inputs[0], shape=(1, 1, 9, 4)), op.index


def _collapsed_logits(g):
    return _edit_input(g["ok"], "SOFTMAX", 0, quant=_quant(1e-9, 0))


# rule name -> a graph and the index of an op that breaks that rule (and no rule before it).
CASES = {
    "supported_kind": _unsupported_kind,
    "operand_count": _missing_input,
    "activation_types": _float_activations,
    "static_batch_one": _batch_two,
    "fused_activation": lambda g: _edit_options(g["ok"], "ADD", activation="TANH"),
    "int8_weights": _weights_zero_point,
    "int32_bias": _int64_bias,
    "window_geometry": lambda g: _edit_options(g["ok"], "CONV_2D", stride_h=3),
    "same_quantization": _pool_rescales,
    "conv_shapes": _grouped_conv,
    "depthwise_shapes": _depthwise_channels,
    "broadcast_shapes": lambda g: _edit_input(g["ok"], "MUL", 1, shape=(1, 1, 1, 3)),
    "inputs_same_quantization": lambda g: _edit_input(g["ok"], "MAXIMUM", 1, quant=_quant(0.5, 3)),
    "squared_difference_scale": lambda g: _edit_output(
        g["ok"], "SQUARED_DIFFERENCE", quant=_quant(1e-9, 0)
    ),
    "pool_channels": _pool_channels,
    "fully_connected_shapes": _dense_input_size,
    "default_weights_layout": lambda g: _edit_options(
        g["ok"], "FULLY_CONNECTED", weights_format="SHUFFLED4x16INT8"
    ),
    "softmax_output": _softmax_zero_point,
    "softmax_input_scale": _collapsed_logits,
    "reshape_size": _reshape_size,
    "pad_amounts": _negative_padding,
    "elementwise_shape": lambda g: _edit_output(g["unary"], "TANH", shape=(1, 2, 2, 2)),
    "logistic_output": lambda g: _edit_output(g["unary"], "LOGISTIC", quant=_quant(1 / 128, 0)),
    "hard_swish_scales": lambda g: _edit_output(g["unary"], "HARD_SWISH", quant=_quant(1e-5, 0)),
    "concatenation_shapes": lambda g: _edit_options(g["unary"], "CONCATENATION", axis=4),
    "concatenation_quantization": lambda g: _edit_input(
        g["unary"], "CONCATENATION", 1, quant=_quant(0.5, 3)
    ),
    "no_fused_activation": lambda g: _edit_options(g["unary"], "CONCATENATION", activation="RELU"),
    "resize_shapes": lambda g: _edit_output(
        g["resize"], "RESIZE_NEAREST_NEIGHBOR", shape=(1, 7, 9, 2)
    ),
    "resize_corners": lambda g: _edit_options(
        g["resize"], "RESIZE_BILINEAR", align_corners=True, half_pixel_centers=True
    ),
    "transpose_conv_shapes": lambda g: _edit_options(g["resize"], "TRANSPOSE_CONV", stride_h=3),
    "bilinear_positions": _bilinear_by_2000,
}


# rules whose rejection cases live beside their operators' tests, on single-op models
ELSEWHERE = {
    "tests/test_ops_shape.py": (
        "alias_input", "copy_shapes", "moved_quantization", "slice_bounds", "split_parts",
        "strided_slice_bounds", "transpose_permutation",
    ),
    "tests/test_ops_reduce.py": ("arg_max_axis", "prelu_alpha", "reduce_axes", "float_conversion"),
    "tests/test_ops_matmul.py": ("batch_matmul_shapes",),
    "tests/test_ops_s16_elementwise.py": ("int16_general_add", "tanh_output"),
    "tests/test_ops_lstm.py": ("lstm_activation", "lstm_shapes", "lstm_types"),
    "tests/test_ops_svdf.py": ("svdf_activation", "svdf_shapes", "svdf_types"),
}  # fmt: skip


def test_every_rule_has_a_rejection_case():
    rules = {r.__name__ for r in GENERIC_RULES}
    rules |= {r.__name__ for kind in OPS.values() for r in kind.rules}
    elsewhere = {rule for names in ELSEWHERE.values() for rule in names}
    assert rules == set(CASES) | elsewhere and not set(CASES) & elsewhere
    for path, names in ELSEWHERE.items():
        text = Path(path).read_text()
        for rule in names:  # named by the test, or by the message its rejection checks
            assert rule in text or rule.split("_")[0].upper() in text, (path, rule)


@pytest.mark.parametrize("rule", list(CASES))
def test_rule_rejects_what_it_should(graphs, target, rule):
    graph, index = CASES[rule](graphs)
    op = graph.ops[index]
    findings = check_op(graph, op, target)
    failure = findings[-1]
    assert not failure.ok and failure.rule == rule
    assert all(f.ok for f in findings[:-1])
    layer = graph.layer_name(op)
    assert (failure.op_index, failure.op_kind, failure.layer) == (index, op.kind, layer)
    message = failure.message
    assert "\n" not in message
    assert message.startswith(f"{op.kind} '{layer}' (op {index}) cannot run on cortex-m7: ")
    assert message in [f.message for f in check_graph(graph, target)]
    with pytest.raises(EdgekitError):
        require_supported(graph, target)


def test_unsupported_op_is_one_line_naming_op_layer_and_remedy(graphs, target):
    refused = graphs["refused"]
    without_dilated = replace(refused, ops=refused.ops[1:])  # the upsampling reads its output
    failures = [f for f in check_graph(without_dilated, target) if not f.ok]
    tile = next(f for f in failures if f.op_kind == "TILE")  # UpSampling2D's repeat
    assert re.search(r"/pool(_\d+)?/Repeat/Tile$", tile.layer) and ";" not in tile.layer
    assert "the c backend has no TILE kernel" in tile.message
    assert "Replace the layer" in tile.message and "docs/supported-ops.md" in tile.message

    with pytest.raises(EdgekitError) as info:
        require_supported(refused, target)
    message = str(info.value)
    assert "\n" not in message and message.startswith("CONV_2D ")
    assert "groups=1" in message  # its grouped convolution; its dilated one now runs
    more = sum(not f.ok for f in check_graph(refused, target)) - 1
    assert f"({more} more ops fail too" in message


def test_a_float_model_passes_and_an_op_mixing_float32_and_int8_is_refused(graphs, target):
    require_supported(graphs["float"], target)  # the float reference (tests/test_float_c.py)
    graph, _ = _float_activations(graphs)
    with pytest.raises(EdgekitError, match="mix float32 and int8.*edgekit quantize") as info:
        require_supported(graph, target)
    assert "\n" not in str(info.value)


def test_activations_with_a_bad_zero_point_or_per_channel_scales_are_refused(graphs, target):
    ok = graphs["ok"]
    for quant in (_quant(0.1, 200), Quant(np.array([0.1, 0.2]), np.array([0, 0]), 3)):
        graph, index = _edit_output(ok, "ADD", quant=quant)
        failure = check_op(graph, graph.ops[index], target)[-1]
        assert failure.rule == "activation_types" and not failure.ok


# ---------------------------------------------------------------- the document


def test_supported_ops_document_is_up_to_date():
    assert DOCS.read_text(encoding="utf-8") == supported_ops_markdown(), (
        "docs/supported-ops.md is stale: run "
        "'python -m edgekit.compiler.ops > docs/supported-ops.md'"
    )


def test_every_rule_states_a_constraint_and_a_remedy():
    from edgekit.compiler.oprules import rule_doc

    for kind in OPS:
        for rule in rules_for(kind):
            constraint, fix = rule_doc(rule)
            assert constraint.endswith(".") and fix.endswith("."), rule.__name__
            assert constraint in supported_ops_markdown()
