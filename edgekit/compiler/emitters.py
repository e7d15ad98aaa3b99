"""The emitters: one per op kind, each turning an op into C for the folder ``codegen`` writes.

An emitter (registered with its op kind in ``edgekit.compiler.ops``) adds to an ``Emit``: the
op's const parameter struct to ``model.c``, its weights, biases and per-channel multipliers and
shifts (precomputed here, as TFLite's Prepare computes them) to ``weights.c``, and the call of
the kernel variant chosen for the op (``edgekit.compiler.variants``), with its weights in the
layout that variant asks for (``edgekit.compiler.layouts``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgekit.compiler import fixedpoint, tables
from edgekit.compiler.ir import Graph, Op, Tensor, padding_amounts, window
from edgekit.compiler.layouts import Array, channel_multipliers
from edgekit.compiler.oprules import COPY_RANK, copy_geometry, copy_views, reduced_axes
from edgekit.compiler.planner import MemoryPlan
from edgekit.compiler.variants import Choice, Variant
from edgekit.errors import InternalError

# ---------------------------------------------------------------- C literals


def c_array(ctype: str, name: str, values: np.ndarray, per_line: int = 16) -> str:
    """A const C array definition of integer ``values`` (or, for ctype float, float32 ones)."""
    literal = c_float if ctype == "float" else (lambda v: str(int(v)))
    flat = [literal(v) for v in np.asarray(values).ravel()]
    lines = [", ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    body = ",\n    ".join(lines) if lines else "0"
    return f"const {ctype} {name}[{max(len(flat), 1)}] = {{\n    {body}\n}};\n"


def c_struct(ctype: str, name: str, fields: dict[str, object]) -> str:
    """A static const struct with designated initializers."""
    inits = ",\n    ".join(f".{k} = {_c_value(v)}" for k, v in fields.items())
    return f"static const {ctype} {name} = {{\n    {inits}\n}};\n"


def _c_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(_c_value(v) for v in value) + "}"
    if isinstance(value, str):
        return value
    return str(int(value))


def c_float(value) -> str:
    """A float32 as an exact C literal (hexadecimal, so no decimal rounding can change it)."""
    return float(np.float32(value)).hex() + "f"


_NP = {
    "int8_t": np.int8,
    "int16_t": np.int16,
    "int32_t": np.int32,
    "int64_t": np.int64,
    "float": np.float32,
}
# the C type of each tensor type the kernels read or write
C_TYPES = {
    "int8": "int8_t",
    "int16": "int16_t",
    "float32": "float",
    "int32": "int32_t",
    "int64": "int64_t",
}


@dataclass
class Emit:
    """What emitters add to: weights for ``weights.c``, statics and calls for ``model.c``, and
    the helpers those calls use (``helpers``: names of model.c's static functions; ``row_loop``:
    a call runs once per row, so ``run`` declares ``row``)."""

    graph: Graph
    plan: MemoryPlan
    prefix: str
    kernels: dict[int, Choice]
    weights: list[str] = field(default_factory=list)
    weight_decls: list[str] = field(default_factory=list)
    statics: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    helpers: set[str] = field(default_factory=set)
    row_loop: bool = False
    weight_bytes: int = 0
    base: int = 0  # arena offset of ``plan``'s offset 0 (a patch plan's area; 0 otherwise)
    state: dict[int, int] = field(default_factory=dict)  # state tensor -> offset in ``state``
    _structs: dict[str, dict] = field(default_factory=dict)
    _data: set[str] = field(default_factory=set)

    def tensor(self, index: int) -> Tensor:
        return self.graph.tensor(index)

    def variant(self, op: Op) -> Variant:
        return self.kernels[op.index].variant

    def offset(self, index: int) -> int:
        """The arena offset of an activation tensor."""
        return self.base + self.plan.offset(index)

    def pointer(self, index: int, const: bool = False, ctype: str = "int8_t") -> str:
        """The arena pointer of an activation tensor (of ``ctype`` elements), or the state
        area's of a recurrent layer's state tensor."""
        kind = f"const {ctype} *" if const else f"{ctype} *"
        if index in self.state:
            return f"({kind})(state.bytes + {self.state[index]})"
        return f"({kind})(arena.bytes + {self.offset(index)})"

    def ctype(self, index: int) -> str:
        """A tensor's C element type (int8_t, int16_t, ...)."""
        return C_TYPES[self.tensor(index).dtype]

    def operand(self, op: Op, k: int) -> str:
        """Input ``k`` of ``op`` as a kernel argument: its arena pointer, or for a constant
        (a binary op's or a matrix product's other operand) its int8 values as const data."""
        index = op.inputs[k]
        ctype = C_TYPES.get(self.tensor(index).dtype, "int8_t")
        if self.tensor(index).data is None:
            return self.pointer(index, True, ctype)
        values = np.asarray(self.graph.constant(index))
        return self.data(f"{self.prefix}_op{op.index}_input{k}", ctype, values)

    def call(self, op: Op, *args: str) -> str:
        """The call of the op's kernel variant with ``args``, then its scratch memory when the
        variant needs some."""
        at = self.plan.scratch(op.index)
        scratch = () if at is None else (f"arena.bytes + {self.base + at}",)
        return f"{self.variant(op).symbol}({', '.join((*args, *scratch))});"

    def struct(self, ctype: str, name: str, fields: dict[str, object]) -> str:
        """Emit a static const struct into model.c; its C name. An op emitted once per patch
        (``patches``) asks for the same name with each patch's fields: equal fields share
        one struct, others get a numbered name."""
        for n in range(len(self._structs) + 1):
            candidate = name if n == 0 else f"{name}_{n}"
            known = self._structs.get(candidate)
            if known == fields:
                return candidate
            if known is None:
                self._structs[candidate] = fields
                self.statics.append(c_struct(ctype, candidate, fields))
                return candidate
        raise InternalError("unreachable: a free name is among the first len + 1")

    def array(self, op: Op, array: Array | None) -> str:
        """Emit one of the op's arrays into weights.c; its C name (NULL for no array)."""
        if array is None:
            return "NULL"
        return self.data(f"{self.prefix}_op{op.index}_{array.suffix}", array.ctype, array.values)

    def data(self, name: str, ctype: str, values) -> str:
        """Emit const data into weights.c once per name (an op's constants are the same in
        every patch it runs on); its C name."""
        if name in self._data:
            return name
        self._data.add(name)
        values = np.asarray(values)
        self.weights.append(c_array(ctype, name, values))
        self.weight_decls.append(f"extern const {ctype} {name}[{max(values.size, 1)}];\n")
        self.weight_bytes += values.size * np.dtype(_NP[ctype]).itemsize
        return name


