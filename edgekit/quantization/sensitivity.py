"""The per-layer sensitivity pass of ``--precision mixed``: which layers to keep in 16x8.

On the calibration samples, every layer's output is compared with the float model's same tensor
in the int8 model and in the 16x8 model (SQNR); their difference is what the layer's output
loses in 8 bits. Errors carry downstream, so a layer is credited only with the loss it adds to
that of its inputs. A tensor is int16 in a mixed model only between two 16x8 layers (ai-edge-
quantizer requantizes it to int8 for an int8 reader, and the detail is lost again), and a detail
int8 rounds away in a tensor shows as loss in the layer that reads it, so taking a layer takes
its neighbours too: the layers that write its inputs and those that read its output. Layers are
taken greedily by added loss per added cost (a doubled output in the arena, MACs in 16x8 kernels
as the proxy for instructions), and the shortest prefix of that order whose top-1 drop, measured
in LiteRT's BUILTIN_REF, is within ``max_drop`` is found by bisection: a handful of model runs,
not one per layer.

``max_drop`` is in percentage points of top-1, as ``--max-drop`` reads everywhere in edgekit:
``0.1`` allows a drop from 91.0 % to 90.9 %, not to 81 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from edgekit.quantization.tflite_ptq import Calibrated

SQNR_SAMPLES = 64  # enough for stable per-layer SQNRs, a few seconds in BUILTIN_REF
_FLOOR = 1e-30
_QUANTIZED_INPUT = "_quantized"  # ai-edge-quantizer's name for a float input once quantized


@dataclass(frozen=True)
class LayerLoss:
    """One layer's SQNR against float in int8 and in 16x8 (dB), the loss it adds in int8 over
    its inputs' (dB), and its cost in 16x8."""

    name: str
    kind: str
    sqnr_int8_db: float
    sqnr_int16x8_db: float
    added_loss_db: float
    extra_arena_bytes: int  # its output at int16 instead of int8
    macs: int

    @property
    def loss_db(self) -> float:
        return self.sqnr_int16x8_db - self.sqnr_int8_db

    def reason(self) -> str:
        return (
            f"{self.kind}: SQNR {self.sqnr_int8_db:.1f} dB in int8, {self.sqnr_int16x8_db:.1f} dB "
            f"in 16x8 ({self.added_loss_db:+.1f} dB over its inputs' loss in int8); costs "
            f"{self.extra_arena_bytes} B more arena and {self.macs} MACs in 16x8"
        )


@dataclass(frozen=True)
class Score:
    """A quantized model on the evaluation samples: top-1 (%, against the labels, or against
    the float model's predictions where there are none), its drop from float (points), and the
    SQNR of its logits against float's (dB)."""

    top1: float
    drop_points: float
    logits_sqnr_db: float


@dataclass(frozen=True)
class MixedPlan:
    """The layers kept in 16x8 (each with its reason) and the three precisions side by side."""

    sixteen_bit: tuple[LayerLoss, ...]
    layers: tuple[LayerLoss, ...]
    float_top1: float
    int8: Score
    int16x8: Score
    mixed: Score
    max_drop: float
    model: bytes = field(repr=False)  # the mixed .tflite
    int8_model: bytes = field(repr=False)  # the two it is compared with, same calibration
    int16x8_model: bytes = field(repr=False)

    @property
    def met(self) -> bool:
        return self.mixed.drop_points <= self.max_drop

    @property
    def missed_by(self) -> float:
        """Points of top-1 beyond ``max_drop`` (0 when met)."""
        return max(0.0, self.mixed.drop_points - self.max_drop)

    def as_dict(self) -> dict:
        """The plan for report.json: the three precisions and each 16x8 layer with its reason."""
        return {
            "max_drop": self.max_drop,
            "met": self.met,
            "missed_by_points": self.missed_by,
            "float_top1": self.float_top1,
            **{p: asdict(getattr(self, p)) for p in ("int8", "int16x8", "mixed")},
            "layers": len(self.layers),
            "sixteen_bit": [asdict(loss) | {"reason": loss.reason()} for loss in self.sixteen_bit],
        }

    def summary(self) -> str:
        if self.met:
            return (
                f"{len(self.sixteen_bit)} of {len(self.layers)} layers in 16x8: top-1 drop "
                f"{self.mixed.drop_points:.2f} points, within {self.max_drop:g}"
            )
        return (
            f"even with every layer in 16x8 the top-1 drop is {self.mixed.drop_points:.2f} "
            f"points, {self.missed_by:.2f} more than {self.max_drop:g}"
        )


