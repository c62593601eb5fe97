"""Everything vigil can alert on reaches a real Prometheus: a vigil server with traffic,
labels, a CBPE reference, drift, resources, a probe, a text model and firing alerts is
scraped by Debian's ``prometheus``; every panel query of every exported Grafana dashboard
returns data through Prometheus' HTTP API, the exported rules pass ``promtool check rules``
and, for rules on store metrics and no-data rules, fire for exactly the models vigil's own
engine says they should."""

from __future__ import annotations

import subprocess
import time

import httpx
import numpy as np
import orjson
import pytest
from support.prometheus import start_prometheus, tool
from support.records import SCHEMA, chat_span

from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.integrations.grafana import DASHBOARDS, panel_queries
from vigil.store.alerts.queries import AlertStore

pytestmark = pytest.mark.integration

# (rule, the models vigil is expected to fire it for); compared with Prometheus' alerts
RULES = [
    (
        {
            "name": "accuracy-low",
            "model": "churn",
            "metric": "accuracy",
            "op": "<",
            "threshold": 0.99,
            "window": "1h",
            "notifiers": ["log"],
        },
        {"churn"},
    ),
    (
        {
            "name": "accuracy-perfect",
            "model": "churn",
            "metric": "accuracy",
            "op": ">",
            "threshold": 0.999,
            "window": "1h",
        },
        set(),
    ),
    (
        {
            "name": "estimate-low",
            "model": "churn",
            "metric": "estimated_accuracy",
            "op": "<",
            "threshold": 0.2,
            "window": "1h",
        },
        set(),
    ),
    ({"name": "drifting", "metric": "drift_share", "threshold": 0.3, "window": "1h"}, {"churn"}),
    ({"name": "cpu-hot", "metric": "cpu_percent", "threshold": 90, "window": "1h"}, {"churn"}),
    (
        {
            "name": "probe-failing",
            "model": "churn",
            "metric": "probe_failure_rate",
            "threshold": 0.5,
            "window": "1h",
        },
        set(),
    ),
    (
        {
            "name": "refusing",
            "model": "faq-bot",
            "metric": "answers_refusal_rate",
            "threshold": 0.9,
            "window": "1h",
        },
        set(),
    ),
    (
        {
            "name": "too-few-labelled",
            "model": "churn",
            "metric": "accuracy",
            "op": "<",
            "threshold": 0.99,
            "window": "1h",
            "min_count": 100000,
            "on_no_data": "alert",
        },
        {"churn"},
    ),
    ({"name": "silent", "kind": "no_data", "window": "15m"}, {"quiet"}),
    (
        {
            "name": "traffic-ahead",
            "model": "churn",
            "kind": "forecast",
            "metric": "count",
            "op": ">",
            "threshold": 0,
            "window": "5m",
            "horizon": "30m",
            "history": "3h",
        },
        {"churn"},
    ),
    (
        {
            "name": "traffic-odd",
            "model": "churn",
            "kind": "anomaly",
            "metric": "count",
            "op": "!=",
            "threshold": 1000,
            "window": "5m",
            "history": "3h",
        },
        set(),
    ),
    (
        {"name": "silent-v9", "model": "churn", "version": "9", "kind": "no_data", "window": "15m"},
        {"churn"},
    ),
]
NATIVE_RULES = [  # counters: loaded and evaluated by Prometheus, counted by arrival time
    {"name": "errors", "model": "churn", "metric": "error_rate", "threshold": 0.5, "window": "5m"},
]
FAQ = {
    "How do I reset my password?": "Open settings, choose security and reset the password.",
    "What are your opening hours?": "Our support hours are 9 to 5, Monday to Friday.",
    "How can I get a refund?": "Ask for a refund within 30 days from the orders page.",
    "Where is my parcel?": "Track your parcel from the orders page with its number.",
    "How do I change my delivery address?": "Edit the delivery address in your account.",
}


def _ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def _predictions(n, *, start, seed, shift=0.0, versions=("1", "2"), errors=0):
    rng = np.random.default_rng(seed)
    recs, labels = [], []
    for i in range(n):
        y = int(rng.integers(0, 2))
        p = float(np.clip(0.5 + 0.2 * (2 * y - 1) + rng.normal(0, 0.2), 0, 1))
        rec = {
            "id": f"s{seed}-{i}",
            "version": versions[i % len(versions)],
            "ts": start + i * 5,
            "latency_s": float(rng.uniform(0.01, 0.2)),
            "inputs": {
                "age": float(rng.normal(45, 10) + shift),
                "plan": "pro" if rng.random() < 0.5 else "free",
            },
            "outputs": int(p >= 0.5),
            "proba": p,
        }
        if i < errors:
            rec["error"], rec["error_type"] = "timed out", "TimeoutError"
        recs.append(rec)
        labels.append({"prediction_id": rec["id"], "actual": y})
    return recs, labels


