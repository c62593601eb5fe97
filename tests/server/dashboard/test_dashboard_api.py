"""JSON the dashboard's new sections read: quality by segment per window (fairlearn and
scikit-learn as oracles), drift per window and feature distributions (scipy and numpy)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fairlearn import metrics as flm
from sklearn import metrics as skm

SCHEMA = {"task": "binary_classification", "features": [
    {"name": "x", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}]}
STEP = 600


def _send(client, name: str, records: list[dict], labels: list[dict]) -> None:
    for i in range(0, len(records), 500):
        r = client.post(f"/api/v1/models/{name}/predictions",
                        json={"records": records[i:i + 500]})
        assert r.status_code == 200 and r.json()["accepted"] == len(records[i:i + 500]), r.text
    for i in range(0, len(labels), 500):
        r = client.post(f"/api/v1/models/{name}/labels", json={"labels": labels[i:i + 500]})
        assert r.status_code == 200, r.text


@pytest.fixture
def segmented(server_factory):
    """Three 10-minute windows of labelled traffic; plan 'b' is favoured more each window
    (a disparity that opens within the range). Returns (client, start, rows by window)."""
    client = server_factory(auth="off")
    assert client.post("/api/v1/models", json={"name": "loans", "schema": SCHEMA}
                       ).status_code == 201
    rng = np.random.default_rng(11)
    start = (int(time.time()) // STEP - 4) * STEP
    records, labels, windows = [], [], []
    for w in range(3):
        n = 240
        plan = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
        y_true = rng.integers(0, 2, n)
        bias = np.where(plan == "b", 0.25 * w, 0.0)
        y_pred = (rng.random(n) < np.clip(0.25 + 0.5 * y_true + bias, 0, 1)).astype(int)
        ts = start + w * STEP + np.sort(rng.uniform(1, STEP - 1, n))
        for i in range(n):
            pid = f"w{w}-{i}"
            records.append({"id": pid, "ts": float(ts[i]), "version": "1",
                            "inputs": {"x": float(rng.normal()), "plan": str(plan[i])},
                            "outputs": int(y_pred[i])})
            labels.append({"prediction_id": pid, "actual": int(y_true[i])})
        windows.append((start + w * STEP, plan, y_true, y_pred))
    _send(client, "loans", records, labels)
    return client, start, windows


def test_segments_and_fairness_per_window_match_fairlearn(segmented):
    client, start, windows = segmented
    r = client.get("/api/v1/models/loans/quality", params={
        "segment": "plan", "start": start, "end": start + 3 * STEP, "step": STEP,
        "min_rows": 1, "positive": "1"})
    assert r.status_code == 200, r.text
    series = r.json()["segment_series"]
    assert [p["ts"] for p in series] == [w[0] for w in windows]
    for point, (_, plan, y_true, y_pred) in zip(series, windows, strict=True):
        assert point["n"] == len(plan)
        fair = point["fairness"]
        assert fair["demographic_parity_difference"]["value"] == pytest.approx(
            flm.demographic_parity_difference(y_true, y_pred, sensitive_features=plan),
            rel=1e-9)
        assert fair["equalized_odds_difference"]["value"] == pytest.approx(
            flm.equalized_odds_difference(y_true, y_pred, sensitive_features=plan), rel=1e-9)
        assert fair["disparate_impact_ratio"]["value"] == pytest.approx(
            flm.demographic_parity_ratio(y_true, y_pred, sensitive_features=plan), rel=1e-9)
        got = {s["segment"]: s for s in point["segments"]}
        assert sorted(got) == ["a", "b", "c"]
        for seg, entry in got.items():
            mask = plan == seg
            assert entry["n"] == int(mask.sum())
            assert entry["accuracy"] == pytest.approx(
                skm.accuracy_score(y_true[mask], y_pred[mask]), rel=1e-9)
    # the planted disparity grows window by window
    dpd = [p["fairness"]["demographic_parity_difference"]["value"] for p in series]
    assert dpd[2] > dpd[0] + 0.1


def test_segment_windows_bad_input_is_a_4xx_naming_the_field(segmented):
    client, start, _ = segmented
    r = client.get("/api/v1/models/loans/quality", params={
        "segment": "plan", "start": start, "end": start + 3 * STEP, "step": 90})
    assert r.status_code in (400, 422) and "step" in r.text
