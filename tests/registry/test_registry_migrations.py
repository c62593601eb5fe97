"""Registry migrations step down the registry branch one by one (0013 edits, 0012 canary,
0004 tables) and up again; version rows survive the steps that do not own them."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store import migrate

REGISTRY_TABLES = {
    "registry_versions",
    "registry_aliases",
    "registry_alias_history",
    "registry_policies",
    "registry_version_history",
}


def _columns(store, table):
    return {c["name"] for c in sa.inspect(store.engine).get_columns(table)}


def _tables(store):
    return set(sa.inspect(store.engine).get_table_names())


def test_registry_branch_downgrades_step_by_step_and_upgrades_again(registry, store, tmp_path):
    (tmp_path / "m.txt").write_text("weights")
    registry.register("churn", "1", tmp_path / "m.txt", tags={"team": "ml"})
    registry.set_status("churn", "1", "deprecated", reason="superseded")
    tables = _tables(store)
    assert "status" in _columns(store, "registry_versions")
    assert "registry_version_history" in tables
    assert "canary" in _columns(store, "registry_aliases")

    migrate.downgrade(store.engine, "registry@-1")  # 0013_registry_edits -> 0012_canary
    assert "0012_canary" in migrate.current_revisions(store.engine)
    assert "status" not in _columns(store, "registry_versions")
    assert _tables(store) == tables - {"registry_version_history"}
    assert "canary" in _columns(store, "registry_aliases")
    with store.read() as conn:  # the version itself is kept
        assert conn.execute(sa.text("SELECT version FROM registry_versions")).scalars().all() == [
            "1"
        ]

    migrate.downgrade(store.engine, "registry@-1")  # 0012_canary -> 0004_registry
    assert "0004_registry" in migrate.current_revisions(store.engine)
    assert "canary" not in _columns(store, "registry_aliases")
    assert "details" not in _columns(store, "registry_alias_history")

    migrate.downgrade(store.engine, "registry@-1")  # the branch's tables go
    assert "0004_registry" not in migrate.current_revisions(store.engine)
    assert _tables(store) == tables - REGISTRY_TABLES

    migrate.upgrade(store.engine)
    assert _tables(store) == tables
    assert {"status", "tags"} <= _columns(store, "registry_versions")
    store.check_schema()


def test_versions_registered_before_0013_come_back_active(registry, store, tmp_path):
    (tmp_path / "m.txt").write_text("weights")
    migrate.downgrade(store.engine, "0012_canary")
    with store.write() as conn:
        model_id = conn.execute(sa.text("SELECT id FROM models WHERE name = 'churn'")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO registry_versions (model_id, version, created_by, created_at) "
                "VALUES (:m, 'old', 'someone', 1.0)"
            ),
            {"m": model_id},
        )
    migrate.upgrade(store.engine)
    (row,) = registry.versions("churn")
    assert (row["version"], row["status"]) == ("old", "active")
    assert registry.version_history("churn", "old") == []
