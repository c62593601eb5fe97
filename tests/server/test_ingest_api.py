"""Ingest over real HTTP: idempotency, partial batches and every kind of bad input."""

from __future__ import annotations

import gzip
import time

import orjson
import pytest
from support.records import SCHEMA, record

PRED = "/api/v1/models/churn/predictions"


def _error(resp, status: int, code: str):
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["code"] == code
    return body


def test_model_registration_create_then_update(api):
    r = api.post(
        "/api/v1/models",
        json={"name": "churn", "schema": SCHEMA, "description": "v2 of the churn model"},
    )
    assert r.status_code == 200
    assert r.json()["description"] == "v2 of the churn model"
    assert api.get("/api/v1/models/churn").json()["task"] == "binary_classification"
    assert [m["name"] for m in api.get("/api/v1/models").json()["models"]] == ["churn"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "bad name!"}, "model name"),
        ({"name": ""}, "model name"),
        ({"schema": SCHEMA}, "model name"),
        ({"name": "m", "task": "astrology"}, "'task' must be one of"),
        ({"name": "m", "schema": {"features": [{"name": "a", "kind": "blob"}]}}, "kind of feature"),
        ({"name": "m", "schema": {"features": [{"name": "a"}]}}, "'name' and 'kind'"),
        ({"name": "m", "schema": {"features": "a"}}, "must be a list"),
        ({"name": "m", "colour": "red"}, "Unknown fields"),
        ([1, 2], "JSON object"),
    ],
)
def test_model_registration_bad_input(api, body, needle):
    err = _error(api.post("/api/v1/models", json=body), 400, "invalid_parameter")
    assert needle in err["message"]


def test_unknown_model_is_404_with_the_fix(api):
    for path, body in [
        ("/predictions", {"records": [record(0)]}),
        ("/labels", {"prediction_id": "p0", "actual": 1}),
        ("/feedback", {"prediction_id": "p0", "score": 1}),
    ]:
        err = _error(api.post(f"/api/v1/models/nope{path}", json=body), 404, "model_not_found")
        assert "POST /api/v1/models" in err["message"]
    _error(api.get("/api/v1/models/nope"), 404, "model_not_found")


def test_ingest_is_idempotent_on_prediction_id(api, store):
    batch = {"records": [record(i) for i in range(20)]}
    first = api.post(PRED, json=batch)
    assert first.status_code == 200
    assert first.json() == {"accepted": 20, "duplicates": 0, "rejected": []}
    again = api.post(PRED, json=batch)
    assert again.json() == {"accepted": 0, "duplicates": 20, "rejected": []}
    inside = api.post(PRED, json={"records": [record(100), record(100)]})
    assert inside.json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    assert store.count("predictions") == 21


def test_partial_batch_stores_valid_records_and_names_each_problem(api, store):
    records = [
        record(0),
        record(1, inputs={"age": "old", "plan": "pro"}),  # wrong type
        record(2, inputs={"age": 3}),  # missing: stored as null
        record(3),
        record(4, latency_s=-1),  # impossible latency
        record(5, ts=time.time() + 10 * 86400),  # future
        record(6, inputs={"age": 1, "plan": "x", "emb": [1]}),  # wrong embedding size
        "not an object",
        record(8, latency="fast"),  # typo'd field
        record(9, id=""),  # empty id
        record(10, inputs={"age": True, "plan": "x"}),  # bool is not a number
        record(11, ts="yesterday"),
        record(12, ts="2026-01-01T00:00:00Z", subject_id="u1"),  # valid ISO time
    ]
    r = api.post(PRED, json={"records": records})
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["accepted"] == 4
    by_index = {rej["index"]: rej for rej in body["rejected"]}
    assert sorted(by_index) == [1, 4, 5, 6, 7, 8, 9, 10, 11]
    fields = {i: [e["field"] for e in rej["errors"]] for i, rej in by_index.items()}
    assert fields[1] == ["records[1].inputs.age"]
    assert fields[4] == ["records[4].latency_s"]
    assert fields[5] == ["records[5].ts"]
    assert fields[6] == ["records[6].inputs.emb"]
    assert fields[7] == ["records[7]"]
    assert fields[8] == ["records[8]"]
    assert "latency" in by_index[8]["errors"][0]["reason"]
    assert fields[9] == ["records[9].id"]
    assert fields[10] == ["records[10].inputs.age"]
    assert fields[11] == ["records[11].ts"]
    assert by_index[1]["id"] == "p1"
    assert store.count("predictions") == 4


