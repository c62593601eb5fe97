"""The SDK routes a followed alias's canary, sticky per subject, tags each prediction with
the version that served it, and runs shadow candidates off the caller's thread."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from scipy import stats
from support.records import SCHEMA

import vigil
from vigil.registry import Registry
from vigil.sdk.follow import unit_hash
from vigil.store.tables import predictions


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _rows(store):
    with store.read() as conn:
        return (
            conn.execute(
                sa.select(
                    predictions.c.id,
                    predictions.c.version,
                    predictions.c.outputs,
                    predictions.c.error,
                    predictions.c.subject_id,
                )
            )
            .mappings()
            .all()
        )


@pytest.fixture
def reg(store, tmp_path):
    store.upsert_model("churn", "binary_classification", SCHEMA)
    registry = Registry(store, tmp_path, actor="tester")
    for v in ("1", "2"):
        registry.register("churn", v)
    registry.promote("churn", "production", "1")
    return registry


def test_unit_hash_is_uniform():
    values = [unit_hash("2", f"user-{i}") for i in range(5000)]
    assert stats.kstest(values, "uniform").pvalue > 0.001
    assert unit_hash("2", "u1") != unit_hash("3", "u1")  # each canary draws afresh


def test_canary_routing_is_sticky_and_tagged(reg, store, tmp_path):
    changes: list = []
    mon = vigil.Monitor(
        "churn",
        endpoint=store.url,
        version_from="churn@production",
        on_canary_change=changes.append,
        follow_interval_s=0.05,
        spool_dir=tmp_path / "spool",
    )
    try:
        assert mon.canary is None and mon.serving_version("u1") == "1"
        reg.start_canary("churn", "production", "2", share=0.2)
        _wait(lambda: mon.canary is not None)
        assert changes == [{"version": "2", "share": 0.2, "mode": "canary"}]
        picks = {f"u{i}": mon.serving_version(f"u{i}") for i in range(2000)}
        assert all(mon.serving_version(s) == v for s, v in list(picks.items())[:200])
        share = sum(v == "2" for v in picks.values()) / len(picks)
        assert stats.binomtest(int(share * 2000), 2000, 0.2).pvalue > 0.001
        anonymous = [mon.serving_version() for _ in range(2000)]
        assert 0.1 < anonymous.count("2") / 2000 < 0.3
        ids = {}
        for subject in ("u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10"):
            with mon.serve({"age": 30, "plan": "pro"}, subject_id=subject) as obs:
                obs.output = 1
            ids[obs.id] = picks[subject]
        pid = mon.log_prediction({"age": 31, "plan": "pro"}, 0, version="2")
        plain = mon.log_prediction({"age": 32, "plan": "pro"}, 0)
        assert mon.flush()
        versions = {r["id"]: r["version"] for r in _rows(store)}
        assert {i: versions[i] for i in ids} == ids
        assert versions[pid] == "2" and versions[plain] == "1"
        reg.abort_canary("churn", "production")
        _wait(lambda: mon.canary is None)
        assert changes[-1] is None and mon.serving_version("u1") == "1"
    finally:
        mon.close()


def test_a_candidate_that_cannot_load_gets_no_traffic(reg, store, tmp_path):
    calls: list = []

    def on_canary(canary):
        calls.append(canary)
        if len(calls) == 1:
            raise RuntimeError("cannot load v2")

    mon = vigil.Monitor(
        "churn",
        endpoint=store.url,
        version_from="churn@production",
        on_canary_change=on_canary,
        follow_interval_s=0.05,
        spool_dir=tmp_path / "spool",
    )
    try:
        reg.start_canary("churn", "production", "2", share=1.0)
        _wait(lambda: len(calls) >= 2)  # refused once, asked again next poll
        _wait(lambda: mon.canary is not None)
        assert mon.serving_version("u1") == "2"
    finally:
        mon.close()


def test_shadow_runs_off_the_callers_thread_and_is_never_served(reg, store, tmp_path):
    mon = vigil.Monitor(
        "churn",
        endpoint=store.url,
        version_from="churn@production",
        follow_interval_s=0.05,
        spool_dir=tmp_path / "spool",
    )
    threads: list[str] = []

    def candidate(features):
        threads.append(threading.current_thread().name)
        features["age"] = -1  # mutating its copy does not touch the caller's inputs
        if features["plan"] == "free":
            raise ValueError("candidate failed")
        return 2

    try:
        assert mon.shadow(candidate, {"age": 1, "plan": "pro"}) is None  # no shadow yet
        reg.start_canary("churn", "production", "2", share=1.0, mode="shadow")
        _wait(lambda: mon.canary is not None)
        assert mon.serving_version("u1") == "1"  # a shadow is never served
        inputs = {"age": 40, "plan": "pro"}
        with mon.serve(inputs, subject_id="u1") as obs:
            obs.output = 1
        future = mon.shadow(candidate, inputs, subject_id="u1")
        assert future.result(10) == 2 and inputs["age"] == 40
        failing = mon.shadow(candidate, {"age": 3, "plan": "free"})
        assert isinstance(failing.exception(10), ValueError)
        assert mon.flush()
        rows = _rows(store)
        by_version = {v: [r for r in rows if r["version"] == v] for v in ("1", "2")}
        assert [r["outputs"] for r in by_version["1"]] == [1]
        assert sorted(str(r["outputs"]) for r in by_version["2"]) == ["2", "None"]
        assert any(r["error"] and "candidate failed" in r["error"] for r in by_version["2"])
        assert threads and all(name.startswith("vigil-shadow") for name in threads)
    finally:
        mon.close()
