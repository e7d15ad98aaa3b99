"""How int8 quantization changed the model: float (Keras) vs int8 (LiteRT) on evaluation data.

Accuracy against labels, top-1 agreement, SQNR and cosine of the logits, and the SQNR of every
int8 tensor (dequantized) against the float tensor it stands for. The int8 side runs LiteRT's
builtin int8 kernels on the host with every intermediate tensor kept, in a child process
(``edgekit.isolated``): where they abort, the stage fails with one line and edgekit carries on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgekit.compiler.ir import Graph, read_tflite
from edgekit.frontend.data import Dataset
from edgekit.interpreter import FloatTflite, Quantization, Runner
from edgekit.isolated import ChildDied, Isolated
from edgekit.signature import Signature, keras_order
from edgekit.validation.aborts import OPTIMIZED_KERNELS, explain
from edgekit.validation.micro import SplitRunner, needs_micro

SQNR_CAP_DB = 200.0  # identical tensors have infinite SQNR; JSON has no infinity
INT8_RUNTIME = "LiteRT builtin int8 kernels, host"


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum sums on this thread; BLAS's ddot starts its threads for every layer's vectors,
    # which costs several times the sum on a busy machine
    return float(np.einsum("i,i->", a, b))


@dataclass
class Stats:
    """Running sums for SQNR and cosine between a reference and a test signal."""

    signal: float = 0.0
    noise: float = 0.0
    dot: float = 0.0
    test: float = 0.0

    def add(self, ref: np.ndarray, test: np.ndarray) -> None:
        ref, test = ref.astype(np.float64).ravel(), test.astype(np.float64).ravel()
        noise = ref - test
        self.signal += _dot(ref, ref)
        self.noise += _dot(noise, noise)
        self.dot += _dot(ref, test)
        self.test += _dot(test, test)

    def sqnr_db(self) -> float | None:
        if self.signal == 0:
            return None
        if self.noise == 0:
            return SQNR_CAP_DB
        return min(SQNR_CAP_DB, 10.0 * math.log10(self.signal / self.noise))

    def cosine(self) -> float | None:
        norm = math.sqrt(self.signal * self.test)
        return self.dot / norm if norm > 0 else None


@dataclass(frozen=True)
class LayerPair:
    """An int8 tensor of the converted graph and the float Keras layer it stands for."""

    name: str
    op: str
    tensor: int
    shape: tuple[int, ...]
    quantization: Quantization


@dataclass
class Comparison:
    """The evaluate stage's runs: each output of the int8 model (dequantized where it is int8)
    and of the float model, one array per output in the int8 model's order."""

    float_outputs: list[np.ndarray] | None
    int8_outputs: list[np.ndarray]
    labels: np.ndarray | None
    ports: tuple = ()  # the int8 model's outputs (``edgekit.signature.Port``)
    logits: Stats | None = None
    outputs: list[Stats] = field(default_factory=list)  # float against int8, per output
    layers: dict[str, Stats] = field(default_factory=dict)
    pairs: list[LayerPair] = field(default_factory=list)


def match_layers(model, graph: Graph) -> list[LayerPair]:
    """Pair each int8 op output with the Keras layer whose output it is.

    The converter names a fused op's output after the float ops it absorbed
    (``model/block_1_expand_relu_1/Relu6;model/block_1_expand_BN_1/...``), so a tensor belongs to
    the latest layer, in network order, that its name mentions; the graph's output belongs to
    the model's output layer. Pairs whose shapes disagree are dropped.
    """
    layers = [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]
    patterns = [
        (layer, re.compile(rf"/{re.escape(layer.name)}(_\d+)?(/|;|:|$)")) for layer in layers
    ]
    found: dict[str, LayerPair] = {}
    for op in graph.ops:
        for index in op.outputs:
            tensor = graph.tensor(index)
            if tensor.dtype not in ("int8", "int16") or tensor.quant is None:
                continue
            if graph.outputs == (index,) and len(model.outputs) == 1:
                layer = layers[-1]
            else:
                hits = [layer for layer, pattern in patterns if pattern.search(tensor.name)]
                if not hits:
                    continue
                layer = hits[-1]
            if tensor.shape[1:] != tuple(layer.output.shape[1:]):
                continue
            scale, zero_point = float(tensor.quant.scale[0]), int(tensor.quant.zero_point[0])
            q = Quantization(scale, zero_point, tensor.dtype)
            found[layer.name] = LayerPair(layer.name, op.kind, index, tensor.shape, q)
    order = {layer.name: i for i, layer in enumerate(layers)}
    return sorted(found.values(), key=lambda pair: order[pair.name])


