"""The exported no-data rule judges silence by event time, as vigil's own rule does: on the
same stored traffic, vigil's engine and ``promtool test rules`` (the exported rules over the
gauge the server computes from that store) fire for the same models at the same instants,
on both sides of the minute boundary."""

from __future__ import annotations

import math
import subprocess
import time

import yaml
from support.prometheus import tool

from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.engine.ingest.ingestor import Ingestor
from vigil.integrations.prometheus_rules import alerting_rules
from vigil.server.prom import StoreGauges

SCHEMA = {"task": "binary_classification", "features": [{"name": "x", "kind": "numeric"}]}
RULES = [
    {"name": "silent", "model": "churn", "kind": "no_data", "window": "15m"},
    {"name": "silent-any", "kind": "no_data", "window": "15m"},
    {"name": "silent-v1", "model": "churn", "version": "1", "kind": "no_data", "window": "15m"},
    {"name": "silent-v2", "model": "churn", "version": "2", "kind": "no_data", "window": "15m"},
    {"name": "few", "model": "churn", "kind": "no_data", "window": "15m", "threshold": 3},
]


def _vigil_firing(store, rules, now):
    engine = AlertEngine(store)
    out = set()
    for rule in rules:
        for ev in engine.evaluate_rule(rule, now):
            if ev.holds:
                labels = {"model_name": ev.labels["model"]}
                if "version" in ev.labels:
                    labels["model_version"] = ev.labels["version"]
                out.add((rule.name, tuple(sorted(labels.items()))))
    return out


def test_exported_no_data_rules_agree_with_vigil_by_event_time(store, tmp_path):
    promtool = tool("promtool")
    t0 = math.floor(time.time() / 60) * 60 - 6 * 3600  # a minute boundary in the past
    ingest = Ingestor(store)
    for name in ("churn", "quiet"):
        ingest.register_model({"name": name, "schema": SCHEMA})
    # two predictions of version 1 in minute t0+600 (at +630 and +659)
    ingest.ingest_predictions(
        "churn",
        [
            {
                "id": f"p{i}",
                "version": "1",
                "ts": t0 + 630 + 29 * i,
                "inputs": {"x": 1.0},
                "outputs": 1,
            }
            for i in range(2)
        ],
    )
    rules = [Rule.from_dict(r) for r in RULES]
    from vigil.store.alerts.queries import AlertStore

    for rule in rules:  # stored, so the gauges cover the windows these rules name
        AlertStore(store).put_rule(rule.to_dict())
    # 1559 s after t0: minute t0+600 is still inside [now - 15m, now); 1560 s: it is not
    offsets = [1200, 1559, 1560, 1800]
    expected = {}
    series: dict[str, dict[int, float]] = {}
    for offset in offsets:
        now = t0 + offset
        firing = _vigil_firing(store, rules, now)
        expected[offset] = firing
        families = {f.name: f for f in StoreGauges(store).families(now)}
        for sample in families["vigil_model_last_event_timestamp_seconds"].samples:
            key = "{" + ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items())) + "}"
            series.setdefault("vigil_model_last_event_timestamp_seconds" + key, {})[offset] = (
                sample.value - t0
            )
        for sample in families["vigil_metric_value"].samples:
            if sample.labels["metric"] == "count":
                key = (
                    "vigil_metric_value{"
                    + ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                    + "}"
                )
                series.setdefault(key, {})[offset] = sample.value
    # the data are what the test means: silence starts exactly at +1560 for churn
    names = {(name, dict(labels)["model_name"]) for name, labels in expected[1559]}
    assert ("silent", "churn") not in names and ("silent-any", "quiet") in names
    assert ("silent-v2", "churn") in names and ("few", "churn") in names
    later = {(name, dict(labels)["model_name"]) for name, labels in expected[1560]}
    assert {("silent", "churn"), ("silent-v1", "churn"), ("silent-any", "churn")} <= later

    doc, skipped = alerting_rules(rules)
    assert skipped == []
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(doc))
    by_name = {r["alert"]: r for r in doc["groups"][0]["rules"]}
    # each series at a 1-second interval: between two offsets it holds the value the
    # server computed at the later one (no traffic arrives in between)
    input_series = []
    for name, by_offset in series.items():
        parts, prev = [], -1
        for offset in offsets:
            value = by_offset.get(offset)
            parts.append(f"{'_' if value is None else f'{value:g}'}x{offset - prev - 1}")
            prev = offset
        input_series.append({"series": name, "values": " ".join(parts)})
    tests = []
    for offset in offsets:
        for name, rule in by_name.items():
            alerts = [
                {
                    "exp_labels": {**dict(labels), **rule["labels"]},
                    "exp_annotations": rule["annotations"],
                }
                for fired, labels in sorted(expected[offset])
                if fired == name
            ]
            tests.append({"eval_time": f"{offset}s", "alertname": name, "exp_alerts": alerts})
    (tmp_path / "test.yml").write_text(
        yaml.safe_dump(
            {
                "rule_files": ["rules.yml"],
                "evaluation_interval": "1s",
                "tests": [
                    {"interval": "1s", "input_series": input_series, "alert_rule_test": tests}
                ],
            }
        )
    )
    out = subprocess.run(
        [promtool, "test", "rules", "test.yml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr
