"""Bad input rejects only its own record (a 4xx naming the field), never the batch or a 500."""

from __future__ import annotations

import sys

import httpx
import orjson
import psutil
import pytest
from support.records import SCHEMA, record
from support.servers import free_port, start_server_process, wait_ready

PRED = "/api/v1/models/churn/predictions"
BIG_INT = "1" + "0" * 399  # a JSON integer of 400 digits (above 1e308)


def _post_raw(api, bad: str):
    """Post a valid record and a hand-written bad one; return the answer."""
    body = '{"records": [' + orjson.dumps(record(0)).decode() + ", " + bad + "]}"
    return api.post(
        PRED,
        content=body.encode("utf-8", "surrogatepass"),
        headers={"content-type": "application/json"},
    )


def _only_bad_rejected(api, store, bad: str, field: str) -> dict:
    r = _post_raw(api, bad)
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert [e["field"] for e in rejected["errors"]] == [field]
    assert store.count("predictions") == 1
    return rejected["errors"][0]


@pytest.mark.parametrize("key", ["ts", "latency_s"])
def test_huge_integer_time_or_latency_rejects_its_record(api, store, key):
    bad = '{"id": "bad", "inputs": {"age": 1, "plan": "a"}, "' + key + '": ' + BIG_INT + "}"
    err = _only_bad_rejected(api, store, bad, f"records[1].{key}")
    assert "too large" in err["reason"]


def test_huge_integer_in_a_numeric_input_rejects_its_record(api, store):
    bad = '{"id": "bad", "inputs": {"age": ' + BIG_INT + ', "plan": "a"}}'
    err = _only_bad_rejected(api, store, bad, "records[1].inputs.age")
    assert "64-bit" in err["reason"] or "too large" in err["reason"]


@pytest.mark.parametrize("depth", [255, 300, 1024])
def test_deeply_nested_outputs_reject_their_record(api, store, depth):
    bad = '{"id": "bad", "inputs": {"age": 1, "plan": "a"}, "outputs": %s}' % (
        "[" * depth + "1" + "]" * depth
    )
    if depth > 1000:  # deeper than either JSON parser goes: the body itself is refused
        r = _post_raw(api, bad)
        assert r.status_code == 400, r.text
        assert store.count("predictions") == 0
        return
    err = _only_bad_rejected(api, store, bad, "records[1].outputs")
    assert "nested deeper" in err["reason"]


def test_too_deep_body_is_refused_whatever_the_recursion_limit(api, store):
    """Libraries (hypothesis, mkdocs) raise the recursion limit; the answer must not move."""
    bad = '{"id": "bad", "outputs": %s}' % ("[" * 1024 + "1" + "]" * 1024)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)
    try:
        r = _post_raw(api, bad)
    finally:
        sys.setrecursionlimit(old)
    assert r.status_code == 400, r.text
    assert "depth limit" in r.json()["error"]["message"]
    assert store.count("predictions") == 0


def test_lone_surrogate_in_a_categorical_input_rejects_its_record(api, store):
    bad = '{"id": "bad", "inputs": {"age": 1, "plan": "\\ud800"}}'
    err = _only_bad_rejected(api, store, bad, "records[1].inputs.plan")
    assert "surrogate" in err["reason"]