Emitter = Callable[[Emit, Op], None]


def scale_and_zero(t: Tensor) -> tuple[float, int]:
    """A per-tensor quantized tensor's scale and zero point."""
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _activation(op: Op, out: Tensor) -> tuple[int, int]:
    scale, zero = scale_and_zero(out)
    bounds = INT16_RANGE if out.dtype == "int16" else ()
    return fixedpoint.activation_range(
        op.options.get("activation", "NONE").lower(), scale, zero, *bounds
    )


INT16_RANGE = (-(2**15), 2**15 - 1)


def _window(graph: Graph, op: Op) -> dict:
    kh, kw, sh, sw, top, left = window(graph, op)
    return {
        "filter_h": kh,
        "filter_w": kw,
        "stride_h": sh,
        "stride_w": sw,
        "pad_top": top,
        "pad_left": left,
    }


def _params_call(ctx: Emit, op: Op, ctype: str, fields: dict[str, object]) -> None:
    """The op's parameter struct and the kernel call most kernels take: (params, input,
    output), each pointer of its tensor's C type."""
    params = ctx.struct(ctype, f"{ctx.prefix}_op{op.index}_params", fields)
    src, dst = op.inputs[0], op.outputs[0]
    ctx.calls.append(
        ctx.call(
            op, f"&{params}", ctx.pointer(src, True, ctx.ctype(src)),
            ctx.pointer(dst, ctype=ctx.ctype(dst)),
        )
    )  # fmt: skip


# ---------------------------------------------------------------- one emitter per op kind


# the variants of dilated layers, whose parameters are their own struct
DILATED_CONV, DILATED_DEPTHWISE_CONV = "conv2d_dilated_ref", "depthwise_conv2d_dilated_ref"
DILATED_IM2COL_DSP, DILATED_IM2COL_MVE = "conv2d_im2col_dilated_dsp", "conv2d_im2col_dilated_mve"
DILATED_CONV_B32 = "conv2d_b32_dilated_ref"  # 16x8 with an int32 bias
DILATED = (
    DILATED_CONV, DILATED_DEPTHWISE_CONV, DILATED_IM2COL_DSP, DILATED_IM2COL_MVE, DILATED_CONV_B32
)  # fmt: skip


def _io(ctx: Emit, op: Op, k: int = 0) -> tuple[str, str]:
    """Input ``k`` and the output of a convolution or fully connected layer as kernel
    arguments, each pointer of its tensor's C type (int8_t, or int16_t for 16x8)."""
    src, dst = op.inputs[k], op.outputs[0]
    return ctx.pointer(src, True, ctx.ctype(src)), ctx.pointer(dst, ctype=ctx.ctype(dst))


def conv(ctx: Emit, op: Op) -> None:
    _conv(ctx, op, depthwise=False)


def depthwise_conv(ctx: Emit, op: Op) -> None:
    _conv(ctx, op, depthwise=True)


def _conv(ctx: Emit, op: Op, depthwise: bool) -> None:
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    in_zero, out_zero = scale_and_zero(src)[1], scale_and_zero(out)[1]
    act_min, act_max = _activation(op, out)
    _, in_h, in_w, in_c = src.shape
    _, out_h, out_w, out_c = out.shape
    fields = {
        "input_h": in_h,
        "input_w": in_w,
        "input_c": in_c,
        "output_h": out_h,
        "output_w": out_w,
    }
    if depthwise:
        fields["depth_multiplier"] = out_c // in_c
    else:
        fields["output_c"] = out_c
    fields.update(_window(ctx.graph, op))
    fields.update(input_offset=-in_zero, output_offset=out_zero, act_min=act_min, act_max=act_max)
    kind = "depthwise_conv" if depthwise else "conv"
    ctype = f"ek_{kind}_params"
    if ctx.variant(op).name in DILATED:
        ctype = f"ek_dilated_{kind}_params"
        inner = ", ".join(f".{k} = {v}" for k, v in fields.items())
        dilation = {k: op.options[k] for k in ("dilation_h", "dilation_w")}
        fields = {"conv": f"{{{inner}}}", **dilation}
    params = ctx.struct(ctype, f"{ctx.prefix}_op{op.index}_params", fields)
    layout = ctx.variant(op).layout
    quant = "NULL"
    if not layout.carries_quant:
        name = f"{ctx.prefix}_op{op.index}"
        mult, shift = channel_multipliers(ctx.graph, op)
        m = ctx.data(name + "_multiplier", "int32_t", mult)
        s = ctx.data(name + "_shift", "int32_t", shift)
        quant = "&" + ctx.struct("ek_channel_quant", name + "_quant", {"multiplier": m, "shift": s})
    weights = ctx.array(op, layout.weights(ctx.graph, op))
    bias = ctx.array(op, layout.bias(ctx.graph, op))
    src_at, out_at = _io(ctx, op)
    ctx.calls.append(ctx.call(op, f"&{params}", quant, src_at, weights, bias, out_at))


