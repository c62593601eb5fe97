"""vigil rules as Prometheus alerting rules, for the rules PromQL can express.

Traffic, error-rate and latency rules (threshold, change against an ``offset`` baseline,
no data) map onto the series vigil serves at ``/metrics``; rules on metrics that exist only
in vigil's store (quality, drift, ...) are listed as skipped.

Examples:
    >>> from vigil.engine.alerts.rules import Rule
    >>> r = Rule.from_dict({"name": "errors", "model": "churn", "metric": "error_rate",
    ...                     "threshold": 0.05, "window": "5m", "for": "2m"})
    >>> print(promql(r))  # doctest: +NORMALIZE_WHITESPACE
    (sum by (model_name) (rate(vigil_prediction_errors_total{model_name="churn"}[5m]))
     / sum by (model_name) (rate(vigil_predictions_total{model_name="churn"}[5m]))) > 0.05
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vigil.engine.alerts.rules import Rule, format_duration

EXPRESSIBLE = ("count", "throughput", "error_rate", "latency_p50", "latency_p95",
               "latency_p99")


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _selector(rule: Rule) -> str:
    parts = []
    if rule.model != "*":
        parts.append(f'model_name="{_quote(rule.model)}"')
    if rule.version:
        parts.append(f'model_version="{_quote(rule.version)}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def _by(rule: Rule, *extra: str) -> str:
    labels = [*extra, "model_name"] + (["model_version"] if rule.version else [])
    return f"by ({', '.join(labels)})"


def metric_expr(rule: Rule, offset_s: float = 0.0) -> str:
    """PromQL for the rule's metric over its window (shifted back by ``offset_s``)."""
    sel, by = _selector(rule), _by(rule)
    rng = f"[{format_duration(rule.window_s)}]" + (
        f" offset {format_duration(offset_s)}" if offset_s else "")
    metric = "count" if rule.kind == "no_data" else rule.metric
    if metric == "count":
        return f"sum {by} (increase(vigil_predictions_total{sel}{rng}))"
    if metric == "throughput":
        return f"sum {by} (rate(vigil_predictions_total{sel}{rng}))"
    if metric == "error_rate":
        return (f"(sum {by} (rate(vigil_prediction_errors_total{sel}{rng}))\n"
                f" / sum {by} (rate(vigil_predictions_total{sel}{rng})))")
    if metric.startswith("latency_p") and metric in EXPRESSIBLE:
        q = int(metric.removeprefix("latency_p")) / 100
        return (f"histogram_quantile({q:g}, sum {_by(rule, 'le')} "
                f"(rate(vigil_prediction_latency_seconds_bucket{sel}{rng})))")
    raise ValueError(f"metric {metric!r} has no PromQL form")


def promql(rule: Rule) -> str:
    """The alerting expression of ``rule``; ValueError when it has none."""
    if rule.kind in ("forecast", "anomaly"):  # fitted models over history: vigil's own
        raise ValueError(f"{rule.kind} rules are evaluated by vigil, not PromQL")
    if rule.kind != "no_data" and rule.metric not in EXPRESSIBLE:
        raise ValueError(f"metric {rule.metric!r} has no PromQL form")
    if rule.alias:
        raise ValueError(f"alias {rule.alias!r} is resolved by vigil's registry, not PromQL")
    expr = metric_expr(rule)
    if rule.kind == "change":
        base = metric_expr(rule, rule.baseline_s or 0.0)
        sign = "/" if rule.change == "ratio" else "-"
        expr = f"({expr}\n {sign} {base})"
    text = f"{expr} {rule.op} {rule.threshold:g}"
    if rule.kind == "no_data" and rule.model != "*":
        window = format_duration(rule.window_s)
        text = f"({text})\nor absent_over_time(vigil_predictions_total{_selector(rule)}[{window}])"
    return text


def alerting_rules(rules: Iterable[Rule]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A Prometheus rule file (as a dict) and the ``(rule, reason)`` pairs left out."""
    out, skipped = [], []
    for rule in rules:
        if not rule.enabled:
            skipped.append((rule.name, "disabled"))
            continue
        try:
            expr = promql(rule)
        except ValueError as exc:
            skipped.append((rule.name, str(exc)))
            continue
        labels = {"severity": rule.severity, "vigil_rule": rule.name, **rule.labels}
        entry: dict[str, Any] = {"alert": rule.name, "expr": expr}
        if rule.for_s:
            entry["for"] = format_duration(rule.for_s)
        entry["labels"] = labels
        entry["annotations"] = {"summary": rule.summary or rule.describe(),
                                "description": f"vigil rule {rule.name}: {rule.describe()}"}
        out.append(entry)
    return {"groups": [{"name": "vigil", "rules": out}]}, skipped


def render(rules: Iterable[Rule]) -> tuple[str, list[tuple[str, str]]]:
    """The rule file as YAML text (with a header naming what was skipped)."""
    import yaml

    doc, skipped = alerting_rules(rules)
    header = "# Prometheus alerting rules exported by `vigil export prometheus-rules`.\n"
    for name, reason in skipped:
        header += f"# skipped {name}: {reason}\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=100), skipped
