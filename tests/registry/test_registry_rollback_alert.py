"""An automatic rollback is an alert with a lifecycle: listed in `vigil alerts`, acknowledged
like any alert, resolved at the notifier once the restored version holds (or the alias is
promoted again), never orphaned by the rules engine."""

from __future__ import annotations

import orjson
import pytest
from alerts.alerts_support import Receiver
from support.records import feed

from vigil.engine.alerts.admin import ack_alert
from vigil.engine.alerts.dispatch import Dispatcher
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.errors import ValidationFailedError
from vigil.registry import check_rollback_policies, set_rollback_policy
from vigil.store.alerts.queries import AlertStore

pytestmark = pytest.mark.usefixtures("allow_private_targets")  # receivers on loopback


_feed = feed


@pytest.fixture
def hook():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def rolled_back(registry, artifacts, hook, tmp_path):
    """churn v2 promoted over v1, breaching its policy: rolled back, the hook told."""
    store = registry.store
    for v in ("1", "2"):
        registry.register("churn", v, artifacts / f"model{v}.pkl")
    registry.promote("churn", "production", "1")
    registry.promote("churn", "production", "2")
    promoted = registry.history("churn", "production")[-1]["ts"]
    AlertStore(store).put_receiver("notifier", "hook", "webhook", {"url": hook.url})
    set_rollback_policy(
        store,
        "churn",
        "production",
        {"max": {"error_rate": 0.2}, "min_count": 10, "window_s": 300, "notify": ["hook"]},
    )
    _feed(store, "2", promoted + 1, 10, errors=5)
    (done,) = check_rollback_policies(store, promoted + 30, base_url="http://vigil.test")
    assert (done["from"], done["to"], done["notified"]) == ("2", "1", ["hook"])
    return store, promoted + 30, done


def _sent(hook) -> list[dict]:
    return [orjson.loads(r["body"]) for r in hook.requests]


def test_a_rollback_fires_and_resolves_like_any_alert(rolled_back, hook, tmp_path):
    store, at, done = rolled_back
    alerts = AlertStore(store)
    (alert,) = alerts.list_alerts(state="active")
    assert alert["id"] == done["alert_id"] and alert["rule"] == "registry:rollback"
    assert alert["state"] == "firing" and alert["labels"]["version"] == "2"
    (firing,) = _sent(hook)
    assert firing["status"] == "firing"
    assert firing["alerts"][0]["generatorURL"] == (
        f"http://vigil.test/ui/alerts?state=all&model=churn#alert-{alert['id']}"
    )
    fingerprint = firing["alerts"][0]["fingerprint"]
    ack_alert(store, alert["id"], "alice")
    # the rules engine does not orphan it (no rule of that name exists)
    dispatcher = Dispatcher(store, tmp_path)
    try:
        AlertEngine(store, dispatcher).evaluate(at + 5)
    finally:
        dispatcher.close()
    assert alerts.get_alert(alert["id"])["state"] == "firing"
    # the restored version serves well, but its window is not over yet
    _feed(store, "1", at + 10, 20, errors=0)
    check_rollback_policies(store, at + 100)
    assert alerts.get_alert(alert["id"])["state"] == "firing" and len(hook.requests) == 1
    check_rollback_policies(store, at + 301)
    resolved = alerts.get_alert(alert["id"])
    assert resolved["state"] == "resolved" and resolved["history"][-1]["kind"] == "resolved"
    firing, closing = _sent(hook)
    assert closing["status"] == "resolved"
    assert closing["alerts"][0]["fingerprint"] == fingerprint  # the same incident closes
    check_rollback_policies(store, at + 400)
    assert len(hook.requests) == 2  # resolved once


def test_a_restored_version_that_also_breaches_keeps_the_alert_firing(rolled_back, hook):
    store, at, done = rolled_back
    _feed(store, "1", at + 10, 20, errors=10)
    check_rollback_policies(store, at + 301)
    assert AlertStore(store).get_alert(done["alert_id"])["state"] == "firing"


def test_a_new_promotion_resolves_the_rollback_alert(rolled_back, registry, artifacts, hook):
    store, at, done = rolled_back
    registry.register("churn", "3", artifacts / "model3.pkl")
    registry.promote("churn", "production", "3")
    check_rollback_policies(store, at + 5)
    alert = AlertStore(store).get_alert(done["alert_id"])
    assert alert["state"] == "resolved"
    assert "promoted to 3" in alert["history"][-1]["details"]["reason"]
    assert [b["status"] for b in _sent(hook)] == ["firing", "resolved"]


def test_rule_names_of_automatic_changes_are_reserved():
    with pytest.raises(ValidationFailedError, match="registry:"):
        Rule.from_dict(
            {
                "name": "registry:rollback",
                "model": "churn",
                "metric": "error_rate",
                "threshold": 0.1,
            }
        )
