"""Real Prometheus (Debian's `prometheus` package): promtool checks the exported rules, and a
Prometheus started here scrapes a running vigil server and answers PromQL."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest
import yaml
from support.prometheus import start_prometheus, tool
from support.records import SCHEMA

from vigil.engine.alerts.rules import Rule
from vigil.integrations.grafana import panel_queries, write_grafana
from vigil.integrations.prometheus_rules import render

RULES = [
    {
        "name": "errors",
        "model": "churn",
        "metric": "error_rate",
        "threshold": 0.05,
        "window": "5m",
        "for": "2m",
        "severity": "critical",
        "labels": {"team": "ml"},
    },
    {"name": "slow", "metric": "latency_p99", "threshold": 0.5, "window": "10m"},
    {
        "name": "busy",
        "model": "churn",
        "version": "3",
        "metric": "throughput",
        "op": "<",
        "threshold": 1,
        "window": "1h30m",
    },
    {
        "name": "spike",
        "model": "churn",
        "kind": "change",
        "metric": "error_rate",
        "baseline": "7d",
        "threshold": 3,
        "window": "1h",
    },
    {
        "name": "drop",
        "kind": "change",
        "metric": "count",
        "baseline": "1d",
        "change": "difference",
        "op": "<",
        "threshold": -100,
        "window": "1h",
    },
    {"name": "silent", "model": "churn", "kind": "no_data", "window": "15m"},
    {"name": "silent-any", "kind": "no_data", "window": "15m"},
]


def _rules_file(tmp_path):
    from vigil.engine.metric_sources import register_metric, unregister_metric

    register_metric("test.store_only", lambda *a: 1.0, "a metric PromQL cannot see")
    try:
        rules = [Rule.from_dict(r) for r in RULES]
        rules.append(
            Rule.from_dict({"name": "quality", "metric": "test.store_only", "threshold": 0.5})
        )
        rules.append(
            Rule.from_dict(
                {
                    "name": "prod",
                    "model": "churn",
                    "alias": "production",
                    "metric": "error_rate",
                    "threshold": 0.5,
                }
            )
        )
    finally:
        unregister_metric("test.store_only")
    text, skipped = render(rules)
    path = tmp_path / "vigil-rules.yml"
    path.write_text(text)
    return path, skipped


def test_promtool_accepts_the_exported_rules(tmp_path):
    promtool = tool("promtool")
    path, skipped = _rules_file(tmp_path)
    assert skipped == [("prod", "alias 'production' is resolved by vigil's registry, not PromQL")]
    out = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(RULES) + 1} rules found" in out.stdout
    doc = yaml.safe_load(path.read_text())
    exprs = {r["alert"]: r["expr"] for r in doc["groups"][0]["rules"]}
    assert exprs["quality"] == (
        'max by (model_name) (vigil_metric_value{model_version="",'
        'metric="test.store_only",window="5m"}) > 0.5'
    )
    assert "vigil_model_last_event_timestamp_seconds" in exprs["silent"]
    first = doc["groups"][0]["rules"][0]
    assert first["alert"] == "errors" and first["for"] == "2m"
    assert first["labels"] == {"severity": "critical", "vigil_rule": "errors", "team": "ml"}


@pytest.mark.integration
def test_prometheus_scrapes_vigil_and_answers_promql(server_factory, tmp_path):
    tool("prometheus")  # skipped (or failed in CI) before any work without it
    api = server_factory(auth="off", rules_interval_s=0)
    assert api.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code == 201
    records = [
        {
            "id": f"p{i}",
            "version": "2",
            "latency_s": 0.02,
            "inputs": {"age": i, "plan": "a"},
            "outputs": 0,
        }
        for i in range(37)
    ]
    assert (
        api.post("/api/v1/models/churn/predictions", json={"records": records}).json()["accepted"]
        == 37
    )
    rules_path, _ = _rules_file(tmp_path)
    target = str(api.base_url).removeprefix("http://").rstrip("/")
    proc, prom = start_prometheus(tmp_path, target, rules_path, timeout_s=5)
    try:
        deadline = time.monotonic() + 30
        value = None
        query = 'sum(vigil_predictions_total{model_name="churn",model_version="2"})'
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                answer = prom.get("/api/v1/query", params={"query": query})
            except httpx.HTTPError:  # not listening yet
                answer = None
            if answer is not None and answer.status_code == 200:  # 503 while starting
                result = answer.json()["data"]["result"]
                value = float(result[0]["value"][1]) if result else None
                if value == 37:
                    break
            time.sleep(0.2)
        assert value == 37
        # the exported alerting rules loaded and evaluate without errors
        groups = prom.get("/api/v1/rules").json()["data"]["groups"]
        loaded = {r["name"]: r for g in groups for r in g["rules"]}
        assert set(loaded) == {r["name"] for r in RULES} | {"quality"}
        # every Grafana panel query is valid PromQL against this Prometheus
        for _, _, expr in panel_queries():
            q = (
                expr.replace("$model", ".*")
                .replace("$version", ".*")
                .replace("$__rate_interval", "1m")
            )
            answer = prom.get("/api/v1/query", params={"query": q}).json()
            assert answer["status"] == "success", (q, answer)
    finally:
        prom.close()
        proc.terminate()
        proc.wait(timeout=20)
        proc.stderr.close()


def test_grafana_export_files(tmp_path):
    import orjson

    paths = write_grafana(tmp_path / "grafana", prometheus_url="http://prom:9090")
    boards = [orjson.loads(p.read_bytes()) for p in paths[:-2]]
    assert [d["uid"] for d in boards] == [
        "vigil-overview",
        "vigil-model",
        "vigil-quality",
        "vigil-drift",
        "vigil-resources",
        "vigil-alerts",
    ]
    for dash in boards:
        assert len(dash["panels"]) >= 4
        assert [v["name"] for v in dash["templating"]["list"]] == ["model", "version"]
        assert all(
            t["datasource"]["uid"] == "vigil-prometheus"
            for p in dash["panels"]
            for t in p["targets"]
        )
        assert len(dash["links"]) == 5  # to the other areas, keeping model and version
    ds = yaml.safe_load(paths[-2].read_text())
    assert ds["datasources"][0]["url"] == "http://prom:9090"
    assert ds["datasources"][0]["uid"] == "vigil-prometheus"
    prov = yaml.safe_load(paths[-1].read_text())
    assert prov["providers"][0]["options"]["path"] == str(
        (tmp_path / "grafana" / "dashboards").resolve()
    )