def logits_layer(graph: Graph, pairs: list[LayerPair]) -> LayerPair | None:
    """The pair holding the pre-softmax logits: the input of a final SOFTMAX op, else the output."""
    if len(graph.outputs) != 1:
        return None
    by_tensor = {pair.tensor: pair for pair in pairs}
    last = graph.ops[-1] if graph.ops else None
    if last is not None and last.kind == "SOFTMAX":
        return by_tensor.get(last.inputs[0])
    return by_tensor.get(graph.outputs[0])


def evaluate_int8(
    float_model,
    tflite: bytes,
    data: Dataset,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> Comparison:
    """Run the float and int8 models over ``data``, accumulating per-layer statistics.

    ``float_model`` may be None (an int8 ``.tflite`` given alone): only int8 outputs are kept.
    """
    signature = Signature.of(tflite)
    graph = read_tflite(tflite)
    keras_model = float_model is not None and not isinstance(float_model, FloatTflite)
    pairs = match_layers(float_model, graph) if keras_model else []
    logits = logits_layer(graph, pairs) if keras_model else None
    probe, order = None, []
    if isinstance(float_model, FloatTflite):  # outputs only, in the quantized model's order
        probe, order = float_model, list(range(len(signature.outputs)))
    elif float_model is not None:
        import keras

        inputs = float_model.inputs
        probe = keras.Model(
            inputs[0] if len(inputs) == 1 else inputs,
            [float_model.get_layer(p.name).output for p in pairs] + list(float_model.outputs),
        )
        order = keras_order(signature.outputs, len(float_model.outputs))
    ports = signature.outputs
    result = Comparison(
        None if probe is None else [[] for _ in ports],
        [[] for _ in ports],
        data.labels,
        ports=ports,
        logits=Stats() if logits else None,
        outputs=[Stats() for _ in ports],
        layers={p.name: Stats() for p in pairs},
        pairs=pairs,
    )
    tensors = [p.tensor for p in pairs]
    try:
        with Isolated(OPTIMIZED_KERNELS, "evaluate") as child:
            # LiteRT cannot run a 16x8 LSTM: TFLite Micro runs it (validation.micro)
            runner = SplitRunner if needs_micro(tflite) else Runner
            child.open("loading the model", runner, tflite, preserve_all=bool(pairs))
            for start in range(0, len(data), batch_size):
                x = [a[start : start + batch_size] for a in data.inputs()]
                # the child runs the int8 model while Keras runs the float one here
                child.submit("running the model", "run", signature.rows(x), tensors)
                # predict_on_batch runs one traced graph for every batch; calling the model
                # eagerly dispatches each layer from Python, which costs more than the small
                # models compute
                floats = None
                if probe is not None:
                    floats = probe.predict_on_batch(x[0] if len(x) == 1 else x)
                    floats = floats if isinstance(floats, list) else [floats]
                raw, kept = child.receive()
                outputs = [real(port, o) for port, o in zip(ports, signature.unpack(raw))]
                for k, o in enumerate(outputs):
                    result.int8_outputs[k].extend(o)
                if floats is not None:
                    _accumulate(result, floats, kept, logits, outputs, order)
                if progress:
                    progress(len(x[0]))
    except ChildDied as died:
        raise explain(died) from None
    result.int8_outputs = [np.stack(o) for o in result.int8_outputs]
    if result.float_outputs is not None:
        result.float_outputs = [np.stack(o) for o in result.float_outputs]
        if logits is None and len(ports) == 1:
            result.logits = result.outputs[0]  # no separate logits tensor: the output's
    return result


def real(port, values: np.ndarray) -> np.ndarray:
    """An output as real numbers: dequantized where the model gives it in int8."""
    if port.quantization is not None and port.dtype in ("int8", "int16"):
        return port.quantization.dequantize(values)
    return values.astype(np.float32)


def _accumulate(
    result: Comparison,
    floats: list,
    kept: list,
    logits: LayerPair | None,
    outputs: list[np.ndarray],
    order: list[int],
) -> None:
    """Add one batch: the float model's layer outputs, then its outputs (last), against the
    int8 tensors of the same layers, dequantized, and the int8 model's outputs."""
    model_outputs = floats[len(result.pairs) :]
    for k, (stats, got) in enumerate(zip(result.outputs, outputs)):
        ref = np.asarray(model_outputs[order[k]]).reshape(got.shape)
        result.float_outputs[k].extend(ref)
        stats.add(ref, got)
    for pair, ref, got in zip(result.pairs, floats, kept):
        for i in range(len(got)):
            test = pair.quantization.dequantize(got[i, 0])
            result.layers[pair.name].add(ref[i], test)
            if pair is logits:
                result.logits.add(ref[i], test)


def topk(outputs: np.ndarray, labels: np.ndarray, k: int) -> float | None:
    """Fraction of rows whose label is among the ``k`` largest outputs (ties: lower index first)."""
    if outputs.shape[1] < k:
        return None
    order = np.argsort(-outputs.astype(np.float64), axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(order == labels[:, None], axis=1)))


