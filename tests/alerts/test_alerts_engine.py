"""Rule semantics on real stores: for-duration, dedup, no-data, baselines, silences, acks."""

from __future__ import annotations

import time

import pytest
from alerts_support import NOW, Recorder, Traffic, put_rule

from vigil.engine.alerts.admin import ack_alert, create_silence
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.store.alerts.queries import AlertStore


@pytest.fixture
def traffic(store) -> Traffic:
    """Model 'churn' registered; send predictions stamped at chosen times."""
    t = Traffic(store)
    t.model()
    return t


def _engine(store):
    rec = Recorder()
    return AlertEngine(store, rec), rec


def test_for_duration_pending_firing_resolved_and_dedup(store, traffic):
    put_rule(
        store,
        name="errors",
        model="churn",
        metric="error_rate",
        op=">",
        threshold=0.2,
        window="5m",
        **{"for": "2m"},
        notifiers=["n"],
        actions=["a"],
    )
    engine, rec = _engine(store)
    traffic.send(NOW - 60, count=10, errors=5)
    assert engine.evaluate(NOW) == []
    (alert,) = AlertStore(store).list_alerts()
    assert alert["state"] == "pending" and alert["value"] == 0.5
    engine.evaluate(NOW + 60)  # held 1m of 2m: still pending, the same alert
    assert [a["state"] for a in AlertStore(store).list_alerts()] == ["pending"]
    notes = engine.evaluate(NOW + 120)
    assert [n.status for n in notes] == ["firing"]
    assert notes[0].labels == {
        "alertname": "errors",
        "model": "churn",
        "metric": "error_rate",
        "severity": "warning",
    }
    assert len(rec.notes) == 1 and len(rec.acts) == 1
    engine.evaluate(NOW + 150)  # still bad: no second notification, no second alert
    assert len(rec.notes) == 1
    assert len(AlertStore(store).list_alerts()) == 1
    # the window moves past the bad minute; healthy traffic resolves the alert
    traffic.send(NOW + 400, count=20)
    notes = engine.evaluate(NOW + 420)
    assert [n.status for n in notes] == ["resolved"]
    full = AlertStore(store).get_alert(alert["id"])
    assert full["state"] == "resolved" and full["resolved_at"] == NOW + 420
    assert [e["kind"] for e in full["history"]] == ["pending", "firing", "resolved"]
    # a new breach opens a new alert, with the same fingerprint
    traffic.send(NOW + 500, count=10, errors=10)
    engine.evaluate(NOW + 540)
    alerts = AlertStore(store).list_alerts()
    assert [a["state"] for a in alerts] == ["pending", "resolved"]
    assert alerts[0]["fingerprint"] == alerts[1]["fingerprint"]


def test_pending_that_recovers_is_dropped_without_notification(store, traffic):
    put_rule(
        store,
        name="errors",
        metric="error_rate",
        threshold=0.2,
        window="1m",
        **{"for": "5m"},
        notifiers=["n"],
    )
    engine, rec = _engine(store)
    traffic.send(NOW - 30, count=10, errors=9)
    engine.evaluate(NOW)
    traffic.send(NOW + 60, count=10)
    engine.evaluate(NOW + 90)
    (alert,) = AlertStore(store).list_alerts(state="inactive")
    assert alert["fired_at"] is None
    assert rec.notes == []


def test_too_little_data_keeps_state_unless_told(store, traffic):
    put_rule(store, name="keep", metric="error_rate", threshold=0.2, window="1m")
    put_rule(store, name="ok", metric="error_rate", threshold=0.2, window="1m", on_no_data="ok")
    put_rule(store, name="min", metric="error_rate", threshold=0.2, window="1m", min_count=50)
    engine, _ = _engine(store)
    traffic.send(NOW - 30, count=10, errors=9)
    engine.evaluate(NOW)
    firing = {a["rule"]: a["state"] for a in AlertStore(store).list_alerts(state="active")}
    assert firing == {"keep": "firing", "ok": "firing"}  # 10 < min_count: no data, no alert
    engine.evaluate(NOW + 600)  # no traffic at all in the window now
    states = {a["rule"]: a["state"] for a in AlertStore(store).list_alerts()}
    assert states == {"keep": "firing", "ok": "resolved"}


def test_no_data_rule_fires_when_a_model_stops_sending(store, traffic):
    traffic.model("fraud")
    put_rule(store, name="silent", kind="no_data", window="10m", notifiers=["n"])
    engine, rec = _engine(store)
    traffic.send(NOW - 60, model="churn")
    traffic.send(NOW - 60, model="fraud")
    engine.evaluate(NOW)
    assert rec.notes == []
    traffic.send(NOW + 500, model="churn")
    engine.evaluate(NOW + 600)  # fraud sent nothing for 10 minutes
    assert [(n.status, n.labels["model"]) for n in rec.notes] == [("firing", "fraud")]
    traffic.send(NOW + 660, model="fraud")
    engine.evaluate(NOW + 700)
    assert [(n.status, n.labels["model"]) for n in rec.notes][-1] == ("resolved", "fraud")


