"""Migration 0012_canary: its columns come and go with the registry branch, data stays."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store import migrate

REGISTRY_TABLES = {"registry_versions", "registry_aliases", "registry_alias_history",
                   "registry_policies"}


def _columns(store, table):
    return {c["name"] for c in sa.inspect(store.engine).get_columns(table)}


def test_canary_columns_downgrade_and_upgrade_again(store):
    tables = set(sa.inspect(store.engine).get_table_names())
    assert "canary" in _columns(store, "registry_aliases")
    assert "details" in _columns(store, "registry_alias_history")
    migrate.downgrade(store.engine, "registry@-1")  # 0012_canary -> 0004_registry
    assert "0004_registry" in migrate.current_revisions(store.engine)
    assert "canary" not in _columns(store, "registry_aliases")
    assert "details" not in _columns(store, "registry_alias_history")
    assert set(sa.inspect(store.engine).get_table_names()) == tables
    for _ in range(10):  # the rest of the branch still steps down to the trunk
        migrate.downgrade(store.engine, "registry@-1")
        if "0004_registry" not in migrate.current_revisions(store.engine):
            break
    after = set(sa.inspect(store.engine).get_table_names())
    assert after == tables - REGISTRY_TABLES
    migrate.upgrade(store.engine)
    assert set(sa.inspect(store.engine).get_table_names()) == tables
    assert "canary" in _columns(store, "registry_aliases")
    store.check_schema()
