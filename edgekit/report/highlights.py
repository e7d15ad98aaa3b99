"""Which figures stand out: the measured, worst and costliest layers, the confusion matrices.

Shared by the text sections and the plots, so both always pick the same layers.
"""

from __future__ import annotations

import math
import statistics

WORST_LAYERS = 10
COSTLIEST_LAYERS = 10


def measured_layers(layers: list[dict]) -> list[tuple[int, dict, float]]:
    """(network position, layer, SQNR) for the layers whose SQNR was measured."""
    return [
        (i, layer, layer["sqnr_db"])
        for i, layer in enumerate(layers)
        if layer["sqnr_db"] is not None
    ]


def median_sqnr(layers: list[dict]) -> float | None:
    finite = [v for _, _, v in measured_layers(layers) if math.isfinite(v)]
    return statistics.median(finite) if finite else None


def worst_layers(layers: list[dict]) -> list[tuple[int, dict, float]]:
    return sorted(measured_layers(layers), key=lambda item: item[2])[:WORST_LAYERS]


def costliest_layers(layers: list[tuple[int, str, float | None]]) -> list[tuple[int, str, float]]:
    measured = [(i, name, n) for i, name, n in layers if n is not None]
    return sorted(measured, key=lambda item: -item[2])[:COSTLIEST_LAYERS]


def confusion_matrices(report: dict) -> list[tuple[str, list[list[int]]]]:
    """(float or int8, matrix) for each confusion matrix that was measured."""
    matrices = report["accuracy"]["confusion_matrix"]
    return [(kind, matrices[kind]) for kind in ("float", "int8") if matrices[kind]]
