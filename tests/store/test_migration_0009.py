"""Migration 0009 on a database made by the previous release: ids become per model.

The database is built at every head that existed before 0009, filled with rows in the
old layout (global ids), then upgraded: the rows are kept, model B can then store an id
model A used, and B's label lands on B's prediction, not A's.
"""

from __future__ import annotations

import sqlalchemy as sa

from vigil.engine.ingest.ingestor import Ingestor
from vigil.store import migrate, open_store
from vigil.store.engine import make_engine

OLD_HEADS = (
    "0002_quality",
    "0003_alerts",
    "0004_registry",
    "0005_resources",
    "0007_references",
    "0008_input_scores",
)
SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}


def _old_database(url: str) -> None:
    engine = make_engine(url)
    try:
        for head in OLD_HEADS:
            migrate.upgrade(engine, head)
        assert "0009_data_path" not in migrate.current_revisions(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO models (id, name, task, schema, created_at, updated_at) VALUES "
                    "(1, 'a', 'regression', :s, 1, 1), (2, 'b', 'regression', :s, 1, 1)"
                ),
                {"s": '{"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}'},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO predictions (id, model_id, version, ts, latency_s, error, inputs, "
                    "outputs, received_at) VALUES ('req-1', 1, '1', :ts, 0.5, NULL, '{\"x\": 1}', "
                    "'1', :ts), ('req-2', 1, '1', :ts, 0.25, 'boom', '{\"x\": 2}', '0', :ts)"
                ),
                {"ts": 1_700_000_000.0},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO labels (prediction_id, model_id, actual, ts, received_at) "
                    "VALUES ('req-1', 1, '1', 1, 1)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO feedback (id, prediction_id, model_id, score, ts, received_at) "
                    "VALUES ('f-1', 'req-1', 1, 1.0, 1, 1)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO rollups (model_id, version, minute, count, errors, latency_count, "
                    "latency_sum) VALUES (1, '1', 1699999980, 2, 1, 2, 0.75)"
                )
            )
    finally:
        engine.dispose()


def test_upgrade_keeps_rows_and_scopes_ids_per_model(db_url):
    _old_database(db_url)
    store = open_store(db_url)  # upgrades to every head, 0009 included
    try:
        assert migrate.current_revisions(store.engine) == migrate.head_revisions()
        a, b = store.get_model("a"), store.get_model("b")
        assert (
            store.count("predictions", a.id),
            store.count("labels", a.id),
            store.count("feedback", a.id),
        ) == (2, 1, 1)
        rows = store.rollup_rows(a.id, 1_699_999_900, 1_700_000_100)
        assert [(r.count, r.errors, r.latency_sum) for r in rows] == [(2, 1, 0.75)]
        assert not a.strict

        ingest = Ingestor(store)
        result = ingest.ingest_predictions("b", [{"id": "req-1", "inputs": {"x": 5}, "outputs": 7}])
        assert (result.accepted, result.duplicates) == (1, 0)  # A's id is free for B
        again = ingest.ingest_predictions("a", [{"id": "req-1", "inputs": {"x": 1}}])
        assert (again.accepted, again.duplicates) == (0, 1)  # still known to A
        ingest.ingest_labels("b", [{"prediction_id": "req-1", "actual": 99}])
        ingest.ingest_feedback("b", [{"id": "f-1", "prediction_id": "req-1", "score": 0}])
        with store.read() as conn:
            labels = dict(
                conn.execute(
                    sa.text("SELECT model_id, actual FROM labels WHERE prediction_id = 'req-1'")
                ).all()
            )
            feedback = dict(
                conn.execute(sa.text("SELECT model_id, score FROM feedback WHERE id = 'f-1'")).all()
            )
        assert {k: int(str(v)) for k, v in labels.items()} == {a.id: 1, b.id: 99}
        assert feedback == {a.id: 1.0, b.id: 0.0}
    finally:
        store.close()


def test_downgrade_returns_to_global_ids(db_url):
    store = open_store(db_url)
    try:
        ingest = Ingestor(store)
        for name in ("a", "b"):
            ingest.register_model({"name": name, "schema": SCHEMA})
            ingest.ingest_predictions(
                name,
                [{"id": "same", "inputs": {"x": 1}}, {"id": f"own-{name}", "inputs": {"x": 2}}],
            )
        migrate.downgrade(store.engine, "0009_data_path-1")  # 0013 goes first
        assert "0009_data_path" not in migrate.current_revisions(store.engine)
        with store.engine.connect() as conn:
            ids = sorted(conn.execute(sa.text("SELECT id FROM predictions")).scalars())
        assert ids == ["own-a", "own-b", "same"]  # the lowest model keeps a shared id
        migrate.upgrade(store.engine)
        assert migrate.current_revisions(store.engine) == migrate.head_revisions()
    finally:
        store.close()
