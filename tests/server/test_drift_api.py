"""Reference upload and window drift over real HTTP, exact and from rollup sketches."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pandas as pd
import pytest

from vigil.engine.windows import drift as drift_window

SCHEMA = {
    "task": "regression",
    "features": [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}],
}


def _frame(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n).round(4),
            "c": rng.choice(["a", "b", "c"], n, p=(0.5, 0.3, 0.2)),
        }
    )


def _send(client, frame: pd.DataFrame, ts: float, tag: str) -> None:
    records = [
        {"id": f"{tag}{i}", "ts": ts + i * 1e-3, "inputs": row, "outputs": 0}
        for i, row in enumerate(frame.to_dict("records"))
    ]
    for i in range(0, len(records), 5000):
        r = client.post("/api/v1/models/m/predictions", json={"records": records[i : i + 5000]})
        assert r.status_code == 200, r.text


@pytest.fixture
def client(server_factory):
    c = server_factory(auth="off")
    assert c.post("/api/v1/models", json={"name": "m", "schema": SCHEMA}).status_code == 201
    return c


def test_reference_formats_and_errors(client):
    ref = _frame(2000)
    r = client.post("/api/v1/models/m/reference", json={"records": ref.to_dict("records")})
    assert r.status_code == 201, r.text
    assert r.json()["n_rows"] == 2000
    buf = io.BytesIO()
    ref.to_parquet(buf)
    r = client.post(
        "/api/v1/models/m/reference",
        content=buf.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.json()["columns"] == ["x", "c"]
    r = client.post(
        "/api/v1/models/m/reference",
        content=ref.to_csv(index=False).encode(),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 201
    assert client.get("/api/v1/models/m/reference").json()["sample_rows"] == 2000
    bad = [
        (b"", {}, "empty"),
        (b"x,y\n1,2\n", {"content-type": "text/csv"}, "lacks the model's features ['c']"),
        (b"PAR1garbage", {"content-type": "application/vnd.apache.parquet"}, "cannot read"),
        (b'{"records": 5}', {"content-type": "application/json"}, "list of objects"),
        (b"not json", {"content-type": "application/json"}, "Parquet, CSV"),
        (b'{"records": []}', {"content-type": "application/json"}, "no rows"),
    ]
    for content, headers, needle in bad:
        r = client.post("/api/v1/models/m/reference", content=content, headers=headers)
        assert r.status_code == 400, (content, r.text)
        assert needle in r.json()["error"]["message"], r.json()


def test_drift_needs_a_reference_and_a_known_model(client):
    r = client.get("/api/v1/models/m/drift")
    assert r.status_code == 404
    assert "POST /api/v1/models/m/reference" in r.json()["error"]["message"]
    assert client.get("/api/v1/models/nope/drift").json()["error"]["code"] == "model_not_found"


def test_exact_drift_flags_the_shifted_feature_only(client):
    client.post("/api/v1/models/m/reference", json={"records": _frame(3000).to_dict("records")})
    now = time.time()
    _send(client, _frame(800, seed=1), now - 3000, "same")
    _send(client, _frame(800, shift=0.8, seed=2), now - 600, "shift")
    empty = client.get(
        "/api/v1/models/m/drift", params={"start": now - 7200, "end": now - 3600}
    ).json()
    assert empty["mode"] == "none"
    assert empty["n_current"] == 0
    quiet = client.get(
        "/api/v1/models/m/drift", params={"start": now - 3600, "end": now - 1200}
    ).json()
    assert quiet["mode"] == "exact"
    assert quiet["n_current"] == 800
    assert quiet["drifted_columns"] == []
    assert quiet["columns"]["x"]["method"] == "ks"
    assert quiet["multivariate"] == []
    shifted = client.get(
        "/api/v1/models/m/drift", params={"start": now - 1200, "multivariate": "true"}
    ).json()
    assert shifted["drifted_columns"] == ["x"]
    assert shifted["multivariate"][0]["drifted"]
    assert shifted["columns"]["x"]["p_value"] < 1e-6


def test_large_windows_use_rollup_sketches(client, monkeypatch):
    monkeypatch.setattr(drift_window, "EXACT_LIMIT", 100)
    client.post("/api/v1/models/m/reference", json={"records": _frame(3000).to_dict("records")})
    now = time.time()
    _send(client, _frame(1500, shift=1.0, seed=3), now - 120, "big")
    r = client.get("/api/v1/models/m/drift", params={"start": now - 300}).json()
    assert r["mode"] == "sketch"
    assert r["n_current"] == 1500
    assert "x" in r["drifted_columns"]
    assert "c" not in r["drifted_columns"]
    assert client.get("/api/v1/models/m/drift", params={"method": "nope"}).status_code == 400


def _two_percent_to_four(n: int, seed: int, shift: float) -> pd.DataFrame:
    """``x`` shifted by ``shift`` σ; category ``e`` goes from 2 % to 4 % (TV 0.02)."""
    rng = np.random.default_rng(seed)
    p = (0.5, 0.3, 0.18, 0.02) if shift == 0 else (0.5, 0.3, 0.16, 0.04)
    return pd.DataFrame(
        {"x": rng.normal(shift, 1.0, n).round(4), "c": rng.choice(["a", "b", "d", "e"], n, p=p)}
    )


def _send_spread(client, frame: pd.DataFrame, start: float, end: float, tag: str) -> None:
    ts = np.linspace(start, end, len(frame), endpoint=False).tolist()
    records = [
        {"id": f"{tag}{i}", "ts": t, "inputs": row, "outputs": 0}
        for i, (t, row) in enumerate(zip(ts, frame.to_dict("records"), strict=True))
    ]
    for i in range(0, len(records), 5000):
        r = client.post("/api/v1/models/m/predictions", json={"records": records[i : i + 5000]})
        assert r.status_code == 200, r.text


def test_same_verdict_on_both_sides_of_the_exact_limit_and_the_page_renders(client):
    """Past 20,000 predictions the window is tested from sketches under the same policy:
    the shifted feature drifts in both modes, the 2 %→4 % category (significant to scipy
    on the raw rows, but TV 0.02 < 0.05) drifts in neither, and the dashboard's drift page
    renders the sketch results (it answered 500 before)."""
    from scipy import stats

    ref = _two_percent_to_four(20_000, 0, 0.0)
    r = client.post("/api/v1/models/m/reference", json={"records": ref.to_dict("records")})
    assert r.status_code == 201, r.text
    cur = _two_percent_to_four(21_000, 1, 0.5)
    now = time.time() // 60 * 60
    _send_spread(client, cur.iloc[:15_000], now - 1200, now - 600, "a")
    _send_spread(client, cur.iloc[15_000:], now - 600, now - 360, "b")
    # the oracle: scipy on the raw rows says the category moved (significant) ...
    levels = ["a", "b", "d", "e"]
    table = [[int((ref.c == k).sum()) for k in levels], [int((cur.c == k).sum()) for k in levels]]
    assert stats.chi2_contingency(table).pvalue < 1e-6
    shares = np.array(table, dtype=float) / np.array(table).sum(axis=1, keepdims=True)
    assert 0.5 * np.abs(shares[0] - shares[1]).sum() < 0.05  # ... by less than the floor
    assert stats.ks_2samp(ref.x, cur.x).pvalue < 1e-6
    exact = client.get(
        "/api/v1/models/m/drift", params={"start": now - 1200, "end": now - 600}
    ).json()
    sketch = client.get("/api/v1/models/m/drift", params={"start": now - 1200}).json()
    assert (exact["mode"], exact["n_current"]) == ("exact", 15_000)
    assert (sketch["mode"], sketch["n_current"]) == ("sketch", 21_000)
    for report in (exact, sketch):
        assert report["drifted_columns"] == ["x"], report
        assert report["correction"] == "bh"
        c = report["columns"]["c"]
        assert c["method"] == "chi2" and c["p_value_adjusted"] < 0.05
        assert c["effect_size"] < c["min_effect"] == 0.05
        assert "too small to matter" in c["reason"]
        for col in report["columns"].values():
            assert col["mode"] == report["mode"]
            assert col["error_bound"] >= 0.0 and col["p_value_adjusted"] is not None
    assert sketch["columns"]["x"]["error_bound"] > 0
    assert sketch["columns"]["c"]["error_bound"] == 0.0  # four levels: exact counts
    page = client.get("/ui/models/m/drift", params={"range": "1h"})
    assert page.status_code == 200, page.text[-2000:]
    assert "sketch tests" in page.text and "21.0k predictions" in page.text
    rows = dict(
        re.findall(r'<tr data-feature="(\w+)">.*?<span class="badge \w+">(\w+)<', page.text, re.S)
    )
    assert rows == {"x": "drifted", "c": "stable"}


def test_sketch_mode_says_not_tested_for_a_category_it_cannot_resolve(server_factory, monkeypatch):
    """3,000 cities are more than the frequent-items sketch counts exactly and none is
    frequent enough to stand out: the API and the page say "not tested" and why, rather
    than a p-value computed with the wrong counts."""
    monkeypatch.setattr(drift_window, "EXACT_LIMIT", 100)
    client = server_factory(auth="off")
    schema = {
        "task": "regression",
        "features": [{"name": "x", "kind": "numeric"}, {"name": "city", "kind": "categorical"}],
    }
    assert client.post("/api/v1/models", json={"name": "m", "schema": schema}).status_code == 201

    def frame(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {"x": rng.normal(0, 1, n).round(4), "city": rng.choice(3000, n).astype(str)}
        )

    r = client.post(
        "/api/v1/models/m/reference", json={"records": frame(4000, 0).to_dict("records")}
    )
    assert r.status_code == 201, r.text
    now = time.time()
    _send(client, frame(3000, 1), now - 120, "hc")
    report = client.get("/api/v1/models/m/drift", params={"start": now - 300}).json()
    assert report["mode"] == "sketch" and report["drifted_columns"] == []
    city = report["columns"]["city"]
    assert city["statistic"] is None and city["p_value"] is None
    assert city["reason"].startswith("not tested") and city["error_bound"] > 0
    assert report["columns"]["x"]["statistic"] is not None
    page = client.get("/ui/models/m/drift", params={"range": "1h"})
    assert page.status_code == 200
    row = re.search(r'<tr data-feature="city">(.*?)</tr>', page.text, re.S).group(1)
    assert "not tested" in row and "too many levels" in row


def test_a_past_window_of_traffic_becomes_a_frozen_reference(client):
    now = time.time()
    _send(client, _frame(1500, seed=11), now - 3000, "base")
    _send(client, _frame(800, shift=0.8, seed=12), now - 600, "late")
    bad = [
        ({"window": {"start": now - 10, "end": now - 20}}, "must be after"),
        ({"window": {"start": "yesterday", "end": now}}, "window.start"),
        ({"window": {"start": now - 9000, "end": now - 8000}}, "holds no predictions"),
        ({"window": {"start": now - 9000, "end": now, "size": 3}}, "unknown fields"),
    ]
    for body, needle in bad:
        r = client.post("/api/v1/models/m/reference", json=body)
        assert r.status_code == 400, r.text
        assert needle in r.json()["error"]["message"]
    r = client.post(
        "/api/v1/models/m/reference", json={"window": {"start": now - 3600, "end": now - 1200}}
    )
    assert r.status_code == 201, r.text
    assert r.json()["n_rows"] == 1500
    summary = client.get("/api/v1/models/m/reference").json()
    assert summary["source"].startswith("window ") and summary["n_rows"] == 1500
    # frozen: traffic arriving later inside that window does not change the reference
    _send(client, _frame(500, shift=3.0, seed=13), now - 2000, "backfill")
    assert client.get("/api/v1/models/m/reference").json()["n_rows"] == 1500
    late = client.get("/api/v1/models/m/drift", params={"start": now - 900}).json()
    assert late["drifted_columns"] == ["x"] and late["n_reference"] == 1500