def test_metrics_with_absurd_range_is_a_400(api):
    r = api.get("/api/v1/models/churn/metrics", params={"start": "-1e308", "end": "1e308"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_parameter"
    assert "'start'" in r.json()["error"]["message"]


def test_oversized_text_input_rejects_its_record_and_counts_it(api, store):
    big = {"id": "big", "inputs": {"age": 1, "plan": "a", "note": "x" * 300_000}}
    r = api.post(PRED, json={"records": [record(0), big]})
    assert r.status_code == 207, r.text
    [rejected] = r.json()["rejected"]
    assert rejected["errors"][0]["field"] == "records[1].inputs.note"
    assert "VIGIL_MAX_FIELD_BYTES" in rejected["errors"][0]["reason"]
    summary = api.get("/api/v1/models/churn/metrics").json()["summary"]
    assert summary["rejected"] == 1
    assert summary["rejected_by_reason"] == {"too_large": 1}
    assert summary["rejected_rate"] == pytest.approx(0.5)


@pytest.mark.integration
def test_ten_megabyte_text_input_does_not_keep_server_memory(tmp_path):
    port = free_port()
    proc = start_server_process(f"sqlite:///{tmp_path / 'v.db'}", port, home=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, timeout_s=120, proc=proc)
        assert (
            httpx.post(
                f"{base}/api/v1/models", json={"name": "churn", "schema": SCHEMA}, timeout=60
            ).status_code
            == 201
        )
        server = psutil.Process(proc.pid)
        body = {
            "records": [
                record(0),
                {"id": "huge", "inputs": {"age": 1, "plan": "a", "note": "lorem ipsum " * 900_000}},
            ]
        }
        r = httpx.post(f"{base}{PRED}", json=body, timeout=120)
        assert r.status_code == 207, r.text
        before = server.memory_info().rss
        for i in range(3):
            body["records"][0] = record(i + 1)
            r = httpx.post(f"{base}{PRED}", json=body, timeout=120)
            assert r.status_code == 207, r.text
        grown = server.memory_info().rss - before
        assert grown < 50 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB"  # 107 MiB before
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_new_input_too_deep_or_too_long_rejects_its_record(api, store):
    blob: object = 1
    for _ in range(40):
        blob = [blob]
    deep = {"id": "deep", "inputs": {"age": 1, "plan": "a", "blob": blob}}
    long = {"id": "long", "inputs": {"age": 1, "plan": "a", "essay": "y" * 300_000}}
    r = api.post(PRED, json={"records": [record(0), deep, long]})
    assert r.status_code == 207, r.text
    rejected = {rej["id"]: rej["errors"][0] for rej in r.json()["rejected"]}
    assert rejected["deep"]["field"] == "records[1].inputs.blob"
    assert "nested deeper" in rejected["deep"]["reason"]
    assert rejected["long"]["field"] == "records[2].inputs.essay"
    assert store.count("predictions") == 1


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("inputs", "records[1].inputs.plan"),
        ("outputs", "records[1].outputs"),
        ("id", "records[1].id"),
        ("new_input", "records[1].inputs.fresh"),
    ],
)
def test_a_nul_character_rejects_its_record(api, store, where, field):
    bad = {"id": "bad", "inputs": {"age": 1, "plan": "a"}}
    if where == "inputs":
        bad["inputs"]["plan"] = "a\u0000b"
    elif where == "outputs":
        bad["outputs"] = {"text": "x\u0000"}
    elif where == "id":
        bad["id"] = "b\u0000d"
    else:
        bad["inputs"]["fresh"] = "\u0000"
    r = api.post(PRED, json={"records": [record(0), bad]})
    assert r.status_code == 207, r.text
    [rejected] = r.json()["rejected"]
    assert rejected["errors"][0]["field"] == field
    assert "NUL" in rejected["errors"][0]["reason"]
    assert store.count("predictions") == 1


def test_bad_labels_and_feedback_reject_only_themselves(api, store):
    api.post(PRED, json={"records": [record(0), record(1)]})
    body = (
        '{"labels": [{"prediction_id": "p0", "actual": 1}, '
        '{"prediction_id": "p1", "actual": ' + BIG_INT + "}]}"
    )
    r = api.post(
        "/api/v1/models/churn/labels", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 207, r.text
    assert r.json()["rejected"][0]["errors"][0]["field"] == "labels[1].actual"
    r = api.post(
        "/api/v1/models/churn/feedback",
        json={
            "feedback": [
                {"prediction_id": "p0", "score": 1, "comment": "fine"},
                {"prediction_id": "p1", "score": 0, "comment": "bad\u0000"},
            ]
        },
    )
    assert r.status_code == 207, r.text
    assert r.json()["rejected"][0]["errors"][0]["field"] == "feedback[1].comment"
    assert store.count("labels") == 1 and store.count("feedback") == 1