def plan_mixed(
    float_tflite: bytes,
    samples: Sequence[np.ndarray],
    labels: np.ndarray | None = None,
    max_drop: float = 1.0,
    evaluation: Sequence[np.ndarray] | None = None,
    float_io: bool = True,
) -> MixedPlan:
    """The cheapest set of 16x8 layers found whose top-1 drop is within ``max_drop`` points.

    ``samples``: calibration data, one float array per input (N, *shape); ``evaluation`` (the
    calibration samples by default) with ``labels`` (optional, one per evaluation sample) is
    what the drop is measured on. The plan's models read and write float32 unless not
    ``float_io`` (then integer I/O, as the TFLite converter's int8 models); the models scored
    are the ones returned.
    """
    calibrated = Calibrated(float_tflite, samples)
    evaluation = samples if evaluation is None else evaluation
    int8, int16 = calibrated.quantize("int8"), calibrated.quantize("int16x8")
    losses = layer_losses(calibrated, int8, int16, [x[:SQNR_SAMPLES] for x in samples])
    if not float_io:  # the per-layer SQNRs above read float-I/O models; these are deployed
        int8 = calibrated.quantize("int8", float_io=False)
        int16 = calibrated.quantize("int16x8", float_io=False)
    judge = Judge(calibrated.float_tflite, evaluation, labels)
    s8, s16 = judge.score(int8), judge.score(int16)

    def plan(chosen: Sequence[str], model: bytes, score: Score) -> MixedPlan:
        kept = tuple(loss for loss in losses if loss.name in set(chosen))
        return MixedPlan(
            kept, tuple(losses), judge.float_top1, s8, s16, score, max_drop, model, int8, int16
        )

    if s8.drop_points <= max_drop:
        return plan((), int8, s8)
    everything = [loss.name for loss in losses]
    steps = [s for s in greedy_order(calibrated, losses) if len(s) < len(everything)]
    steps.append(everything)
    tried = {len(steps) - 1: (int16, s16)}
    if s16.drop_points > max_drop:
        return plan(everything, int16, s16)
    low, high = -1, len(steps) - 1  # steps[low] fails (int8), steps[high] meets
    while high - low > 1:
        mid = (low + high) // 2
        model = calibrated.quantize("int8", steps[mid], float_io)
        tried[mid] = (model, judge.score(model))
        if tried[mid][1].drop_points <= max_drop:
            high = mid
        else:
            low = mid
    return plan(steps[high], *tried[high])


# ---------------------------------------------------------------- per-layer SQNR


def layer_losses(
    calibrated: Calibrated, int8: bytes, int16: bytes, samples: Sequence[np.ndarray]
) -> list[LayerLoss]:
    """Each layer's SQNR against float in the int8 and the 16x8 model, over ``samples``."""
    from edgekit.compiler.ir import read_tflite

    graph = read_tflite(calibrated.float_tflite)
    names = [t.name for t in graph.tensors]
    activations = {t.name for t in graph.tensors if t.data is None}  # not weights, not biases
    signal, noise8, noise16 = _noise(calibrated.float_tflite, int8, int16, samples, activations)
    loss = {n: _db(signal[n], noise16[n]) - _db(signal[n], noise8[n]) for n in signal}
    found = []
    for op in graph.ops:
        name = names[op.outputs[0]] if op.outputs else None
        layer = calibrated.layers.get(name)
        if layer is None or name not in signal:
            continue
        upstream = [loss[names[t]] for t in op.inputs if t >= 0 and names[t] in loss]
        found.append(
            LayerLoss(
                name,
                layer.kind,
                _db(signal[name], noise8[name]),
                _db(signal[name], noise16[name]),
                loss[name] - max(upstream, default=0.0),
                layer.output_bytes,
                layer.macs,
            )
        )
    return found


def _noise(float_tflite, int8, int16, samples, names):
    """Per tensor name: the float signal's energy and each quantized model's error energy."""
    from edgekit.interpreter import interpreter

    runs = [
        _Tensors(interpreter(float_tflite, preserve_all=True), names),
        _Tensors(interpreter(int8, reference=True, preserve_all=True), names),
        _Tensors(interpreter(int16, reference=True, preserve_all=True), names),
    ]
    shared = set(runs[0].index) & set(runs[1].index) & set(runs[2].index)
    signal = dict.fromkeys(shared, 0.0)
    noise8, noise16 = dict(signal), dict(signal)
    for i in range(len(samples[0])):
        ref, q8, q16 = (run.values([x[i] for x in samples], shared) for run in runs)
        for n in shared:
            signal[n] += float(np.sum(ref[n] ** 2))
            noise8[n] += float(np.sum((ref[n] - q8[n]) ** 2))
            noise16[n] += float(np.sum((ref[n] - q16[n]) ** 2))
    return signal, noise8, noise16


class _Tensors:
    """A model's activation tensors by name, as real numbers, after one invocation."""

    def __init__(self, interp, names: set[str]) -> None:
        self.interp = interp
        self.inputs = interp.get_input_details()
        self.index, self.grid = {}, {}
        for t in interp.get_tensor_details():
            name, (scale, zero) = t["name"], t["quantization"]
            if name.endswith(_QUANTIZED_INPUT) and name[: -len(_QUANTIZED_INPUT)] in names:
                name = name[: -len(_QUANTIZED_INPUT)]  # a float input, as the model quantized it
            elif name in self.index:
                continue
            if name not in names or t["dtype"] not in (np.float32, np.int8, np.int16):
                continue
            if t["dtype"] != np.float32 and scale == 0:
                continue
            self.index[name] = t["index"]
            self.grid[name] = (scale, zero) if t["dtype"] != np.float32 else None

    def values(self, sample: list[np.ndarray], wanted) -> dict[str, np.ndarray]:
        for x, detail in zip(sample, self.inputs):
            self.interp.set_tensor(detail["index"], _as_input(x, detail))
        self.interp.invoke()
        out = {}
        for n in wanted:
            v = self.interp.get_tensor(self.index[n]).astype(np.float64)
            grid = self.grid[n]
            out[n] = v if grid is None else (v - grid[1]) * grid[0]
        return out


