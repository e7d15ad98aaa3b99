"""The float reference on the board: a float32 ``.tflite`` compiled to C with the float32
reference kernels (edgekit/compiler/floats.py, kernels/ek_*_f32.c), run on the host under ASan
and UBSan and on the Cortex-M boards, against LiteRT's float32 reference kernels.

Float results are not bit-exact with LiteRT (its exp and tanh are the C library's, edgekit's
are its own; a compiler may order float sums differently), so every layer is compared with an
explicit tolerance: |got - want| <= RTOL * |want| + ATOL * (the largest |want| of the layer).
The models: one that chains every float op on edge-case shapes (odd sizes, stride 2, SAME
padding at the borders, dilation, a depth multiplier, broadcasting, elementwise ops in place),
one that drives the element-wise ops and a softmax with beta over a wide range of values, and
the float models of MobileNetV2 0.35@96 and the four MLPerf Tiny zoo models, on the M7 board
and once each on the M55 and M4 boards, with their instruction counts printed.
"""

import os
import re

import numpy as np
import pytest

from edgekit.backends.c import CBackend, build_host, run_host
from edgekit.compiler.codegen import generate_c
from edgekit.compiler.ir import read_tflite, without_shape_computations
from edgekit.compiler.ops import OPS, require_supported, select_kernels
from edgekit.config import CompileOptions
from edgekit.errors import EdgekitError
from edgekit.platforms.targets import load_target
from edgekit.quantization import Int8Model
from edgekit.signature import Signature
from edgekit.validation.artifacts import reference

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RTOL, ATOL = 1e-5, 1e-5
MLPERF = ("vww_mobilenet_v1", "ic_resnet8", "kws_ds_cnn", "ad_autoencoder")
# what the op model converts to: every op kind with a float32 kernel but TRANSPOSE and SLICE's
# neighbours the converter does not make from Keras (SQUEEZE, EXPAND_DIMS, SLICE, SPLIT_V)
OP_MODEL_KINDS = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM",
    "SQUARED_DIFFERENCE", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "SUM", "REDUCE_MAX",
    "SOFTMAX", "RELU", "RELU6", "RELU_N1_TO_1", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU",
    "PAD", "CONCATENATION", "RESHAPE", "TRANSPOSE", "STRIDED_SLICE", "SPLIT", "PACK", "UNPACK",
    "TRANSPOSE_CONV",
}  # fmt: skip
# the other zoo models whose float ops all have float32 kernels (detector_head's float
# conversion calls a second subgraph, which edgekit does not read)
OTHER_ZOO = ("conv1d_audio", "mobilenet_v3_small", "efficientnet_mbconv", "two_input", "unet")


# ---------------------------------------------------------------- models


def _float_tflite(build) -> bytes:
    """``build()``'s Keras model, seeded, its batch norms conditioned (DESIGN.md), as the plain
    converter's float .tflite."""
    import keras
    import zoo

    from edgekit.quantization.converter import float_tflite

    keras.backend.clear_session()
    keras.utils.set_random_seed(zoo.SEED)
    model = build()
    zoo.condition(model, zoo.samples(model, zoo.CONDITIONING_SAMPLES, zoo.SEED))
    return float_tflite(model)


def _op_model():
    """Every float op once, on odd shapes: 9x11x5 in, convolutions with stride 2, dilation, no
    bias and a depth multiplier of 2; squeeze-and-excite broadcasting; reductions over several
    axes; data movement; fused and separate activations."""
    import keras

    L, ops = keras.layers, keras.ops
    x0 = keras.Input((9, 11, 5), batch_size=1)
    a = L.Conv2D(7, 3, strides=2, padding="same", activation="relu6")(x0)
    up = L.Conv2DTranspose(3, 3, strides=2, padding="same")(a)
    b = L.Conv2D(6, 3, dilation_rate=2, use_bias=False)(x0)
    c = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu")(x0)
    d = L.DepthwiseConv2D(3, dilation_rate=2, padding="same")(x0)
    e = L.AveragePooling2D(3, strides=2, padding="same")(L.ZeroPadding2D(((1, 2), (0, 1)))(d))
    f = L.MaxPooling2D(2)(c)
    se = L.GlobalAveragePooling2D(keepdims=True)(c)
    g = L.Add()([L.Multiply()([c, L.Activation("sigmoid")(se)]), se])
    g = L.Activation("tanh")(g)
    h = L.LeakyReLU(0.2)(ops.subtract(d, L.Activation("hard_swish")(d)))
    h = ops.square(ops.maximum(h, ops.minimum(d, 0.5)) - d)
    t = L.Cropping2D(((1, 2), (0, 3)))(L.Permute((2, 1, 3))(L.Concatenate()([g, h, c])))
    t = L.ReLU()(t)
    q = ops.clip(L.ReLU(6.0)(t[:, 1:, :, :]), -1.0, 1.0)
    parts = ops.split(q, 2, axis=2)
    q = ops.unstack(ops.stack([parts[1], parts[0]], axis=3), axis=3)[0]
    reduced = [ops.mean(t, axis=-1), ops.sum(t, axis=(1, 3)), ops.max(t, axis=2)]
    dense = L.Dense(13, activation="relu")(L.Flatten()(e))
    flat = [dense, *(L.Flatten()(y) for y in (*reduced, f, a, q, up))]
    flat.append(L.Dense(4)(L.Flatten()(b)))
    return keras.Model(x0, L.Softmax()(L.Concatenate()(flat)))


