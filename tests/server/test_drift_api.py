"""Reference upload and window drift over real HTTP, exact and from rollup sketches."""

from __future__ import annotations

import io
import time

import numpy as np
import pandas as pd
import pytest

from vigil.engine import drift_window

SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"},
                                             {"name": "c", "kind": "categorical"}]}


def _frame(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1.0, n).round(4),
                         "c": rng.choice(["a", "b", "c"], n, p=(0.5, 0.3, 0.2))})


def _send(client, frame: pd.DataFrame, ts: float, tag: str) -> None:
    records = [{"id": f"{tag}{i}", "ts": ts + i * 1e-3, "inputs": row, "outputs": 0}
               for i, row in enumerate(frame.to_dict("records"))]
    for i in range(0, len(records), 5000):
        r = client.post("/api/v1/models/m/predictions", json={"records": records[i:i + 5000]})
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
    r = client.post("/api/v1/models/m/reference", content=buf.getvalue(),
                    headers={"content-type": "application/vnd.apache.parquet"})
    assert r.json()["columns"] == ["x", "c"]
    r = client.post("/api/v1/models/m/reference", content=ref.to_csv(index=False).encode(),
                    headers={"content-type": "text/csv"})
    assert r.status_code == 201
    assert client.get("/api/v1/models/m/reference").json()["sample_rows"] == 2000
    bad = [
        (b"", {}, "empty"),
        (b"x,y\n1,2\n", {"content-type": "text/csv"}, "lacks the model's features ['c']"),
        (b"PAR1garbage", {"content-type": "application/vnd.apache.parquet"},
         "could not be read"),
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
    empty = client.get("/api/v1/models/m/drift", params={"start": now - 7200,
                                                          "end": now - 3600}).json()
    assert empty["mode"] == "none"
    assert empty["n_current"] == 0
    quiet = client.get("/api/v1/models/m/drift", params={"start": now - 3600,
                                                          "end": now - 1200}).json()
    assert quiet["mode"] == "exact"
    assert quiet["n_current"] == 800
    assert quiet["drifted_columns"] == []
    assert quiet["columns"]["x"]["method"] == "ks"
    assert quiet["multivariate"] == []
    shifted = client.get("/api/v1/models/m/drift", params={"start": now - 1200,
                                                           "multivariate": "true"}).json()
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
