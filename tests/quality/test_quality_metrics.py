"""Quality metrics against scikit-learn (and by hand where scikit-learn has none)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from vigil.errors import InvalidParameterError
from vigil.quality import (
    classification_metrics,
    expected_calibration_error,
    fairness_metrics,
    ranking_metrics,
    regression_metrics,
)


def _binary(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.5 * y + rng.uniform(0, 0.6, n) - 0.05, 0, 1).round(2)  # ties on purpose
    return y, (p >= 0.5).astype(int), p


@pytest.mark.parametrize("seed", range(5))
def test_binary_classification_matches_sklearn(seed):
    y, pred, p = _binary(seed)
    m = classification_metrics(y, pred, p)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-6)
    for avg in ("macro", "micro", "weighted"):
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            assert m[f"{name}_{avg}"] == pytest.approx(
                fn(y, pred, average=avg, zero_division=0), abs=1e-6
            ), (name, avg)
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-6)
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-6)
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-6)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-6)
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-6)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, np.column_stack([1 - p, p])), abs=1e-6)
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-6)
    assert m["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, pred).tolist()


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_classification_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, k = 500, 4
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    pred[:20] = 3  # some systematic error
    classes = ["a", "b", "c", "d"]
    ys, ps = [classes[i] for i in y], [classes[i] for i in pred]
    m = classification_metrics(ys, ps, proba, classes=classes)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(ys, ps), abs=1e-6)
    for avg in ("macro", "micro", "weighted"):
        assert m[f"f1_{avg}"] == pytest.approx(
            skm.f1_score(ys, ps, average=avg, labels=classes, zero_division=0), abs=1e-6
        )
        assert m[f"precision_{avg}"] == pytest.approx(
            skm.precision_score(ys, ps, average=avg, labels=classes, zero_division=0), abs=1e-6
        )
        assert m[f"recall_{avg}"] == pytest.approx(
            skm.recall_score(ys, ps, average=avg, labels=classes, zero_division=0), abs=1e-6
        )
    assert m["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=1e-6
    )
    onehot = np.eye(k)[y]
    assert m["pr_auc"] == pytest.approx(
        skm.average_precision_score(onehot, proba, average="macro"), abs=1e-6
    )
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-6)
    assert m["brier"] == pytest.approx(((proba - onehot) ** 2).sum(axis=1).mean(), abs=1e-6)
    assert m["confusion_matrix"]["matrix"] == skm.confusion_matrix(ys, ps, labels=classes).tolist()


def test_expected_calibration_error_by_hand():
    conf = np.array([0.95, 0.9, 0.62, 0.55, 0.3])
    correct = np.array([1, 1, 0, 1, 0])
    # bins of 0.1: (0.9,1]: {0.95} ; (0.8,0.9]: {0.9} ; (0.6,0.7]: {.62} ; (.5,.6]: {.55};
    # (.2,.3]: {.3}
    expected = (abs(1 - 0.95) + abs(1 - 0.9) + abs(0 - 0.62) + abs(1 - 0.55) + abs(0 - 0.3)) / 5
    assert expected_calibration_error(correct, conf) == pytest.approx(expected)
    perfect = expected_calibration_error([1, 1, 0, 0], [1.0, 1.0, 0.0, 0.0])
    assert perfect == 0.0


def test_auc_none_with_one_class_and_bad_shapes_rejected():
    m = classification_metrics([1, 1, 1], [1, 0, 1], [0.9, 0.2, 0.8], classes=[0, 1])
    assert m["roc_auc"] is None and m["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    with pytest.raises(InvalidParameterError, match="proba"):
        classification_metrics([0, 1], [0, 1], [[0.1, 0.2, 0.7]] * 2, classes=[0, 1])
    with pytest.raises(InvalidParameterError, match="same length"):
        classification_metrics([0, 1], [0], None)
    with pytest.raises(InvalidParameterError, match="not one of the classes"):
        classification_metrics([0, 2], [0, 1], classes=[0, 1])


def test_regression_matches_sklearn():
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, 300)
    pred = y + rng.normal(0.5, 1, 300)
    m = regression_metrics(y, pred)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=1e-6)
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y, pred), abs=1e-6)
    assert m["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, pred), abs=1e-6)
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred), abs=1e-6)
    assert m["mean_error"] == pytest.approx(float(np.mean(pred - y)), abs=1e-6)
    const = regression_metrics([2.0, 2.0], [2.0, 2.0])
    assert const["r2"] == skm.r2_score([2.0, 2.0], [2.0, 2.0])
    with pytest.raises(InvalidParameterError, match="non-finite"):
        regression_metrics([1.0, float("nan")], [1.0, 2.0])


def test_ranking_matches_sklearn_ndcg_and_hand_counts():
    rng = np.random.default_rng(5)
    n_q, n_items, k = 40, 12, 5
    relevance = rng.integers(0, 4, (n_q, n_items)) * (rng.uniform(size=(n_q, n_items)) < 0.4)
    scores = rng.permutation(n_q * n_items).reshape(n_q, n_items).astype(float)  # no ties
    ranked = [list(np.argsort(-s)) for s in scores]
    graded = [{j: int(r[j]) for j in range(n_items) if r[j] > 0} for r in relevance]
    m = ranking_metrics(ranked, graded, k=k)
    assert m["ndcg_at_k"] == pytest.approx(skm.ndcg_score(relevance, scores, k=k), abs=1e-6)
    prec, rec, rr, hit = [], [], [], []
    for items, rel in zip(ranked, graded, strict=True):
        hits = [i in rel for i in items[:k]]
        prec.append(sum(hits) / k)
        if rel:
            rec.append(sum(hits) / len(rel))
        first = next((r for r, i in enumerate(items, 1) if i in rel), None)
        rr.append(1 / first if first else 0.0)
        hit.append(any(hits))
    assert m["precision_at_k"] == pytest.approx(np.mean(prec), abs=1e-6)
    assert m["recall_at_k"] == pytest.approx(np.mean(rec), abs=1e-6)
    assert m["mrr"] == pytest.approx(np.mean(rr), abs=1e-6)
    assert m["hit_rate"] == pytest.approx(np.mean(hit), abs=1e-6)
    with pytest.raises(InvalidParameterError, match="'k'"):
        ranking_metrics(ranked, graded, k=0)


def test_fairness_names_segments_and_marks_small_ones():
    pred = [1] * 60 + [0] * 40 + [1] * 20 + [0] * 80 + [1, 1]
    true = [1] * 50 + [0] * 10 + [1] * 10 + [0] * 30 + [1] * 20 + [1] * 20 + [0] * 60 + [1, 0]
    seg = ["a"] * 100 + ["b"] * 100 + ["tiny"] * 2
    m = fairness_metrics(pred, seg, y_true=true, min_rows=30)
    by = {s["segment"]: s for s in m["segments"]}
    assert by["tiny"]["too_few_rows"] and not by["a"]["too_few_rows"]
    assert m["compared"] == ["a", "b"]
    dp = m["demographic_parity_difference"]
    assert dp["value"] == pytest.approx(0.6 - 0.2) and dp["highest"] == "a"
    assert dp["lowest"] == "b"
    assert m["disparate_impact_ratio"]["value"] == pytest.approx(0.2 / 0.6, abs=1e-6)
    # TPR: a = 50/60, b = 20/40
    eo = m["equal_opportunity_difference"]
    assert eo["value"] == pytest.approx(50 / 60 - 20 / 40, abs=1e-6)
    assert (eo["highest"], eo["lowest"]) == ("a", "b")
