"""Quality signals you can trust: full precision, typed segments, equalised odds (checked
against scikit-learn and fairlearn)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fairlearn import metrics as flm
from sklearn import metrics as skm

from vigil.quality import classification_metrics, fairness_metrics, regression_metrics


def test_metrics_carry_full_precision() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    pred = y + rng.normal(0, 3e-6, 200)
    m = regression_metrics(y, pred)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-12)
    assert m["mae"] < 1e-5  # 2.4e-6 used to read 2e-06
    labels = rng.integers(0, 2, 300)
    proba = np.where(labels == 1, 1 - 1e-9, 1e-9)
    c = classification_metrics(labels, labels, proba)
    assert c["log_loss"] == pytest.approx(skm.log_loss(labels, proba), rel=1e-6)
    assert c["log_loss"] > 0  # 1e-9 used to read 0.0


def test_segments_keep_their_type() -> None:
    segs = [1, "1", True, 1.5, None] * 40
    pred = [1, 0, 1, 0, 1] * 40
    m = fairness_metrics(pred, segs, min_rows=1)
    got = {(type(e["segment"]).__name__, e["segment"]): e["selection_rate"] for e in m["segments"]}
    assert got == {
        ("int", 1): 1.0,
        ("str", "1"): 0.0,
        ("bool", True): 1.0,
        ("float", 1.5): 0.0,
        ("NoneType", None): 1.0,
    }


def test_equalised_odds_and_parity_match_fairlearn() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    seg = rng.choice(["a", "b", "c"], n)
    y_true = rng.integers(0, 2, n)
    bias = np.select([seg == "a", seg == "b"], [0.15, -0.05], 0.0)
    y_pred = (rng.random(n) < np.clip(0.3 + 0.4 * y_true + bias, 0, 1)).astype(int)
    m = fairness_metrics(y_pred.tolist(), seg.tolist(), y_true=y_true.tolist(), min_rows=1)
    eo = m["equalized_odds_difference"]
    assert eo["value"] == pytest.approx(
        flm.equalized_odds_difference(y_true, y_pred, sensitive_features=seg), rel=1e-12
    )
    frame = flm.MetricFrame(
        metrics={"tpr": flm.true_positive_rate, "fpr": flm.false_positive_rate},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=seg,
    )
    spread = frame.difference(method="between_groups")
    assert eo["true_positive_rate_difference"] == pytest.approx(spread["tpr"], rel=1e-12)
    assert eo["false_positive_rate_difference"] == pytest.approx(spread["fpr"], rel=1e-12)
    assert m["demographic_parity_difference"]["value"] == pytest.approx(
        flm.demographic_parity_difference(y_true, y_pred, sensitive_features=seg), rel=1e-12
    )
    assert m["disparate_impact_ratio"]["value"] == pytest.approx(
        flm.demographic_parity_ratio(y_true, y_pred, sensitive_features=seg), rel=1e-12
    )
    for e in m["segments"]:
        mask = seg == e["segment"]
        tn, fp, fn, tp = skm.confusion_matrix(y_true[mask], y_pred[mask]).ravel()
        assert e["false_positive_rate"] == pytest.approx(fp / (fp + tn), rel=1e-12)
        assert e["true_positive_rate"] == pytest.approx(tp / (tp + fn), rel=1e-12)


def test_server_segments_keep_their_type(server_factory) -> None:
    client = server_factory(auth="off")
    schema = {
        "task": "binary_classification",
        "features": [{"name": "tier", "kind": "categorical"}],
    }
    assert client.post("/api/v1/models", json={"name": "m", "schema": schema}).status_code == 201
    now = time.time() - 600
    tiers = [1, "1"] * 50
    records = [
        {"id": f"p{i}", "ts": now + i, "inputs": {"tier": t}, "outputs": int(t == 1)}
        for i, t in enumerate(tiers)
    ]
    assert client.post("/api/v1/models/m/predictions", json={"records": records}).status_code == 200
    labels = [{"prediction_id": f"p{i}", "actual": 1} for i in range(len(tiers))]
    assert client.post("/api/v1/models/m/labels", json={"labels": labels}).status_code in (200, 207)
    q = client.get(
        "/api/v1/models/m/quality",
        params={"start": now - 60, "end": now + 600, "segment": "tier", "min_rows": 1},
    ).json()
    segments = {(type(s["segment"]).__name__, s["segment"]): s["accuracy"] for s in q["segments"]}
    assert segments == {("int", 1): 1.0, ("str", "1"): 0.0}
    assert q["fairness"]["equalized_odds_difference"] is None  # no negative labels
