"""When LiteRT's kernels abort: which op, and what the user can do.

TFLite's reference int8 kernels check some conditions with TFLITE_CHECK, which calls abort()
instead of returning an error; edgekit runs them in a child process (``edgekit.isolated``) and
turns the child's death into one line. The conditions known here are the int8 SOFTMAX's: an
input scale too small for its fixed-point multiplier (checked when the model is loaded), and
exponentials that sum to 512 or more (checked on each input: 512 tied logits are enough).
"""

from __future__ import annotations

import numpy as np

from edgekit.compiler.ir import Graph, Op, read_tflite
from edgekit.compiler.oprules import SOFTMAX_MIN_SCALE
from edgekit.errors import EdgekitError
from edgekit.interpreter import Runner
from edgekit.isolated import ChildDied, Isolated

# The sum of exponentials is a Q12.19 number whose reciprocal shifts the output right by
# (bits of the sum above 1) + 23: from 512 on, more than the 31 RoundingDivideByPOT accepts.
SOFTMAX_MAX_SUM = 512
DEGENERATE = (
    "the model is degenerate (activations collapse or tie, as with untrained or zeroed "
    "weights); quantize a trained or well-conditioned model"
)
OPTIMIZED_KERNELS = "LiteRT's builtin int8 kernels"


def explain(
    died: ChildDied, tflite: bytes | None = None, inputs: np.ndarray | None = None
) -> EdgekitError:
    """The one-line error for a child that died running LiteRT; given the model and inputs of
    a reference-kernel run, it names the op that aborted where a known condition does."""
    if died.signal == "SIGKILL":
        return EdgekitError(f"{died}: out of memory? free some, or run fewer builds at once")
    if died.signal != "SIGABRT":
        return EdgekitError(f"{died}: a fault in LiteRT on this model; please report it")
    op = culprit(tflite, inputs) if tflite is not None and inputs is not None else None
    return EdgekitError(f"{died}: {op or 'op not identified'}; {DEGENERATE}")


def culprit(tflite: bytes, inputs: np.ndarray) -> str | None:
    """The first int8 SOFTMAX whose reference kernel aborts on the model or on ``inputs``."""
    graph = read_tflite(tflite)
    softmaxes = [op for op in graph.ops if op.kind == "SOFTMAX" and _int8_input(graph, op)]
    for op in softmaxes:
        scale = _beta_scale(graph, op)
        if scale <= SOFTMAX_MIN_SCALE:
            return (
                f"{_name(graph, op)}: its input scale times beta is {scale:.3g}, not above the "
                "2^-26 TFLite's int8 softmax needs"
            )
    if not softmaxes:
        return None
    try:  # the logits as the optimized kernels (which do not abort there) compute them
        with Isolated(OPTIMIZED_KERNELS, "the diagnosis of an abort") as child:
            child.open("loading the model", Runner, tflite, preserve_all=True)
            _, logits = child.call(
                "running the model", "run", inputs, [op.inputs[0] for op in softmaxes]
            )
    except Exception:  # the diagnosis of an error must not raise one of its own
        return None
    for op, x in zip(softmaxes, logits):
        diff = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
        sums = np.exp(diff * _beta_scale(graph, op)).sum(axis=-1)
        if sums.max() >= SOFTMAX_MAX_SUM:
            worst = np.unravel_index(np.argmax(sums), sums.shape)
            ties = int(np.count_nonzero(diff[worst] == 0))
            return (
                f"{_name(graph, op)}: {ties} of its {x.shape[-1]} logits tie, and TFLite's int8 "
                f"softmax aborts once their exponentials sum to {SOFTMAX_MAX_SUM} (here "
                f"{sums.max():.0f})"
            )
    return None


def _int8_input(graph: Graph, op: Op) -> bool:
    x = graph.tensor(op.inputs[0])
    return x.dtype == "int8" and x.quant is not None


def _beta_scale(graph: Graph, op: Op) -> float:
    return float(op.options.get("beta", 1.0) * graph.tensor(op.inputs[0]).quant.scale[0])


def _name(graph: Graph, op: Op) -> str:
    return f"SOFTMAX (op {op.index}, {graph.layer_name(op)})"
