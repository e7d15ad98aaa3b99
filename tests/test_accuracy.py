import numpy as np
import pytest

from edgekit.validation.accuracy import SQNR_CAP_DB, Stats, confusion, topk


def test_sqnr_and_cosine_of_known_signals():
    stats = Stats()
    ref = np.ones(100)
    stats.add(ref, ref * 1.1)  # noise power is 1% of the signal's
    assert stats.sqnr_db() == pytest.approx(20.0)
    assert stats.cosine() == pytest.approx(1.0)
    orthogonal = Stats()
    orthogonal.add(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert orthogonal.cosine() == pytest.approx(0.0)
    assert orthogonal.sqnr_db() == pytest.approx(10 * np.log10(1 / 2))


def test_sqnr_edge_cases_are_capped_or_not_measured():
    exact = Stats()
    exact.add(np.arange(5.0), np.arange(5.0))
    assert exact.sqnr_db() == SQNR_CAP_DB
    silent = Stats()
    silent.add(np.zeros(4), np.ones(4))
    assert silent.sqnr_db() is None


def test_sqnr_accumulates_over_samples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 50)), rng.normal(size=(2, 50))
    whole, parts = Stats(), Stats()
    whole.add(a, a + 0.1 * b)
    for i in range(2):
        parts.add(a[i], a[i] + 0.1 * b[i])
    assert parts.sqnr_db() == pytest.approx(whole.sqnr_db())


def test_topk_breaks_ties_towards_the_lower_index():
    outputs = np.array([[5, 5, 1], [0, 2, 2], [9, 0, 0]], dtype=np.int8)
    labels = np.array([1, 1, 0])
    assert topk(outputs, labels, 1) == pytest.approx(2 / 3)
    assert topk(outputs, labels, 2) == 1.0
    assert topk(outputs, labels, 5) is None  # fewer classes than k


def test_confusion_matrix_counts_rows_as_true_labels():
    matrix = confusion(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    assert matrix == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_every_quantized_op_gets_a_layer_sqnr(host_build):
    from edgekit.interpreter import interpreter

    out, report = host_build
    interp = interpreter((out / "model_int8.tflite").read_bytes())
    ops = interp._get_ops_details()
    layers = report["accuracy"]["layers"]
    assert [layer["op"] for layer in layers] == [op["op_name"] for op in ops]
    assert len(layers) == 65  # 52 convolutions, 10 adds, mean, classifier, softmax
    assert all(layer["sqnr_db"] is not None and layer["sqnr_db"] > 5 for layer in layers)
    logits = next(layer for layer in layers if layer["name"] == "logits")
    assert report["accuracy"]["logits_sqnr_db"] == pytest.approx(logits["sqnr_db"])
    # Quantization noise adds up with depth: the stem is cleaner than the classifier.
    assert layers[0]["sqnr_db"] > logits["sqnr_db"]
