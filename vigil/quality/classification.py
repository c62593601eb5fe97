"""Classification quality from labels: the numbers scikit-learn gives, computed with numpy.

Every metric here matches scikit-learn's function of the same name for the same inputs
(tests check it): precision, recall and F1 use ``zero_division=0`` and average over the
``classes`` given; ROC AUC and PR AUC (average precision) are computed over distinct
score thresholds exactly as ``roc_curve`` and ``precision_recall_curve`` do; multiclass
ROC AUC is one-vs-rest with a macro average.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.quality._common import as_1d, finite, same_length
from vigil.quality.results import QualityResult


def confusion_matrix(y_true: Any, y_pred: Any, classes: Sequence[Any]) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns.

    Examples:
        >>> confusion_matrix([0, 1, 1], [0, 0, 1], [0, 1]).tolist()
        [[1, 0], [1, 1]]
    """
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    try:
        t = np.fromiter((index[v] for v in y_true), dtype=np.int64)
        p = np.fromiter((index[v] for v in y_pred), dtype=np.int64)
    except KeyError as exc:
        raise InvalidParameterError(
            f"Class {exc.args[0]!r} is not one of the classes {list(classes)!r}."
        ) from None
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _curve(y01: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true and false positives at each distinct threshold, highest first."""
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], y01[order]
    idx = np.r_[np.flatnonzero(np.diff(s)), len(y) - 1]
    tps = np.cumsum(y)[idx]
    return tps, (idx + 1) - tps


def roc_auc(y01: Any, score: Any) -> float | None:
    """Area under the ROC curve of a binary problem; None unless both classes occur.

    Examples:
        >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    y = as_1d(y01, "y_true", numeric=True)
    s = as_1d(score, "score", numeric=True)
    same_length(y_true=y, score=s)
    positives = y.sum()
    if positives == 0 or positives == len(y):
        return None
    tps, fps = _curve(y, s)
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.trapezoid(tpr, fpr))


