"""Anomalies: false alarms on clean seasonal series, recall on injected spikes, level
shifts and slow drifts, the MAD scale against scipy, and the ``anomaly`` rule kind."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy.stats import median_abs_deviation

from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.insight.anomaly import flagged, robust_scale, score_last
from vigil.store.alerts.queries import AlertStore

WEEK, TRAIN, TEST = 168, 4 * 168, 72
ONSET = TRAIN + 24


def synthetic(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(TRAIN + TEST)
    return (
        20
        + rng.uniform(-0.005, 0.01) * t
        + rng.uniform(2, 5) * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6.28))
        + rng.uniform(1, 3) * np.sin(2 * np.pi * t / WEEK + rng.uniform(0, 6.28))
        + rng.normal(0, 1, len(t))
    )


def flags(y: np.ndarray, threshold: float = 4.0) -> np.ndarray:
    return np.array(
        [
            flagged(s["score"], "!=", threshold)
            for s in (score_last(y[: t + 1], step=3600.0) for t in range(TRAIN, len(y)))
        ]
    )


def test_robust_scale_is_scipys_normal_mad():
    r = np.random.default_rng(3).standard_t(3, 500)
    assert robust_scale(r) == pytest.approx(median_abs_deviation(r, scale="normal"), rel=1e-4)


def test_false_alarms_and_recall_on_injected_anomalies():
    seeds = range(6)
    clean = [flags(synthetic(s)).mean() for s in seeds]
    found = {"spike": 0, "level_shift": 0, "slow_drift": 0}
    at = ONSET - TRAIN
    for s in seeds:
        y = synthetic(s)
        spike = y.copy()
        spike[ONSET] += 8.0
        found["spike"] += bool(flags(spike)[at])
        shift = y.copy()
        shift[ONSET:] += 3.0
        found["level_shift"] += bool(flags(shift)[at : at + 24].any())
        drift = y.copy()
        drift[ONSET:] += 0.1 * np.arange(1, len(y) - ONSET + 1)
        found["slow_drift"] += bool(flags(drift)[at : at + 48].any())
    print(f"\nfalse alarms per clean hour: {np.mean(clean):.4f}; found of 6: {found}")
    assert np.mean(clean) <= 0.01
    assert all(n >= 5 for n in found.values()), found


def test_direction_of_the_rule():
    assert flagged(5.0, ">", 4) and not flagged(-5.0, ">", 4)
    assert flagged(-5.0, "<", 4) and not flagged(5.0, "<", 4)
    assert flagged(-5.0, "!=", 4) and flagged(5.0, "!=", 4) and not flagged(3.0, "!=", 4)


def _traffic(store, spike: bool) -> None:
    ingestor = Ingestor(store)
    ingestor.register_model({"name": "churn", "schema": {"task": "binary_classification"}})
    rng = np.random.default_rng(11)
    end = math.floor(time.time() / 3600) * 3600
    hours = 15 * 24
    for h in range(hours):
        n = int(20 + 8 * math.sin(2 * math.pi * h / 24) + rng.normal(0, 1.5))
        if spike and h == hours - 1:
            n += 40
        ts = end - (hours - h) * 3600 + 30
        recs = [
            {"id": f"p{h}-{i}", "version": "1", "ts": ts + i, "inputs": {}, "outputs": 1}
            for i in range(n)
        ]
        ingestor.ingest_predictions("churn", recs)


@pytest.mark.parametrize("spike", [True, False])
def test_anomaly_rule_fires_on_a_spike_only(store, spike):
    _traffic(store, spike)
    rule = Rule.from_dict(
        {
            "name": "odd-traffic",
            "model": "churn",
            "kind": "anomaly",
            "metric": "count",
            "op": ">",
            "threshold": 4,
            "window": "1h",
            "history": "15d",
        }
    )
    assert rule.to_dict()["history"] == "2w1d"
    alerts = AlertStore(store)
    alerts.put_rule(rule.to_dict())
    notes = AlertEngine(store).evaluate()
    if not spike:
        assert notes == []
        return
    assert [n.status for n in notes] == ["firing"]
    assert notes[0].value > 4
    details = next(
        e for e in alerts.get_alert(notes[0].alert_id)["history"] if e["kind"] == "firing"
    )["details"]
    scored = details["anomaly"]
    assert scored["kind"] == "point" and scored["value"] >= scored["expected"] + 30
    assert "where" in notes[0].annotations["insight"]


def test_verdicts_are_reused_within_a_window_only(store):
    from vigil.engine.insight.rules import InsightCache, evaluate_insight

    _traffic(store, spike=True)
    rule = Rule.from_dict(
        {
            "name": "odd",
            "model": "churn",
            "kind": "anomaly",
            "metric": "count",
            "threshold": 4,
            "window": "1h",
            "history": "15d",
        }
    )
    model, cache = store.get_model("churn"), InsightCache()
    now = time.time()
    first = evaluate_insight(store, rule, model, None, now, cache)
    assert first[1] is True
    boundary = math.floor(now / 3600) * 3600
    assert evaluate_insight(store, rule, model, None, boundary + 1, cache) is first
    # the next window is a new question: the spike is no longer the last whole window
    later = evaluate_insight(store, rule, model, None, boundary + 3601, cache)
    assert later is not first and later[1] is False
