"""Erasure of a data subject, export, retention (on demand and scheduled), end to end over
real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from support.audit_server import sqlite_servers
from support.records import SCHEMA, record

from vigil.store.audit_chain import verify_chain
from vigil.store.privacy import queries as q


@pytest.fixture
def sqlite_server(tmp_path):
    yield from sqlite_servers(tmp_path)


def _setup(api) -> None:
    for name in ("churn", "upsell"):
        assert api.post("/api/v1/models", json={"name": name, "schema": SCHEMA}).status_code in (
            200,
            201,
        )
    api.post(
        "/api/v1/models/churn/predictions",
        json={
            "records": [
                record(1, subject_id="u1"),
                record(2, subject_id="u1"),
                record(3, subject_id="u2"),
                record(4),
            ]
        },
    )
    api.post(
        "/api/v1/models/upsell/predictions",
        json={"records": [record(5, subject_id="u1"), record(6, subject_id="u2")]},
    )
    api.post(
        "/api/v1/models/churn/labels",
        json={
            "labels": [{"prediction_id": "p1", "actual": 1}, {"prediction_id": "p3", "actual": 0}]
        },
    )
    api.post("/api/v1/models/upsell/labels", json={"prediction_id": "p5", "actual": 1})
    api.post(
        "/api/v1/models/churn/feedback",
        json={
            "feedback": [
                {"id": "f1", "prediction_id": "p2", "score": 1, "comment": "from u1"},
                {"id": "f3", "prediction_id": "p3", "score": 0},
            ]
        },
    )


def _ids(store, table: str, column: str = "id") -> set[str]:
    with store.read() as conn:
        return set(conn.execute(sa.text(f"SELECT {column} FROM {table}")).scalars())


def test_erasure_removes_the_subject_everywhere_and_returns_a_receipt(server_factory, store):
    api = server_factory(auth="off")
    _setup(api)
    exported = api.get("/api/v1/subjects/u1").json()
    assert sorted(p["id"] for p in exported["predictions"]) == ["p1", "p2", "p5"]
    assert {p["model"] for p in exported["predictions"]} == {"churn", "upsell"}
    assert sorted(x["prediction_id"] for x in exported["labels"]) == ["p1", "p5"]
    assert [f["comment"] for f in exported["feedback"]] == ["from u1"]

    r = api.delete("/api/v1/subjects/u1")
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["subject_id"] == "u1"
    assert receipt["deleted"]["predictions"] == 3
    assert receipt["deleted"]["labels"] == 2
    assert receipt["deleted"]["feedback"] == 1
    assert receipt["models"] == ["churn", "upsell"]
    assert receipt["subject_hash"] == q.subject_hash("u1")
    if store.backend == "sqlite":  # deleted bytes zeroed, WAL truncated
        assert receipt["storage"] == {
            "backend": "sqlite",
            "secure_delete": True,
            "wal_truncated": True,
        }
    else:  # dead rows vacuumed (their space reusable)
        assert receipt["storage"]["backend"] == "postgresql"
        assert {"predictions", "labels", "feedback"} <= set(receipt["storage"]["vacuumed"])

    assert _ids(store, "predictions") == {"p3", "p4", "p6"}
    assert _ids(store, "labels", "prediction_id") == {"p3"}
    assert _ids(store, "feedback") == {"f3"}
    assert api.get("/api/v1/subjects/u1").json()["predictions"] == []
    again = api.delete("/api/v1/subjects/u1").json()
    assert sum(again["deleted"].values()) == 0

    receipts = api.get("/api/v1/privacy/erasures").json()["receipts"]
    assert [x["id"] for x in receipts][-1] == receipt["id"]
    assert all("u1" not in str(x) for x in receipts)  # the id itself is not kept
    entries = api.get("/api/v1/audit-log").json()["entries"]
    erased = [e for e in entries if e["action"] == "subject.erase"]
    assert erased and erased[-1]["target"] == q.subject_hash("u1")
    assert all("u1" not in str(e) for e in entries)
    assert api.get("/api/v1/audit-log/verify").json()["ok"] is True


def test_subject_ids_are_checked(sqlite_server):
    api = sqlite_server[0](auth="off")
    long_id = "x" * 201
    r = api.delete(f"/api/v1/subjects/{long_id}")
    assert r.status_code == 400
    assert "1-200 characters" in r.json()["error"]["message"]


def test_retention_deletes_old_events_and_their_labels(server_factory, store):
    api = server_factory(auth="off")
    api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    old = time.time() - 10 * 86400
    api.post(
        "/api/v1/models/churn/predictions",
        json={"records": [record(1, ts=old), record(2, ts=old), record(3)]},
    )
    api.post(
        "/api/v1/models/churn/labels",
        json={
            "labels": [{"prediction_id": "p1", "actual": 1}, {"prediction_id": "p3", "actual": 0}]
        },
    )
    api.post("/api/v1/models/churn/feedback", json={"prediction_id": "p2", "score": 1})
    assert (
        api.put("/api/v1/models/churn/retention", json={"days": 7}).json()["retention"]["days"] == 7
    )
    ran = api.post("/api/v1/privacy/retention/run").json()["deleted"]["churn"]
    assert ran == {"labels": 1, "feedback": 1, "predictions": 2} | {
        k: v for k, v in ran.items() if k not in ("labels", "feedback", "predictions")
    }
    assert _ids(store, "predictions") == {"p3"}
    assert _ids(store, "labels", "prediction_id") == {"p3"}
    info = api.get("/api/v1/models/churn/privacy").json()["retention"]
    assert info["last_deleted"] == sum(ran.values())
    assert info["last_run_at"] is not None
    actions = [e["action"] for e in api.get("/api/v1/audit-log").json()["entries"]]
    assert "retention.purge" in actions and "retention.set" in actions
    assert api.delete("/api/v1/models/churn/retention").json()["retention"] is None


def test_the_server_enforces_retention_on_its_own(server_factory, store):
    model, _ = store.upsert_model("churn", "binary_classification", SCHEMA)
    q.set_retention(store, model.id, 1, "test")
    api = server_factory(auth="off", retention_interval_s=0.2)
    api.post(
        "/api/v1/models/churn/predictions",
        json={"records": [record(1, ts=time.time() - 3 * 86400), record(2)]},
    )
    deadline = time.time() + 15
    while "p1" in _ids(store, "predictions"):
        assert time.time() < deadline, "the retention job did not run"
        time.sleep(0.1)
    assert _ids(store, "predictions") == {"p2"}


def test_the_audit_log_chain_detects_tampering(store):
    for i in range(5):
        store.audit("cli", "key.create", f"k{i}", {"n": i, "f": 1.5})
    with store.read() as conn:
        assert verify_chain(conn).ok
    for statement in (
        "UPDATE audit_log SET actor = 'eve' WHERE target = 'k2'",
        "DELETE FROM audit_log WHERE target = 'k2'",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.write() as conn:
            conn.execute(sa.text(statement))  # append-only: the database refuses
    with store.write() as conn:  # someone with DDL rights drops the guard and edits
        if store.backend == "postgresql":
            conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
            conn.execute(sa.text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(sa.text("UPDATE audit_log SET actor = 'eve' WHERE target = 'k2'"))
        bad_id = conn.execute(sa.text("SELECT id FROM audit_log WHERE target = 'k2'")).scalar()
    with store.read() as conn:
        report = verify_chain(conn)
    assert not report.ok and report.first_bad_id == bad_id
    assert "changed" in report.reason
    with store.write() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'cli' WHERE target = 'k2'"))
        conn.execute(sa.text("DELETE FROM audit_log WHERE target = 'k3'"))
    with store.read() as conn:
        report = verify_chain(conn)
    assert not report.ok and report.first_bad_id == bad_id + 2
    assert "removed or inserted" in report.reason