def average_precision(y01: Any, score: Any) -> float | None:
    """Area under the precision-recall curve (step-wise, as scikit-learn's
    ``average_precision_score``); None without positives.

    Examples:
        >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
        0.8333
    """
    y = as_1d(y01, "y_true", numeric=True)
    s = as_1d(score, "score", numeric=True)
    same_length(y_true=y, score=s)
    if y.sum() == 0:
        return None
    tps, fps = _curve(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def expected_calibration_error(correct: Any, confidence: Any, n_bins: int = 10) -> float:
    """Top-label expected calibration error with ``n_bins`` equal-width bins.

    ``ECE = Σ_b |B_b|/n · |accuracy(B_b) − confidence(B_b)|``; a confidence of exactly 0
    falls in the first bin.

    References:
        Guo, Pleiss, Sun, Weinberger (2017). On calibration of modern neural networks. ICML.

    Examples:
        >>> expected_calibration_error([1, 0, 1, 1], [0.9, 0.8, 0.7, 0.6], n_bins=5)
        0.25
    """
    c = as_1d(correct, "correct", numeric=True)
    p = as_1d(confidence, "confidence", numeric=True)
    n = same_length(correct=c, confidence=p)
    bins = np.clip(np.ceil(p * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    acc = np.bincount(bins, weights=c, minlength=n_bins)
    conf = np.bincount(bins, weights=p, minlength=n_bins)
    return float(np.abs(acc - conf).sum() / n)


def _prf(cm: np.ndarray) -> dict[str, float]:
    tp = np.diag(cm).astype(np.float64)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    weights = actual / actual.sum()
    micro = tp.sum() / cm.sum()
    out: dict[str, float] = {}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"{name}_macro"] = float(values.mean())
        out[f"{name}_weighted"] = float((values * weights).sum())
        out[f"{name}_micro"] = float(micro)
    out["_per_class"] = {"precision": precision, "recall": recall, "f1": f1}  # type: ignore[assignment]
    return out


def _proba_matrix(proba: Any, k: int, n: int) -> np.ndarray:
    arr = np.asarray(proba, dtype=np.float64)
    if arr.ndim == 1 and k == 2:
        arr = np.column_stack([1.0 - arr, arr])
    if arr.shape != (n, k):
        raise InvalidParameterError(
            f"'proba' must have one row per prediction and one column per class ({n}, {k}) "
            f"(or, for two classes, the positive class's probability). Got shape {arr.shape}."
        )
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise InvalidParameterError("'proba' must hold probabilities in [0, 1].")
    return arr


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    *,
    classes: Sequence[Any] | None = None,
    n_bins: int = 10,
) -> dict[str, Any]:
    """Accuracy, precision/recall/F1 (macro, micro, weighted), and with ``proba`` ROC AUC,
    PR AUC, log loss, Brier score and expected calibration error; the confusion matrix.

    Args:
        y_true: true classes.
        y_pred: predicted classes.
        proba: class probabilities, shape ``(n, len(classes))`` with columns in the order
            of ``classes``; for two classes a 1-D array of the second class's probability.
        classes: every class, in order (default: the sorted classes seen). With two
            classes the second is the positive one (its precision, recall and F1 are
            reported as ``precision``, ``recall``, ``f1``).
        n_bins: bins of the calibration error.

    Returns:
        A dict of metrics; a metric that cannot be computed on these rows (ROC AUC with
        one class present) is None.

    Examples:
        >>> m = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], [0.2, 0.9, 0.4, 0.3])
        >>> m["accuracy"], round(m["f1"], 4), m["roc_auc"]
        (0.75, 0.6667, 1.0)
    """
    t = as_1d(y_true, "y_true")
    p = as_1d(y_pred, "y_pred")
    n = same_length(y_true=t, y_pred=p, proba=None if proba is None else np.asarray(proba))
    if classes is None:
        try:
            classes = np.unique(np.concatenate([t, p])).tolist()
        except TypeError:
            raise InvalidParameterError(
                "The classes mix types that cannot be ordered; pass 'classes'."
            ) from None
    classes = list(classes)
    k = len(classes)
    cm = confusion_matrix(t.tolist(), p.tolist(), classes)
    prf = _prf(cm)
    per_class = prf.pop("_per_class")
    out: dict[str, Any] = {"n": n, "accuracy": finite(np.trace(cm) / n)}
    out.update({key: finite(v) for key, v in prf.items()})
    if k == 2:
        for name in ("precision", "recall", "f1"):
            out[name] = finite(per_class[name][1])  # type: ignore[index]
    out.update(roc_auc=None, pr_auc=None, log_loss=None, brier=None, ece=None)
    if proba is not None:
        out.update(
            _proba_metrics(t.tolist(), p.tolist(), _proba_matrix(proba, k, n), classes, n_bins)
        )
    out["confusion_matrix"] = {"classes": classes, "matrix": cm.tolist()}
    return QualityResult(out, title="Classification metrics")


def _proba_metrics(
    t: list[Any], p: list[Any], proba: np.ndarray, classes: list[Any], n_bins: int
) -> dict[str, float | None]:
    index = {c: i for i, c in enumerate(classes)}
    ti = np.fromiter((index[v] for v in t), dtype=np.int64)
    pi = np.fromiter((index[v] for v in p), dtype=np.int64)
    n, k = proba.shape
    onehot = np.zeros((n, k))
    onehot[np.arange(n), ti] = 1.0
    eps = np.finfo(np.float64).eps
    log_loss = float(-np.log(np.clip(proba[np.arange(n), ti], eps, 1 - eps)).mean())
    if k == 2:
        auc = roc_auc(onehot[:, 1], proba[:, 1])
        ap = average_precision(onehot[:, 1], proba[:, 1])
        brier = float(((proba[:, 1] - onehot[:, 1]) ** 2).mean())
    else:
        aucs = [roc_auc(onehot[:, j], proba[:, j]) for j in range(k)]
        aps = [average_precision(onehot[:, j], proba[:, j]) for j in range(k)]
        aucs_ok = [a for a in aucs if a is not None]
        aps_ok = [a for a in aps if a is not None]
        auc = float(np.mean(aucs_ok)) if aucs_ok else None
        ap = float(np.mean(aps_ok)) if aps_ok else None
        brier = float(((proba - onehot) ** 2).sum(axis=1).mean())
    ece = expected_calibration_error((pi == ti).astype(np.float64), proba[np.arange(n), pi], n_bins)
    return {
        "roc_auc": finite(auc),
        "pr_auc": finite(ap),
        "log_loss": finite(log_loss),
        "brier": finite(brier),
        "ece": finite(ece),
    }