def fully_connected(ctx: Emit, op: Op) -> None:
    src, filt, out = (ctx.tensor(i) for i in op.inputs[:2] + op.outputs[:1])
    in_scale, in_zero = scale_and_zero(src)
    out_scale, out_zero = scale_and_zero(out)
    mantissa, exponent = fixedpoint.fully_connected_scales(in_scale, filt.quant.scale, out_scale)
    act_min, act_max = _activation(op, out)
    depth_out, depth_in = filt.shape
    name = f"{ctx.prefix}_op{op.index}"
    params = ctx.struct(
        "ek_fully_connected_params",
        name + "_params",
        {
            "batches": src.size // depth_in,
            "input_depth": depth_in,
            "output_depth": depth_out,
            "input_offset": -in_zero,
            "filter_offset": -int(filt.quant.zero_point[0]),
            "output_offset": out_zero,
            "per_channel": int(len(mantissa) > 1),
            "act_min": act_min,
            "act_max": act_max,
        },
    )
    m = ctx.data(name + "_mantissa", "int64_t", mantissa)
    e = ctx.data(name + "_exponent", "int32_t", exponent)
    scale = ctx.struct("ek_double_scale", name + "_scale", {"mantissa": m, "exponent": e})
    layout = ctx.variant(op).layout
    weights = ctx.array(op, layout.weights(ctx.graph, op))
    bias = ctx.array(op, layout.bias(ctx.graph, op))
    src_at, out_at = _io(ctx, op)
    ctx.calls.append(ctx.call(op, f"&{params}", f"&{scale}", src_at, weights, bias, out_at))


def add(ctx: Emit, op: Op) -> None:
    if ctx.variant(op).name in BINARY_ADDS:
        binary(ctx, op)
        return
    a, b, out = (ctx.tensor(i) for i in (*op.inputs[:2], op.outputs[0]))
    p = fixedpoint.add_params(
        *scale_and_zero(a),
        *scale_and_zero(b),
        *scale_and_zero(out),
        activation=op.options.get("activation", "NONE").lower(),
    )
    name = f"{ctx.prefix}_op{op.index}_params"
    windows = op.options.get("input_windows")
    if not windows:
        params = ctx.struct("ek_add_params", name, {"size": out.size, **vars(p)})
        inputs = (ctx.pointer(t, True) for t in op.inputs[:2])
        ctx.calls.append(ctx.call(op, f"&{params}", *inputs, ctx.pointer(op.outputs[0])))
        return
    # on a patch, an input may be a larger region than the output (``input_windows``: where
    # the output's region starts in it): one call per row, each input with its own row stride
    _, rows, width, channels = out.shape
    params = ctx.struct("ek_add_params", name, {"size": width * channels, **vars(p)})
    args = []
    for t in op.inputs[:2]:
        dy, dx = windows.get(t, (0, 0))
        stride = ctx.tensor(t).shape[2] * channels
        args.append(f"arena.bytes + {ctx.offset(t) + dy * stride + dx * channels} + row * {stride}")
    out_at = f"arena.bytes + {ctx.offset(op.outputs[0])} + row * {width * channels}"
    ctx.row_loop = True
    ctx.calls.append(
        f"for (row = 0; row < {rows}; row++)\n        {ctx.call(op, f'&{params}', *args, out_at)}"
    )


BROADCAST_ADD = "add_broadcast_ref"  # the ADD variant that broadcasts, through ``binary``
# the ADD variants that take ek_binary_params (``binary``): broadcasting, squeeze-and-excite
BINARY_ADDS = (BROADCAST_ADD, "add_channels_dsp", "add_channels_mve")


def binary(ctx: Emit, op: Op) -> None:
    """ADD (broadcasting), SUB, MUL, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM: ek_binary_params,
    each input read through its strides (0 along the axes it is broadcast on); a constant
    input goes into weights.c."""
    a, b, out = (ctx.tensor(i) for i in (*op.inputs[:2], op.outputs[0]))
    dims = (1,) * (4 - len(out.shape)) + tuple(out.shape)
    fields: dict[str, object] = {"dims": list(dims)}
    for k, t in enumerate((a, b), start=1):
        shape = (1,) * (4 - len(t.shape)) + tuple(t.shape)
        dense = [int(np.prod(shape[d + 1 :])) for d in range(4)]
        fields[f"strides{k}"] = [
            0 if n < o else c for n, o, c in zip(shape, dims, dense, strict=True)
        ]
    fields.update(_binary_arithmetic(op, a, b, out))
    params = ctx.struct("ek_binary_params", f"{ctx.prefix}_op{op.index}_params", fields)
    operands = (ctx.operand(op, 0), ctx.operand(op, 1))
    dst = ctx.pointer(op.outputs[0], ctype=ctx.ctype(op.outputs[0]))
    ctx.calls.append(ctx.call(op, f"&{params}", *operands, dst))


INT16_ADD_LEFT_SHIFT = 15  # TFLite's int16 ADD and SUB: 65535 << 15 stays within int32


