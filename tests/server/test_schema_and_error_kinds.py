"""Schemas evolve (never silently drop), strict schemas reject, errors are counted by kind."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.records import SCHEMA, record

from vigil.engine.alerts.rules import Rule
from vigil.engine.metric_sources import get_metric

PRED = "/api/v1/models/churn/predictions"


def test_inputs_that_appear_are_added_and_missing_ones_stored_as_null(api, store):
    r = api.post(
        PRED,
        json={
            "records": [
                record(0, version="2", inputs={"age": 1, "plan": "a", "score": 0.5}),
                record(1, inputs={"age": 2}),  # 'plan' stopped arriving: stored as missing
            ]
        },
    )
    assert r.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    out = api.get("/api/v1/models/churn/schema").json()
    assert out["strict"] is False
    score = [f for f in out["schema"]["features"] if f["name"] == "score"]
    assert score == [{"name": "score", "kind": "numeric", "required": False}]
    [change] = out["history"]
    assert (change["feature"], change["change"], change["kind"], change["version"]) == (
        "score",
        "added",
        "numeric",
        "2",
    )
    assert change["ts"] == pytest.approx(time.time(), abs=120)
    # a type conflict with the kind now stored rejects only that record, saying why
    r = api.post(
        PRED,
        json={"records": [record(2, inputs={"age": 3, "plan": "a", "score": "high"}), record(3)]},
    )
    body = r.json()
    assert r.status_code == 207 and body["accepted"] == 1
    [err] = body["rejected"][0]["errors"]
    assert err["field"] == "records[0].inputs.score"
    assert "number" in err["reason"]
    assert store.count("predictions") == 3
    assert len(api.get("/api/v1/models/churn/schema").json()["history"]) == 1


def test_a_new_input_in_a_conflicting_batch_keeps_the_first_kind(api):
    r = api.post(
        PRED,
        json={
            "records": [
                record(0, inputs={"age": 1, "plan": "a", "extra": 1.5}),
                record(1, inputs={"age": 1, "plan": "a", "extra": [1, 2]}),
            ]
        },
    )
    body = r.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 1
    assert body["rejected"][0]["errors"][0]["field"] == "records[1].inputs.extra"


def test_strict_schema_rejects_unknown_and_missing_inputs(api, store):
    r = api.post("/api/v1/models", json={"name": "strict", "schema": SCHEMA, "strict": True})
    assert r.status_code == 201 and r.json()["strict"] is True
    r = api.post(
        "/api/v1/models/strict/predictions",
        json={
            "records": [
                record(0),
                record(1, inputs={"age": 1, "plan": "a", "new": 2}),
                record(2, inputs={"age": 1}),
            ]
        },
    )
    body = r.json()
    assert body["accepted"] == 1
    errors = {rej["index"]: rej["errors"][0] for rej in body["rejected"]}
    assert errors[1]["field"] == "records[1].inputs.new"
    assert "strict" in errors[1]["reason"]
    assert errors[2] == {"field": "records[2].inputs.plan", "reason": "missing required feature"}
    schema = api.get("/api/v1/models/strict/schema").json()
    assert schema["history"] == []
    summary = api.get("/api/v1/models/strict/metrics").json()["summary"]
    assert summary["rejected_by_reason"] == {"unknown_input": 1, "missing_input": 1}
    model = store.get_model("strict")
    now = time.time()
    rate = get_metric("rejected_rate").compute(store, model, None, now - 3600, now + 60)
    assert rate == pytest.approx(2 / 3)
    assert get_metric("rejected_rate:unknown_input").compute(
        store, model, None, now - 3600, now + 60
    ) == pytest.approx(1 / 3)
    with pytest.raises(Exception, match="parameter"):
        get_metric("rejected_rate:bad reason!")
    # the built-in rule's replacement README shows is valid as written
    rule = Rule.from_dict(
        {
            "name": "rejected-records",
            "model": "*",
            "metric": "rejected_rate",
            "op": ">",
            "threshold": 0.01,
            "window": "5m",
            "notifiers": [],
        }
    )
    assert rule.metric == "rejected_rate"


def test_errors_are_counted_by_kind_everywhere(api, store, tmp_path):
    recs = [
        record(0, error_type="timeout"),  # a kind the caller names
        record(1, error="TimeoutError: took 3 s"),  # derived from the prefix
        record(2, error="OOVError: token 'zz'"),
        record(3, error=True),  # no kind: counted as unknown
        record(4),
        record(5, error_type="x" * 101),  # too long: rejected
    ]
    r = api.post(PRED, json={"records": recs})
    body = r.json()
    assert body["accepted"] == 5
    assert body["rejected"][0]["errors"][0]["field"] == "records[5].error_type"
    summary = api.get("/api/v1/models/churn/metrics").json()["summary"]
    assert summary["errors"] == 4
    assert summary["errors_by_type"] == {
        "OOVError": 1,
        "TimeoutError": 1,
        "timeout": 1,
        "unknown": 1,
    }
    prom = api.get("/metrics").text
    samples = {
        (s.name, s.labels.get("error_type")): s.value
        for fam in text_string_to_metric_families(prom)
        for s in fam.samples
        if s.name == "vigil_prediction_errors_total"
    }
    assert samples[("vigil_prediction_errors_total", "timeout")] == 1
    assert samples[("vigil_prediction_errors_total", "OOVError")] == 1
    model = store.get_model("churn")
    now = time.time()
    assert get_metric("error_rate:timeout").compute(
        store, model, None, now - 3600, now + 60
    ) == pytest.approx(1 / 5)
    assert get_metric("error_rate").compute(
        store, model, None, now - 3600, now + 60
    ) == pytest.approx(4 / 5)
    rule = Rule.from_dict(
        {
            "name": "timeouts",
            "model": "churn",
            "metric": "error_rate:timeout",
            "op": ">",
            "threshold": 0.1,
            "window": "5m",
        }
    )
    assert rule.metric == "error_rate:timeout"

    from vigil.cli.main import main

    out = tmp_path / "train.parquet"
    main(["export", "dataset", "--model", "churn", "-o", str(out), "--db", store.url])
    frame = pd.read_parquet(out).set_index("prediction_id")
    assert frame.loc["p1", "error"] == "TimeoutError: took 3 s"
    assert frame.loc["p1", "error_type"] == "TimeoutError"
    assert frame.loc["p0", "error_type"] == "timeout"
    assert pd.isna(frame.loc["p4", "error"])


def test_dashboard_shows_rejections_and_error_kinds(api):
    api.post(
        PRED,
        json={
            "records": [
                record(0, error_type="timeout"),
                record(1, inputs={"age": "x", "plan": "a"}),
            ]
        },
    )
    overview = api.get("/").text
    assert 'id="rejections"' in overview and "churn" in overview
    page = api.get("/ui/models/churn").text
    assert 'id="rejections"' in page and "input_type 1" in page
    assert 'id="error-kinds"' in page and "timeout 1" in page
