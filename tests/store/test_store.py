"""The store on SQLite and PostgreSQL: migrations, models, idempotent events, rollups, keys."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from vigil.errors import ConfigurationError, SchemaOutdatedError
from vigil.store import migrate, open_store
from vigil.store import tables as t
from vigil.store.engine import make_engine

SCHEMA = {
    "task": "regression",
    "features": [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}],
}


def _row(i: int, model_id: int, ts: float, version: str = "1", error: str | None = None):
    return {
        "id": f"p{i}",
        "model_id": model_id,
        "version": version,
        "ts": ts,
        "latency_s": 0.001 * (i + 1),
        "error": error,
        "subject_id": None,
        "inputs": {"x": float(i), "c": "ab"[i % 2]},
        "outputs": i,
        "proba": None,
        "received_at": ts,
    }


def test_migrations_upgrade_downgrade_roundtrip(db_url):
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        names = set(sa.inspect(engine).get_table_names())
        assert {
            "models",
            "predictions",
            "labels",
            "feedback",
            "rollups",
            "api_keys",
            "audit_log",
            "model_versions",
        } <= names
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert "predictions" not in set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_outdated_schema_is_refused_with_the_fix(db_url):
    with pytest.raises(SchemaOutdatedError, match="vigil db upgrade"):
        open_store(db_url, upgrade=False)


def test_bad_url_names_the_setting():
    with pytest.raises(ConfigurationError, match="VIGIL_DB_URL"):
        make_engine("not a url")
    with pytest.raises(ConfigurationError, match="SQLite or PostgreSQL"):
        make_engine("mysql://x@localhost/db")


def test_model_upsert_reports_creation(store):
    model, created = store.upsert_model("m", "regression", SCHEMA)
    assert created and model.schema == SCHEMA
    again, created = store.upsert_model("m", "regression", SCHEMA, "new description")
    assert not created and again.id == model.id and again.description == "new description"
    assert [m.name for m in store.list_models()] == ["m"]
    assert store.get_model("nope") is None


def test_predictions_are_idempotent_and_rolled_up_once(store):
    model, _ = store.upsert_model("m", "regression", SCHEMA)
    now = time.time()
    minute = int(now // 60) * 60
    rows = [_row(i, model.id, minute + 1, error="boom" if i == 0 else None) for i in range(10)]
    assert store.insert_predictions(model, rows) == {f"p{i}" for i in range(10)}
    # the same batch again, plus two new records: only the new ones count
    more = [*rows, _row(10, model.id, minute + 2), _row(11, model.id, minute + 2, version="2")]
    assert store.insert_predictions(model, more) == {"p10", "p11"}
    assert store.count("predictions", model.id) == 12
    rollups = {(r.version, r.minute): r for r in store.rollup_rows(model.id, minute, minute + 60)}
    v1 = rollups[("1", minute)]
    assert (v1.count, v1.errors, v1.latency_count) == (11, 1, 11)
    assert v1.latency_sum == pytest.approx(sum(0.001 * (i + 1) for i in range(11)))
    assert rollups[("2", minute)].count == 1
    assert [v["version"] for v in store.list_versions(model.id)] == ["1", "2"]


def test_rollup_profile_merges_across_batches(store):
    from vigil.profile import Profile

    model, _ = store.upsert_model("m", "regression", SCHEMA)
    minute = int(time.time() // 60) * 60
    store.insert_predictions(model, [_row(i, model.id, minute + 5) for i in range(5)])
    store.insert_predictions(model, [_row(i, model.id, minute + 5) for i in range(5, 8)])
    (row,) = store.rollup_rows(model.id, minute, minute + 60)
    profile = Profile.from_bytes(row.profile)
    assert profile.n_rows == 8
    assert profile.columns["x"].mean == pytest.approx(3.5)


def test_labels_replace_and_count_matches(store):
    model, _ = store.upsert_model("m", "regression", SCHEMA)
    now = time.time()
    store.insert_predictions(model, [_row(0, model.id, now)])
    label = {"prediction_id": "p0", "actual": 1, "ts": now, "received_at": now}
    orphan = {"prediction_id": "later", "actual": 0, "ts": now, "received_at": now}
    assert store.upsert_labels(model.id, [label, orphan]) == 1
    assert store.upsert_labels(model.id, [{**label, "actual": 2}]) == 1
    assert store.count("labels", model.id) == 2
    with store.read() as conn:
        actual = conn.execute(sa.text("SELECT actual FROM labels WHERE prediction_id='p0'"))
        assert str(actual.scalar()) == "2"


def test_feedback_is_idempotent(store):
    model, _ = store.upsert_model("m", "regression", SCHEMA)
    now = time.time()
    item = {
        "id": "f1",
        "prediction_id": "p0",
        "score": 1.0,
        "comment": None,
        "ts": now,
        "received_at": now,
    }
    assert store.insert_feedback(model.id, [item]) == {"f1"}
    assert store.insert_feedback(model.id, [item]) == set()
    assert store.count("feedback", model.id) == 1


def test_api_keys_are_stored_hashed(store):
    record, secret = store.create_api_key("ci", ["ingest", "read"])
    assert secret.startswith("vgl_") and len(secret) > 40
    found = store.find_api_key(secret)
    assert found is not None and found.scopes == {"ingest", "read"}
    with store.read() as conn:
        stored = conn.execute(sa.text("SELECT key_hash FROM api_keys")).scalar()
    assert secret not in stored and len(stored) == 64
    assert store.find_api_key(secret + "x") is None
    assert store.revoke_api_key(record.id)
    assert not store.revoke_api_key(record.id)
    assert store.find_api_key(secret).revoked_at is not None


def test_audit_log_appends(store):
    store.audit("cli", "key.create", "abc", {"scopes": ["read"]})
    store.audit("key:1", "model.update", "m")
    entries = store.audit_entries()
    assert [e["action"] for e in entries] == ["model.update", "key.create"]
    assert entries[1]["details"] == {"scopes": ["read"]}


@pytest.mark.parametrize("value", [1, 2.5, -3, True, "7", "text", [1, 2], {"a": 1}, 10**15])
def test_json_values_read_back_as_written(store, value):
    model, _ = store.upsert_model("m", "regression", SCHEMA)
    now = time.time()
    row = {**_row(0, model.id, now), "outputs": value, "proba": value}
    store.insert_predictions(model, [row])
    store.upsert_labels(
        model.id, [{"prediction_id": "p0", "actual": value, "ts": now, "received_at": now}]
    )
    with store.read() as conn:
        got = conn.execute(sa.select(t.predictions.c.outputs, t.predictions.c.proba)).one()
        actual = conn.execute(sa.select(t.labels.c.actual)).scalar_one()
    assert (got.outputs, got.proba, actual) == (value, value, value)
