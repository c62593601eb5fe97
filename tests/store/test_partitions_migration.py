"""Migration 0015 on PostgreSQL with data present: the unpartitioned table of 0009 becomes
daily partitions (rows, ids and labels kept), and downgrade brings the one table back."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from vigil.engine.ingest.ingestor import Ingestor
from vigil.store import migrate, open_store, partitions
from vigil.store.partitions import DAY_S, partition_name
from vigil.store.quality import queries as quality_q

pytestmark = pytest.mark.postgres
SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
TODAY = int(time.time() // DAY_S)
OLD_DAY = TODAY - 400


def _layout(url: str) -> tuple[str, list[str]]:
    """(relkind of predictions, primary key columns of predictions)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            kind = conn.exec_driver_sql(
                "SELECT relkind FROM pg_class WHERE oid = 'predictions'::regclass"
            ).scalar()
            key = sa.inspect(conn).get_pk_constraint("predictions")["constrained_columns"]
    finally:
        engine.dispose()
    return kind, key


def _rows(store) -> list[tuple]:
    with store.read() as conn:
        return conn.execute(
            sa.text("SELECT model_id, id, ts, inputs FROM predictions ORDER BY model_id, id")
        ).all()


def test_upgrade_with_data_then_downgrade(pg_url):
    store = open_store(pg_url)
    migrate.downgrade(store.engine, "0015_partitions-1")  # the layout of the last release
    store.close()
    assert _layout(pg_url) == ("r", ["model_id", "id"])

    _write_old(pg_url)  # what the previous release stored (its code, by SQL here)
    store = _old_store(pg_url)
    before = _rows(store)
    store.close()

    store = open_store(pg_url)  # 0015 and 0019: create partitioned, copy, swap
    try:
        assert _layout(pg_url) == ("p", ["model_id", "id", "ts"])
        assert _rows(store) == before
        with store.read() as conn:
            names = [p.name for p in partitions.list_partitions(conn)]
            where = dict(
                conn.execute(
                    sa.text(
                        "SELECT id || '@' || model_id, tableoid::regclass::text FROM predictions"
                    )
                ).all()
            )
            ids = conn.execute(sa.text("SELECT count(*) FROM prediction_ids")).scalar_one()
        assert partition_name(OLD_DAY) in names  # a day with data got its partition
        a, b = store.get_model("a"), store.get_model("b")
        assert where == {
            f"old@{a.id}": partition_name(OLD_DAY),
            f"now@{a.id}": partition_name(TODAY),
            f"old@{b.id}": partition_name(TODAY),
        }
        assert ids == 3
        ingest = Ingestor(store)
        dup = ingest.ingest_predictions("a", [{"id": "old", "inputs": {"x": 9}}])
        assert dup.duplicates == 1  # the id table came from the existing rows
        joined = quality_q.labelled_predictions(store, a.id, None, None)
        assert [(r["id"], r["actual"]) for r in joined] == [("old", 7)]
        ingest.ingest_predictions(
            "b", [{"id": "new", "ts": TODAY * DAY_S + 60, "inputs": {"x": 4}}]
        )
        after = _rows(store)
        migrate.downgrade(store.engine, "0015_partitions-1")
    finally:
        store.close()

    assert _layout(pg_url) == ("r", ["model_id", "id"])
    store = _old_store(pg_url)
    try:
        assert _rows(store) == after
        with store.read() as conn:
            assert conn.exec_driver_sql("SELECT to_regclass('prediction_ids')").scalar() is None
    finally:
        store.close()


def _write_old(url: str) -> None:
    """Two models' predictions and a label in the layout before 0015 (written by SQL:
    this vigil's code writes the batch bounds of 0019, which that layout lacks)."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO models (id, name, task, schema, created_at, updated_at) VALUES "
                    "(1, 'a', 'regression', :s, 1, 1), (2, 'b', 'regression', :s, 1, 1)"
                ),
                {"s": '{"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}'},
            )
            conn.exec_driver_sql("SELECT setval('models_id_seq', 2)")
            conn.execute(
                sa.text(
                    "INSERT INTO predictions (model_id, id, version, ts, inputs, received_at) "
                    "VALUES (1, 'old', '1', :old, '{\"x\": 1}', :old), "
                    "(1, 'now', '1', :now, '{\"x\": 2}', :now), "
                    "(2, 'old', '1', :now2, '{\"x\": 3}', :now2)"
                ),
                {"old": OLD_DAY * DAY_S + 5, "now": TODAY * DAY_S + 5, "now2": TODAY * DAY_S + 9},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO labels (model_id, prediction_id, actual, ts, received_at) "
                    "VALUES (1, 'old', '7', 1, 1)"
                )
            )
    finally:
        engine.dispose()


def _old_store(url: str):
    """A store on a database one migration behind (what the previous release runs)."""
    from vigil.store.store import Store

    return Store(url)
