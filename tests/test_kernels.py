"""edgekit's int8 C kernels against LiteRT's reference kernels (BUILTIN_REF), byte for byte.

Each case builds a small Keras model around one op, converts it to int8 with the TFLite
converter, and runs it with TFLite's reference kernels on random int8 inputs (several seeds per
model). The kernel's parameters come from the converted model's scales and zero points through
``edgekit.compiler.fixedpoint``; the C kernel runs on the same inputs and weights in a host build,
and every output byte must match.
"""

import dataclasses
import importlib.resources
import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgekit.backends.c import SANITIZE_CFLAGS
from edgekit.compiler import fixedpoint as fp
from edgekit.compiler.ops import OPS
from edgekit.interpreter import interpreter
from edgekit.quantization.converter import quantize

KERNELS = Path(str(importlib.resources.files("edgekit.compiler.kernels")))
# The reference variants are plain C99 for any compiler; the others need their target's features
# (tests/test_variants.py runs them on their QEMU boards).
REFERENCE_SOURCES = sorted(
    {KERNELS / n for kind in OPS.values() for v in kind.variants if v.reference for n in v.sources}
)
HARNESS = Path(__file__).with_name("kernels_harness.c")
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
SEEDS = (0, 1, 2, 3)  # random int8 inputs per converted model
# The harness never frees its buffers (it exits at once); the kernels allocate nothing.
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0"}
ACTIVATIONS = {0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6"}
SAME, VALID = 0, 1  # tflite Padding


class Harness:
    """``tests/kernels_harness.c`` linked with the kernels: one kernel run per call, on every
    build given; the builds must agree byte for byte."""

    def __init__(self, *executables: Path):
        self.executables = executables

    def run(self, kind: str, *fields) -> np.ndarray:
        values = np.concatenate([np.asarray(f, dtype=np.int64).ravel() for f in fields])
        with tempfile.TemporaryDirectory(prefix="ek-kernel-") as tmp:
            source = Path(tmp) / "in.txt"
            source.write_text(" ".join(map(str, values.tolist())))
            outputs = [
                self._run(exe, kind, source, Path(tmp) / f"{exe.name}.bin")
                for exe in self.executables
            ]
        for other in outputs[1:]:
            np.testing.assert_array_equal(other, outputs[0], err_msg="the builds disagree")
        return outputs[0]

    @staticmethod
    def _run(executable: Path, kind: str, source: Path, sink: Path) -> np.ndarray:
        done = subprocess.run(
            [str(executable), kind, str(source), str(sink)],
            capture_output=True,
            text=True,
            env={**os.environ, **SANITIZER_ENV},
        )
        # a sanitizer finding stops the run; the harness itself writes nothing to stderr
        assert done.returncode == 0 and not done.stderr, f"{executable.name}: {done.stderr}"
        return np.frombuffer(sink.read_bytes(), dtype=np.int8)


def build_harness(executable: Path, *flags: str) -> Path:
    sources = [str(p) for p in (HARNESS, *REFERENCE_SOURCES)]
    done = subprocess.run(
        ["gcc", *CFLAGS, *flags, f"-I{KERNELS}", *sources, "-o", str(executable)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return executable


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    """Every kernel case runs twice: optimized as the host build ships (-O2), and under
    AddressSanitizer and UndefinedBehaviorSanitizer, where any finding fails the case."""
    folder = tmp_path_factory.mktemp("harness")
    return Harness(
        build_harness(folder / "kernels_harness", "-O2"),
        build_harness(folder / "kernels_harness_sanitized", "-O1", *SANITIZE_CFLAGS),
    )


def builtin_options(tflite_model: bytes, op_index: int):
    """The builtin options table of one operator, as its typed ``tflite`` class."""
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
    op = tflite.Model.GetRootAsModel(tflite_model, 0).Subgraphs(0).Operators(op_index)
    table = op.BuiltinOptions()
    options = getattr(tflite, names[op.BuiltinOptionsType()])()
    options.Init(table.Bytes, table.Pos)
    return options


class Reference:
    """The one ``op_name`` op of a converted model, run by TFLite's reference kernels."""

    def __init__(self, tflite_model: bytes, op_name: str):
        self.interp = interpreter(tflite_model, reference=True, preserve_all=True)
        ops = [op for op in self.interp._get_ops_details() if op["op_name"] == op_name]
        assert len(ops) == 1, f"expected one {op_name}, got {self.interp._get_ops_details()}"
        self.inputs, self.output = list(ops[0]["inputs"]), int(ops[0]["outputs"][0])
        self.options = builtin_options(tflite_model, ops[0]["index"])
        self.details = {t["index"]: t for t in self.interp.get_tensor_details()}

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.details[index]["shape"])

    def scale(self, index: int) -> float:
        return float(self.details[index]["quantization_parameters"]["scales"][0])

    def scales(self, index: int) -> np.ndarray:
        return self.details[index]["quantization_parameters"]["scales"]

    def zero_point(self, index: int) -> int:
        return int(self.details[index]["quantization_parameters"]["zero_points"][0])

    def constant(self, index: int) -> np.ndarray:
        return self.interp.get_tensor(index)

    def invoke(self, rng: np.random.Generator, data=None) -> tuple[list[np.ndarray], np.ndarray]:
        """Random int8 model inputs (or ``data``); the op's input tensors and its output."""
        for k, detail in enumerate(self.interp.get_input_details()):
            values = data[k] if data is not None else rng.integers(-128, 128, detail["shape"])
            self.interp.set_tensor(detail["index"], np.asarray(values, dtype=np.int8))
        self.interp.invoke()
        inputs = [self.interp.get_tensor(i) if i >= 0 else None for i in self.inputs]
        return inputs, self.interp.get_tensor(self.output)

    def activation(self) -> str:
        return ACTIVATIONS[self.options.FusedActivationFunction()]


def padding_before(padding: int, in_size: int, filter_size: int, stride: int, out_size: int):
    """TFLite's padding before the first row/column (the smaller half for SAME)."""
    if padding == VALID:
        return 0
    return max((out_size - 1) * stride + filter_size - in_size, 0) // 2


def samples(rng, shape, spread=1.0, count=32) -> np.ndarray:
    return (rng.normal(size=(count, *shape)) * spread).astype(np.float32)


def randomize(layer, rng, channel_axes: int = 1):
    """Random kernel with per-output-channel magnitudes spread over two decades, random bias."""
    kernel, *rest = layer.get_weights()
    fan_in = kernel.size // int(np.prod(kernel.shape[-channel_axes:]))
    magnitude = 10.0 ** rng.uniform(-1.5, 0.5, size=kernel.shape[-channel_axes:])
    weights = [rng.normal(size=kernel.shape) * magnitude / np.sqrt(fan_in)]
    weights += [rng.normal(scale=0.5, size=b.shape) for b in rest]
    layer.set_weights([w.astype(np.float32) for w in weights])


def bias_fields(bias):
    return [0] if bias is None else [1, bias]


def convert(model, inputs: list[np.ndarray], **converter_flags) -> bytes:
    """Full-integer int8 conversion of a (multi-input) model; ``quantize`` takes one input."""
    import tensorflow as tf

    specs = [tf.TensorSpec([1, *x.shape[1:]], tf.float32) for x in inputs]
    with tempfile.TemporaryDirectory(prefix="ek-export-") as saved:
        model.export(
            saved,
            format="tf_saved_model",
            verbose=False,
            input_signature=[specs] if len(specs) > 1 else specs,
        )
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        for name, value in converter_flags.items():
            setattr(converter, name, value)
        converter.representative_dataset = lambda: (
            [x[i : i + 1] for x in inputs] for i in range(len(inputs[0]))
        )
        return converter.convert()


def assert_bytes_equal(got: np.ndarray, want: np.ndarray):
    want = want.ravel()
    differ = int(np.count_nonzero(got != want))
    np.testing.assert_array_equal(got, want, err_msg=f"{differ} of {want.size} bytes differ")


def test_sanitized_harness_stops_at_undefined_behaviour(harness, tmp_path):
    """The sanitizers are really in the build every case runs: a MEAN whose shift is out of
    range (a right shift by 40, undefined in C) ends the sanitized run with a report."""
    source = tmp_path / "in.txt"
    source.write_text("1 1 2 0 0 1073741824 -40 5 6")
    done = subprocess.run(
        [str(harness.executables[-1]), "mean", str(source), str(tmp_path / "out.bin")],
        capture_output=True,
        text=True,
        env={**os.environ, **SANITIZER_ENV},
    )
    assert done.returncode != 0 and "runtime error: shift exponent 40" in done.stderr


def test_quantize_multiplier_follows_tflite_at_the_edges():
    assert fp.quantize_multiplier(0.5) == (1 << 30, 0)
    assert fp.quantize_multiplier(1.0) == (1 << 30, 1)
    # q * 2**31 rounds up to 2**31: the multiplier halves and the shift grows
    assert fp.quantize_multiplier(1.0 - 2.0**-40) == (1 << 30, 1)
    assert fp.quantize_multiplier(0.75) == (3 << 29, 0)
    assert fp.quantize_multiplier(2.0**-33) == (0, 0)  # below 2**-32 flushes to zero
    assert fp.round_half_away(2.5) == 3 and fp.round_half_away(-2.5) == -3
    assert fp.round_half_away(0.49999999999999994) == 0


def test_activation_ranges_are_clamps_in_output_units():
    assert fp.activation_range("none", 0.05, 3) == (-128, 127)
    assert fp.activation_range("relu", 0.05, -128) == (-128, 127)
    assert fp.activation_range("relu6", 6 / 255, -128) == (-128, 127)
    assert fp.activation_range("relu6", 0.1, -20) == (-20, 40)


# ---- CONV_2D ----------------------------------------------------------------------------------

CONV_CASES = [
    # input h, w, c; filters; kernel; stride; padding; activation
    (9, 9, 3, 8, 3, 2, "same", "relu6"),  # MobileNetV2's first layer, odd size
    (8, 8, 1, 1, 1, 1, "valid", "none"),
    (7, 6, 17, 5, 3, 1, "same", "relu"),
    (10, 10, 8, 16, 3, 2, "valid", "none"),
    (6, 6, 4, 3, 5, 2, "same", "none"),  # even size, stride 2: padding only after
    (12, 12, 16, 24, 1, 1, "same", "relu6"),  # pointwise expansion
    (5, 7, 3, 17, (1, 3), (2, 1), "same", "relu6"),
    (4, 4, 24, 8, 1, 1, "valid", "none"),  # linear bottleneck projection
    (8, 8, 3, 4, (2, 4), 1, "same", "none"),  # even kernels: the extra padding goes after
    (14, 14, 32, 64, 3, 2, "same", "relu6"),
]


def conv_fields(ref: Reference, inputs):
    x, w, b = ref.inputs
    (_, in_h, in_w, in_c), (_, out_h, out_w, out_c) = ref.shape(x), ref.shape(ref.output)
    _, k_h, k_w, _ = ref.shape(w)
    opts = ref.options
    pad = opts.Padding()
    multipliers, shifts = fp.conv_multipliers(ref.scale(x), ref.scales(w), ref.scale(ref.output))
    act = fp.activation_range(ref.activation(), ref.scale(ref.output), ref.zero_point(ref.output))
    return [
        [in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, opts.StrideH(), opts.StrideW()],
        padding_before(pad, in_h, k_h, opts.StrideH(), out_h),
        padding_before(pad, in_w, k_w, opts.StrideW(), out_w),
        [-ref.zero_point(x), ref.zero_point(ref.output), *act],
        multipliers,
        shifts,
        *bias_fields(inputs[2]),
        inputs[0],
        inputs[1],
    ]


def conv_model(rng, h, w, c, filters, kernel, stride, padding, activation):
    import keras

    x = keras.Input((h, w, c), batch_size=1)
    act = None if activation == "none" else activation
    layer = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, activation=act)
    model = keras.Model(x, layer(x))
    randomize(layer, rng)
    return Reference(quantize(model, samples(rng, (h, w, c))), "CONV_2D")


@pytest.mark.parametrize("h, w, c, filters, kernel, stride, padding, activation", CONV_CASES)
def test_conv2d_is_bit_exact(harness, h, w, c, filters, kernel, stride, padding, activation):
    rng = np.random.default_rng([h, w, c, filters])
    ref = conv_model(rng, h, w, c, filters, kernel, stride, padding, activation)
    assert ref.activation() == activation
    assert len(ref.scales(ref.inputs[1])) == filters  # per-channel weights
    for seed in SEEDS:
        inputs, want = ref.invoke(np.random.default_rng(seed))
        assert_bytes_equal(harness.run("conv2d", *conv_fields(ref, inputs)), want)


def test_reference_kernels_round_twice(harness, tmp_path):
    """LiteRT's reference kernels use TFLite's default, double-rounding requantization.

    The single-rounding variant (TFLITE_SINGLE_ROUNDING builds) gives different bytes on the
    same model, so matching the default is a real finding, not an accident of easy cases.
    """
    single = Harness(build_harness(tmp_path / "single", "-O2", "-DEK_SINGLE_ROUNDING=1"))
    ref = conv_model(np.random.default_rng(7), 16, 16, 16, 32, 3, 1, "same", "none")
    inputs, want = ref.invoke(np.random.default_rng(0))
    fields = conv_fields(ref, inputs)
    assert_bytes_equal(harness.run("conv2d", *fields), want)
    assert np.count_nonzero(single.run("conv2d", *fields) != want.ravel()) > 0


# ---- DEPTHWISE_CONV_2D ------------------------------------------------------------------------

DEPTHWISE_CASES = [
    # input h, w, c; depth multiplier; kernel; stride; padding; activation
    (9, 9, 8, 1, 3, 2, "same", "relu6"),
    (8, 8, 3, 2, 3, 1, "valid", "none"),
    (7, 5, 17, 1, 3, 1, "same", "relu"),
    (6, 6, 1, 3, 5, 2, "same", "none"),
    (10, 10, 16, 1, 3, 2, "valid", "relu6"),
    (4, 4, 32, 1, 3, 1, "same", "relu6"),
    (5, 6, 4, 4, (3, 1), (1, 2), "same", "relu"),
    (14, 14, 64, 1, 3, 1, "same", "relu6"),
]


@pytest.mark.parametrize(
    "h, w, c, multiplier, kernel, stride, padding, activation", DEPTHWISE_CASES
)
def test_depthwise_conv2d_is_bit_exact(
    harness, h, w, c, multiplier, kernel, stride, padding, activation
):
    import keras

    rng = np.random.default_rng([h, w, c, multiplier])
    x = keras.Input((h, w, c), batch_size=1)
    layer = keras.layers.DepthwiseConv2D(
        kernel, strides=stride, padding=padding, depth_multiplier=multiplier
    )
    y = layer(x)
    if activation != "none":
        y = keras.layers.ReLU(6.0 if activation == "relu6" else None)(y)
    model = keras.Model(x, y)
    randomize(layer, rng, channel_axes=2)
    ref = Reference(quantize(model, samples(rng, (h, w, c))), "DEPTHWISE_CONV_2D")
    assert ref.activation() == activation

    xi, wi, _ = ref.inputs
    (_, in_h, in_w, in_c), (_, out_h, out_w, out_c) = ref.shape(xi), ref.shape(ref.output)
    _, k_h, k_w, _ = ref.shape(wi)
    opts = ref.options
    assert opts.DepthMultiplier() == multiplier and out_c == c * multiplier
    multipliers, shifts = fp.conv_multipliers(ref.scale(xi), ref.scales(wi), ref.scale(ref.output))
    assert len(multipliers) == out_c
    act = fp.activation_range(activation, ref.scale(ref.output), ref.zero_point(ref.output))
    pad = opts.Padding()
    for seed in SEEDS:
        inputs, want = ref.invoke(np.random.default_rng(seed))
        got = harness.run(
            "depthwise_conv2d",
            [in_h, in_w, in_c, out_h, out_w, multiplier, k_h, k_w, opts.StrideH(), opts.StrideW()],
            padding_before(pad, in_h, k_h, opts.StrideH(), out_h),
            padding_before(pad, in_w, k_w, opts.StrideW(), out_w),
            [-ref.zero_point(xi), ref.zero_point(ref.output), *act],
            multipliers,
            shifts,
            *bias_fields(inputs[2]),
            inputs[0],
            inputs[1],
        )
        assert_bytes_equal(got, want)


# ---- FULLY_CONNECTED --------------------------------------------------------------------------

FC_CASES = [
    # input features, units, per-channel weights, activation
    (16, 5, True, "none"),
    (64, 10, True, "relu"),
    (1280, 10, True, "none"),  # MobileNetV2's classifier
    (1280, 1000, True, "none"),
    (17, 1, False, "none"),
    (128, 33, False, "relu6"),
    (1280, 1000, False, "none"),
]


@pytest.mark.parametrize("features, units, per_channel, activation", FC_CASES)
def test_fully_connected_is_bit_exact(harness, features, units, per_channel, activation):
    import keras

    rng = np.random.default_rng([features, units])
    x = keras.Input((features,), batch_size=1)
    layer = keras.layers.Dense(units, activation=None if activation == "none" else activation)
    model = keras.Model(x, layer(x))
    randomize(layer, rng)
    flags = {"_experimental_disable_per_channel_quantization_for_dense_layers": not per_channel}
    ref = Reference(convert(model, [samples(rng, (features,))], **flags), "FULLY_CONNECTED")
    assert ref.activation() == activation

    xi, wi, _ = ref.inputs
    scales = ref.scales(wi)
    assert (len(scales) > 1) == per_channel
    mantissas, exponents = fp.fully_connected_scales(ref.scale(xi), scales, ref.scale(ref.output))
    act = fp.activation_range(activation, ref.scale(ref.output), ref.zero_point(ref.output))
    batches = int(np.prod(ref.shape(xi))) // features
    for seed in SEEDS:
        inputs, want = ref.invoke(np.random.default_rng(seed))
        got = harness.run(
            "fully_connected",
            [batches, features, units, -ref.zero_point(xi), -ref.zero_point(wi)],
            [ref.zero_point(ref.output), int(per_channel), *act],
            mantissas,
            exponents,
            *bias_fields(inputs[2]),
            inputs[0],
            inputs[1],
        )
        assert_bytes_equal(got, want)


def test_fully_connected_reference_rescales_in_double(harness):
    """LiteRT 2.3's reference FULLY_CONNECTED is not the Q31 requantization of CONV_2D.

    The same layer run as a 1x1 convolution (Q31 multiplier, as TFLite Micro and CMSIS-NN
    compute FULLY_CONNECTED) misses some bytes of the reference; the double-precision rescaling
    of ``ek_fully_connected_s8_ref`` matches them all.
    """
    import keras

    features, units = 1280, 1000
    rng = np.random.default_rng([features, units])
    x = keras.Input((features,), batch_size=1)
    layer = keras.layers.Dense(units)
    model = keras.Model(x, layer(x))
    randomize(layer, rng)
    flags = {"_experimental_disable_per_channel_quantization_for_dense_layers": True}
    ref = Reference(convert(model, [samples(rng, (features,))], **flags), "FULLY_CONNECTED")
    xi, wi, _ = ref.inputs
    in_scale, w_scales, out_scale = ref.scale(xi), ref.scales(wi), ref.scale(ref.output)
    zeros = [-ref.zero_point(xi), ref.zero_point(ref.output)]
    mantissas, exponents = fp.fully_connected_scales(in_scale, w_scales, out_scale)
    multipliers, shifts = fp.conv_multipliers(in_scale, np.repeat(w_scales, units), out_scale)
    q31_misses = 0
    for seed in SEEDS:
        inputs, want = ref.invoke(np.random.default_rng(seed))
        exact = harness.run(
            "fully_connected",
            [1, features, units, zeros[0], 0, zeros[1], 0, -128, 127],
            mantissas,
            exponents,
            *bias_fields(inputs[2]),
            inputs[0],
            inputs[1],
        )
        assert_bytes_equal(exact, want)
        as_conv = harness.run(
            "conv2d",
            [1, 1, features, 1, 1, units, 1, 1, 1, 1, 0, 0, *zeros, -128, 127],
            multipliers,
            shifts,
            *bias_fields(inputs[2]),
            inputs[0],
            inputs[1],
        )
        q31_misses += int(np.count_nonzero(as_conv != want.ravel()))
    assert q31_misses > 0


def test_double_scale_rounding_matches_ieee_double(harness):
    """``ek_multiply_by_double_scale`` against C's double arithmetic, on products near .5 ties.

    A one-feature FULLY_CONNECTED with weight 1 and input 0 turns each bias into an accumulator,
    so every unit rounds ``bias * scale``; the scales put the products within a few ulps of
    ``k + 0.5``, where rounding the product to a double first matters.
    """
    rng = np.random.default_rng(11)
    units = 4000
    accs = rng.integers(-(2**31), 2**31, units, dtype=np.int64)
    accs[:8] = [2**31 - 1, -(2**31), 1, -1, 1200, -1200, 3, 0]
    targets = rng.integers(-120, 120, units) + 0.5
    scales = np.abs(targets / np.where(accs == 0, 1, accs))
    scales = np.nextafter(scales, np.inf * rng.choice([-1, 1], units))  # an ulp either side
    scales[::7] = 10.0 ** rng.uniform(-12, 0, len(scales[::7]))  # and ordinary factors
    pairs = [fp.exact_double(float(s)) for s in scales]
    got = harness.run(
        "fully_connected",
        [1, 1, units, 0, 0, 0, 1, -128, 127],
        [m for m, _ in pairs],
        [e for _, e in pairs],
        1,
        accs,
        [0],
        np.ones(units),
    )
    want = [
        max(-128, min(127, fp.round_half_away(float(a) * float(s))))
        for a, s in zip(accs.tolist(), scales.tolist(), strict=True)
    ]
    assert_bytes_equal(got, np.array(want, dtype=np.int8))


# ---- ADD --------------------------------------------------------------------------------------

ADD_CASES = [
    # shape, spread of input 1 and of input 2, activation
    ((8, 8, 16), 1.0, 1.0, "none"),
    ((5, 7, 3), 0.1, 4.0, "relu"),
    ((1, 1, 1280), 3.0, 0.5, "none"),
    ((6, 6, 24), 2.0, 2.0, "relu6"),
    ((3, 3, 96), 0.02, 30.0, "none"),
]


@pytest.mark.parametrize("shape, spread1, spread2, activation", ADD_CASES)
def test_add_is_bit_exact_and_may_run_in_place(harness, shape, spread1, spread2, activation):
    import keras

    rng = np.random.default_rng([*shape, int(spread1 * 100)])
    a, b = keras.Input(shape, batch_size=1), keras.Input(shape, batch_size=1)
    y = keras.layers.Add()([a, b])
    if activation != "none":
        y = keras.layers.ReLU(6.0 if activation == "relu6" else None)(y)
    tflite_model = convert(
        keras.Model([a, b], y), [samples(rng, shape, spread1), samples(rng, shape, spread2)]
    )
    ref = Reference(tflite_model, "ADD")
    assert ref.activation() == activation

    in1, in2 = ref.inputs
    size = int(np.prod(ref.shape(ref.output)))
    # the converter may reshape one input (e.g. to [1280]); same elements, same order
    assert np.prod(ref.shape(in1)) == np.prod(ref.shape(in2)) == size
    params = fp.add_params(
        ref.scale(in1),
        ref.zero_point(in1),
        ref.scale(in2),
        ref.zero_point(in2),
        ref.scale(ref.output),
        ref.zero_point(ref.output),
        activation,
    )
    fields = list(dataclasses.astuple(params))
    for seed in SEEDS:
        inputs, want = ref.invoke(np.random.default_rng(seed))
        assert_bytes_equal(harness.run("add", size, fields, inputs[0], inputs[1]), want)
        assert_bytes_equal(harness.run("add_in_place", size, fields, inputs[0], inputs[1]), want)


# ---- MEAN -------------------------------------------------------------------------------------

MEAN_CASES = [
    # input h, w, c; keep_dims; input spread
    (3, 3, 1280, False, 1.0),
    (6, 6, 1280, False, 2.0),
    (7, 7, 1280, False, 0.5),
    (5, 5, 16, False, 4.0),
    (4, 6, 3, True, 1.0),
    (7, 7, 32, True, 3.0),
    (1, 1, 8, False, 1.0),
]


@pytest.mark.parametrize("h, w, c, keep_dims, spread", MEAN_CASES)
def test_mean_is_bit_exact(harness, h, w, c, keep_dims, spread):
    import keras

    rng = np.random.default_rng([h, w, c])
    x = keras.Input((h, w, c), batch_size=1)
    y = keras.layers.GlobalAveragePooling2D(keepdims=keep_dims)(x)
    ref = Reference(quantize(keras.Model(x, y), samples(rng, (h, w, c), spread)), "MEAN")
    assert bool(ref.options.KeepDims()) == keep_dims
    assert sorted(ref.constant(ref.inputs[1]).tolist()) == [1, 2]

    xi = ref.inputs[0]
    multiplier, shift = fp.mean_params(ref.scale(xi), ref.scale(ref.output), h * w)
    fields = [h, w, c, -ref.zero_point(xi), ref.zero_point(ref.output), multiplier, shift]
    for seed in SEEDS:
        inputs, want = ref.invoke(np.random.default_rng(seed))
        assert_bytes_equal(harness.run("mean", fields, inputs[0]), want)


# ---- AVERAGE_POOL_2D --------------------------------------------------------------------------

POOL_CASES = [
    # input h, w, c; pool; stride; padding
    (6, 6, 4, 3, 2, "same"),
    (7, 7, 8, 2, 2, "valid"),
    (5, 5, 3, 3, 1, "same"),
    (8, 6, 16, (2, 3), (2, 1), "same"),
    (7, 7, 1280, 7, 1, "valid"),  # a global average pool written as a pool
]


@pytest.mark.parametrize("h, w, c, pool, stride, padding", POOL_CASES)
def test_average_pool2d_is_bit_exact(harness, h, w, c, pool, stride, padding):
    import keras

    rng = np.random.default_rng([h, w, c])
    x = keras.Input((h, w, c), batch_size=1)
    y = keras.layers.AveragePooling2D(pool, strides=stride, padding=padding)(x)
    ref = Reference(quantize(keras.Model(x, y), samples(rng, (h, w, c))), "AVERAGE_POOL_2D")

    opts = ref.options
    (_, out_h, out_w, _) = ref.shape(ref.output)
    k_h, k_w, s_h, s_w = opts.FilterHeight(), opts.FilterWidth(), opts.StrideH(), opts.StrideW()
    act = fp.activation_range(ref.activation(), ref.scale(ref.output), ref.zero_point(ref.output))
    fields = [
        [h, w, c, out_h, out_w, k_h, k_w, s_h, s_w],
        padding_before(opts.Padding(), h, k_h, s_h, out_h),
        padding_before(opts.Padding(), w, k_w, s_w, out_w),
        act,
    ]
    for seed in SEEDS:
        inputs, want = ref.invoke(np.random.default_rng(seed))
        assert_bytes_equal(harness.run("avg_pool2d", *fields, inputs[0]), want)


# ---- SOFTMAX ----------------------------------------------------------------------------------

SOFTMAX_CASES = [
    # rows, depth, logit spread, beta written into the model (None: the converter's)
    (1, 10, 1.0, None),
    (1, 10, 60.0, None),
    (1, 1000, 8.0, None),  # MobileNetV2's 1000 classes
    (5, 3, 20.0, None),  # large logits: most probabilities round to 0
    (2, 100, 0.05, None),  # small logits: nearly uniform
    (1, 1, 1.0, None),
    (3, 17, 2.0, 0.5),
    (1, 64, 1.0, 3.0),
]


def softmax_rows(rng, shape, seed) -> np.ndarray:
    """Seed 0: uniform logits; 1: up to 256 ties for the maximum; 2: one spike over a low floor.

    (TFLite's reference softmax rejects rows where 512 or more entries tie for the maximum.)
    """
    if seed == 1:
        top = int(rng.integers(-100, 128))
        rows = rng.integers(-128, top, shape)
        ties = rng.permutation(shape[-1])[: min(shape[-1], 256)]
        rows[..., ties] = top
        return rows.astype(np.int8)
    if seed == 2:
        rows = rng.integers(-128, -100, shape)
        rows[..., rng.integers(shape[-1])] = 127
        return rows.astype(np.int8)
    return rng.integers(-128, 128, shape).astype(np.int8)


def with_softmax_beta(tflite_model: bytes, beta: float) -> bytes:
    """The model with its SOFTMAX beta overwritten in place."""
    ref = Reference(tflite_model, "SOFTMAX")
    table = ref.options._tab
    field = table.Offset(4)  # beta, the first field of SoftmaxOptions
    assert field != 0
    patched = bytearray(tflite_model)
    struct.pack_into("<f", patched, table.Pos + field, beta)
    return bytes(patched)


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1")
@pytest.mark.parametrize("rows, depth, spread, beta", SOFTMAX_CASES)
def test_softmax_is_bit_exact(harness, rows, depth, spread, beta):
    import keras

    rng = np.random.default_rng([rows, depth])
    shape = (depth,) if rows == 1 else (rows, depth)
    x = keras.Input(shape, batch_size=1)
    tflite_model = quantize(keras.Model(x, keras.layers.Softmax()(x)), samples(rng, shape, spread))
    if beta is not None:
        tflite_model = with_softmax_beta(tflite_model, beta)
    ref = Reference(tflite_model, "SOFTMAX")
    assert ref.options.Beta() == pytest.approx(1.0 if beta is None else beta)
    assert (ref.scale(ref.output), ref.zero_point(ref.output)) == (1 / 256, -128)

    params = fp.softmax_params(ref.options.Beta(), ref.scale(ref.inputs[0]))
    fields = [rows, depth, params.input_multiplier, params.input_left_shift, params.diff_min]
    for seed in SEEDS:
        logits = softmax_rows(np.random.default_rng(seed), ref.shape(ref.inputs[0]), seed)
        inputs, want = ref.invoke(None, data=[logits])
        assert_bytes_equal(harness.run("softmax", fields, inputs[0]), want)


# ---- PAD --------------------------------------------------------------------------------------

PAD_CASES = [
    # input h, w, c; ((top, bottom), (left, right))
    (5, 5, 4, ((1, 2), (0, 1))),
    (6, 6, 8, ((0, 1), (0, 1))),  # MobileNetV2's padding before a stride-2 depthwise
    (3, 4, 3, ((2, 2), (3, 1))),
]


@pytest.mark.parametrize("h, w, c, pads", PAD_CASES)
def test_pad_is_bit_exact(harness, h, w, c, pads):
    import keras

    rng = np.random.default_rng([h, w, c])
    x = keras.Input((h, w, c), batch_size=1)
    y = keras.layers.ZeroPadding2D(pads)(x)
    # a shifted input range puts the zero point, the pad value, away from 0
    data = samples(rng, (h, w, c)) + 1.5
    ref = Reference(quantize(keras.Model(x, y), data), "PAD")

    paddings = ref.constant(ref.inputs[1])
    assert paddings.tolist() == [[0, 0], *map(list, pads), [0, 0]]
    assert ref.zero_point(ref.output) != 0
    fields = [ref.shape(ref.inputs[0]), paddings[:, 0], paddings[:, 1], ref.zero_point(ref.output)]
    for seed in SEEDS:
        inputs, want = ref.invoke(np.random.default_rng(seed))
        assert_bytes_equal(harness.run("pad", *fields, inputs[0]), want)


# ---- the sources themselves -------------------------------------------------------------------


# QUANTIZE float->int8 and DEQUANTIZE int8->float (and their declarations), nothing else
FLOAT_EDGES = ("ek_quantize.c", "ek_quantize_s16.c", "ek_kernels.h")


def code_without_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.DOTALL)


