"""Canary releases on an alias: started, judged by check_canaries(store, now), promoted or
rolled back with the evidence in the history, the audit log, the alerts and the notifiers."""

from __future__ import annotations

import functools

import orjson
import pytest
from alerts.alerts_support import Receiver
from support.records import feed

from vigil.engine.alerts.admin import ack_alert
from vigil.engine.alerts.dispatch import Dispatcher
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.errors import InvalidParameterError
from vigil.registry import check_canaries, check_rollback_policies, set_rollback_policy
from vigil.registry.canary import check_canary_config
from vigil.store.alerts.queries import AlertStore

_feed = functools.partial(feed, spread=1e-4)  # distinct times


@pytest.fixture
def stable(registry, artifacts):
    """churn v1 serving production, v2 registered."""
    for v in ("1", "2"):
        registry.register("churn", v, artifacts / f"model{v}.pkl")
    registry.promote("churn", "production", "1")
    return registry


@pytest.fixture
def hook(allow_private_targets):
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_start_shows_on_the_alias_and_in_its_history(stable):
    row = stable.start_canary("churn", "production", 2, share=0.1, reason="new features")
    assert row["version"] == "1" and row["revision"] == 2
    canary = stable.alias("churn", "production")["canary"]
    assert (canary["version"], canary["share"], canary["mode"]) == ("2", 0.1, "canary")
    assert canary["started_by"] == "tester" and canary["stable"] == "1"
    entry = stable.history("churn", "production")[-1]
    assert (
        entry["action"],
        entry["version"],
        entry["previous_version"],
        entry["actor"],
        entry["reason"],
    ) == ("canary_start", "2", "1", "tester", "new features")
    assert entry["details"]["share"] == 0.1
    with pytest.raises(InvalidParameterError, match="runs a canary of version '2'"):
        stable.start_canary("churn", "production", "2")
    stable.abort_canary("churn", "production", reason="changed my mind")
    alias = stable.alias("churn", "production")
    assert alias["canary"] is None and alias["version"] == "1" and alias["revision"] == 3
    assert stable.history("churn", "production")[-1]["action"] == "canary_abort"
    assert stable.rollback_target("churn", "production") is None  # canaries moved nothing
    audit = [e["action"] for e in stable.store.audit_entries()]
    assert "registry.canary_start" in audit and "registry.canary_abort" in audit


@pytest.mark.parametrize(
    ("cfg", "needle"),
    [
        ({"version": "2", "share": 0}, "'share' of a canary"),
        ({"version": "2", "share": 1.5}, "'share' of a canary"),
        ({"version": "2", "mode": "blue"}, "'mode' of a canary"),
        ({"version": "2", "metrics": ["auc"]}, "'metrics' of a canary"),
        ({"version": "2", "alpha": 0.9}, "'alpha' of a canary"),
        ({"version": "2", "tolerance": {"error_rate": -1}}, "'tolerance' of a canary"),
        ({"version": "2", "colour": 1}, "Unknown canary fields"),
        ({"version": "no spaces"}, "A version must be"),
    ],
)
def test_bad_canaries_name_the_field(cfg, needle):
    with pytest.raises(InvalidParameterError, match=needle):
        check_canary_config(cfg)


def test_canary_needs_a_registered_version_and_an_alias(stable):
    from vigil.registry.errors import AliasNotFoundError, VersionNotFoundError

    with pytest.raises(VersionNotFoundError):
        stable.start_canary("churn", "production", "9")
    with pytest.raises(AliasNotFoundError):
        stable.start_canary("churn", "staging", "2")
    with pytest.raises(InvalidParameterError, match="serves already"):
        stable.start_canary("churn", "production", "1")
    with pytest.raises(InvalidParameterError, match="latency_threshold_s"):
        stable.start_canary("churn", "production", "2", metrics=["latency_p95"])


def test_a_failing_canary_is_rolled_back_with_evidence(stable, hook, tmp_path):
    store = stable.store
    AlertStore(store).put_receiver("notifier", "hook", "webhook", {"url": hook.url})
    stable.start_canary("churn", "production", "2", share=0.1, notify=["hook"], resolve_after_s=60)
    t0 = stable.alias("churn", "production")["canary"]["started_at"]
    _feed(store, "1", t0 + 1, 900, errors=18)  # 2 %
    _feed(store, "2", t0 + 1, 100, errors=10)  # 10 %: too few yet to be sure
    assert check_canaries(store, t0 + 10) == []
    _feed(store, "1", t0 + 2, 1800, errors=36, start=900)
    _feed(store, "2", t0 + 2, 200, errors=20, start=100)
    (done,) = check_canaries(store, t0 + 20)
    assert (done["decision"], done["to"], done["notified"]) == ("rollback", "1", ["hook"])
    alias = stable.alias("churn", "production")
    assert alias["version"] == "1" and alias["canary"] is None
    entry = stable.history("churn", "production")[-1]
    assert entry["action"] == "canary_rollback" and entry["actor"] == "vigil:canary"
    ev = entry["details"]["metrics"]["error_rate"]
    assert ev["canary"] == {"n": 300, "failures": 30, "rate": 0.1}
    assert ev["log_e_rollback"] >= entry["details"]["log_threshold"]
    assert "canary 2 rolled back" in entry["reason"]
    assert any(e["action"] == "registry.canary_rollback" for e in store.audit_entries())
    (alert,) = AlertStore(store).list_alerts(state="active")
    assert alert["rule"] == "registry:canary" and alert["labels"]["decision"] == "rollback"
    ack_alert(store, alert["id"], "alice")  # acknowledgeable like any alert
    dispatcher = Dispatcher(store, tmp_path)
    try:  # and the rules engine does not orphan it (no rule of that name exists)
        AlertEngine(store, dispatcher).evaluate(t0 + 25)
    finally:
        dispatcher.close()
    check_canaries(store, t0 + 30)
    assert AlertStore(store).list_alerts(state="active")  # still within resolve_after_s
    check_canaries(store, t0 + 81)
    assert not AlertStore(store).list_alerts(state="active")
    sent = [orjson.loads(r["body"]) for r in hook.requests]
    assert [s["status"] for s in sent] == ["firing", "resolved"]
    assert sent[0]["alerts"][0]["labels"]["alertname"] == "registry:canary"


