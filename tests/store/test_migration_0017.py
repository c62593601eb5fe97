"""Migration 0017 on a database with minute rollups: their hours are marked and built."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store import migrate, open_store
from vigil.store.engine import make_engine

HOUR = 3600
BASE = 1_700_000_000 // HOUR * HOUR


def test_upgrade_marks_existing_hours_and_builds_them_and_downgrade_drops_the_tables(db_url):
    engine = make_engine(db_url)
    try:
        for head in sorted(migrate.head_revisions() - {"0017_hourly_rollups"}):
            migrate.upgrade(engine, head)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO models (id, name, task, schema, created_at, updated_at) VALUES "
                    "(1, 'a', 'regression', :s, 1, 1)"
                ),
                {"s": '{"features": []}'},
            )
            for i, minute in enumerate((BASE + 60, BASE + 120, BASE + HOUR + 60)):
                conn.execute(
                    sa.text(
                        "INSERT INTO rollups (model_id, version, minute, count, errors, "
                        "latency_count, latency_sum) VALUES (1, '1', :m, :c, 1, :c, 0.5)"
                    ),
                    {"m": minute, "c": i + 2},
                )
    finally:
        engine.dispose()
    store = open_store(db_url)
    try:
        assert migrate.current_revisions(store.engine) == migrate.head_revisions()
        assert store.build_hours() == 2
        with store.read() as conn:
            rows = conn.execute(
                sa.text("SELECT hour, count, errors, latency_sum FROM hourly_rollups ORDER BY hour")
            ).all()
        assert [tuple(r) for r in rows] == [(BASE, 5, 2, 1.0), (BASE + HOUR, 4, 1, 0.5)]
        migrate.downgrade(store.engine, "hourly@-1")
        tables = sa.inspect(store.engine).get_table_names()
        assert "hourly_rollups" not in tables and "rollup_hours_pending" not in tables
        assert "rollups" in tables
    finally:
        store.close()
