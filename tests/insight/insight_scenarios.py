"""Seeded synthetic traffic with a known cause, for the root-cause and anomaly tests."""

from __future__ import annotations

import numpy as np

from vigil.engine.ingest.ingestor import Ingestor

SCHEMA = {
    "task": "binary_classification",
    "features": [
        {"name": "x1", "kind": "numeric"},  # the model relies on it
        {"name": "x2", "kind": "numeric"},  # the model ignores it
        {"name": "region", "kind": "categorical"},
    ],
}
REGIONS = ("eu", "us", "apac", "latam")
SCENARIOS = ("feature", "segment", "error_kind", "version", "host", "none", "uniform")
EXPECTED = {
    "feature": "feature x1",
    "segment": "segment region=apac",
    "error_kind": "error_kind ValueError",
    "version": "version 2",
    "host": "host web-2",
    "none": "no clear cause",
    "uniform": "no clear cause",
}
METRIC = {
    "feature": "accuracy",
    "segment": "accuracy",
    "error_kind": "error_rate",
    "version": "error_rate",
    "host": "latency_p95",
    "none": "accuracy",
    "uniform": "accuracy",
}
HOSTS = ("web-1", "web-2", "web-3")
N = 1200  # predictions per window
T0 = 1_700_000_000.0  # baseline window [T0, T0 + 3600), current [T0 + 3600, T0 + 7200)


def _window(
    rng: np.random.Generator, scenario: str, current: bool, start: float, prefix: str
) -> tuple[list[dict], list[dict]]:
    planted = current and scenario
    x1 = rng.normal(0, 3, N)
    x2 = rng.normal(0, 1, N)
    if planted == "feature":
        x1 = rng.normal(0, 0.6, N)  # toward the decision boundary: accuracy falls
        x2 = rng.normal(2, 1, N)  # drifted as much, but the model ignores it
    region = rng.choice(REGIONS, N, p=[0.3, 0.3, 0.2, 0.2])
    pred = (x1 > 0).astype(int)
    p1 = 1 / (1 + np.exp(-1.7 * x1))  # ≈ P(actual = 1 | x1) = Φ(x1): calibrated
    actual = (x1 + rng.normal(0, 1, N) > 0).astype(int)
    if planted == "segment":  # apac's labels no longer follow the model
        flip = (region == "apac") & (rng.random(N) < 0.6)
        actual = np.where(flip, 1 - pred, actual)
    if planted == "uniform":  # every region a bit worse: nothing to point at
        flip = rng.random(N) < 0.15
        actual = np.where(flip, 1 - actual, actual)
    version = np.full(N, "1")
    if planted == "version":
        version = np.where(rng.random(N) < 0.3, "2", "1")
    error = rng.random(N)
    kinds = np.where(error < 0.01, "TimeoutError", np.where(error < 0.02, "ValueError", ""))
    if planted == "error_kind":
        kinds = np.where(error < 0.01, "TimeoutError", np.where(error < 0.09, "ValueError", ""))
    if planted == "version":
        worse = (version == "2") & (rng.random(N) < 0.15)  # the same kinds, more often
        kinds = np.where(worse, np.where(rng.random(N) < 0.5, "TimeoutError", "ValueError"), kinds)
    ts = start + np.sort(rng.uniform(0, 3599, N))
    latency = 0.05 + rng.exponential(0.01, N)
    if planted == "host":  # a third of the requests land on web-2, which slowed down
        latency = np.where(rng.random(N) < 1 / 3, latency + 0.15, latency)
    records, labels = [], []
    for i in range(N):
        pid = f"{prefix}-{int(current)}-{i}"
        rec = {
            "id": pid,
            "version": str(version[i]),
            "ts": float(ts[i]),
            "latency_s": float(latency[i]),
            "inputs": {"x1": float(x1[i]), "x2": float(x2[i]), "region": str(region[i])},
            "outputs": int(pred[i]),
            "proba": [round(1 - p1[i], 6), round(p1[i], 6)],
        }
        if kinds[i]:
            rec["error"], rec["error_type"] = "failed", str(kinds[i])
        records.append(rec)
        labels.append({"prediction_id": pid, "actual": int(actual[i])})
    return records, labels


def _samples(rng: np.random.Generator, scenario: str, current: bool, start: float) -> list[dict]:
    """A resource sample per host and minute; web-2's CPU and callers' latency rise when
    the host scenario is planted."""
    rows = []
    for minute in range(60):
        ts = start + minute * 60 + 5
        for host in HOSTS:
            slow = current and scenario == "host" and host == "web-2"
            rows.append(
                {
                    "version": "1",
                    "host": host,
                    "pid": 1,
                    "ts": ts,
                    "minute": int(ts // 60) * 60,
                    "received_at": ts,
                    "process_cpu_percent": float(rng.normal(95 if slow else 40, 3)),
                    "client_latency_p95_ms": float(rng.normal(230 if slow else 80, 5)),
                }
            )
    return rows


def plant(store, scenario: str, seed: int, model: str = "m") -> None:
    """Register ``model`` and send a baseline hour and a current hour of traffic (and
    resource samples of three hosts)."""
    from vigil.store.resources import queries as rq

    ingestor = Ingestor(store)
    ingestor.register_model({"name": model, "schema": SCHEMA})
    rng = np.random.default_rng(seed)
    for current, start in ((False, T0), (True, T0 + 3600)):
        rq.insert_samples(store, store.get_model(model), _samples(rng, scenario, current, start))
        records, labels = _window(rng, scenario, current, start, model)
        for i in range(0, N, 500):
            assert ingestor.ingest_predictions(model, records[i : i + 500]).accepted == len(
                records[i : i + 500]
            )
        ingestor.ingest_labels(model, labels)