def _wide_model():
    """The element-wise ops and a softmax straight on the input, so that the test's inputs
    reach every branch of exp, tanh and the logistic's cut-offs."""
    import keras

    L = keras.layers
    x0 = keras.Input((6, 7, 3), batch_size=1)
    ys = [L.Activation(k)(x0) for k in ("sigmoid", "tanh", "hard_swish")]
    ys += [L.LeakyReLU(0.3)(x0), L.Softmax()(x0)]
    return keras.Model(x0, L.Concatenate()(ys))


def _mobilenet_v2():
    from edgekit.frontend.mobilenet import MobileNetConfig, build_mobilenet_v2

    return build_mobilenet_v2(MobileNetConfig(0.35, 96, 10))


def with_softmax_beta(tflite: bytes, beta: float) -> bytes:
    """The model with every SOFTMAX's beta set to ``beta`` (Keras writes 1)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(tflite, 0))
    for op in model.subgraphs[0].operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) == s.BuiltinOperator.SOFTMAX:
            op.builtinOptions.beta = beta
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def float_models():
    """``float_models(name)``: a float .tflite, made once per module."""
    import zoo

    builders = {name: zoo.ZOO[name][0] for name in (*MLPERF, *OTHER_ZOO)}
    builders.update(ops=_op_model, wide=_wide_model, mobilenet_v2=_mobilenet_v2)
    made: dict[str, bytes] = {}

    def get(name: str) -> bytes:
        if name not in made:
            made[name] = _float_tflite(builders[name])
            if name == "wide":
                made[name] = with_softmax_beta(made[name], 0.37)
        return made[name]

    return get


# ---------------------------------------------------------------- comparing


def _rows(tflite: bytes, count: int, seed: int, spread: float = 1.0) -> np.ndarray:
    sig = Signature.of(tflite)
    rng = np.random.default_rng(seed)
    shapes = [(count, *p.sample_shape) for p in sig.inputs]
    return sig.pack([(spread * rng.uniform(-1, 1, s)).astype(np.float32) for s in shapes])


def _assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    got, want = (np.ascontiguousarray(x).view(np.float32).ravel() for x in (got, want))
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL * scale, err_msg=what)


def _assert_layers_close(run, artifact, tflite: bytes, rows: np.ndarray) -> None:
    """The outputs and every layer of the first input within the tolerance of LiteRT's."""
    want = reference(tflite, rows, layers=True)
    _assert_close(run.outputs, want.outputs, "outputs")
    order = artifact.details["layer_ops"]
    assert len(run.layers) == len(order)
    kinds = [op.kind for op in read_tflite(tflite).ops]
    for n, got in zip(order, run.layers, strict=True):
        _assert_close(got, want.layers[n], f"op {n} ({kinds[n]})")


def _all_float(tflite: bytes, core: str) -> set[str]:
    """The op kinds of the model, after checking that each runs a float32 kernel."""
    graph, _ = without_shape_computations(read_tflite(tflite))
    target = load_target(core)
    require_supported(graph, target)
    for choice in select_kernels(graph, target).values():
        assert choice.variant.dtype == "float32", choice.variant.name
        assert choice.variant.symbol.endswith("_f32_ref"), choice.variant.symbol
    assert generate_c(graph, select_kernels(graph, target)).precision == "float32"
    return {op.kind for op in graph.ops}


def _on_board(tflite: bytes, core: str, tmp_path, count: int = 1):
    """The float model on ``core``'s board (layer by layer: patches refuse float layers),
    compared layer by layer; its artifact and run."""
    target = load_target(core)
    _all_float(tflite, core)
    artifact = CBackend().compile(Int8Model(tflite), target, tmp_path, CompileOptions(force=True))
    assert "patches" not in artifact.details
    rows = _rows(tflite, count, seed=1)
    run = CBackend().run(artifact, target, rows, layers=True)
    _assert_layers_close(run, artifact, tflite, rows)
    return artifact, run


