"""Rollback policies evaluated by check_rollback_policies(store, now) on both backends."""

from __future__ import annotations

import pytest
from support.records import feed

from vigil.errors import InvalidParameterError
from vigil.registry import check_rollback_policies, set_rollback_policy
from vigil.registry.policy import check_policy

_feed = feed


@pytest.fixture
def promoted(registry, artifacts):
    """churn v1 then v2 promoted to production; returns the time of v2's promotion."""
    for v in ("1", "2"):
        registry.register("churn", v, artifacts / f"model{v}.pkl")
    registry.promote("churn", "production", "1")
    registry.promote("churn", "production", "2")
    return registry.history("churn", "production")[-1]["ts"]


def test_breach_within_watch_period_rolls_back(registry, promoted):
    store = registry.store
    set_rollback_policy(
        store,
        "churn",
        "production",
        {"max": {"error_rate": 0.2}, "min_count": 10, "window_s": 300, "watch_s": 600},
    )
    _feed(store, "2", promoted + 1, 9, errors=5)
    assert check_rollback_policies(store, promoted + 30) == []  # 9 < min_count
    _feed(store, "2", promoted + 2, 1, errors=0, start=9)
    assert check_rollback_policies(store, promoted + 700) == []  # watch period is over
    told = []
    done = check_rollback_policies(store, promoted + 30, notify=told.append)
    assert [(d["from"], d["to"]) for d in done] == [("2", "1")]
    assert told == done and "error_rate 0.5 > 0.2" in done[0]["reason"]
    assert registry.alias("churn", "production")["resolved_version"] == "1"
    assert check_rollback_policies(store, promoted + 31) == []  # already rolled back


def test_floor_conditions_disabled_policies_and_healthy_versions(registry, promoted):
    store = registry.store
    set_rollback_policy(
        store, "churn", "production", {"min": {"throughput": 10.0}, "min_count": 5, "window_s": 60}
    )
    _feed(store, "2", promoted + 1, 5, errors=0)
    set_rollback_policy(store, "churn", "production", None)
    assert check_rollback_policies(store, promoted + 30) == []  # disabled
    set_rollback_policy(store, "churn", "production", {"max": {"error_rate": 0.5}, "min_count": 5})
    assert check_rollback_policies(store, promoted + 30) == []  # healthy
    set_rollback_policy(
        store, "churn", "production", {"min": {"throughput": 10.0}, "min_count": 5, "window_s": 60}
    )
    done = check_rollback_policies(store, promoted + 30)
    assert "throughput" in done[0]["reason"] and " < 10" in done[0]["reason"]
    entry = next(e for e in store.audit_entries() if e["action"] == "registry.auto_rollback")
    assert entry["actor"] == "vigil:rollback-policy"


def test_person_moving_the_alias_wins_over_the_policy(registry, promoted):
    store = registry.store
    set_rollback_policy(store, "churn", "production", {"max": {"error_rate": 0.1}, "min_count": 1})
    _feed(store, "2", promoted + 1, 4, errors=4)
    registry.rollback("churn", "production", reason="manual")
    assert check_rollback_policies(store, promoted + 30) == []
    assert [h["action"] for h in registry.history("churn", "production")][-1] == "rollback"


@pytest.mark.parametrize(
    ("policy", "needle"),
    [
        ({}, "at least one condition"),
        ({"max": {"error_rate": "high"}}, "must be a number"),
        ({"max": {"nope": 1}}, "Unknown metric"),
        ({"max": {"error_rate": 1}, "min_count": 0}, "positive number"),
        ({"max": {"error_rate": 1}, "colour": 1}, "Unknown rollback policy fields"),
        ({"max": {"error_rate": 1}, "notify": "oncall"}, "list of notifier names"),
        ([1], "must be an object"),
    ],
)
def test_bad_policies(policy, needle):
    with pytest.raises(InvalidParameterError, match=needle):
        check_policy(policy)


def test_policy_on_unknown_model_is_a_clear_error(store):
    from vigil.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError):
        set_rollback_policy(store, "ghost", "production", {"max": {"error_rate": 0.1}})
