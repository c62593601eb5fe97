"""Routes by labels and inhibition, applied as code: a firing "model down" holds back that
model's latency alert (and only that model's), routes add notifiers by label."""

from __future__ import annotations

import time

import orjson
import pytest
from alerts_support import Receiver, Traffic

from vigil.engine.alerts.apply import apply, parse_config
from vigil.engine.alerts.dispatch import Dispatcher
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.errors import ValidationFailedError
from vigil.store.alerts.queries import AlertStore

pytestmark = pytest.mark.usefixtures("allow_private_targets")  # receivers on loopback

CONFIG = """
[notifiers.team-ml]
type = "webhook"
url = "{ml}"

[notifiers.oncall]
type = "webhook"
url = "{oncall}"

[routes.ml-critical]
match = {{team = "ml", severity = "critical"}}
notifiers = ["oncall"]

[inhibit.down-holds-latency]
source = {{alertname = "errors-all"}}
target = {{metric = "latency_p95"}}
equal = ["model"]

[[rules]]
name = "errors-all"
model = "*"
metric = "error_rate"
threshold = 0.9
window = "10m"
severity = "critical"
notifiers = ["team-ml"]
labels = {{team = "ml"}}

[[rules]]
name = "slow"
model = "*"
metric = "latency_p95"
threshold = 0.05
window = "10m"
severity = "warning"
notifiers = ["team-ml"]
labels = {{team = "ml"}}
"""


def _bodies(receiver) -> list[tuple[str, str, str]]:
    out = []
    for request in receiver.requests:
        body = orjson.loads(request["body"])
        for alert in body["alerts"]:
            out.append((alert["labels"]["alertname"], alert["labels"]["model"], body["status"]))
    return sorted(out)


def test_inhibition_holds_back_the_same_models_alert_and_routes_add_notifiers(store, tmp_path):
    ml, oncall = Receiver(), Receiver()
    try:
        apply(store, parse_config(CONFIG.format(ml=ml.url, oncall=oncall.url)))
        traffic = Traffic(store)
        traffic.model("churn")
        traffic.model("fraud")
        now = time.time()
        # churn is down (every call fails) and slow; fraud is only slow
        traffic.send(now - 60, count=20, errors=20, model="churn", latency_s=0.2)
        traffic.send(now - 60, count=20, errors=0, model="fraud", latency_s=0.2)
        dispatcher = Dispatcher(store, tmp_path)
        try:
            AlertEngine(store, dispatcher).evaluate(now)
            dispatcher.wait(60)
        finally:
            dispatcher.close()
        # rules run in name order: churn's down alert fires first and holds back churn's
        # latency alert in the same round; fraud's latency alert is not held back
        assert _bodies(ml) == [("errors-all", "churn", "firing"), ("slow", "fraud", "firing")]
        # the route sends the critical ml alert to oncall too, not the warning
        assert _bodies(oncall) == [("errors-all", "churn", "firing")]
    finally:
        ml.close()
        oncall.close()
    alerts = AlertStore(store)
    slow_churn = next(a for a in alerts.list_alerts(rule="slow") if a["labels"]["model"] == "churn")
    assert slow_churn["state"] == "firing"  # the alert itself is real, only quiet
    history = alerts.get_alert(slow_churn["id"])["history"]
    (inhibited,) = [e for e in history if e["kind"] == "inhibited"]
    assert inhibited["details"] == {"inhibit": "down-holds-latency", "status": "firing"}


def test_a_held_back_alert_stays_quiet_until_its_source_resolves(store, tmp_path):
    ml, oncall = Receiver(), Receiver()
    try:
        apply(store, parse_config(CONFIG.format(ml=ml.url, oncall=oncall.url)))
        traffic = Traffic(store)
        traffic.model("churn")
        now = time.time()
        traffic.send(now - 120, count=20, errors=20, model="churn", latency_s=0.01)
        dispatcher = Dispatcher(store, tmp_path)
        engine = AlertEngine(store, dispatcher)
        try:
            engine.evaluate(now)  # churn down: fires
            traffic.send(now - 30, count=20, errors=20, model="churn", latency_s=0.5)
            engine.evaluate(now + 1)  # now slow too: held back while down fires
            dispatcher.wait(60)
        finally:
            dispatcher.close()
        assert ("slow", "churn", "firing") not in _bodies(ml)
        alerts = AlertStore(store)
        (slow,) = alerts.list_alerts(rule="slow")
        assert slow["state"] == "firing"
        kinds = [e["kind"] for e in alerts.get_alert(slow["id"])["history"]]
        assert "inhibited" in kinds and "notified" not in kinds
    finally:
        ml.close()
        oncall.close()


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('[routes.r]\nmatch = {team = "ml"}\nnotifiers = []', "non-empty list"),
        ('[routes.r]\nmatch = "ml"\nnotifiers = ["x"]', 'label = \\"value\\" matchers'),
        ('[inhibit.i]\nsource = {alertname = "a"}\ntarget = {severity = 1}', "matchers"),
        (
            '[inhibit.i]\nsource = {alertname = "a"}\ntarget = {x = "y"}\nequal = "model"',
            "list of label names",
        ),
        ('[inhibit.i]\nsource = {a = "b"}\ntarget = {x = "y"}\ncolour = 1', "unknown fields"),
    ],
)
def test_bad_routes_and_inhibitions_are_refused_with_the_reason(table, needle):
    with pytest.raises(ValidationFailedError, match=needle):
        parse_config(table)


def test_a_route_to_an_unknown_notifier_is_refused(store):
    with pytest.raises(ValidationFailedError, match="notifier 'nobody'"):
        apply(store, parse_config('[routes.r]\nmatch = {team = "ml"}\nnotifiers = ["nobody"]'))