_span = chat_span


def _populate(api: httpx.Client) -> None:
    """Traffic of every kind vigil watches, stored through the HTTP API."""
    now = time.time()
    _ok(api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}), 201)
    _ok(api.post("/api/v1/models", json={"name": "quiet", "schema": SCHEMA}), 201)
    # labelled traffic two hours ago: the CBPE reference
    ref, ref_labels = _predictions(300, start=now - 7200, seed=1)
    _ok(api.post("/api/v1/models/churn/predictions", json={"records": ref}))
    _ok(api.post("/api/v1/models/churn/labels", json={"labels": ref_labels}))
    _ok(
        api.post(
            "/api/v1/models/churn/quality/reference", json={"start": now - 7300, "end": now - 3700}
        ),
        201,
    )
    # the drift reference: ages around 45; the last half hour's are around 75
    drift_ref, _ = _predictions(300, start=now - 7200, seed=2)
    _ok(
        api.post(
            "/api/v1/models/churn/reference", json={"records": [r["inputs"] for r in drift_ref]}
        ),
        201,
    )
    cur, cur_labels = _predictions(300, start=now - 1500, seed=3, shift=30, errors=20)
    body = _ok(
        api.post(
            "/api/v1/models/churn/predictions",
            json={
                "records": [*cur, {"id": "bad", "inputs": {"age": 1}, "outputs": 0, "ts": "soon"}]
            },
        ),
        207,
    )
    assert body["accepted"] == 300 and len(body["rejected"]) == 1
    _ok(api.post("/api/v1/models/churn/labels", json={"labels": cur_labels[:150]}))
    _ok(
        api.post(
            "/api/v1/models/churn/feedback",
            json={
                "feedback": [
                    {"prediction_id": cur[i]["id"], "score": s} for i, s in enumerate([1, -1, 1])
                ]
            },
        )
    )
    # a resource sample (with a GPU) and an endpoint probe of this very server
    gpu = [{"index": 0, "utilization_percent": 55.0, "memory_used_bytes": 2.0e9}]
    _ok(
        api.post(
            "/api/v1/models/churn/resources",
            json={
                "samples": [
                    {
                        "version": "1",
                        "host": "web-1",
                        "pid": 7,
                        "ts": time.time(),
                        "interval_s": 600.0,
                        "process_cpu_percent": 150.0,
                        "process_cpu_seconds": 12.5,
                        "process_rss_bytes": 2.0e9,
                        "process_threads": 9.0,
                        "process_open_files": 17.0,
                        "host_cpu_percent": 40.0,
                        "host_cpu_count": 4.0,
                        "host_memory_used_bytes": 6.0e9,
                        "host_memory_total_bytes": 16.0e9,
                        "host_load1": 1.5,
                        "gpus": gpu,
                    }
                ]
            },
        )
    )
    _ok(
        api.post(
            "/api/v1/models/churn/probes",
            json={
                "url": str(api.base_url).rstrip("/") + "/healthz",
                "interval_s": 2,
                "timeout_s": 2,
            },
        ),
        201,
    )
    # a text model fed by OpenTelemetry GenAI spans
    spans = [_span(i, now - 600 + i, q, a) for i, (q, a) in enumerate(list(FAQ.items()) * 2)]
    r = api.post(
        "/v1/traces",
        content=orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.headers["X-Vigil-Accepted"] == str(len(spans)), r.text
    # rules, a log notifier, and one evaluation round so alerts fire and notify
    _ok(api.put("/api/v1/notifiers/log", json={"type": "log"}), 201)
    for spec, _ in RULES:
        _ok(api.post("/api/v1/rules", json=spec), 201)
    for spec in NATIVE_RULES:
        _ok(api.post("/api/v1/rules", json=spec), 201)
    _ok(api.post("/api/v1/rules/evaluate"))


def _query(prom: httpx.Client, expr: str) -> list | None:
    """The query's result vector, or None while Prometheus is not answering yet."""
    try:
        answer = prom.get("/api/v1/query", params={"query": expr})
    except httpx.HTTPError:
        return None
    if answer.status_code == 503:  # starting
        return None
    body = answer.json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def _grafana_expr(expr: str) -> str:
    """A panel query as Grafana sends it with "All" models and versions selected."""
    return expr.replace("$model", ".*").replace("$version", ".*").replace("$__rate_interval", "2m")


def test_prometheus_sees_every_metric_vigil_alerts_on(
    server_factory, store, db_url, tmp_path, monkeypatch
):
    from vigil.cli.main import main

    promtool = tool("promtool")
    tool("prometheus")
    monkeypatch.setattr("vigil.server.prom.STORE_GAUGES_TTL_S", 1.0)
    api = server_factory(auth="off", rules_interval_s=0, allow_private_targets="127.0.0.0/8")
    _populate(api)

    # the exports, through the CLI as a user runs them
    rules_path = tmp_path / "vigil-rules.yml"
    main(["export", "prometheus-rules", "-o", str(rules_path), "--db", db_url])
    main(["export", "grafana", "-o", str(tmp_path / "grafana")])
    text = rules_path.read_text()
    assert "# skipped" not in text, text  # every rule has a PromQL form
    checked = subprocess.run(
        [promtool, "check", "rules", str(rules_path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(RULES) + len(NATIVE_RULES)} rules found" in checked.stdout
    boards = sorted((tmp_path / "grafana" / "dashboards").glob("*.json"))
    assert [b.stem for b in boards] == sorted(uid for uid, _, _ in DASHBOARDS)
    for board in boards:
        dash = orjson.loads(board.read_bytes())
        assert [v["name"] for v in dash["templating"]["list"]] == ["model", "version"]
    written = {
        t["expr"]
        for b in boards
        for p in orjson.loads(b.read_bytes())["panels"]
        for t in p["targets"]
    }
    assert written == {expr for _, _, expr in panel_queries()}

    target = str(api.base_url).removeprefix("http://").rstrip("/")
    proc, prom = start_prometheus(tmp_path, target, rules_path)
    try:
        # every panel of every dashboard answers with data
        deadline = time.monotonic() + 180
        empty: list[tuple[str, str, str]] = list(panel_queries())
        while empty and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            empty = [q for q in empty if not _query(prom, _grafana_expr(q[2]))]
            if empty:
                time.sleep(1)
        assert not empty, f"panels without data: {empty}"
        # the template variables list the models and their versions
        models = {
            s["metric"]["model_name"]
            for s in _query(prom, "vigil_model_last_event_timestamp_seconds") or []
        }
        assert models == {"churn", "quiet", "faq-bot"}
        versions = {
            s["metric"].get("model_version", "")
            for s in _query(prom, 'vigil_model_last_event_timestamp_seconds{model_name=~"churn"}')
            or []
        }
        assert versions == {"1", "2"}

        # store-metric and no-data rules fire where vigil's own engine fires them
        engine = AlertEngine(store)
        compared = {spec["name"] for spec, _ in RULES}
        rules = [Rule.from_dict(s) for s in AlertStore(store).list_rules()]
        want = {(spec["name"], m) for spec, models_ in RULES for m in models_}
        seen: set[tuple[str, str]] = set()
        vigil: set[tuple[str, str]] = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            vigil = {
                (ev.rule.name, ev.labels["model"])
                for rule in rules
                if rule.name in compared
                for ev in engine.evaluate_rule(rule, time.time())
                if ev.holds
            }
            alerts = prom.get("/api/v1/alerts").json()["data"]["alerts"]
            seen = {
                (a["labels"]["alertname"], a["labels"]["model_name"])
                for a in alerts
                if a["state"] == "firing" and a["labels"]["alertname"] in compared
            }
            if seen == vigil:
                break
            time.sleep(1)
        assert vigil == want  # the data are what the test means
        assert seen == vigil
        # the native rule is loaded and evaluates without errors
        groups = prom.get("/api/v1/rules").json()["data"]["groups"]
        health = {r["name"]: r["health"] for g in groups for r in g["rules"]}
        assert set(health) == compared | {r["name"] for r in NATIVE_RULES}
        assert set(health.values()) == {"ok"}, health
    finally:
        prom.close()
        proc.terminate()
        proc.wait(timeout=20)
        proc.stderr.close()
