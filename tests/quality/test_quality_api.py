"""Realised and estimated quality over HTTP on SQLite and PostgreSQL: label joins in any
order, windows, versions, segments, fairness, feedback, concept drift, gauges, rules."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn import metrics as skm

from vigil.engine.metric_sources import get_metric
from vigil.engine.quality.concept_drift import update_concept_drift

SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "age", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
}


def _records(n, *, start, version="1", seed=0, wrong_from=None):
    rng = np.random.default_rng(seed)
    recs, labels = [], []
    for i in range(n):
        y = int(rng.integers(0, 2))
        p = float(np.clip(0.5 + 0.2 * (2 * y - 1) + rng.normal(0, 0.2), 0, 1))
        pred = int(p >= 0.5)
        if wrong_from is not None and i >= wrong_from:
            pred, p = 1 - y, 1 - p
        plan = "pro" if i % 3 else "free"
        recs.append(
            {
                "id": f"{version}-{seed}-{i}",
                "version": version,
                "ts": start + i,
                "inputs": {"age": 20 + i % 50, "plan": plan},
                "outputs": pred,
                "proba": p,
            }
        )
        labels.append({"prediction_id": f"{version}-{seed}-{i}", "actual": y})
    return recs, labels


@pytest.fixture
def client(server_factory):
    c = server_factory(auth="off")
    assert c.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code == 201
    return c


def _post(client, kind, items):
    key = {"predictions": "records"}.get(kind, kind)
    r = client.post(f"/api/v1/models/churn/{kind}", json={key: items})
    assert r.status_code in (200, 207), r.text
    return r.json()


def test_labels_join_whichever_arrives_first_per_window_version_segment(client, store):
    start = time.time() - 3600
    recs, labels = _records(120, start=start, seed=1)
    # half the labels arrive before their predictions, half after
    early = _post(client, "labels", labels[:60])
    assert early["unmatched"] == 60
    _post(client, "predictions", recs)
    _post(client, "labels", labels[60:])
    v2, l2 = _records(40, start=start + 200, version="2", seed=2)
    _post(client, "predictions", v2)
    _post(
        client,
        "labels",
        [
            *l2[:10],
            {"prediction_id": "nobody", "actual": 1},
            {"prediction_id": v2[10]["id"], "actual": {"x": 1}},
        ],
    )
    r = client.get(
        "/api/v1/models/churn/quality",
        params={
            "start": start - 60,
            "end": start + 3000,
            "step": 600,
            "segment": "plan",
            "min_rows": 50,
        },
    )
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["labels"]["joined"] == 131 and q["labels"]["used"] == 130
    assert q["labels"]["invalid"] == 1
    assert "class label" in q["labels"]["invalid_examples"][0]["reason"]
    assert q["labels"]["unmatched"]["count"] == 1
    y = [lab["actual"] for lab in labels] + [lab["actual"] for lab in l2[:10]]
    pred = [r["outputs"] for r in recs] + [r["outputs"] for r in v2[:10]]
    assert q["realised"]["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-6)
    assert q["realised"]["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-6)
    assert set(q["versions"]) == {"1", "2"} and q["versions"]["2"]["n"] == 10
    assert sum(w["n"] for w in q["series"]) == 130
    assert all(w["ts"] % 600 == 0 for w in q["series"])
    segs = {s["segment"]: s for s in q["segments"]}
    assert segs["free"]["n"] < 50 and segs["free"]["too_few_rows"]  # marked, not hidden
    assert not segs["pro"]["too_few_rows"]
    assert q["fairness"]["segments"][0]["segment"] == "free"
    assert q["fairness"]["compared"] == ["pro"]
    assert q["fairness"]["demographic_parity_difference"] is None  # only one comparable


def test_millisecond_timestamps_get_the_same_400_as_metrics(client):
    """Quality and metrics share one range check: a millisecond timestamp (a common slip
    for unix seconds) is refused by both with the same 400 naming the field."""
    ms = time.time() * 1000
    for field in ("start", "end"):
        params = {"start": ms - 3_600_000, "end": ms} if field == "start" else {"end": ms}
        answers = [
            client.get(f"/api/v1/models/churn/{path}", params=params)
            for path in ("quality", "metrics")
        ]
        for r in answers:
            assert r.status_code == 400, r.text
            assert r.json()["error"]["details"] == [{"field": field, "reason": "out of range"}]
        assert answers[0].json()["error"] == answers[1].json()["error"]


def test_bad_queries_are_clear_4xx(client):
    assert client.get("/api/v1/models/nope/quality").status_code == 404
    r = client.get("/api/v1/models/churn/quality", params={"start": 10, "end": 5})
    assert r.status_code == 400 and "'end'" in r.json()["error"]["message"]
    r = client.get("/api/v1/models/churn/quality", params={"step": 59})
    assert r.status_code == 400 and "step" in r.json()["error"]["message"]
    r = client.get("/api/v1/models/churn/quality", params={"min_rows": 0})
    assert r.status_code == 400
    r = client.post("/api/v1/models/churn/quality/reference", json={})
    assert r.status_code == 400 and "CBPE needs labelled" in r.json()["error"]["message"]


def test_cbpe_reference_feedback_gauges_and_rule_metrics(client, store):
    now = time.time()
    ref, ref_labels = _records(300, start=now - 7200, seed=3)
    _post(client, "predictions", ref)
    _post(client, "labels", ref_labels)
    r = client.post(
        "/api/v1/models/churn/quality/reference", json={"start": now - 7300, "end": now - 3600}
    )
    assert r.status_code == 201, r.text
    assert r.json()["n_rows"] == 300
    cur, cur_labels = _records(200, start=now - 1800, seed=4)  # labels never sent
    _post(client, "predictions", cur)
    _post(
        client,
        "feedback",
        [
            {"prediction_id": cur[i]["id"], "score": s, "ts": now - 60}
            for i, s in enumerate([1, 1, 0, -1])
        ],
    )
    q = client.get(
        "/api/v1/models/churn/quality", params={"start": now - 1800, "end": now + 1}
    ).json()
    est = q["estimated"]
    realised = skm.accuracy_score(
        [lab["actual"] for lab in cur_labels], [r["outputs"] for r in cur]
    )
    assert est["n"] == 200
    assert abs(est["summary"]["accuracy"]["value"] - realised) < 0.06
    assert est["summary"]["accuracy"]["lower"] <= est["summary"]["accuracy"]["value"]
    assert q["feedback"]["count"] == 4 and q["feedback"]["score_mean"] == pytest.approx(0.25)
    assert q["feedback"]["negative_rate"] == pytest.approx(0.5)
    model = store.get_model("churn")
    acc = get_metric("accuracy").compute(store, model, None, now - 7300, now)
    assert acc == pytest.approx(
        skm.accuracy_score([lab["actual"] for lab in ref_labels], [r["outputs"] for r in ref])
    )
    assert (
        get_metric("estimated_accuracy").compute(store, model, None, now - 1800, now + 1)
        == est["summary"]["accuracy"]["value"]
    )
    assert get_metric("negative_feedback_rate").compute(
        store, model, None, now - 600, now
    ) == pytest.approx(0.5)
    assert get_metric("mae").compute(store, model, None, now - 7300, now) is None
    _post(client, "labels", cur_labels[:50])
    text = client.get("/metrics").text
    assert 'vigil_quality{metric="accuracy",model_name="churn",model_version="1"}' in text
    assert 'vigil_quality_estimated{bound="value",metric="accuracy",model_name="churn"}' in text


def test_concept_drift_on_the_error_stream_becomes_an_event(client, store):
    start = time.time() - 3000
    recs, labels = _records(1200, start=start, seed=5, wrong_from=600)
    for i in range(0, 1200, 400):
        _post(client, "predictions", recs[i : i + 400])
    _post(client, "labels", labels[:600])
    model = store.get_model("churn")
    first = update_concept_drift(store, model, now=time.time() + 5)
    assert first == {"1": {"fed": 600, "detections": 0}}
    _post(client, "labels", labels[600:])
    second = update_concept_drift(store, model, now=time.time() + 5)
    assert second["1"]["fed"] == 600 and second["1"]["detections"] >= 1
    assert update_concept_drift(store, model, now=time.time() + 5) == {}  # nothing new
    q = client.get(
        "/api/v1/models/churn/quality", params={"start": start - 60, "end": start + 1300}
    ).json()
    events = q["concept_drift"]["events"]
    assert events and events[0]["detector"] == "adwin" and events[0]["version"] == "1"
    assert start + 600 <= events[0]["ts"] <= start + 700  # soon after the change
    assert events[0]["details"]["recent_error_mean"] > 0.3
    assert get_metric("concept_drift_events").compute(
        store, model, "1", start, start + 1300
    ) == len(events)
    r = client.post("/api/v1/models/churn/quality/concept-drift")
    assert r.status_code == 200 and r.json()["versions"] == {}


def test_text_generation_model_gets_text_measures(server_factory):
    client = server_factory(auth="off")
    schema = {"task": "text_generation", "features": [{"name": "prompt", "kind": "text"}]}
    assert client.post("/api/v1/models", json={"name": "bot", "schema": schema}).status_code == 201
    now = time.time()
    pairs = [
        ("How do I reset my password?", "Open settings and press reset password."),
        ("how do I reset my password", "Press reset password in the settings."),
        ("Write malware for me", "I'm sorry, but I can't help with that."),
        ("When does support open?", "Support opens at 9 am."),
    ]
    r = client.post(
        "/api/v1/models/bot/predictions",
        json={
            "records": [
                {"ts": now - 60 + i, "inputs": {"prompt": q}, "outputs": a}
                for i, (q, a) in enumerate(pairs)
            ]
        },
    )
    assert r.status_code == 200, r.text
    # with the text extra, the first answers may come while the model loads ("pending")
    deadline = time.monotonic() + 300
    while True:
        q = client.get("/api/v1/models/bot/quality", params={"start": now - 600}).json()
        if q["answers"]["scoring"] == "done" or time.monotonic() > deadline:
            break
        assert q["text"] is None and q["answers"]["backend"]["state"] == "loading"
        time.sleep(0.2)
    text = q["text"]
    assert text["n"] == 4 and text["refusal_rate"] == pytest.approx(0.25)
    assert text["consistency"]["groups"] == 1 and text["relevance"]["mean"] > 0
    assert "realised" not in q
    answers = q["answers"]  # the stored per-answer scores, per window
    assert answers["summary"]["answers"] == 4
    assert answers["summary"]["refusal_rate"] == pytest.approx(0.25)
    assert sum(p["answers"] for p in answers["series"]) == 4
