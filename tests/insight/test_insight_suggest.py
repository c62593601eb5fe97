"""Suggestions with their numbers: roll back, right-size, network, retrain; dismissal."""

from __future__ import annotations

import math
import time

import numpy as np

from vigil.engine.alerts.rules import Rule
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.insight.suggest import suggestions
from vigil.store.alerts.queries import AlertStore
from vigil.store.resources import queries as rq

DAY = 86400.0


def _model(store, name="churn"):
    ingestor = Ingestor(store)
    ingestor.register_model({"name": name, "schema": {"task": "binary_classification"}})
    return ingestor


def _send(ingestor, version, n, errors, ts, latency=0.02, prefix="p"):
    recs = [
        {
            "id": f"{prefix}{version}-{ts}-{i}",
            "version": version,
            "ts": ts + i * 0.01,
            "latency_s": latency,
            "inputs": {},
            "outputs": 1,
            **({"error": "boom"} if i < errors else {}),
        }
        for i in range(n)
    ]
    assert ingestor.ingest_predictions("churn", recs).accepted == n


def test_rollback_suggested_with_its_numbers_and_dismissible(store, server_factory):
    ingestor = _model(store)
    now = time.time()
    _send(ingestor, "1", 400, 8, now - 3000)
    _send(ingestor, "2", 400, 60, now - 1200, latency=0.05)
    client = server_factory()
    listed = client.get("/api/v1/models/churn/suggestions").json()["suggestions"]
    (rollback,) = [s for s in listed if s["kind"] == "rollback"]
    assert rollback["id"] == "rollback:2"
    ev = rollback["evidence"]
    assert (ev["error_rate"], ev["error_rate_previous"]) == (0.15, 0.02)
    from statsmodels.stats.proportion import proportions_ztest as ztest  # the oracle

    assert math.isclose(ev["p_value"], ztest([60, 8], [400, 400])[1], rel_tol=1e-6)
    assert "15.00%" in rollback["text"] and "50 ms" in rollback["text"]
    r = client.post("/api/v1/models/churn/suggestions/rollback:2/dismiss")
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/models/churn/suggestions").json()["suggestions"] == []
    again = client.get(
        "/api/v1/models/churn/suggestions", params={"include_dismissed": True}
    ).json()["suggestions"]
    assert [(s["id"], s["dismissed"]) for s in again] == [("rollback:2", True)]
    assert any(e["action"] == "suggestion.dismiss" for e in store.audit_entries())
    bad = client.post("/api/v1/models/churn/suggestions/x y/dismiss")
    assert bad.status_code == 400 and "suggestion id" in bad.json()["error"]["message"]


def test_no_rollback_when_the_new_version_is_as_good(store):
    ingestor = _model(store)
    now = time.time()
    _send(ingestor, "1", 300, 6, now - 3000)
    _send(ingestor, "2", 300, 7, now - 1200)
    assert suggestions(store, store.get_model("churn")) == []


def _samples(store, hours, **fields):
    model = store.get_model("churn")
    now = time.time()
    rows = []
    for h in range(hours):
        ts = now - (hours - h) * 3600 + 10
        rows.append(
            {
                "version": "1",
                "host": "gpu-1",
                "pid": 1,
                "ts": ts,
                "minute": int(ts // 60) * 60,
                "received_at": ts,
                **{k: (v(h) if callable(v) else v) for k, v in fields.items()},
            }
        )
    rq.insert_samples(store, model, rows)


def test_right_size_uses_the_p95_of_a_week(store):
    _model(store)
    rng = np.random.default_rng(5)
    gpu = rng.uniform(2, 25, 7 * 24)
    _samples(
        store,
        7 * 24,
        gpu_utilization_percent=lambda h: float(gpu[h]),
        host_cpu_percent=70.0,
        host_memory_used_bytes=3e9,
        host_memory_total_bytes=16e9,
    )
    found = {s["id"]: s for s in suggestions(store, store.get_model("churn"))}
    assert set(found) == {"right_size:gpu", "right_size:memory"}  # CPU is busy: no cut
    p95 = found["right_size:gpu"]["evidence"]["gpu_utilization_p95"]
    hours = found["right_size:gpu"]["evidence"]["hours"]
    # the oldest hour may fall just outside the week: the p95 of the hours counted
    assert math.isclose(p95, float(np.percentile(gpu[-hours:], 95)))
    assert math.isclose(found["right_size:memory"]["evidence"]["memory_used_share_max"], 3 / 16)


def test_network_share_of_callers_latency(store):
    ingestor = _model(store)
    _send(ingestor, "1", 200, 0, time.time() - 1800, latency=0.05)
    _samples(store, 12, client_latency_p95_ms=400.0)
    (net,) = suggestions(store, store.get_model("churn"))
    assert net["id"] == "network:latency"
    assert math.isclose(net["evidence"]["network_share"], 1 - 0.05 / 0.4, rel_tol=0.02)


def test_retrain_when_accuracy_is_forecast_below_its_floor(store):
    ingestor = _model(store)
    rng = np.random.default_rng(2)
    end = math.floor(time.time() / (6 * 3600)) * 6 * 3600
    labels, stamps = [], []
    for w in range(56):  # 14 days of 6-hour windows, accuracy falling from 0.97 to 0.83
        ts = end - (56 - w) * 6 * 3600 + 60
        right = rng.random(60) < 0.97 - 0.14 * w / 55
        recs = [
            {"id": f"r{w}-{i}", "version": "1", "ts": ts + i, "inputs": {}, "outputs": 1}
            for i in range(60)
        ]
        ingestor.ingest_predictions("churn", recs)
        stamps += [r["ts"] for r in recs]
        labels += [{"prediction_id": f"r{w}-{i}", "actual": int(right[i])} for i in range(60)]
    ingestor.ingest_labels("churn", labels)
    AlertStore(store).put_rule(
        Rule.from_dict(
            {
                "name": "accuracy-floor",
                "model": "churn",
                "metric": "accuracy",
                "op": "<",
                "threshold": 0.8,
                "window": "1d",
            }
        ).to_dict()
    )
    before = time.time()
    (retrain,) = suggestions(store, store.get_model("churn"))
    after = time.time()
    assert retrain["id"] == "retrain:accuracy"
    in_week = [sum(ts >= t - 7 * DAY for ts in stamps) for t in (after, before)]
    assert in_week[0] <= retrain["evidence"]["labelled_rows_7d"] <= in_week[1]
    assert "may fall below 0.8" in retrain["text"]
