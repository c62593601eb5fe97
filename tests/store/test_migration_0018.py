"""Migration 0018: input scores keyed per model, every stored row kept both ways."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store import migrate, open_store
from vigil.store.engine import make_engine


def test_scores_get_a_key_per_model_and_keep_their_rows(db_url):
    engine = make_engine(db_url)
    try:
        # every head but 0019, which comes after 0018 (and 0015, whose branch goes first)
        for head in sorted(migrate.head_revisions() - {"0019_partitions_children"}):
            migrate.upgrade(engine, head)
        migrate.upgrade(engine, "0015_partitions")
        migrate.upgrade(engine, "0016_answer_scores")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO models (id, name, task, schema, created_at, updated_at) VALUES "
                    "(1, 'a', 'regression', :s, 1, 1), (2, 'b', 'regression', :s, 1, 1)"
                ),
                {"s": '{"features": []}'},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO prediction_scores (prediction_id, model_id, version, ts, "
                    "injection_score) VALUES ('p1', 1, '1', 10, 0.9), ('p2', 1, '1', 11, 0.1)"
                )
            )
    finally:
        engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revisions(store.engine) == migrate.head_revisions()
        with store.write() as conn:  # the same id under another model is a new row now
            conn.execute(
                sa.text(
                    "INSERT INTO prediction_scores (prediction_id, model_id, version, ts, "
                    "injection_score) VALUES ('p1', 2, '1', 12, 0.7)"
                )
            )
        query = "SELECT prediction_id, model_id, injection_score FROM prediction_scores"
        with store.read() as conn:
            rows = sorted(tuple(r) for r in conn.execute(sa.text(query)))
        assert rows == [("p1", 1, 0.9), ("p1", 2, 0.7), ("p2", 1, 0.1)]
        migrate.downgrade(store.engine, "0016_answer_scores")
        with store.read() as conn:
            rows = sorted(tuple(r) for r in conn.execute(sa.text(query)))
        assert rows == [("p1", 1, 0.9), ("p2", 1, 0.1)]  # one row per id again
    finally:
        store.close()