def _f32(value: float) -> float:
    """A scale as TFLite stores it (float32), as the double its Prepare computes with."""
    return float(np.float32(value))


def _binary_arithmetic(op: Op, a: Tensor, b: Tensor, out: Tensor) -> dict[str, int]:
    """The arithmetic fields of ek_binary_params, as TFLite's Prepare computes them per op."""
    (s1, z1), (s2, z2), (so, zo) = (scale_and_zero(t) for t in (a, b, out))
    fields = dict.fromkeys(
        ("left_shift", "input1_multiplier", "input1_shift", "input2_multiplier", "input2_shift",
         "output_multiplier", "output_shift"), 0,
    )  # fmt: skip
    fields.update(input1_offset=-z1, input2_offset=-z2, output_offset=zo, act_min=-128, act_max=127)
    if out.dtype == "int16":
        fields["act_min"], fields["act_max"] = INT16_RANGE
    activation = op.options.get("activation", "NONE").lower()
    if op.kind in ("ADD", "SUB") and out.dtype == "int16":
        # TFLite's general int16 path: ADD's arithmetic with a left shift of 15, not 20
        p = vars(fixedpoint.add_params(s1, z1, s2, z2, so, zo, activation=activation))
        twice_max = 2.0 * max(_f32(s1), _f32(s2))
        mo, sho = fixedpoint.quantize_multiplier_smaller_than_one(
            twice_max / (float(1 << INT16_ADD_LEFT_SHIFT) * _f32(so))
        )
        p.update(left_shift=INT16_ADD_LEFT_SHIFT, output_multiplier=mo, output_shift=sho)
        p["act_min"], p["act_max"] = _activation(op, out)
        if op.kind == "SUB":
            p["input2_multiplier"] = -p["input2_multiplier"]
        fields.update(p)
    elif op.kind in ("ADD", "SUB"):
        p = vars(fixedpoint.add_params(s1, z1, s2, z2, so, zo, activation=activation))
        if op.kind == "SUB":  # TFLite runs SUB as ADD with input 2's multiplier negated
            p["input2_multiplier"] = -p["input2_multiplier"]
        fields.update(p)
    elif op.kind == "MUL":
        real = _f32(s1) * _f32(s2) / _f32(so)
        m, s = fixedpoint.quantize_multiplier(real)
        fields.update(output_multiplier=m, output_shift=s)
        fields["act_min"], fields["act_max"] = _activation(op, out)
    elif op.kind == "SQUARED_DIFFERENCE":
        twice_max = 2.0 * max(_f32(s1), _f32(s2))
        m1, sh1 = fixedpoint.quantize_multiplier_smaller_than_one(_f32(s1) / twice_max)
        m2, sh2 = fixedpoint.quantize_multiplier_smaller_than_one(_f32(s2) / twice_max)
        mo, sho = fixedpoint.quantize_multiplier_smaller_than_one(
            twice_max * twice_max / (float(1 << 14) * _f32(so))
        )
        fields.update(
            left_shift=7, input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2,
            input2_shift=sh2, output_multiplier=mo, output_shift=sho,
        )  # fmt: skip
    return fields


def mean(ctx: Emit, op: Op) -> None:
    """MEAN over height and width (the mean_hw kernels), or over any axes (``reduce``)."""
    if not ctx.variant(op).name.startswith("mean_hw_"):
        reduce(ctx, op)
        return
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _, h, w, c = src.shape
    (in_scale, in_zero), (out_scale, out_zero) = scale_and_zero(src), scale_and_zero(out)
    multiplier, shift = fixedpoint.mean_params(in_scale, out_scale, h * w)
    fields = {
        "input_h": h,
        "input_w": w,
        "channels": c,
        "input_offset": -in_zero,
        "output_offset": out_zero,
        "multiplier": multiplier,
        "shift": shift,
    }
    _params_call(ctx, op, "ek_mean_params", fields)


def avg_pool(ctx: Emit, op: Op, ctype: str = "ek_avg_pool_params") -> None:
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    _, in_h, in_w, c = src.shape
    _, out_h, out_w, _ = out.shape
    act_min, act_max = _activation(op, out)
    fields = {
        "input_h": in_h,
        "input_w": in_w,
        "channels": c,
        "output_h": out_h,
        "output_w": out_w,
        **_window(ctx.graph, op),
        "act_min": act_min,
        "act_max": act_max,
    }
    _params_call(ctx, op, ctype, fields)


def max_pool(ctx: Emit, op: Op) -> None:
    """AVERAGE_POOL_2D's parameters, for the max pooling kernel."""
    avg_pool(ctx, op, "ek_max_pool_params")