def _as_input(x: np.ndarray, detail: dict) -> np.ndarray:
    shape, dtype = detail["shape"], np.dtype(detail["dtype"])
    x = np.asarray(x, np.float32).reshape(shape)
    if dtype == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)


def _db(signal: float, noise: float) -> float:
    return float(10 * np.log10(max(signal, _FLOOR) / max(noise, _FLOOR)))


# ---------------------------------------------------------------- choosing


def greedy_order(calibrated: Calibrated, losses: list[LayerLoss]) -> list[list[str]]:
    """Growing sets of 16x8 layers, each step taking the layer with the most added loss per
    added cost, with its neighbours: the layers that write its inputs and read its output, so
    that the tensors on both sides of it are int16 (a detail int8 rounds away in a tensor shows
    as loss in the layer that reads it; SQNR, weighted by energy, misses it in the tensor)."""
    from edgekit.compiler.ir import read_tflite

    graph = read_tflite(calibrated.float_tflite)
    by_name = {loss.name: loss for loss in losses}
    neighbours = {}
    for op in graph.ops:
        if not op.outputs or graph.tensor(op.outputs[0]).name not in by_name:
            continue
        writers = [graph.producer(t) for t in op.inputs if t >= 0]
        readers = graph.consumers(op.outputs[0])
        names = [graph.tensor(o.outputs[0]).name for o in (*writers, op, *readers) if o]
        neighbours[graph.tensor(op.outputs[0]).name] = [n for n in names if n in by_name]
    total_bytes = sum(loss.extra_arena_bytes for loss in losses) or 1
    total_macs = sum(loss.macs for loss in losses) or 1

    def cost(names) -> float:
        return sum(
            by_name[n].extra_arena_bytes / total_bytes + by_name[n].macs / total_macs for n in names
        )

    chosen: dict[str, None] = {}
    steps = []
    left = [loss for loss in losses if loss.added_loss_db > 0]
    while left:
        gains = [
            loss.added_loss_db / (cost(n for n in neighbours[loss.name] if n not in chosen) + 1e-6)
            for loss in left
        ]
        best = left.pop(int(np.argmax(gains)))
        grown = len(chosen)
        chosen.update(dict.fromkeys(neighbours[best.name]))
        if len(chosen) > grown:
            steps.append(list(chosen))
    return steps


# ---------------------------------------------------------------- scoring


class Judge:
    """Scores quantized models against the float model on the evaluation samples, in LiteRT's
    BUILTIN_REF (the kernels edgekit's C reproduces)."""

    def __init__(self, float_tflite: bytes, samples: Sequence[np.ndarray], labels) -> None:
        from edgekit.compiler.ir import read_tflite

        self.samples = samples
        graph = read_tflite(float_tflite)
        self.logits = _logits_name(graph)
        self.float_logits, predictions = self._run(float_tflite, reference=False)
        self.truth = predictions if labels is None else np.asarray(labels)[: len(predictions)]
        self.float_top1 = _top1(predictions, self.truth)

    def score(self, model: bytes) -> Score:
        logits, predictions = self._run(model, reference=True)
        top1 = _top1(predictions, self.truth)
        noise = float(np.sum((logits - self.float_logits) ** 2))
        return Score(top1, self.float_top1 - top1, _db(float(np.sum(self.float_logits**2)), noise))

    def _run(self, model: bytes, reference: bool) -> tuple[np.ndarray, np.ndarray]:
        from edgekit.interpreter import interpreter

        run = _Tensors(interpreter(model, reference=reference, preserve_all=True), {self.logits})
        outputs = run.interp.get_output_details()
        logits, predictions = [], []
        for i in range(len(self.samples[0])):
            logits.append(run.values([x[i] for x in self.samples], [self.logits])[self.logits])
            out = run.interp.get_tensor(outputs[0]["index"]).reshape(-1)
            predictions.append(int(np.argmax(out)))
        return np.stack(logits).reshape(len(logits), -1), np.array(predictions)


def _logits_name(graph) -> str:
    """The pre-softmax logits: the input of a final SOFTMAX, else the first output."""
    out = graph.outputs[0]
    producer = graph.producer(out)
    if producer is not None and producer.kind == "SOFTMAX":
        out = producer.inputs[0]
    return graph.tensor(out).name


def _top1(predictions: np.ndarray, truth: np.ndarray) -> float:
    return float(100.0 * np.mean(predictions == truth))