def test_kernel_sources_are_strict_c99_integer_only_without_allocation(tmp_path):
    sources = REFERENCE_SOURCES
    assert {p.name for p in sources} >= {
        "ek_conv2d.c",
        "ek_depthwise_conv2d.c",
        "ek_fully_connected.c",
        "ek_add.c",
        "ek_mean.c",
        "ek_avg_pool2d.c",
        "ek_softmax.c",
        "ek_pad.c",
    }
    for source in sources:
        done = subprocess.run(
            ["gcc", *CFLAGS, "-pedantic", "-O2", "-c", str(source), "-o", str(tmp_path / "k.o")],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    for path in [*sorted(KERNELS.glob("*.c")), *sorted(KERNELS.glob("*.h"))]:
        code = code_without_comments(path.read_text())
        banned = re.findall(r"\b(float|double|malloc|calloc|realloc|free)\b", code)
        # a model's float inputs and outputs are float, and so is the float reference (_f32)
        if path.name in FLOAT_EDGES or path.name.endswith("_f32.c"):
            banned = [word for word in banned if word != "float"]
        assert not banned, f"{path.name} uses {sorted(set(banned))}"


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_kernels_build_for_cortex_m(tmp_path, cpu):
    """Every kernel file a core can run builds pedantic and warning-free with its flags."""
    from edgekit.platforms.targets import load_target

    compiler = shutil.which("arm-none-eabi-gcc")
    assert compiler, "arm-none-eabi-gcc is missing: apt-get install gcc-arm-none-eabi"
    target = load_target(cpu)
    usable = {
        source
        for kind in OPS.values()
        for v in kind.variants
        if set(v.features) <= set(target.features)
        for source in v.sources
        if source.endswith(".c")
    }
    assert usable >= {"ek_conv2d.c", "ek_conv2d_dsp.c"}
    for source in sorted(usable):
        done = subprocess.run(
            [compiler, *CFLAGS, "-pedantic", "-Os", *target.cflags, "-c", str(KERNELS / source)]
            + ["-o", str(tmp_path / "k.o")],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