def softmax(ctx: Emit, op: Op) -> None:
    src = ctx.tensor(op.inputs[0])
    if src.dtype == "int16":
        _softmax_s16(ctx, op)
        return
    p = fixedpoint.softmax_params(op.options["beta"], scale_and_zero(src)[0])
    depth = src.shape[-1]
    if ctx.variant(op).name == "softmax_dsp":  # the exps looked up: the table instead of p
        exp = tables.softmax_exp_table(p.input_multiplier, p.input_left_shift, p.diff_min)
        table = ctx.data(f"{ctx.prefix}_op{op.index}_exp", "int32_t", exp)
        fields = {"rows": src.size // depth, "depth": depth, "exp_table": table}
        _params_call(ctx, op, "ek_softmax_table_params", fields)
        return
    _params_call(
        ctx, op, "ek_softmax_params", {"rows": src.size // depth, "depth": depth, **vars(p)}
    )


def _softmax_s16(ctx: Emit, op: Op) -> None:
    """16x8 SOFTMAX: its two tables (the same for every layer, so emitted once) and its input
    rescale."""
    src = ctx.tensor(op.inputs[0])
    multiplier, shift = tables.softmax_s16_multiplier(scale_and_zero(src)[0], op.options["beta"])
    exp, reciprocal = tables.softmax_s16_tables()
    depth = src.shape[-1]
    fields = {
        "rows": src.size // depth,
        "depth": depth,
        "input_multiplier": multiplier,
        "input_left_shift": shift,
        "exp_table": ctx.data(f"{ctx.prefix}_softmax_s16_exp", "int16_t", exp),
        "reciprocal_table": ctx.data(f"{ctx.prefix}_softmax_s16_reciprocal", "int16_t", reciprocal),
    }
    _params_call(ctx, op, "ek_softmax_s16_params", fields)


def pad(ctx: Emit, op: Op) -> None:
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    pads = np.asarray(ctx.graph.constant(op.inputs[1])).reshape(-1, 2)
    dims = [1] * (4 - len(src.shape)) + list(src.shape)
    pads = np.vstack([np.zeros((4 - len(pads), 2), np.int64), pads])
    value = scale_and_zero(out)[1]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        value = int(np.asarray(ctx.graph.constant(op.inputs[2])).ravel()[0])
    fields = {
        "input_dims": dims,
        "before": pads[:, 0].tolist(),
        "after": pads[:, 1].tolist(),
        "pad_value": value,
    }
    _params_call(ctx, op, "ek_pad_params", fields)


def concatenation(ctx: Emit, op: Op) -> None:
    """One copy per input into its place in each output row (the rows being the dimensions
    before the axis), but for an input the planner already put there
    (``planner.concatenation_in_place``): int8, so its place is ``start`` bytes in."""
    out = ctx.tensor(op.outputs[0])
    axis = op.options.get("axis", 0) % len(out.shape)
    outer, inner = int(np.prod(out.shape[:axis])), int(np.prod(out.shape[axis + 1 :]))
    start, ctype = 0, ctx.ctype(op.outputs[0])
    itemsize = np.dtype(_NP[ctype]).itemsize
    for k, index in enumerate(op.inputs):
        row = ctx.tensor(index).shape[axis] * inner
        if outer > 1 or ctx.offset(index) != ctx.offset(op.outputs[0]) + start * itemsize:
            fields = {
                "outer": outer,
                "input_row": row,
                "output_row": out.shape[axis] * inner,
                "output_start": start,
            }
            name = f"{ctx.prefix}_op{op.index}_input{k}_params"
            params = ctx.struct("ek_concatenation_params", name, fields)
            src, dst = ctx.pointer(index, True, ctype), ctx.pointer(op.outputs[0], ctype=ctype)
            ctx.calls.append(ctx.call(op, f"&{params}", src, dst))
        start += row


def resize_nearest_neighbor(ctx: Emit, op: Op) -> None:
    """The input row and column each output pixel copies, in weights.c: the kernel only
    copies."""
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    (_, in_h, in_w, channels), (_, out_h, out_w, _) = src.shape, out.shape
    corners, half = op.options["align_corners"], op.options["half_pixel_centers"]
    name = f"{ctx.prefix}_op{op.index}"
    fields = {
        "input_w": in_w,
        "channels": channels,
        "output_h": out_h,
        "output_w": out_w,
        "rows": ctx.data(name + "_rows", "int32_t", _nearest(in_h, out_h, corners, half)),
        "cols": ctx.data(name + "_cols", "int32_t", _nearest(in_w, out_w, corners, half)),
    }
    _params_call(ctx, op, "ek_resize_nearest_params", fields)


def _nearest(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool):
    """The input index of each output index along one axis, as TFLite's GetNearestNeighbor
    computes it in float32 (floor, or round half away from zero with align_corners)."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5 if half_pixel_centers else 0.0)
    indices = []
    for i in range(out_size):
        at = float((f32(i) + offset) * scale)  # >= 0, a float32 product held exactly
        k = min(int(np.floor(at + 0.5 if align_corners else at)), in_size - 1)
        indices.append(max(k, 0) if half_pixel_centers else k)
    return indices


def resize_bilinear(ctx: Emit, op: Op) -> None:
    """TFLite's 10-bit fixed-point scales, computed here as its int8 ResizeBilinear does."""
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    (_, in_h, in_w, channels), (_, out_h, out_w, _) = src.shape, out.shape
    corners = op.options["align_corners"]

    def scale_10(n_in: int, n_out: int) -> int:
        if corners and n_out > 1:
            n_in, n_out = n_in - 1, n_out - 1
        return ((1 << 10) * n_in + n_out // 2) // n_out

    fields = {
        "input_h": in_h,
        "input_w": in_w,
        "channels": channels,
        "output_h": out_h,
        "output_w": out_w,
        "height_scale_10": scale_10(in_h, out_h),
        "width_scale_10": scale_10(in_w, out_w),
        "half_pixel_centers": int(op.options["half_pixel_centers"]),
    }
    _params_call(ctx, op, "ek_resize_bilinear_params", fields)


def transpose_conv(ctx: Emit, op: Op) -> None:
    """Weights (OHWI) in the variant's layout, bias as stored; per-channel multipliers as
    TFLite's Prepare computes them; the padding TFLite derives from the output's size; the
    reference kernels' accumulators (int32, int64 for 16x8 with an int64 bias or none) are
    their scratch memory."""
    filt, src, out = (ctx.tensor(i) for i in (op.inputs[1], op.inputs[2], op.outputs[0]))
    o, (out_c, kh, kw, in_c) = op.options, filt.shape
    (_, in_h, in_w, _), (_, out_h, out_w, _) = src.shape, out.shape
    fields = {
        "input_h": in_h,
        "input_w": in_w,
        "input_c": in_c,
        "output_h": out_h,
        "output_w": out_w,
        "output_c": out_c,
        "filter_h": kh,
        "filter_w": kw,
        "stride_h": o["stride_h"],
        "stride_w": o["stride_w"],
        "pad_top": padding_amounts(out_h, kh, o["stride_h"], 1, o["padding"])[0],
        "pad_left": padding_amounts(out_w, kw, o["stride_w"], 1, o["padding"])[0],
        "input_offset": -scale_and_zero(src)[1],
        "output_offset": scale_and_zero(out)[1],
    }
    name = f"{ctx.prefix}_op{op.index}"
    params = ctx.struct("ek_transpose_conv_params", name + "_params", fields)
    mult, shift = fixedpoint.conv_multipliers(
        scale_and_zero(src)[0], filt.quant.scale, scale_and_zero(out)[0]
    )
    mult, shift = np.broadcast_to(mult, out_c), np.broadcast_to(shift, out_c)
    m = ctx.data(name + "_multiplier", "int32_t", mult)
    s = ctx.data(name + "_shift", "int32_t", shift)
    quant = ctx.struct("ek_channel_quant", name + "_quant", {"multiplier": m, "shift": s})
    weights = ctx.array(op, ctx.variant(op).layout.weights(ctx.graph, op))
    bias = "NULL"
    if len(op.inputs) > 3 and op.inputs[3] >= 0:  # int32, or int64 for 16x8
        bias = ctx.data(name + "_bias", ctx.ctype(op.inputs[3]), ctx.graph.constant(op.inputs[3]))
    src_at, out_at = _io(ctx, op, 2)
    ctx.calls.append(ctx.call(op, f"&{params}", f"&{quant}", src_at, weights, bias, out_at))


def lut(ctx: Emit, op: Op) -> None:
    """An int8 -> int8 element-wise op: its 256-entry table (``tables.op_table``) in weights.c
    and one lookup per element; an int16 one (16x8): its kernel's parameters."""
    if ctx.tensor(op.inputs[0]).dtype == "int16":
        _lut_s16(ctx, op)
        return
    table = ctx.data(f"{ctx.prefix}_op{op.index}_table", "int8_t", tables.op_table(ctx.graph, op))
    size = ctx.tensor(op.outputs[0]).size
    _params_call(ctx, op, "ek_lut_params", {"size": size, "table": table})


def _lut_s16(ctx: Emit, op: Op) -> None:
    """16x8 LOGISTIC and TANH (TFLite's input multiplier and shift) and LEAKY_RELU (its two
    rescales)."""
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    if op.kind == "LEAKY_RELU":
        m1, s1, m2, s2 = tables.leaky_relu_s16_params(
            scale_and_zero(src)[0], scale_and_zero(out)[0], op.options["alpha"]
        )
        fields = {"size": out.size, "identity_multiplier": m1, "identity_shift": s1,
                  "alpha_multiplier": m2, "alpha_shift": s2}  # fmt: skip
        _params_call(ctx, op, "ek_leaky_relu_s16_params", fields)
        return
    multiplier, shift = tables.sigmoid_s16_params(scale_and_zero(src)[0])
    fields = {"size": out.size, "input_multiplier": multiplier, "input_left_shift": shift}
    _params_call(ctx, op, "ek_sigmoid_s16_params", fields)


def reshape(ctx: Emit, op: Op) -> None:
    """RESHAPE, SQUEEZE, EXPAND_DIMS: no kernel, the planner's alias (``planner.alias``) keeps
    the output on the input's bytes; copied only where a plan made without that rule put the
    output elsewhere."""
    src, dst = op.inputs[0], op.outputs[0]
    if ctx.plan.offset(src) != ctx.plan.offset(dst):
        ctx.helpers.add("ek_copy")
        size = ctx.tensor(src).size * np.dtype(_NP[ctx.ctype(src)]).itemsize  # bytes
        ctx.calls.append(f"ek_copy({ctx.pointer(dst)}, {ctx.pointer(src, True)}, {size});")


def strided_copy(ctx: Emit, op: Op) -> None:
    """TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK, UNPACK: one strided copy per
    (input, output) pair of ``oprules.copy_views``, its starts and strides in elements."""
    for k, (src, dst, src_view, dst_view) in enumerate(copy_views(ctx.graph, op)):
        dims, src_strides, src_start, dst_strides, dst_start = copy_geometry(src_view, dst_view)
        pad = COPY_RANK - len(dims)
        fields = {
            "dims": [1] * pad + dims,
            "input_strides": [0] * pad + src_strides,
            "output_strides": [0] * pad + dst_strides,
            "input_start": src_start,
            "output_start": dst_start,
        }
        name = f"{ctx.prefix}_op{op.index}_copy{k}_params"
        params = ctx.struct("ek_strided_copy_params", name, fields)
        ctype = ctx.ctype(src)
        src, dst = ctx.pointer(src, True, ctype), ctx.pointer(dst, ctype=ctype)
        ctx.calls.append(ctx.call(op, f"&{params}", src, dst))


# ---------------------------------------------------------------- reductions, PRELU, ARG_MAX,
# BATCH_MATMUL and the float conversions


def reduce(ctx: Emit, op: Op) -> None:
    """MEAN (any axes), SUM and REDUCE_MAX: the input's axes with neighbours of one kind merged
    (unit axes dropped), as four kept and four reduced ones; the rescale of MEAN and SUM as
    TFLite's Prepare and QuantizedMeanOrSum compute it."""
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    axes = reduced_axes(ctx.graph, op)
    merged: list[tuple[bool, int, int]] = []  # (reduced, size, stride), outermost first
    for d, n in enumerate(src.shape):
        stride = math.prod(src.shape[d + 1 :])
        if n == 1:
            continue
        if merged and merged[-1][0] == (d in axes):
            n *= merged[-1][1]
            merged.pop()
        merged.append((d in axes, n, stride))
    groups = {}
    for reduced in (False, True):
        sizes = [(n, s) for r, n, s in merged if r == reduced]
        sizes = [(1, 0)] * (4 - len(sizes)) + sizes
        groups[reduced] = [n for n, _ in sizes], [s for _, s in sizes]
    count = math.prod(src.shape[d] for d in axes)
    (in_scale, in_zero), (out_scale, out_zero) = scale_and_zero(src), scale_and_zero(out)
    multiplier, shift = 0, 0
    if op.kind == "MEAN":
        multiplier, shift = fixedpoint.mean_params(in_scale, out_scale, count)
    elif op.kind == "SUM":
        multiplier, shift = fixedpoint.quantize_multiplier(_f32(in_scale) / _f32(out_scale))
    fields = {
        "outer": groups[False][0],
        "outer_strides": groups[False][1],
        "inner": groups[True][0],
        "inner_strides": groups[True][1],
        "count": count,
        "input_zero_point": in_zero,
        "multiplier": multiplier,
        "shift": shift,
        "output_offset": out_zero,
    }
    _params_call(ctx, op, "ek_reduce_params", fields)


def prelu(ctx: Emit, op: Op) -> None:
    """Alpha (constant) into weights.c, read through its broadcast strides; the two rescales as
    TFLite's PreluPrepare computes them, in float32 from the float32 scales."""
    src, alpha, out = (ctx.tensor(i) for i in (*op.inputs[:2], op.outputs[0]))
    dims = (1,) * (4 - len(src.shape)) + tuple(src.shape)
    shape = (1,) * (4 - len(alpha.shape)) + tuple(alpha.shape)
    strides = [0 if n == 1 else math.prod(shape[d + 1 :]) for d, n in enumerate(shape)]
    (s_in, z_in), (s_alpha, z_alpha), (s_out, z_out) = map(scale_and_zero, (src, alpha, out))
    f32 = np.float32
    m1, sh1 = fixedpoint.quantize_multiplier(float(f32(s_in) / f32(s_out)))
    m2, sh2 = fixedpoint.quantize_multiplier(float(f32(s_in) * f32(s_alpha) / f32(s_out)))
    name = f"{ctx.prefix}_op{op.index}"
    fields = {
        "dims": list(dims),
        "alpha_strides": strides,
        "input_offset": -z_in,
        "alpha_offset": -z_alpha,
        "output_offset": z_out,
        "multiplier_1": m1,
        "shift_1": sh1,
        "multiplier_2": m2,
        "shift_2": sh2,
    }
    params = ctx.struct("ek_prelu_params", name + "_params", fields)
    values = ctx.data(name + "_alpha", "int8_t", ctx.graph.constant(op.inputs[1]))
    src, dst = ctx.pointer(op.inputs[0], True), ctx.pointer(op.outputs[0])
    ctx.calls.append(ctx.call(op, f"&{params}", src, values, dst))


def arg_max(ctx: Emit, op: Op) -> None:
    """The input seen as [outer, axis, inner]; int32 or int64 indices as the output's type."""
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    axis = int(ctx.graph.constant(op.inputs[1]).reshape(-1)[0]) % len(src.shape)
    fields = {
        "outer": math.prod(src.shape[:axis]),
        "axis_size": src.shape[axis],
        "inner": math.prod(src.shape[axis + 1 :]),
        "int64_output": int(out.dtype == "int64"),
    }
    params = ctx.struct("ek_arg_max_params", f"{ctx.prefix}_op{op.index}_params", fields)
    src, dst = ctx.pointer(op.inputs[0], True), ctx.pointer(op.outputs[0], ctype="void")
    ctx.calls.append(ctx.call(op, f"&{params}", src, dst))


def dequantize_table(scale: float, zero_point: int) -> np.ndarray:
    """DEQUANTIZE's result for each int8 input, -128 to 127: TFLite's reference Dequantize
    computes ``scale * (q - zero_point)`` in double from the float32 scale, then rounds it to
    float32 (as numpy does, to nearest, ties to even)."""
    return (float(np.float32(scale)) * (np.arange(-128, 128) - zero_point)).astype(np.float32)


def dequantize(ctx: Emit, op: Op) -> None:
    """A table of the 256 float32 results in weights.c: one load per element; int16 (65536
    values) is multiplied in the kernel instead."""
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    if src.dtype == "int16":
        scale, zero = scale_and_zero(src)
        fields = {"size": out.size, "scale": c_float(scale), "zero_point": zero}
        name = f"{ctx.prefix}_op{op.index}_params"
        params = ctx.struct("ek_dequantize_s16_params", name, fields)
        src_p = ctx.pointer(op.inputs[0], True, "int16_t")
        dst = ctx.pointer(op.outputs[0], ctype="float")
        ctx.calls.append(ctx.call(op, f"&{params}", src_p, dst))
        return
    values = dequantize_table(*scale_and_zero(src))
    table = ctx.data(f"{ctx.prefix}_op{op.index}_table", "float", values)
    params = ctx.struct(
        "ek_dequantize_params",
        f"{ctx.prefix}_op{op.index}_params",
        {"size": out.size, "table": table},
    )
    src, dst = ctx.pointer(op.inputs[0], True), ctx.pointer(op.outputs[0], ctype="float")
    ctx.calls.append(ctx.call(op, f"&{params}", src, dst))


def quantize(ctx: Emit, op: Op) -> None:
    """QUANTIZE: an int8 rescale is a table (``lut``), other rescales between int8, int16 and
    int32 a Q31 multiplier (``_requantize``); float32 input is divided by the output's float32
    scale in the kernel (TFLite's AffineQuantize), into int8 or int16."""
    if ctx.variant(op).name.startswith("lut_"):  # lut_ref and its fast variants
        lut(ctx, op)
        return
    if ctx.variant(op).name == REQUANTIZE:
        _requantize(ctx, op)
        return
    out = ctx.tensor(op.outputs[0])
    scale, zero = scale_and_zero(out)
    params = ctx.struct(
        "ek_quantize_params",
        f"{ctx.prefix}_op{op.index}_params",
        {"size": out.size, "scale": c_float(scale), "zero_point": zero},
    )
    src = ctx.pointer(op.inputs[0], True, "float")
    dst = ctx.pointer(op.outputs[0], ctype=ctx.ctype(op.outputs[0]))
    ctx.calls.append(ctx.call(op, f"&{params}", src, dst))


REQUANTIZE = "requantize_ref"  # QUANTIZE between integer types other than int8 -> int8


def _requantize(ctx: Emit, op: Op) -> None:
    """TFLite's Requantize: input_scale / output_scale divided in double (as its Prepare does)
    as a Q31 multiplier; the output type's width for the kernel's clamp and store."""
    src, out = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    (s_in, z_in), (s_out, z_out) = scale_and_zero(src), scale_and_zero(out)
    multiplier, shift = fixedpoint.quantize_multiplier(_f32(s_in) / _f32(s_out))
    fields = {
        "size": out.size,
        "input_offset": -z_in,
        "multiplier": multiplier,
        "shift": shift,
        "output_offset": z_out,
        "output_bytes": np.dtype(_NP[ctx.ctype(op.outputs[0])]).itemsize,
    }
    params = ctx.struct("ek_requantize_params", f"{ctx.prefix}_op{op.index}_params", fields)
    src = ctx.pointer(op.inputs[0], True, ctx.ctype(op.inputs[0]))
    dst = ctx.pointer(op.outputs[0], ctype="void")
    ctx.calls.append(ctx.call(op, f"&{params}", src, dst))


def batch_matmul_multiplier(lhs_scale: float, rhs_scale: float, output_scale: float):
    """BATCH_MATMUL's Q31 multiplier and shift: TFLite's GetQuantizedConvolutionMultipler
    multiplies the two float32 scales in float32, then divides by the output's in double."""
    product = float(np.float32(lhs_scale) * np.float32(rhs_scale))
    return fixedpoint.quantize_multiplier(product / _f32(output_scale))


def batch_matmul(ctx: Emit, op: Op) -> None:
    """Both operands read through strides: adj_x and adj_y swap an operand's row and column
    strides, a broadcast batch axis has stride 0; a constant operand goes into weights.c."""
    lhs, rhs, out = (ctx.tensor(i) for i in (*op.inputs[:2], op.outputs[0]))
    rank = max(len(lhs.shape), len(rhs.shape))

    def batch_strides(t: Tensor) -> list[int]:
        shape = (1,) * (rank - len(t.shape)) + tuple(t.shape)
        batch, matrix = shape[:-2], shape[-2] * shape[-1]
        strides = [0 if n == 1 else math.prod(batch[d + 1 :]) * matrix for d, n in enumerate(batch)]
        return [0] * (3 - len(strides)) + strides

    (x_rows, x_cols), (w_rows, w_cols) = lhs.shape[-2:], rhs.shape[-2:]
    adj_x, adj_y = op.options.get("adj_x", False), op.options.get("adj_y", False)
    rows, depth = (x_cols, x_rows) if adj_x else (x_rows, x_cols)
    cols = w_rows if adj_y else w_cols
    (s_x, z_x), (s_w, z_w), (s_out, z_out) = map(scale_and_zero, (lhs, rhs, out))
    multiplier, shift = batch_matmul_multiplier(s_x, s_w, s_out)
    fields = {
        "batches": [1] * (5 - len(out.shape)) + list(out.shape[:-2]),
        "lhs_batch_strides": batch_strides(lhs),
        "rhs_batch_strides": batch_strides(rhs),
        "rows": rows,
        "cols": cols,
        "depth": depth,
        "lhs_row_stride": 1 if adj_x else x_cols,
        "lhs_depth_stride": x_cols if adj_x else 1,
        "rhs_depth_stride": 1 if adj_y else w_cols,
        "rhs_col_stride": w_cols if adj_y else 1,
        "lhs_offset": -z_x,
        "rhs_offset": -z_w,
        "multiplier": multiplier,
        "shift": shift,
        "output_offset": z_out,
    }
    params = ctx.struct("ek_batch_matmul_params", f"{ctx.prefix}_op{op.index}_params", fields)
    operands = (ctx.operand(op, 0), ctx.operand(op, 1))
    ctx.calls.append(ctx.call(op, f"&{params}", *operands, ctx.pointer(op.outputs[0])))
