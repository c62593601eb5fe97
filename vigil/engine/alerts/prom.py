"""Prometheus series of the alerting engine, on the server's own registry."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vigil.engine.alerts.rules import Rule


class AlertMetrics:
    """Alert states, rule values, evaluations and notifier/action outcomes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.alerts = Gauge(
            "vigil_alerts",
            "Active alerts by state and severity.",
            ("state", "severity"),
            registry=registry,
        )
        self.alert_active = Gauge(
            "vigil_alert_active",
            "1 for each pending or firing alert.",
            ("alertname", "model_name", "model_version", "severity", "state"),
            registry=registry,
        )
        self.rule_values = Gauge(
            "vigil_rule_value",
            "The value a rule saw at its last evaluation.",
            ("rule", "model_name", "model_version"),
            registry=registry,
        )
        self.evaluations = Counter(
            "vigil_rule_evaluations", "Rule evaluation rounds.", registry=registry
        )
        self.failures = Counter(
            "vigil_rule_evaluation_failures",
            "Rules that failed to evaluate.",
            ("rule",),
            registry=registry,
        )
        self.duration = Histogram(
            "vigil_rule_evaluation_duration_seconds",
            "Time of one evaluation round.",
            registry=registry,
        )
        self.notifications = Counter(
            "vigil_notifications",
            "Notifications by notifier and outcome (sent, failed).",
            ("notifier", "outcome"),
            registry=registry,
        )
        self.actions = Counter(
            "vigil_actions",
            "Actions run by name and outcome (ok, failed).",
            ("action", "outcome"),
            registry=registry,
        )

    def rule_value(self, rule: Rule, labels: dict[str, str], value: float | None) -> None:
        child = self.rule_values.labels(
            rule.name, labels.get("model", ""), labels.get("version", "")
        )
        child.set(math.nan if value is None else value)

    def evaluation_failed(self, rule: str) -> None:
        self.failures.labels(rule).inc()

    def evaluated(self, seconds: float, active: Iterable[dict[str, Any]]) -> None:
        self.evaluations.inc()
        self.duration.observe(seconds)
        self.alert_active.clear()
        counts: dict[tuple[str, str], int] = {
            (s, sev): 0 for s in ("pending", "firing") for sev in ("info", "warning", "critical")
        }
        for row in active:
            labels = row["labels"]
            self.alert_active.labels(
                row["rule"],
                labels.get("model", ""),
                labels.get("version", ""),
                row["severity"],
                row["state"],
            ).set(1)
            key = (row["state"], row["severity"])
            counts[key] = counts.get(key, 0) + 1
        for (state, severity), n in counts.items():
            self.alerts.labels(state, severity).set(n)

    def notified(self, notifier: str, outcome: str) -> None:
        self.notifications.labels(notifier, outcome).inc()

    def acted(self, action: str, outcome: str) -> None:
        self.actions.labels(action, outcome).inc()