def test_change_against_last_week(store, traffic):
    week = 7 * 86400
    put_rule(
        store,
        name="spike",
        metric="error_rate",
        kind="change",
        baseline="7d",
        op=">",
        threshold=3,
        window="1h",
        notifiers=["n"],
    )
    put_rule(
        store,
        name="drop",
        metric="count",
        kind="change",
        baseline="7d",
        change="difference",
        op="<",
        threshold=-50,
        window="1h",
    )
    engine, rec = _engine(store)
    traffic.send(NOW - week - 600, count=100, errors=2)  # last week: 2 %
    traffic.send(NOW - 600, count=100, errors=5)  # now: 5 % (2.5×)
    engine.evaluate(NOW)
    assert rec.notes == []
    traffic.send(NOW - 300, count=100, errors=25)  # now 15 % over 200: 7.5×
    engine.evaluate(NOW + 1)
    assert [n.rule for n in rec.notes] == ["spike"]
    assert rec.notes[0].value == 7.5
    # count fell from 100 to ... it did not: 200 now vs 100 then; no drop alert
    assert AlertStore(store).list_alerts(rule="drop") == []


def test_silence_and_ack(store, traffic):
    put_rule(
        store,
        name="slow",
        metric="latency_p95",
        threshold=0.5,
        window="5m",
        repeat="1m",
        notifiers=["n"],
    )
    engine, rec = _engine(store)
    now = time.time()
    traffic.send(now - 30, latency_s=2.0)
    # a silence matching the rule: state changes, nobody is told
    silence = create_silence(store, {"alertname": "slow"}, "10m", "test")
    engine.evaluate(now + 1)
    (alert,) = AlertStore(store).list_alerts()
    assert alert["state"] == "firing" and rec.notes == []
    assert "silenced" in [e["kind"] for e in AlertStore(store).get_alert(alert["id"])["history"]]
    assert AlertStore(store).expire_silence(silence["id"], now + 2)
    # repeat every minute while firing, unless acknowledged
    traffic.send(now + 60, latency_s=2.0)
    engine.evaluate(now + 62)
    assert [n.status for n in rec.notes] == ["firing"]
    ack_alert(store, alert["id"], "alice", comment="looking")
    engine.evaluate(now + 125)
    assert len(rec.notes) == 1
    history = AlertStore(store).get_alert(alert["id"])["history"]
    assert history[-1]["kind"] == "acked" and history[-1]["details"]["by"] == "alice"


def test_deleted_rule_closes_its_alerts_and_bad_rules_do_not_stop_others(store, traffic):
    put_rule(store, name="a", metric="count", op=">", threshold=0, window="5m")
    put_rule(store, name="b", metric="count", op=">", threshold=0, window="5m")
    AlertStore(store).put_rule({"name": "broken", "metric": "no_such_metric"})
    engine, _ = _engine(store)
    traffic.send(NOW - 30)
    engine.evaluate(NOW)
    assert sorted(a["rule"] for a in AlertStore(store).list_alerts(state="firing")) == ["a", "b"]
    AlertStore(store).delete_rule("a")
    engine.evaluate(NOW + 10)
    assert [a["rule"] for a in AlertStore(store).list_alerts(state="firing")] == ["b"]
    assert AlertStore(store).list_alerts(rule="a")[0]["state"] == "resolved"
    # a rule that fails to evaluate keeps its alert as it is (no false resolution)
    AlertStore(store).put_rule({**AlertStore(store).get_rule("b"), "metric": "gone"})
    engine.evaluate(NOW + 20)
    assert [a["rule"] for a in AlertStore(store).list_alerts(state="firing")] == ["b"]


def test_alert_fires_on_injected_drift_and_resolves(store, traffic):
    import pandas as pd

    from vigil.engine.windows.drift import set_reference

    rng = __import__("numpy").random.default_rng(0)
    reference = pd.DataFrame(
        {"age": rng.normal(40, 5, 500).round(1), "plan": rng.choice(["pro", "free"], 500)}
    )
    set_reference(store, store.get_model("churn"), reference, "test")
    put_rule(
        store,
        name="drift",
        model="churn",
        metric="drift_share",
        op=">=",
        threshold=0.5,
        window="5m",
        notifiers=["n"],
    )
    engine, rec = _engine(store)
    engine.evaluate(NOW)  # no traffic yet: no data, no alert
    assert AlertStore(store).list_alerts() == []

    def send(ts, ages, plans):
        recs = [
            {"id": f"d{ts}-{i}", "ts": ts, "inputs": {"age": float(a), "plan": p}, "outputs": 0}
            for i, (a, p) in enumerate(zip(ages, plans, strict=True))
        ]
        assert traffic.ingestor.ingest_predictions("churn", recs).accepted == len(recs)

    send(NOW - 60, rng.normal(40, 5, 200), rng.choice(["pro", "free"], 200))
    engine.evaluate(NOW)
    assert rec.notes == []
    send(NOW + 300, rng.normal(70, 5, 200), ["enterprise"] * 200)  # injected drift
    engine.evaluate(NOW + 360)
    assert [(n.status, n.rule) for n in rec.notes] == [("firing", "drift")]
    assert rec.notes[0].value == 1.0
    send(NOW + 700, rng.normal(40, 5, 200), rng.choice(["pro", "free"], 200))
    engine.evaluate(NOW + 720)
    assert [n.status for n in rec.notes] == ["firing", "resolved"]
