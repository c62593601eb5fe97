"""JSON the dashboard's new sections read: quality by segment per window (fairlearn and
scikit-learn as oracles), drift per window and feature distributions (scipy and numpy)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fairlearn import metrics as flm
from sklearn import metrics as skm

SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "x", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
}
STEP = 600


def _send(client, name: str, records: list[dict], labels: list[dict]) -> None:
    for i in range(0, len(records), 500):
        r = client.post(
            f"/api/v1/models/{name}/predictions", json={"records": records[i : i + 500]}
        )
        assert r.status_code == 200 and r.json()["accepted"] == len(records[i : i + 500]), r.text
    for i in range(0, len(labels), 500):
        r = client.post(f"/api/v1/models/{name}/labels", json={"labels": labels[i : i + 500]})
        assert r.status_code == 200, r.text


@pytest.fixture
def segmented(server_factory):
    """Three 10-minute windows of labelled traffic; plan 'b' is favoured more each window
    (a disparity that opens within the range). Returns (client, start, rows by window)."""
    client = server_factory(auth="off")
    assert (
        client.post("/api/v1/models", json={"name": "loans", "schema": SCHEMA}).status_code == 201
    )
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
            records.append(
                {
                    "id": pid,
                    "ts": float(ts[i]),
                    "version": "1",
                    "inputs": {"x": float(rng.normal()), "plan": str(plan[i])},
                    "outputs": int(y_pred[i]),
                }
            )
            labels.append({"prediction_id": pid, "actual": int(y_true[i])})
        windows.append((start + w * STEP, plan, y_true, y_pred))
    _send(client, "loans", records, labels)
    return client, start, windows


def test_segments_and_fairness_per_window_match_fairlearn(segmented):
    client, start, windows = segmented
    r = client.get(
        "/api/v1/models/loans/quality",
        params={
            "segment": "plan",
            "start": start,
            "end": start + 3 * STEP,
            "step": STEP,
            "min_rows": 1,
            "positive": "1",
        },
    )
    assert r.status_code == 200, r.text
    series = r.json()["segment_series"]
    assert [p["ts"] for p in series] == [w[0] for w in windows]
    for point, (_, plan, y_true, y_pred) in zip(series, windows, strict=True):
        assert point["n"] == len(plan)
        fair = point["fairness"]
        assert fair["demographic_parity_difference"]["value"] == pytest.approx(
            flm.demographic_parity_difference(y_true, y_pred, sensitive_features=plan), rel=1e-9
        )
        assert fair["equalized_odds_difference"]["value"] == pytest.approx(
            flm.equalized_odds_difference(y_true, y_pred, sensitive_features=plan), rel=1e-9
        )
        assert fair["disparate_impact_ratio"]["value"] == pytest.approx(
            flm.demographic_parity_ratio(y_true, y_pred, sensitive_features=plan), rel=1e-9
        )
        got = {s["segment"]: s for s in point["segments"]}
        assert sorted(got) == ["a", "b", "c"]
        for seg, entry in got.items():
            mask = plan == seg
            assert entry["n"] == int(mask.sum())
            assert entry["accuracy"] == pytest.approx(
                skm.accuracy_score(y_true[mask], y_pred[mask]), rel=1e-9
            )
    # the planted disparity grows window by window
    dpd = [p["fairness"]["demographic_parity_difference"]["value"] for p in series]
    assert dpd[2] > dpd[0] + 0.1


def test_segment_windows_bad_input_is_a_4xx_naming_the_field(segmented):
    client, start, _ = segmented
    r = client.get(
        "/api/v1/models/loans/quality",
        params={"segment": "plan", "start": start, "end": start + 3 * STEP, "step": 90},
    )
    assert r.status_code in (400, 422) and "step" in r.text


@pytest.fixture
def drifting(server_factory):
    """A reference of 2,000 rows and three 10-minute windows whose ``x`` moves away from
    it (0, 0.4 and 1.2 standard deviations). Returns (client, start, reference, windows)."""
    client = server_factory(auth="off")
    assert (
        client.post("/api/v1/models", json={"name": "loans", "schema": SCHEMA}).status_code == 201
    )
    rng = np.random.default_rng(7)
    reference = {
        "x": rng.normal(0, 1, 2000),
        "plan": rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2]),
    }
    body = [{"x": float(x), "plan": str(p)} for x, p in zip(*reference.values(), strict=True)]
    r = client.post("/api/v1/models/loans/reference", json=body, timeout=60)
    assert r.status_code == 201, r.text
    start = (int(time.time()) // STEP - 4) * STEP
    records, windows = [], []
    for w, shift in enumerate((0.0, 0.4, 1.2)):
        x = rng.normal(shift, 1, 300)
        plan = rng.choice(["a", "b", "c"], 300, p=[0.5, 0.3, 0.2] if w < 2 else [0.2, 0.3, 0.5])
        ts = start + w * STEP + np.sort(rng.uniform(1, STEP - 1, 300))
        records += [
            {
                "id": f"d{w}-{i}",
                "ts": float(ts[i]),
                "version": "1",
                "inputs": {"x": float(x[i]), "plan": str(plan[i])},
                "outputs": 0,
            }
            for i in range(300)
        ]
        windows.append((start + w * STEP, x, plan))
    _send(client, "loans", records, [])
    return client, start, reference, windows


def test_drift_history_per_window_matches_scipy(drifting):
    from scipy import stats

    client, start, reference, windows = drifting
    r = client.get(
        "/api/v1/models/loans/drift/history",
        params={"start": start, "end": start + 4 * STEP, "step": STEP},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["colour"] == "effect_size" and sorted(body["features"]) == ["plan", "x"]
    got = body["windows"]
    assert [w["ts"] for w in got] == [start + i * STEP for i in range(4)]
    assert [w["n"] for w in got] == [300, 300, 300, 0] and got[3]["columns"] == {}
    for point, (_, x, _) in zip(got, windows, strict=False):
        cell = point["columns"]["x"]
        assert cell["method"] == "ks"
        assert cell["statistic"] == pytest.approx(
            stats.ks_2samp(reference["x"], x).statistic, abs=1e-9
        )
        # effect size: Wasserstein-1 distance in reference standard deviations
        assert cell["effect_size"] == pytest.approx(
            stats.wasserstein_distance(reference["x"], x) / np.std(reference["x"]), rel=1e-6
        )
    assert [w["columns"]["x"]["drifted"] for w in got[:3]] == [False, True, True]
    assert got[2]["columns"]["plan"]["drifted"] and not got[0]["columns"]["plan"]["drifted"]


def test_distributions_from_sketches_match_numpy(drifting):
    client, start, reference, windows = drifting
    r = client.get(
        "/api/v1/models/loans/drift/distributions",
        params={"start": start, "end": start + 3 * STEP, "bins": 12},
    )
    assert r.status_code == 200, r.text
    by_name = {f["name"]: f for f in r.json()["features"]}
    x = by_name["x"]
    edges = np.array(x["edges"])
    assert len(edges) == 13 and x["n_reference"] == 2000 and x["n_current"] == 900
    current = np.concatenate([w[1] for w in windows])

    def shares(values: np.ndarray) -> np.ndarray:
        # bins (e0, e1], ..., with everything below e1 in the first and above e11 in the last
        index = np.searchsorted(edges[1:-1], values, side="left")
        return np.bincount(index, minlength=12) / len(values)

    tolerance = 2 * x["rank_error"] + 1e-9
    assert np.allclose(x["reference"], shares(reference["x"]), atol=tolerance)
    assert np.allclose(x["current"], shares(current), atol=tolerance)
    plan = by_name["plan"]
    cur_plan = np.concatenate([w[2] for w in windows])
    for i, category in enumerate(plan["categories"]):
        assert plan["reference"][i] == pytest.approx(np.mean(reference["plan"] == category))
        assert plan["current"][i] == pytest.approx(np.mean(cur_plan == category))


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("drift/history", {"step": 90}, "step"),
        ("drift/history", {"start": 10_000, "end": 0}, "end"),
        ("drift/history", {"start": 0, "end": 86400 * 3, "step": 60}, "step"),
        ("drift/history", {"start": "-inf"}, "start"),
        ("drift/distributions", {"end": "inf"}, "end"),
        ("drift/distributions", {"bins": 1}, "bins"),
        ("drift/distributions", {"start": 10_000, "end": 0}, "end"),
    ],
)
def test_drift_views_bad_input_is_a_4xx_naming_the_field(drifting, path, params, field):
    client = drifting[0]
    r = client.get(f"/api/v1/models/loans/{path}", params=params)
    assert r.status_code == 400, r.text
    assert f"'{field}'" in r.json()["error"]["message"]


def test_drift_views_need_a_reference(server_factory):
    client = server_factory(auth="off")
    assert client.post("/api/v1/models", json={"name": "bare", "schema": SCHEMA}).status_code == 201
    for path in ("drift/history", "drift/distributions"):
        r = client.get(f"/api/v1/models/bare/{path}")
        assert r.status_code == 404 and "no reference data set" in r.text
