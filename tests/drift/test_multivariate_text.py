"""Multivariate (classifier, MMD, PCA), text and embedding drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vigil.drift import detect_drift
from vigil.drift.multivariate import auc_test, classifier_drift, mmd_drift, pca_drift
from vigil.drift.text import describe, embedding_drift, text_drift


def test_auc_test_matches_roc_auc_and_mann_whitney() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.3, 1, 200)
    auc, p, lower = auc_test(a, b)
    y = np.r_[np.zeros(300), np.ones(200)]
    assert auc == pytest.approx(roc_auc_score(y, np.r_[a, b]), rel=1e-12)
    assert p == pytest.approx(stats.mannwhitneyu(b, a, alternative="greater").pvalue, rel=1e-12)
    assert lower < auc


@pytest.mark.parametrize("fn", [classifier_drift, mmd_drift, pca_drift])
def test_multivariate_tests_stay_quiet_without_drift(fn) -> None:  # type: ignore[no-untyped-def]
    alarms = 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        cov = [[1, 0.8, 0], [0.8, 1, 0], [0, 0, 1]]
        r = fn(
            rng.multivariate_normal([0, 0, 0], cov, 800),
            rng.multivariate_normal([0, 0, 0], cov, 800),
            random_state=seed,
        )
        alarms += r.drifted
        assert r.p_value is not None and 0 <= r.p_value <= 1
    assert alarms <= 1


@pytest.mark.parametrize("fn", [classifier_drift, mmd_drift, pca_drift])
def test_multivariate_tests_catch_a_broken_correlation(fn) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    ref = rng.multivariate_normal([0, 0], [[1, 0.95], [0.95, 1]], 1500)
    cur = rng.multivariate_normal([0, 0], [[1, -0.95], [-0.95, 1]], 1500)
    r = fn(ref, cur)
    assert r.drifted, r.reason


def test_multivariate_tests_refuse_tiny_samples() -> None:
    tiny = np.zeros((3, 2))
    for fn in (classifier_drift, mmd_drift, pca_drift):
        r = fn(tiny, tiny)
        assert r.statistic is None and not r.drifted and "Not tested" in r.reason
    r = classifier_drift(tiny, np.zeros((40, 2)), columns=["a", "b"])
    assert r.reason == "Needs at least 20 rows on each side; got 3 and 40. Not tested."
    assert (r.threshold, r.details) == (0.05, {"columns": ["a", "b"]})


def test_descriptors() -> None:
    d = describe(["abc def", "!!!", ""], frozenset({"abc"}))
    assert d["length"].tolist() == [7, 3, 0]
    assert d["words"].tolist() == [2, 0, 0]
    assert d["oov_rate"][0] == 0.5 and np.isnan(d["oov_rate"][1])
    assert d["non_letter_share"].tolist() == [0, 1, 0]


def _reviews(seed: int, n: int, slang: bool) -> list[str]:
    rng = np.random.default_rng(seed)
    words = ["good", "bad", "service", "food", "price", "staff", "quick", "slow"]
    extra = ["lit", "mid", "bussin"] if slang else ["decent", "fine", "okay"]
    return [" ".join([*rng.choice(words, 6).tolist(), str(rng.choice(extra))]) for _ in range(n)]


def test_text_drift_names_terms_that_appeared_and_vanished() -> None:
    result, details = text_drift(_reviews(0, 600, False), _reviews(1, 600, True))
    assert result.drifted
    assert set(details["appeared"][:3]) == {"lit", "mid", "bussin"}
    assert set(details["vanished"][:3]) == {"decent", "fine", "okay"}
    assert set(details["new_terms"]) == {"lit", "mid", "bussin"}
    assert details["descriptors"]["oov_rate"]["drifted"]


def test_text_drift_is_quiet_on_the_same_distribution() -> None:
    result, details = text_drift(_reviews(0, 600, False), _reviews(1, 600, False))
    assert not result.drifted, result.reason
    assert not details["descriptors"]["oov_rate"]["drifted"]


def test_embedding_drift_classifier_and_mmd() -> None:
    rng = np.random.default_rng(0)
    ref, same = rng.normal(size=(500, 16)), rng.normal(size=(500, 16))
    moved = rng.normal(size=(500, 16)) + np.r_[0.4, np.zeros(15)]
    for method in ("classifier", "mmd"):
        assert not embedding_drift(ref, same, method=method).drifted
        r = embedding_drift(ref, moved, method=method)
        assert r.drifted, r.reason
        assert r.method == f"embedding_{method}" and r.details["dim"] == 16


def test_detect_drift_on_text_and_embedding_columns() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"review": _reviews(0, 400, False), "vec": list(rng.normal(size=(400, 8)))})
    cur = pd.DataFrame(
        {"review": _reviews(1, 400, True), "vec": list(rng.normal(size=(400, 8)) + 0.5)}
    )
    cur.loc[0, "vec"] = None
    r = detect_drift(ref, cur, multivariate=None)
    assert r["review"].kind == "text" and r["review"].method == "tfidf_classifier"
    assert r["vec"].kind == "embedding" and r["vec"].method == "embedding_classifier"
    assert r.drifted_columns == ["review", "vec"]
    assert "lit" in r["review"].details["appeared"]
    assert "1 current vectors were missing" in r["vec"].reason