# ---------------------------------------------------------------- the host, sanitized


def _sanitized(tflite: bytes, rows: np.ndarray, tmp_path):
    artifact = CBackend().compile(Int8Model(tflite), load_target("host"), tmp_path / "c")
    binary = build_host(artifact.path / "src", tmp_path / "sanitized", sanitize=True)
    return run_host(binary, rows, artifact.details["layer_bytes"]), artifact


def test_every_float_op_matches_litert_on_the_host(float_models, tmp_path):
    tflite = float_models("ops")
    assert _all_float(tflite, "host") == OP_MODEL_KINDS
    rows = _rows(tflite, 2, seed=3)
    run, artifact = _sanitized(tflite, rows, tmp_path)
    _assert_layers_close(run, artifact, tflite, rows)


def test_elementwise_ops_and_softmax_beta_over_a_wide_range(float_models, tmp_path):
    """Inputs from -120 to 120 and near 0: the logistic's cut-offs (-9, 16.6), tanh's
    saturation, exp's subnormal results, expm1 near 0."""
    tflite = float_models("wide")
    size = 6 * 7 * 3
    values = [np.linspace(-120, 120, size), np.geomspace(1e-7, 20, size) * (-1) ** np.arange(size)]
    rows = np.stack(values).astype(np.float32).reshape(2, -1).view(np.int8)
    run, artifact = _sanitized(tflite, rows, tmp_path)
    _assert_layers_close(run, artifact, tflite, rows)


def test_a_float_op_without_a_kernel_is_a_one_line_error():
    import keras

    def build():
        x0 = keras.Input((8, 8, 3))
        return keras.Model(x0, keras.layers.UpSampling2D(2, interpolation="bilinear")(x0))

    graph = read_tflite(_float_tflite(build))
    with pytest.raises(EdgekitError) as error:
        require_supported(graph, load_target("cortex-m7"))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("RESIZE_BILINEAR ") and "is float32" in message


@pytest.mark.parametrize("name", OTHER_ZOO)
def test_other_zoo_float_models_on_the_host(float_models, tmp_path, name):
    tflite = float_models(name)
    _all_float(tflite, "host")
    rows = _rows(tflite, 1, seed=2)
    run, artifact = _sanitized(tflite, rows, tmp_path)
    _assert_layers_close(run, artifact, tflite, rows)


def test_an_int8_model_with_float_io_stays_int8():
    """QUANTIZE of the float input and DEQUANTIZE to the float output keep their int8 kernels."""
    import keras
    import zoo

    x0 = keras.Input((6, 6, 3))
    model = keras.Model(x0, keras.layers.Conv2D(4, 3, activation="sigmoid")(x0))
    graph = read_tflite(zoo.convert(model, False, zoo.samples(model, 4, 0)))
    assert {"QUANTIZE", "DEQUANTIZE"} <= {op.kind for op in graph.ops}
    kernels = select_kernels(graph, load_target("cortex-m7"))
    assert all(c.variant.dtype != "float32" for c in kernels.values())
    assert generate_c(graph, kernels).precision == "int8"


def test_no_float_rule_reads_quantization():
    """A rule added to a kind that checks scales or zero points must get its float entry in
    floats.REPLACED, or a float op would trip over its missing quantization."""
    import inspect

    for name, kind in OPS.items():
        for rule in kind.float_rules or ():
            code = inspect.getsource(rule).split('"""')[-1]
            assert not re.search(r"\.quant\b|_same_quant|quant_text", code), (name, rule.__name__)


def test_float_variants_are_named_f32():
    conv = [v for v in OPS["CONV_2D"].variants if v.dtype == "float32"]
    assert [v.symbol for v in conv] == ["ek_conv2d_f32_ref"]
    assert OPS["RELU6"].variants[-1].symbol == "ek_clamp_f32_ref"


# ---------------------------------------------------------------- the boards


@pytest.mark.parametrize("name", [*MLPERF, "mobilenet_v2"])
def test_float_models_on_the_m7_board(float_models, tmp_path, name):
    artifact, run = _on_board(float_models(name), "cortex-m7", tmp_path)
    print(f"{name} float32 on cortex-m7: {run.instructions[0]} instructions, "
          f"arena {artifact.details['arena_bytes']} B, flash {artifact.flash_bytes} B")  # fmt: skip


@pytest.mark.parametrize(
    "core, name", [("cortex-m55", "mobilenet_v2"), ("cortex-m4", "ops"), ("cortex-m55", "ops")]
)
def test_float_models_on_the_m55_and_m4_boards(float_models, tmp_path, core, name):
    artifact, run = _on_board(float_models(name), core, tmp_path)
    print(f"{name} float32 on {core}: {run.instructions[0]} instructions")