def test_all_rejected_is_422_with_the_per_record_result(api):
    r = api.post(PRED, json={"records": [record(0, inputs={"age": "x"}), record(1, inputs=[])]})
    err = _error(r, 422, "validation_failed")
    assert err["details"]["accepted"] == 0
    assert [rej["index"] for rej in err["details"]["rejected"]] == [0, 1]


def test_non_finite_numbers_reject_only_their_records(api, store):
    valid = orjson.dumps(record(0)).decode()
    body = (
        '{"records": [' + valid + ', {"id": "nan", "inputs": {"age": NaN, "plan": "a"}},'
        ' {"id": "inf", "inputs": {"age": 1e999, "plan": "a"}},'
        ' {"id": "out", "inputs": {"age": 1, "plan": "a"}, "outputs": [-Infinity]}]}'
    )
    r = api.post(PRED, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 207, r.text
    rejected = {rej["id"]: rej["errors"][0] for rej in r.json()["rejected"]}
    assert rejected["nan"]["field"] == "records[1].inputs.age"
    assert rejected["inf"]["field"] == "records[2].inputs.age"
    assert rejected["out"]["field"] == "records[3].outputs[0]"
    assert store.count("predictions") == 1


@pytest.mark.parametrize(
    ("content", "headers", "status", "code", "needle"),
    [
        (b'{"records": [', {}, 400, "invalid_parameter", "not valid JSON"),
        (b"", {}, 400, "invalid_parameter", "empty"),
        (b'{"rows": []}', {}, 400, "invalid_parameter", "'records'"),
        (b'{"records": {"a": 1}}', {}, 400, "invalid_parameter", "must be a list"),
        (b'"records"', {}, 400, "invalid_parameter", "must be a list"),
        (b"not gzip", {"content-encoding": "gzip"}, 400, "invalid_parameter", "gzip"),
        (b"{}", {"content-encoding": "br"}, 400, "invalid_parameter", "Content-Encoding"),
    ],
)
def test_malformed_bodies_are_4xx(api, content, headers, status, code, needle):
    headers = {"content-type": "application/json", **headers}
    err = _error(api.post(PRED, content=content, headers=headers), status, code)
    assert needle in err["message"]


def test_gzip_bodies_are_accepted(api, store):
    body = gzip.compress(orjson.dumps({"records": [record(i) for i in range(50)]}))
    r = api.post(
        PRED, content=body, headers={"content-encoding": "gzip", "content-type": "application/json"}
    )
    assert r.json()["accepted"] == 50
    assert store.count("predictions") == 50


def test_oversized_batches_and_bodies_are_413(server_factory):
    client = server_factory(auth="off", max_batch_records=5, max_body_bytes=4096)
    client.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    err = _error(
        client.post(PRED, json={"records": [record(i) for i in range(6)]}), 413, "payload_too_large"
    )
    assert "VIGIL_MAX_BATCH_RECORDS" in err["message"]
    big = {"records": [record(0, outputs="x" * 5000)]}
    _error(client.post(PRED, json=big), 413, "payload_too_large")
    bomb = gzip.compress(orjson.dumps(big))  # small on the wire, large inflated
    _error(
        client.post(
            PRED,
            content=bomb,
            headers={"content-encoding": "gzip", "content-type": "application/json"},
        ),
        413,
        "payload_too_large",
    )


def test_labels_single_and_batch_with_unmatched_count(api, store):
    api.post(PRED, json={"records": [record(0), record(1)]})
    single = api.post("/api/v1/models/churn/labels", json={"prediction_id": "p0", "actual": 1})
    assert single.json() == {"accepted": 1, "duplicates": 0, "rejected": [], "unmatched": 0}
    batch = api.post(
        "/api/v1/models/churn/labels",
        json={
            "labels": [
                {"prediction_id": "p1", "actual": 0},
                {"prediction_id": "p-later", "actual": 1},
                {"prediction_id": "p0"},
                {"actual": 1},
            ]
        },
    )
    assert batch.status_code == 207
    body = batch.json()
    assert (body["accepted"], body["unmatched"]) == (2, 1)
    assert [r["errors"][0]["field"] for r in body["rejected"]] == [
        "labels[2].actual",
        "labels[3].prediction_id",
    ]
    assert store.count("labels") == 3


def test_feedback_validation_and_idempotency(api, store):
    items = {
        "feedback": [
            {"id": "f1", "prediction_id": "p0", "score": 1, "comment": "good"},
            {"id": "f2", "prediction_id": "p0", "score": "great"},
            {"id": "f3", "prediction_id": "p0", "score": 0, "comment": 5},
        ]
    }
    r = api.post("/api/v1/models/churn/feedback", json=items)
    assert r.status_code == 207
    assert [e["errors"][0]["field"] for e in r.json()["rejected"]] == [
        "feedback[1].score",
        "feedback[2].comment",
    ]
    again = api.post("/api/v1/models/churn/feedback", json={"feedback": items["feedback"][:1]})
    assert again.json()["duplicates"] == 1
    assert store.count("feedback") == 1


def test_window_metrics_from_rollups(api):
    now = time.time()
    records = [
        record(i, ts=now - 1, latency_s=(i + 1) / 1000, error="timeout" if i < 10 else None)
        for i in range(200)
    ]
    records += [record(1000 + i, version="2", ts=now - 1) for i in range(50)]
    api.post(PRED, json={"records": records})
    m = api.get("/api/v1/models/churn/metrics", params={"version": "1"}).json()
    s = m["summary"]
    assert (s["count"], s["errors"]) == (200, 10)
    assert s["error_rate"] == pytest.approx(0.05)
    assert s["latency_p50_s"] == pytest.approx(0.1, abs=0.01)
    assert s["latency_p99_s"] == pytest.approx(0.198, abs=0.01)
    assert sum(p["count"] for p in m["series"]) == 200
    both = api.get("/api/v1/models/churn/metrics").json()["summary"]
    assert both["count"] == 250
    _error(api.get("/api/v1/models/churn/metrics", params={"step": 61}), 400, "invalid_parameter")
    _error(
        api.get("/api/v1/models/churn/metrics", params={"start": now, "end": now - 10}),
        400,
        "invalid_parameter",
    )
    _error(api.get("/api/v1/models/churn/metrics", params={"step": "x"}), 422, "validation_failed")


def test_prometheus_exposition(api):
    from prometheus_client.parser import text_string_to_metric_families

    api.post(PRED, json={"records": [record(i, error="e" if i == 0 else None) for i in range(30)]})
    api.post(PRED, json={"records": [record(i) for i in range(30)]})  # duplicates: not counted
    r = api.get("/metrics")
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    labels = (("model_name", "churn"), ("model_version", "1"))
    assert samples[("vigil_predictions_total", labels)] == 30
    with_kind = tuple(sorted((*labels, ("error_type", "unknown"))))
    assert samples[("vigil_prediction_errors_total", with_kind)] == 1
    assert samples[("vigil_prediction_latency_seconds_count", labels)] == 30
    assert families["vigil_prediction_latency_seconds"].type == "histogram"
    for name, label_set in samples:
        keys = {k for k, _ in label_set}
        if name.startswith("vigil_prediction"):
            assert keys <= {"model_name", "model_version", "le", "error_type"}, name
        assert not keys & {"id", "prediction_id", "subject_id", "request_id"}, name


def test_health_and_openapi(api):
    assert api.get("/healthz").json()["status"] == "ok"
    assert api.get("/readyz").json()["status"] == "ready"
    spec = api.get("/openapi.json").json()
    assert "/api/v1/models/{name}/predictions" in spec["paths"]
    assert "churn" in api.get("/").text
