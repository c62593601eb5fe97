"""Migration 0020: the unused ``engine_leases`` table is dropped, and comes back (empty)
on downgrade; the alert tables beside it keep their rows both ways."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store import migrate, open_store
from vigil.store.engine import make_engine


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_engine_leases_dropped_and_restored_alert_rows_kept(db_url):
    engine = make_engine(db_url)
    try:
        alerts_branch = {"0020_drop_engine_leases", "0021_notification_outbox"}
        for head in sorted(migrate.head_revisions() - alerts_branch):
            migrate.upgrade(engine, head)
        migrate.upgrade(engine, "0003_alerts")
        assert "engine_leases" in _tables(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO engine_leases (name, holder, expires_at) VALUES ('rules', 'a', 1)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO silences (matchers, starts_at, ends_at, created_by, created_at) "
                    "VALUES ('{}', 1, 2, 'me', 1)"
                )
            )
    finally:
        engine.dispose()
    store = open_store(db_url)  # migrates to every head
    try:
        assert migrate.current_revisions(store.engine) == migrate.head_revisions()
        assert "0021_notification_outbox" in migrate.head_revisions()
        assert "engine_leases" not in _tables(store.engine)
        assert "job_leases" in _tables(store.engine)  # the table that superseded it
        with store.read() as conn:
            assert conn.execute(sa.text("SELECT created_by FROM silences")).all() == [("me",)]
        migrate.downgrade(store.engine, "0003_alerts")
        assert "engine_leases" in _tables(store.engine)
        with store.read() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM engine_leases")).scalar() == 0
            assert conn.execute(sa.text("SELECT created_by FROM silences")).all() == [("me",)]
        migrate.upgrade(store.engine)
        assert "engine_leases" not in _tables(store.engine)
    finally:
        store.close()
