"""Helpers of the dashboard tests: demo-like data through the SDK, screenshots."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@functools.cache
def _demo_model():
    from vigil.cli.demo_model import train

    return train(n=600)


def fill_demo(
    db_url: str,
    *,
    models: tuple[str, ...] = ("credit-risk",),
    versions: tuple[str, ...] = ("1", "2"),
    per_minute: int = 6,
    minutes: int = 60,
    error_every: int = 25,
) -> int:
    """Send the demo model's predictions through the SDK (local mode, straight to the
    store), spread over the last ``minutes``; return how many were sent."""
    import vigil
    from vigil.cli.demo_model import make_applicants, true_default_probability

    model = _demo_model()
    rng = np.random.default_rng(3)
    now = time.time()
    sent = 0
    for name in models:
        for v_index, version in enumerate(versions):
            mon = vigil.Monitor(
                name, version=version, endpoint=db_url, task="binary_classification"
            )
            for minute in range(minutes):
                for i, features in enumerate(make_applicants(per_minute, rng)):
                    ts = now - (minutes - minute) * 60 + i * (60 / per_minute)
                    latency = float(rng.gamma(2.0, 0.004 * (1 + v_index)))
                    if sent % error_every == 0:
                        mon.log_prediction(
                            features,
                            None,
                            latency_s=latency,
                            ts=ts,
                            error=TimeoutError("feature store timed out"),
                        )
                    else:
                        label, proba = model.predict(features)
                        pid = mon.log_prediction(
                            features, label, proba=[1 - proba, proba], latency_s=latency, ts=ts
                        )
                        if sent % 2:  # half the predictions get their label
                            mon.log_label(
                                pid, int(rng.random() < true_default_probability(features))
                            )
                    sent += 1
            assert mon.flush(), "the SDK could not deliver the demo data"
            mon.close()
    return sent


def screenshot(tab, name: str) -> Path:
    """Save a full-page screenshot under tests/artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"ui-{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


CAUSE_SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "x", "kind": "numeric"}, {"name": "region", "kind": "categorical"}],
}


def plant_segment_errors(client, name: str = "fraud", n: int = 600, seed: int = 2) -> float:
    """Register ``name`` and send two hours of traffic over HTTP: the error rate is 1 %
    everywhere in the first hour, and in the last hour requests from region ``apac`` fail
    a third of the time (the planted cause). Returns the end of the traffic (now)."""
    rng = np.random.default_rng(seed)
    assert (
        client.post("/api/v1/models", json={"name": name, "schema": CAUSE_SCHEMA}).status_code
        == 201
    )
    now = time.time()
    for hour, start in enumerate((now - 7200, now - 3600)):
        region = rng.choice(["eu", "us", "apac"], n, p=[0.4, 0.4, 0.2])
        failing = rng.random(n) < np.where((region == "apac") & (hour == 1), 0.33, 0.01)
        ts = start + np.sort(rng.uniform(0, 3590, n))
        records = []
        for i in range(n):
            rec = {
                "id": f"{name}-{hour}-{i}",
                "ts": float(ts[i]),
                "version": "1",
                "latency_s": float(rng.gamma(2.0, 0.005)),
                "inputs": {"x": float(rng.normal()), "region": str(region[i])},
                "outputs": int(rng.random() < 0.3),
            }
            if failing[i]:
                rec.update(error="upstream refused", error_type="ConnectionError")
            records.append(rec)
        for i in range(0, n, 300):
            r = client.post(
                f"/api/v1/models/{name}/predictions", json={"records": records[i : i + 300]}
            )
            assert r.status_code == 200 and r.json()["accepted"] == len(records[i : i + 300]), (
                r.text
            )
    return now


def plant_segments(
    client, name: str = "loans", minutes: int = 45, per_minute: int = 60, seed: int = 4
) -> dict[str, np.ndarray]:
    """Register ``name`` and send ``minutes`` of labelled traffic ending now over HTTP:
    plan ``b`` is favoured more and more as time passes (a disparity that opens). Returns
    the rows sent (plan, y_true, y_pred, ts) for independent checks."""
    rng = np.random.default_rng(seed)
    assert (
        client.post(
            "/api/v1/models",
            json={
                "name": name,
                "schema": {
                    "task": "binary_classification",
                    "features": [
                        {"name": "x", "kind": "numeric"},
                        {"name": "plan", "kind": "categorical"},
                    ],
                },
            },
        ).status_code
        == 201
    )
    n = minutes * per_minute
    now = time.time()
    ts = now - minutes * 60 + np.sort(rng.uniform(0, minutes * 60 - 1, n))
    plan = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y_true = rng.integers(0, 2, n)
    age = (ts - ts[0]) / (minutes * 60)
    bias = np.where(plan == "b", 0.5 * age, 0.0)
    y_pred = (rng.random(n) < np.clip(0.25 + 0.5 * y_true + bias, 0, 1)).astype(int)
    records = [
        {
            "id": f"{name}-{i}",
            "ts": float(ts[i]),
            "version": "1",
            "inputs": {"x": float(rng.normal()), "plan": str(plan[i])},
            "outputs": int(y_pred[i]),
        }
        for i in range(n)
    ]
    labels = [{"prediction_id": f"{name}-{i}", "actual": int(y_true[i])} for i in range(n)]
    for i in range(0, n, 500):
        r = client.post(
            f"/api/v1/models/{name}/predictions", json={"records": records[i : i + 500]}
        )
        assert r.status_code == 200 and r.json()["accepted"] == len(records[i : i + 500]), r.text
        r = client.post(f"/api/v1/models/{name}/labels", json={"labels": labels[i : i + 500]})
        assert r.status_code == 200, r.text
    return {"plan": plan, "y_true": y_true, "y_pred": y_pred, "ts": ts}
