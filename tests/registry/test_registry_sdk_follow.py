"""``Monitor(version_from="model@alias")`` follows promotions and rollbacks."""

from __future__ import annotations

import time

import pytest
from support.records import SCHEMA

import vigil
from vigil.errors import InvalidParameterError
from vigil.registry import Registry


def _wait(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def _versions_by_id(store, model="churn"):
    import sqlalchemy as sa

    from vigil.store.tables import predictions

    with store.read() as conn:
        rows = conn.execute(sa.select(predictions.c.id, predictions.c.version)).all()
    return dict(rows)


@pytest.mark.integration
def test_monitor_follows_the_alias_over_http(server_factory, store, tmp_path, artifacts):
    client = server_factory(auth="off")
    client.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    reg = Registry(store, tmp_path)
    for v in ("1", "2"):
        reg.register("churn", v, artifacts / f"model{v}.pkl")
        reg.promote("churn", "production", v)
    loaded: list[str] = []
    mon = vigil.Monitor(
        "churn",
        endpoint=str(client.base_url),
        version_from="churn@production",
        on_version_change=loaded.append,
        follow_interval_s=0.1,
        flush_interval_s=60,
        spool_dir=tmp_path / "spool",
    )
    try:
        assert mon.version == "2" and loaded == ["2"]  # resolved at start
        before = mon.log_prediction({"age": 40, "plan": "pro"}, 1)
        r = client.post("/api/v1/models/churn/aliases/production/rollback", json={})
        assert r.status_code == 200, r.text
        _wait(lambda: mon.version == "1")
        after = mon.log_prediction({"age": 41, "plan": "pro"}, 0)
        assert mon.flush()
        versions = _versions_by_id(store)
        # recorded before the switch, sent after it: still attributed to version 2
        assert versions[before] == "2" and versions[after] == "1"
        assert loaded == ["2", "1"]
        follower = mon._follower
        polls = follower.polls
        _wait(lambda: follower.polls >= polls + 3)
        assert follower.errors == 0 and follower.etag == '"3:1"'  # 304s while unchanged
    finally:
        mon.close()
    assert not follower._thread.is_alive()


def test_monitor_follows_the_alias_in_local_mode(store, tmp_path, artifacts):
    store.upsert_model("churn", "binary_classification", SCHEMA)
    reg = Registry(store, tmp_path)
    for v in ("1", "2"):
        reg.register("churn", v, artifacts / f"model{v}.pkl")
    reg.promote("churn", "production", "1")
    calls: list[str] = []

    def on_change(version: str) -> None:
        calls.append(version)
        if len(calls) == 1:
            raise RuntimeError("could not load the model")

    mon = vigil.Monitor(
        "churn",
        endpoint=store.url,
        version_from="churn@production",
        on_version_change=on_change,
        follow_interval_s=0.05,
        spool_dir=tmp_path / "spool",
    )
    try:
        assert mon.version == "1" and calls == []
        reg.promote("churn", "production", "2")
        _wait(lambda: len(calls) >= 2)  # the failed load is retried on the next poll
        _wait(lambda: mon.version == "2")
        pid = mon.log_prediction({"age": 30, "plan": "free"}, 1)
        assert mon.flush()
        assert _versions_by_id(store)[pid] == "2"
    finally:
        mon.close()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"version_from": "churn"}, "'model@alias'"),
        ({"version_from": "churn@production", "follow_interval_s": 0}, "follow_interval_s"),
        ({"version_from": "churn@production", "on_version_change": 3}, "callable"),
    ],
)
def test_bad_version_from_arguments(tmp_path, kwargs, needle):
    with pytest.raises(InvalidParameterError, match=needle):
        vigil.Monitor(
            "churn",
            endpoint=f"sqlite:///{tmp_path / 'v.db'}",
            spool_dir=tmp_path / "spool",
            **kwargs,
        )


def test_unreachable_alias_keeps_the_given_version(tmp_path):
    mon = vigil.Monitor(
        "churn",
        version="7",
        endpoint="http://127.0.0.1:9",
        version_from="churn@production",
        follow_interval_s=30,
        spool_dir=tmp_path / "spool",
        timeout_s=0.5,
    )
    try:
        assert mon.version == "7" and mon._follower.errors == 1
    finally:
        mon.close(0.5)
