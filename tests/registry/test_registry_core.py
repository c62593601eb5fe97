"""Registry on SQLite and PostgreSQL: versions, artifacts, aliases, history, concurrency."""

from __future__ import annotations

import threading
import tracemalloc

import pytest
import sqlalchemy as sa

from vigil.errors import InvalidParameterError, ModelNotFoundError
from vigil.registry import (
    AliasCycleError,
    AliasNotFoundError,
    ArtifactNotFoundError,
    StaleAliasError,
    VersionExistsError,
    VersionNotFoundError,
    load,
)
from vigil.store import migrate


def test_register_file_and_directory_with_per_file_digests(registry, artifacts):
    one = registry.register(
        "churn",
        "1",
        artifacts / "model1.pkl",
        framework="sklearn",
        metrics={"auc": 0.81},
        tags={"team": "risk"},
        notes="first",
    )
    assert one["artifact_kind"] == "file" and one["files"] == 1
    tree = registry.register("churn", "2", artifacts / "tree", lineage={"code_commit": "abc"})
    assert tree["artifact_kind"] == "dir" and tree["files"] == 2
    full = registry.get("churn", "2")
    assert [e["name"] for e in full["manifest"]] == ["config.json", "sub/weights.bin"]
    assert full["manifest"][1]["size"] == 2000
    assert full["signature"]["dsseEnvelope"]["payloadType"] == "application/vnd.in-toto+json"
    assert [v["version"] for v in registry.versions("churn")] == ["1", "2"]
    assert registry.get("churn", "1")["metrics"] == {"auc": 0.81}
    # the backbone's version list sees them too
    model = registry.store.get_model("churn")
    assert {v["version"] for v in registry.store.list_versions(model.id)} == {"1", "2"}
    # identical content is stored once
    registry.register("churn", "3", artifacts / "model1.pkl")
    blobs = list((registry.home / "artifacts" / "blobs").rglob("*"))
    assert len([b for b in blobs if b.is_file()]) == 3
    path = registry.load("churn:2")
    assert (path / "sub" / "weights.bin").read_bytes() == b"\x00\x01" * 1000


def test_register_bad_input(registry, artifacts, tmp_path):
    registry.register("churn", "1", artifacts / "model1.pkl")
    with pytest.raises(VersionExistsError, match="immutable"):
        registry.register("churn", "1", artifacts / "model2.pkl")
    with pytest.raises(ArtifactNotFoundError, match="does not exist"):
        registry.register("churn", "9", tmp_path / "nope.pkl")
    with pytest.raises(InvalidParameterError, match="version must be"):
        registry.register("churn", "../1")
    with pytest.raises(InvalidParameterError, match="'metrics' must be an object"):
        registry.register("churn", "5", metrics=[1])  # type: ignore[arg-type]
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "evil").symlink_to("/etc/passwd")
    with pytest.raises(InvalidParameterError, match="not a regular file"):
        registry.register("churn", "6", linked)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidParameterError, match="is empty"):
        registry.register("churn", "7", tmp_path / "empty")
    with pytest.raises(VersionNotFoundError, match="Registered versions: 1"):
        registry.get("churn", "2")
    with pytest.raises(ModelNotFoundError, match="Known models: churn"):
        registry.promote("fraud", "production", "1")
    # a new model is created by registering its first version
    assert registry.register("fraud", "1")["version"] == "1"
    assert registry.store.get_model("fraud").task == "other"


def test_promote_rollback_and_history(registry, artifacts):
    for v in ("1", "2", "3"):
        registry.register("churn", v, artifacts / f"model{v}.pkl")
    with pytest.raises(AliasNotFoundError):
        registry.alias("churn", "production")
    for v in ("1", "2", "3"):
        registry.promote("churn", "production", v, reason=f"release {v}")
    assert registry.alias("churn", "production")["revision"] == 3
    back = registry.rollback("churn", "production", reason="bad release")
    assert (back["from"], back["resolved_version"]) == ("3", "2")
    back = registry.rollback("churn", "production")
    assert back["resolved_version"] == "1"
    with pytest.raises(InvalidParameterError, match="no earlier version"):
        registry.rollback("churn", "production")
    registry.rollback("churn", "production", to="3")
    history = registry.history("churn", "production")
    assert [(h["action"], h["version"], h["previous_version"]) for h in history] == [
        ("promote", "1", None),
        ("promote", "2", "1"),
        ("promote", "3", "2"),
        ("rollback", "2", "3"),
        ("rollback", "1", "2"),
        ("rollback", "3", "1"),
    ]
    assert history[3]["reason"] == "bad release" and history[3]["actor"] == "tester"
    actions = [e["action"] for e in registry.store.audit_entries()]
    assert actions.count("registry.promote") == 3 and actions.count("registry.rollback") == 3
    with pytest.raises(VersionNotFoundError, match="Registered versions: 1, 2, 3"):
        registry.promote("churn", "production", "4")
    with pytest.raises(InvalidParameterError, match="alias must be"):
        registry.promote("churn", "prod uction", "1")