def test_a_canary_at_parity_is_promoted_and_then_watched(stable):
    store = stable.store
    stable.start_canary("churn", "production", "2", share=0.1, tolerance=0.03)
    t0 = stable.alias("churn", "production")["canary"]["started_at"]
    _feed(store, "1", t0 + 1, 10000, errors=200)
    _feed(store, "2", t0 + 1, 2000, errors=40)
    (done,) = check_canaries(store, t0 + 10)
    assert done["decision"] == "promote" and done["to"] == "2"
    alias = stable.alias("churn", "production")
    assert alias["version"] == "2" and alias["canary"] is None
    entry = stable.history("churn", "production")[-1]
    assert entry["action"] == "canary_promote"
    assert entry["details"]["metrics"]["error_rate"]["verdict"] == "promote"
    # a promoted canary is watched by the rollback policy like any promotion
    assert stable.rollback_target("churn", "production") == "1"
    set_rollback_policy(
        store, "churn", "production", {"max": {"error_rate": 0.1}, "min_count": 10, "window_s": 60}
    )
    at = entry["ts"]  # a minute later: the minute rollups hold the new records alone
    _feed(store, "2", at + 120, 10, errors=5, start=2000)
    (rolled,) = check_rollback_policies(store, at + 130)
    assert (rolled["from"], rolled["to"]) == ("2", "1")


def test_latency_and_timeouts(stable):
    store = stable.store
    t = stable.history("churn", "production")[-1]["ts"]
    _feed(store, "1", t - 100, 200, errors=0, latency=0.05, start=10_000)
    stable.start_canary(
        "churn",
        "production",
        "2",
        metrics=["error_rate", "latency_p95"],
        max_duration_s=60,
        on_timeout="rollback",
    )
    canary = stable.alias("churn", "production")["canary"]
    assert canary["slow_s"] == pytest.approx(0.05)
    t0 = canary["started_at"]
    _feed(store, "1", t0 + 1, 1000, errors=0, latency=0.01)
    _feed(store, "2", t0 + 1, 200, errors=0, latency=0.2)  # slow
    (done,) = check_canaries(store, t0 + 5)
    assert done["decision"] == "rollback"
    assert done["evidence"]["metrics"]["latency_p95"]["verdict"] == "rollback"
    assert done["evidence"]["metrics"]["error_rate"]["verdict"] != "rollback"
    stable.start_canary("churn", "production", "2", max_duration_s=60, on_timeout="rollback")
    t1 = stable.alias("churn", "production")["canary"]["started_at"]
    assert check_canaries(store, t1 + 30) == []  # no traffic, not timed out
    (done,) = check_canaries(store, t1 + 61)
    assert done["decision"] == "rollback" and done["evidence"]["timed_out"]


def test_a_person_moving_the_alias_ends_the_canary(stable, artifacts):
    stable.register("churn", "3", artifacts / "model3.pkl")
    stable.start_canary("churn", "production", "2")
    stable.promote("churn", "production", "3", reason="hotfix")
    alias = stable.alias("churn", "production")
    assert alias["canary"] is None and alias["version"] == "3"
    assert stable.history("churn", "production")[-1]["details"] == {"canary_ended": "2"}
    assert check_canaries(stable.store) == []


def test_the_rollback_policys_latency_ceiling_joins_the_metrics(stable):
    set_rollback_policy(
        stable.store, "churn", "production", {"max": {"error_rate": 0.1, "latency_p95": 0.3}}
    )
    stable.start_canary("churn", "production", "2")
    canary = stable.alias("churn", "production")["canary"]
    assert canary["metrics"] == ["error_rate", "latency_p95"]
    assert canary["slow_s"] == 0.3  # no recent latency of stable: the policy's ceiling
    stable.abort_canary("churn", "production")
    stable.start_canary("churn", "production", "2", metrics=["error_rate"])
    assert stable.alias("churn", "production")["canary"]["metrics"] == ["error_rate"]


def test_a_canary_does_not_blind_the_rollback_policy(stable, artifacts):
    store = stable.store
    stable.register("churn", "3", artifacts / "model3.pkl")
    stable.promote("churn", "production", "2")
    at = stable.history("churn", "production")[-1]["ts"]
    stable.start_canary("churn", "production", "3")
    set_rollback_policy(
        store, "churn", "production", {"max": {"error_rate": 0.1}, "min_count": 10, "window_s": 60}
    )
    _feed(store, "2", at + 120, 10, errors=5)
    (rolled,) = check_rollback_policies(store, at + 130)
    assert (rolled["from"], rolled["to"]) == ("2", "1")
    alias = stable.alias("churn", "production")
    assert alias["version"] == "1" and alias["canary"] is None  # the canary ended with it
    assert stable.history("churn", "production")[-1]["details"] == {"canary_ended": "3"}
