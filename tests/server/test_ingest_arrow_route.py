"""The predictions route takes an Arrow IPC stream besides JSON records: the same records
sent both ways store the same rows and the same rollups; a bad stream is a clear 400."""

from __future__ import annotations

import time

import sqlalchemy as sa
from support.arrow_bodies import arrow_stream

from vigil.store import tables as t

ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "age", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
}


def _records(now: float) -> list[dict]:
    return [
        {
            "id": f"p{i}",
            "version": "2" if i % 3 else "1",
            "ts": now - 600 + i * 7,
            "latency_s": 0.001 * (i + 1),
            "inputs": {"age": 20 + i, "plan": "ab"[i % 2]},
            "outputs": i % 2,
            **({"error": "TimeoutError: slow", "error_type": "timeout"} if i % 10 == 0 else {}),
        }
        for i in range(60)
    ]


def _stream(records: list[dict]) -> bytes:
    fields = ("id", "version", "ts", "latency_s", "error", "error_type", "outputs")
    return arrow_stream(records, fields)


def _stored(store, model_id: int) -> tuple[list, list]:
    p, r = t.predictions, t.rollups
    store.fold_pending(model_id)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(
                p.c.id,
                p.c.version,
                p.c.ts,
                p.c.latency_s,
                p.c.error,
                p.c.error_type,
                sa.cast(p.c.inputs, sa.Text),
            )
            .where(p.c.model_id == model_id)
            .order_by(p.c.id)
        ).all()
        rollups = conn.execute(
            sa.select(
                r.c.version, r.c.minute, r.c.count, r.c.errors, r.c.latency_count, r.c.latency_sum
            )
            .where(r.c.model_id == model_id)
            .order_by(r.c.version, r.c.minute)
        ).all()
    return [tuple(x) for x in rows], [tuple(x) for x in rollups]


def test_arrow_and_json_bodies_store_the_same_rows_and_rollups(server_factory, store):
    api = server_factory(auth="off")
    for name in ("by-json", "by-arrow"):
        assert api.post("/api/v1/models", json={"name": name, "schema": SCHEMA}).status_code == 201
    records = _records(time.time())
    by_json = api.post("/api/v1/models/by-json/predictions", json={"records": records})
    by_arrow = api.post(
        "/api/v1/models/by-arrow/predictions", content=_stream(records), headers=ARROW
    )
    assert by_json.status_code == by_arrow.status_code == 200, by_arrow.text
    assert by_json.json() == by_arrow.json() == {"accepted": 60, "duplicates": 0, "rejected": []}
    json_rows, json_rollups = _stored(store, store.get_model("by-json").id)
    arrow_rows, arrow_rollups = _stored(store, store.get_model("by-arrow").id)
    assert len(json_rows) == 60 and arrow_rows == json_rows
    assert sum(r[2] for r in json_rollups) == 60 and arrow_rollups == json_rollups
    again = api.post("/api/v1/models/by-arrow/predictions", content=_stream(records), headers=ARROW)
    assert again.json()["duplicates"] == 60  # ids idempotent whatever the body


def test_a_bad_arrow_stream_is_a_400_naming_the_problem(server_factory, store):
    api = server_factory(auth="off")
    api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    r = api.post("/api/v1/models/churn/predictions", content=b"not arrow", headers=ARROW)
    assert r.status_code == 400 and "Arrow" in r.json()["error"]["message"]