def test_stale_expected_revision_is_a_conflict(registry, artifacts):
    registry.register("churn", "1", artifacts / "model1.pkl")
    registry.register("churn", "2", artifacts / "model2.pkl")
    seen = registry.promote("churn", "production", "1")
    registry.promote("churn", "production", "2", expected_revision=seen["revision"])
    with pytest.raises(StaleAliasError, match="revision 2, not 1") as info:
        registry.promote("churn", "production", "1", expected_revision=seen["revision"])
    assert info.value.details["version"] == "2"
    with pytest.raises(StaleAliasError, match="not '1'"):
        registry.promote("churn", "production", "1", expected_version="1")
    with pytest.raises(StaleAliasError):
        registry.rollback("churn", "production", expected_revision=1)
    assert registry.alias("churn", "production")["resolved_version"] == "2"


def test_concurrent_promotions_one_wins(registry, artifacts):
    for v in ("1", "2", "3"):
        registry.register("churn", v, artifacts / f"model{v}.pkl")
    base = registry.promote("churn", "production", "1")["revision"]
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def promote(version: str) -> None:
        barrier.wait()
        try:
            registry.promote("churn", "production", version, expected_revision=base)
            outcomes.append(f"won:{version}")
        except StaleAliasError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=promote, args=(v,)) for v in ("2", "3", "2", "3")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes).count("conflict") == 3, outcomes
    winner = next(o for o in outcomes if o.startswith("won"))[4:]
    assert registry.alias("churn", "production")["resolved_version"] == winner
    assert len(registry.history("churn", "production")) == 2


def test_aliases_that_follow_aliases_and_cycles(registry, artifacts):
    registry.register("churn", "1", artifacts / "model1.pkl")
    registry.register("churn", "2", artifacts / "model2.pkl")
    registry.promote("churn", "staging", "2")
    registry.promote("churn", "canary", follow="staging")
    assert registry.alias("churn", "canary")["resolved_version"] == "2"
    with pytest.raises(AliasCycleError, match="cycle"):
        registry.promote("churn", "staging", follow="canary")
    with pytest.raises(AliasCycleError):
        registry.promote("churn", "canary", follow="canary")
    with pytest.raises(AliasNotFoundError, match="'nightly' does not exist"):
        registry.promote("churn", "canary", follow="nightly")
    with pytest.raises(InvalidParameterError, match="either a version or an alias"):
        registry.promote("churn", "canary")
    assert registry.load("churn@canary").name == "model2.pkl"
    registry.promote("churn", "canary", "1")
    with pytest.raises(InvalidParameterError, match="no earlier version"):
        registry.rollback("churn", "canary")  # the earlier entry followed an alias
    assert {a["alias"] for a in registry.aliases("churn")} == {"canary", "staging"}


def test_module_level_load_uses_settings(tmp_path, artifacts, monkeypatch):
    home = tmp_path / "vhome"
    monkeypatch.setenv("VIGIL_HOME", str(home))
    from vigil.registry import Registry

    reg = Registry.open()
    try:
        reg.register("churn", "1", artifacts / "model1.pkl")
        reg.promote("churn", "production", "1")
    finally:
        reg.close()
    assert load("churn@production").read_bytes() == (artifacts / "model1.pkl").read_bytes()
    assert load("churn@production", deserialize=True) == {"weights": [1, 2]}
    with pytest.raises(InvalidParameterError, match="'name@alias' or 'name:version'"):
        load("churn")


def test_huge_artifact_is_streamed(registry, tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for i in range(48):
            f.write(bytes([i]) * (1 << 20))
    tracemalloc.start()
    try:
        registry.register("churn", "1", big)
        path = registry.load("churn:1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path.stat().st_size == 48 << 20
    assert peak < 8 << 20, peak


def test_lineage_from_data_and_dvc_files(registry, tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,0\n")
    dvc = tmp_path / "train.csv.dvc"
    dvc.write_text("outs:\n- md5: a304ebe8b2c3a3b4d8e3c6b3f6a0a1b2\n  size: 8\n  path: train.csv\n")
    row = registry.register("churn", "1", lineage={"code_commit": "abc123"}, data=[data], dvc=[dvc])
    assert row["lineage"]["code_commit"] == "abc123"
    assert row["lineage"]["data"][0]["path"] == "train.csv"
    assert len(row["lineage"]["data"][0]["sha256"]) == 64
    assert row["lineage"]["dvc"][0]["md5"] == "a304ebe8b2c3a3b4d8e3c6b3f6a0a1b2"
    dvc.write_text("stages: {}\n")
    with pytest.raises(InvalidParameterError, match="no 'outs' list"):
        registry.register("churn", "2", dvc=[dvc])


def test_registry_migration_downgrades_and_upgrades(db_url):
    from vigil.store import open_store

    store = open_store(db_url)
    try:
        migrate.downgrade(store.engine, "0004_registry-1")
        assert "registry_aliases" not in sa.inspect(store.engine).get_table_names()
        assert "models" in sa.inspect(store.engine).get_table_names()
        store.upgrade()
        assert "registry_aliases" in sa.inspect(store.engine).get_table_names()
        store.check_schema()
    finally:
        store.close()
