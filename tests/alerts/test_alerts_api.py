"""Rules and alerts over real HTTP; the background loop fires, notifies a real receiver,
resolves, shows in /metrics, and stops with the server."""

from __future__ import annotations

import time

import pytest
from alerts_support import Receiver
from support.records import SCHEMA

# these tests send to receivers on loopback, which vigil refuses by default
pytestmark = pytest.mark.usefixtures("allow_private_targets")


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_rules_crud_and_validation(server_factory):
    api = server_factory(auth="off", rules_interval_s=0)
    rule = {
        "name": "slow",
        "model": "churn",
        "metric": "latency_p95",
        "threshold": 0.5,
        "window": "5m",
        "for": "1m",
    }
    made = api.post("/api/v1/rules", json=rule)
    assert made.status_code == 201, made.text
    assert made.json()["window"] == "5m" and made.json()["for"] == "1m"
    assert api.post("/api/v1/rules", json=rule).status_code == 409
    put = api.put("/api/v1/rules/slow", json={**rule, "threshold": 1.0})
    assert put.status_code == 200 and put.json()["outcome"] == "updated"
    assert (
        api.put("/api/v1/rules/slow", json={**rule, "threshold": 1.0}).json()["outcome"]
        == "unchanged"
    )
    assert api.get("/api/v1/rules/slow").json()["threshold"] == 1.0
    assert [r["name"] for r in api.get("/api/v1/rules").json()["rules"]] == ["slow"]
    bad = api.post("/api/v1/rules", json={**rule, "name": "x", "metric": "nope"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "metric"
    assert "Unknown metric 'nope'" in bad.json()["error"]["message"]
    bad = api.post("/api/v1/rules", json={**rule, "name": "x", "window": "five"})
    assert bad.status_code == 422 and "'window'" in bad.json()["error"]["message"]
    bad = api.post("/api/v1/rules", json={**rule, "name": "x", "notifiers": ["pager"]})
    assert bad.status_code == 422 and "notifier 'pager'" in bad.json()["error"]["message"]
    bad = api.put("/api/v1/rules/other", json=rule)
    assert bad.status_code == 422 and "URL names 'other'" in bad.json()["error"]["message"]
    assert api.post(
        "/api/v1/rules", content=b"{nope", headers={"Content-Type": "application/json"}
    ).status_code in (400, 422)
    metrics = {m["name"] for m in api.get("/api/v1/metric-sources").json()["metrics"]}
    assert {"throughput", "error_rate", "latency_p99"} <= metrics
    assert api.delete("/api/v1/rules/slow").status_code == 200
    assert api.delete("/api/v1/rules/slow").status_code == 404
    # notifiers: secrets masked when listed
    hook = api.put(
        "/api/v1/notifiers/hook", json={"type": "webhook", "url": "http://h", "secret": "s"}
    )
    assert hook.status_code == 201 and hook.json()["config"]["secret"] == "***"
    assert api.get("/api/v1/notifiers").json()["notifiers"][0]["config"]["secret"] == "***"
    bad = api.put("/api/v1/notifiers/x", json={"type": "webhook"})
    assert bad.status_code == 422 and "needs 'url'" in bad.json()["error"]["message"]
    bad = api.put("/api/v1/actions/x", json={"type": "retrain"})
    assert bad.status_code == 422 and "webhook' or 'command'" in bad.json()["error"]["message"]


@pytest.mark.integration
def test_background_loop_fires_notifies_resolves(server_factory, receiver, store):
    api = server_factory(auth="off", rules_interval_s=0.2)
    assert api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code == 201
    api.put("/api/v1/notifiers/hook", json={"type": "webhook", "url": receiver.url, "retries": 0})
    api.put(
        "/api/v1/notifiers/broken",
        json={"type": "webhook", "url": "http://127.0.0.1:9/x", "retries": 0},
    )
    api.post(
        "/api/v1/rules",
        json={
            "name": "errors",
            "model": "churn",
            "metric": "error_rate",
            "threshold": 0.5,
            "window": "1m",
            "min_count": 1,
            "notifiers": ["hook", "broken"],
            "severity": "critical",
        },
    )
    now = time.time()
    records = [
        {
            "id": f"p{i}",
            "ts": now - 5,
            "inputs": {"age": 1, "plan": "a"},
            "outputs": 0,
            **({"error": "boom"} if i < 8 else {}),
        }
        for i in range(10)
    ]
    assert (
        api.post("/api/v1/models/churn/predictions", json={"records": records}).status_code == 200
    )
    _wait(lambda: receiver.requests)
    body = receiver.json(0)
    assert body["status"] == "firing" and body["commonLabels"]["alertname"] == "errors"
    (alert,) = api.get("/api/v1/alerts", params={"state": "firing"}).json()["alerts"]
    # the failing notifier is visible: history, metric; the engine went on
    history = _wait(
        lambda: [
            e
            for e in api.get(f"/api/v1/alerts/{alert['id']}").json()["history"]
            if e["kind"] == "notify_failed"
        ]
    )
    assert history[0]["details"]["notifier"] == "broken"
    text = _wait(
        lambda: (
            (t := api.get("/metrics").text)
            and 'vigil_notifications_total{notifier="broken",outcome="failed"} 1.0' in t
            and t
        )
    )
    assert 'vigil_alerts{severity="critical",state="firing"} 1.0' in text
    assert 'vigil_alert_active{alertname="errors"' in text
    assert 'vigil_rule_value{model_name="churn",model_version="",rule="errors"} 0.8' in text
    # ack, then silence over the API
    acked = api.post(f"/api/v1/alerts/{alert['id']}/ack", json={"comment": "on it"})
    assert acked.status_code == 200 and acked.json()["acked"] is True
    sil = api.post(f"/api/v1/alerts/{alert['id']}/silence", json={"for": "30m"})
    assert sil.status_code == 201 and sil.json()["matchers"]["alertname"] == "errors"
    assert [s["id"] for s in api.get("/api/v1/silences").json()["silences"]] == [sil.json()["id"]]
    assert api.delete(f"/api/v1/silences/{sil.json()['id']}").status_code == 200
    assert api.get("/api/v1/silences").json()["silences"] == []
    # healthy traffic: the error rate falls under the threshold and the alert resolves
    ok = [
        {"id": f"q{i}", "ts": time.time(), "inputs": {"age": 1, "plan": "a"}, "outputs": 0}
        for i in range(30)
    ]
    api.post("/api/v1/models/churn/predictions", json={"records": ok})
    _wait(lambda: len(receiver.requests) >= 2)
    assert receiver.json(1)["status"] == "resolved"
    assert api.get(f"/api/v1/alerts/{alert['id']}").json()["state"] == "resolved"
    assert api.get("/api/v1/alerts", params={"state": "bogus"}).status_code == 422
    assert api.get("/api/v1/alerts/999").status_code == 404
    assert api.post("/api/v1/alerts/999/ack", json={}).status_code == 404
    bad = api.post("/api/v1/silences", json={"matchers": {}, "for": "1h"})
    assert bad.status_code == 422 and "matchers" in bad.json()["error"]["message"]
    actions = [e["action"] for e in store.audit_entries()]
    assert {"alert.ack", "silence.create", "silence.expire", "rule.create"} <= set(actions)


def test_evaluation_errors_never_crash_the_server(server_factory, store):
    from vigil.store.alerts.queries import AlertStore

    api = server_factory(auth="off", rules_interval_s=0.05)
    AlertStore(store).put_rule({"name": "broken", "metric": "no_such_metric"})
    failed = 'vigil_rule_evaluation_failures_total{rule="broken"}'

    def metrics() -> str | None:
        text = api.get("/metrics").text
        return text if failed in text else None

    text = _wait(metrics)
    assert api.get("/healthz").status_code == 200
    assert "vigil_rule_evaluations_total" in text