def confusion(predicted: np.ndarray, labels: np.ndarray, classes: int) -> list[list[int]]:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix.tolist()


def accuracy_section(result: Comparison, classes: int | None, absent: str | None) -> dict:
    """The ``accuracy`` block of report.json. Top-1 and top-5 need labels and a classifier
    (``classes``); ``absent`` says why they are null. Every output is compared with the float
    model's where there is one."""
    labels = None if classes is None else result.labels
    scores = result.int8_outputs[0] if classes is not None else None
    int8_pred = None if scores is None else np.argmax(scores, axis=1)
    section: dict = {
        "int8_runtime": INT8_RUNTIME,
        "absent": absent,
        "float_top1": None,
        "float_top5": None,
        "int8_top1": None if labels is None else topk(scores, labels, 1),
        "int8_top5": None if labels is None else topk(scores, labels, 5),
        "top1_drop_points": None,
        "top1_agreement": None,
        "logits_sqnr_db": None,
        "logits_cosine": None,
        "outputs": [],
        "layers": [],
        "confusion_matrix": {
            "float": None,
            "int8": None if labels is None else confusion(int8_pred, labels, classes),
        },
    }
    if result.float_outputs is None:
        return section
    section["outputs"] = [
        {
            "name": port.name,
            "shape": list(port.sample_shape),
            "max_abs_diff": float(np.max(np.abs(ref - got))) if ref.size else 0.0,
            "sqnr_db": stats.sqnr_db(),
            "cosine": stats.cosine(),
        }
        for port, ref, got, stats in zip(
            result.ports, result.float_outputs, result.int8_outputs, result.outputs
        )
    ]
    section.update(
        logits_sqnr_db=result.logits.sqnr_db() if result.logits else None,
        logits_cosine=result.logits.cosine() if result.logits else None,
        layers=[
            {
                "name": p.name,
                "op": p.op,
                "shape": list(p.shape),
                "sqnr_db": result.layers[p.name].sqnr_db(),
                "cosine": result.layers[p.name].cosine(),
            }
            for p in result.pairs
        ],
    )
    if classes is None:
        return section
    float_pred = np.argmax(result.float_outputs[0], axis=1)
    section["top1_agreement"] = float(np.mean(float_pred == int8_pred))
    if labels is None:
        return section
    section.update(
        float_top1=topk(result.float_outputs[0], labels, 1),
        float_top5=topk(result.float_outputs[0], labels, 5),
    )
    section["top1_drop_points"] = 100.0 * (section["float_top1"] - section["int8_top1"])
    section["confusion_matrix"]["float"] = confusion(float_pred, labels, classes)
    return section
