"""Migration 0002_quality: its tables come and go with its branch, others stay."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store import migrate

QUALITY_TABLES = {
    "golden_datasets",
    "evaluation_runs",
    "evaluation_schedules",
    "concept_drift_state",
    "concept_drift_events",
    "cbpe_references",
}


def test_quality_branch_downgrades_alone_and_upgrades_again(store):
    tables = set(sa.inspect(store.engine).get_table_names())
    assert tables >= QUALITY_TABLES
    for _ in range(10):  # step the quality branch down to where it left the trunk
        migrate.downgrade(store.engine, "quality@-1")
        if "0002_quality" not in migrate.current_revisions(store.engine):
            break
    after = set(sa.inspect(store.engine).get_table_names())
    assert not after & QUALITY_TABLES
    assert after == tables - QUALITY_TABLES  # the other branches are untouched
    assert "0002_quality" not in migrate.current_revisions(store.engine)
    migrate.upgrade(store.engine)
    assert set(sa.inspect(store.engine).get_table_names()) == tables
    store.check_schema()
