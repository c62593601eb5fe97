"""Every metric a rule can name has a Prometheus form: the natively served ones on the
ingest counters, every other one on ``vigil_metric_value``, whose value for a stored rule is
what vigil's engine computes for that rule's window."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.metric_sources import list_metrics
from vigil.integrations.prometheus_rules import NATIVE, promql
from vigil.server.prom import StoreGauges
from vigil.store.alerts.queries import AlertStore

SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "x", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
}
PARAMETERISED = ["error_rate:TimeoutError", "rejected_rate:invalid"]


def _names() -> list[str]:
    return [m.name for m in list_metrics()] + PARAMETERISED


@pytest.mark.parametrize("metric", _names())
def test_every_rule_metric_has_a_promql_form(metric):
    rule = Rule.from_dict(
        {"name": "r", "model": "churn", "metric": metric, "threshold": 1, "window": "30m"}
    )
    expr = promql(rule)
    if metric in NATIVE or metric.startswith("error_rate:"):
        assert "vigil_prediction" in expr
    else:
        assert expr == (
            'max by (model_name) (vigil_metric_value{model_name="churn",'
            f'model_version="",metric="{metric}",window="30m"}}) > 1'
        )


def test_the_gauge_holds_what_the_engine_computes(store):
    ingest = Ingestor(store)
    ingest.register_model({"name": "churn", "schema": SCHEMA})
    now = time.time()
    rng = np.random.default_rng(5)
    recs = [
        {
            "id": f"p{i}",
            "version": str(1 + i % 2),
            "ts": now - 1700 + i * 10,
            "latency_s": 0.05,
            "inputs": {"x": float(rng.normal()), "plan": "a"},
            "outputs": int(i % 3 == 0),
            "proba": float(rng.uniform()),
            **({"error": "boom", "error_type": "TimeoutError"} if i % 7 == 0 else {}),
        }
        for i in range(150)
    ]
    ingest.ingest_predictions("churn", recs)
    ingest.ingest_labels(
        "churn", [{"prediction_id": f"p{i}", "actual": int(i % 2 == 0)} for i in range(0, 150, 3)]
    )
    ingest.ingest_feedback(
        "churn", [{"prediction_id": "p1", "score": -1}, {"prediction_id": "p2", "score": 1}]
    )
    names = [n for n in _names() if n not in NATIVE and not n.startswith("error_rate:")]
    rules = [
        Rule.from_dict(
            {"name": f"r{i}", "model": "churn", "metric": n, "threshold": 1, "window": "30m"}
        )
        for i, n in enumerate(names)
    ]
    versioned = Rule.from_dict(
        {
            "name": "v2",
            "model": "churn",
            "version": "2",
            "metric": "accuracy",
            "threshold": 1,
            "window": "30m",
        }
    )
    for rule in [*rules, versioned]:
        AlertStore(store).put_rule(rule.to_dict())
    at = time.time()
    families = {f.name: f for f in StoreGauges(store).families(at)}
    served = {
        (s.labels["metric"], s.labels["model_version"]): s.value
        for s in families["vigil_metric_value"].samples
        if s.labels["window"] == "30m"
    }
    engine = AlertEngine(store)
    computed = {}
    for rule in [*rules, versioned]:
        (ev,) = engine.evaluate_rule(rule, at)
        if ev.value is not None:
            computed[(rule.metric, rule.version or "")] = ev.value
    assert served == pytest.approx(computed)
    # the data make most metrics answer, so the comparison is not empty
    assert {
        "accuracy",
        "f1",
        "log_loss",
        "rejected_rate",
        "negative_feedback_rate",
        "feedback_score",
    } <= {m for m, _ in served}
    assert ("accuracy", "2") in served


def test_a_scrape_never_waits_long_for_the_store(store, monkeypatch):
    """The first scrape waits at most FIRST_WAIT_S; later ones serve the cache while one
    background computation runs."""
    import threading

    from prometheus_client.core import GaugeMetricFamily

    monkeypatch.setattr("vigil.server.prom.FIRST_WAIT_S", 0.2)
    release, calls = threading.Event(), []

    class Slow(StoreGauges):
        def families(self, now):
            calls.append(now)
            release.wait(60)
            return [GaugeMetricFamily("vigil_slow", "A slow gauge.", value=len(calls))]

    gauges = Slow(store, ttl_s=0.0)
    started = time.monotonic()
    assert list(gauges.collect()) == []  # still computing: answered without it
    assert list(gauges.collect()) == []
    assert time.monotonic() - started < 30
    assert len(calls) == 1  # one computation at a time
    release.set()
    deadline = time.monotonic() + 30
    names: list[str] = []
    while time.monotonic() < deadline and "vigil_slow" not in names:
        names = [f.name for f in gauges.collect()]
        time.sleep(0.01)
    assert "vigil_slow" in names


def test_export_from_a_toml_file_says_to_store_store_metric_rules(tmp_path, capsys):
    import yaml

    from vigil.cli.main import main

    config = tmp_path / "rules.toml"
    config.write_text(
        '[[rules]]\nname = "acc"\nmodel = "churn"\nmetric = "accuracy"\n'
        'op = "<"\nthreshold = 0.8\nwindow = "1h"\n\n'
        '[[rules]]\nname = "silent"\nkind = "no_data"\nwindow = "15m"\n'
    )
    out = tmp_path / "rules.yml"
    main(["export", "prometheus-rules", "--from", str(config), "-o", str(out)])
    printed = " ".join(capsys.readouterr().out.split())
    assert "Wrote 2 alerting rules" in printed
    assert f"vigil rules apply {config}" in printed
    rules = yaml.safe_load(out.read_text())["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == ["acc", "silent"]
