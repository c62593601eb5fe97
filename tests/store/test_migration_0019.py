"""Migration 0019 with data present, both ways: labels, feedback and both kinds of scores
become daily partitions on PostgreSQL (every row kept, each in its day's partition, a day
far back given its own), pending batches get their time bounds (both backends), and
downgrade brings the plain tables back with one row per old key."""

from __future__ import annotations

import time

import sqlalchemy as sa

from vigil.engine.ingest.ingestor import Ingestor
from vigil.store import migrate, open_store, partitions
from vigil.store.engine import make_engine
from vigil.store.partitions import DAY_S, partition_name

TODAY = int(time.time() // DAY_S)
OLD_DAY = TODAY - 400
CHILDREN = ("labels", "feedback", "prediction_scores", "answer_scores")
ROWS = {  # table: (key column, rows as (model id, key, ts))
    "labels": ("prediction_id", [(1, "p1", OLD_DAY), (1, "p2", TODAY), (2, "p1", TODAY - 1)]),
    "feedback": ("id", [(1, "f1", OLD_DAY), (2, "f1", TODAY)]),
    "prediction_scores": ("prediction_id", [(1, "p1", TODAY - 1), (2, "p1", OLD_DAY)]),
    "answer_scores": ("prediction_id", [(1, "p2", TODAY)]),
}

INSERTS = {  # table: one row at the old revision, in its columns
    "labels": "INSERT INTO labels (model_id, prediction_id, actual, ts, received_at) "
    "VALUES (:m, :k, '1', :ts, :ts)",
    "feedback": "INSERT INTO feedback (model_id, id, prediction_id, score, ts, received_at) "
    "VALUES (:m, :k, 'p1', 1, :ts, :ts)",
    "prediction_scores": "INSERT INTO prediction_scores (model_id, prediction_id, version, "
    "ts, ood_score) VALUES (:m, :k, '1', :ts, 0.5)",
    "answer_scores": "INSERT INTO answer_scores (model_id, prediction_id, version, ts, tokens) "
    "VALUES (:m, :k, '1', :ts, 3)",
}


def _insert_old(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO models (id, name, task, schema, created_at, updated_at) VALUES "
                "(1, 'a', 'regression', :s, 1, 1), (2, 'b', 'regression', :s, 1, 1)"
            ),
            {"s": '{"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}'},
        )
        for table, (_key, rows) in ROWS.items():
            sql = sa.text(INSERTS[table])
            for model, key, day in rows:
                conn.execute(sql, {"m": model, "k": key, "ts": day * DAY_S + 60})


def _stored(conn: sa.Connection, table: str) -> set[tuple[int, str, float]]:
    key = ROWS[table][0]
    return {
        (m, k, ts)
        for m, k, ts in conn.execute(sa.text(f"SELECT model_id, {key}, ts FROM {table}")).all()
    }


def _expected(table: str) -> set[tuple[int, str, float]]:
    return {(m, k, d * DAY_S + 60.0) for m, k, d in ROWS[table][1]}


def _kind(conn: sa.Connection, table: str) -> str | None:
    if conn.dialect.name != "postgresql":
        return None
    return conn.exec_driver_sql(
        f"SELECT relkind FROM pg_class WHERE oid = '{table}'::regclass"
    ).scalar()


def _has_bounds(conn: sa.Connection) -> bool:
    columns = {c["name"] for c in sa.inspect(conn).get_columns("pending_batches")}
    return {"ts_min", "ts_max"} <= columns


def test_children_are_partitioned_with_their_rows_and_back(db_url):
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        migrate.downgrade(engine, "0015_partitions")  # the layout before this migration
        assert "0019_partitions_children" not in migrate.current_revisions(engine)
        with engine.connect() as conn:
            assert not _has_bounds(conn)
            assert {_kind(conn, t) for t in CHILDREN} <= {None, "r"}
        _insert_old(engine)
    finally:
        engine.dispose()

    store = open_store(db_url)  # upgrades: create partitioned, copy, swap
    pg = store.backend == "postgresql"
    try:
        with store.read() as conn:
            assert _has_bounds(conn)
            for table in CHILDREN:
                assert _stored(conn, table) == _expected(table), table
                if not pg:
                    continue
                assert _kind(conn, table) == "p"
                key = sa.inspect(conn).get_pk_constraint(table)["constrained_columns"]
                assert key[-1] == "ts", table
                where = dict(
                    conn.execute(
                        sa.text(
                            f"SELECT {ROWS[table][0]} || '@' || model_id, "
                            f"tableoid::regclass::text FROM {table}"
                        )
                    ).all()
                )
                assert where == {
                    f"{k}@{m}": partition_name(d, table) for m, k, d in ROWS[table][1]
                }, table
                days = [p.start for p in partitions.list_partitions(conn, table)]
                assert float(TODAY * DAY_S) in days and float((TODAY + 7) * DAY_S) in days
        # the writers work on the new layout: a re-sent label replaces the stored one
        ingest = Ingestor(store)
        ingest.ingest_labels("a", [{"prediction_id": "p1", "actual": 5}])
        ingest.ingest_predictions("a", [{"id": "p9", "inputs": {"x": 1}}])
        store.fold_pending()
        with store.read() as conn:
            labels = conn.execute(
                sa.text("SELECT actual FROM labels WHERE model_id = 1 AND prediction_id = 'p1'")
            ).all()
            assert [r[0] for r in labels] in ([5], ["5"])
            after = {t: _stored(conn, t) for t in CHILDREN}
        migrate.downgrade(store.engine, "0015_partitions")
    finally:
        store.close()

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert not _has_bounds(conn)
            for table in CHILDREN:
                assert _stored(conn, table) == after[table], table
                assert _kind(conn, table) in (None, "r")
                key = sa.inspect(conn).get_pk_constraint(table)["constrained_columns"]
                assert "ts" not in key, table
        migrate.upgrade(engine)  # and up again: the way back is not one-way
        assert migrate.current_revisions(engine) == migrate.head_revisions()
    finally:
        engine.dispose()
