"""vigil rules as Prometheus alerting rules over the series vigil serves at ``/metrics``.

Every enabled rule becomes one alerting rule, except rules that follow a registry
``alias`` (the alias is resolved by vigil's registry when the rule is evaluated):

* ``count``, ``throughput``, ``error_rate`` (also ``error_rate:<kind>``) and
  ``latency_p50/95/99`` use the counters and the latency histogram fed at ingest
  (``rate``/``increase`` over the rule's window, so they count by arrival time).
* Every other metric (quality, CBPE estimates, drift, resources, probes, text quality,
  evaluations, ...) uses ``vigil_metric_value{metric, window}``: the server computes it
  from the store for the windows its stored rules name, exactly as the rule engine does,
  so export rules from the store the server reads.
* ``no_data`` judges by event time like vigil's own rule: it fires when the newest minute
  holding predictions (``vigil_model_last_event_timestamp_seconds``) lies before the
  window, including for a model that never sent any.
* ``forecast`` and ``anomaly`` rules alert on the value the server computes for them
  (``vigil_forecast_crossing_seconds``, ``vigil_anomaly_score``).

``on_no_data = "alert"`` is kept (a missing value or too few predictions fires);
``"keep"`` cannot be: Prometheus resolves an alert whose expression has no result.

Examples:
    >>> from vigil.engine.alerts.rules import Rule
    >>> r = Rule.from_dict({"name": "errors", "model": "churn", "metric": "error_rate",
    ...                     "threshold": 0.05, "window": "5m", "for": "2m"})
    >>> print(promql(r))  # doctest: +NORMALIZE_WHITESPACE
    (sum by (model_name) (rate(vigil_prediction_errors_total{model_name="churn"}[5m]))
     / sum by (model_name) (rate(vigil_predictions_total{model_name="churn"}[5m]))) > 0.05
    >>> r = Rule.from_dict({"name": "acc", "model": "churn", "metric": "accuracy",
    ...                     "op": "<", "threshold": 0.8, "window": "1h"})
    >>> print(promql(r))  # doctest: +NORMALIZE_WHITESPACE
    max by (model_name)
     (vigil_metric_value{model_name="churn",model_version="",metric="accuracy",window="1h"})
     < 0.8
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vigil.engine.alerts.rules import Rule, format_duration

NATIVE = ("count", "throughput", "error_rate", "latency_p50", "latency_p95", "latency_p99")
EXPRESSIBLE = NATIVE  # kept for callers of the earlier name: the natively served metrics
LAST_EVENT = "vigil_model_last_event_timestamp_seconds"
MINUTE_S = 60  # rollups count traffic per minute; the no-data rule reads whole minutes


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _matchers(r: Rule, /, *, version: bool | None = None, **extra: str) -> str:
    """Label matchers of the rule's model (and version; ``version=True`` forces an empty
    version matcher for gauges where "" means all versions)."""
    parts = []
    if r.model != "*":
        parts.append(f'model_name="{_quote(r.model)}"')
    if r.version:
        parts.append(f'model_version="{_quote(r.version)}"')
    elif version:
        parts.append('model_version=""')
    parts += [f'{k}="{_quote(v)}"' for k, v in extra.items()]
    return "{" + ",".join(parts) + "}" if parts else ""


def _by(rule: Rule, *extra: str) -> str:
    labels = [*extra, "model_name"] + (["model_version"] if rule.version else [])
    return f"by ({', '.join(labels)})"


def _on(rule: Rule) -> str:
    return "on (model_name, model_version)" if rule.version else "on (model_name)"


def native(metric: str) -> bool:
    """Whether the rules on ``metric`` read the ingest counters (else a store gauge)."""
    return metric in NATIVE or metric.startswith("error_rate:")


def metric_expr(rule: Rule, offset_s: float = 0.0, metric: str | None = None) -> str:
    """PromQL for the rule's metric over its window (shifted back by ``offset_s``)."""
    metric = metric or ("count" if rule.kind == "no_data" else rule.metric)
    off = f" offset {format_duration(offset_s)}" if offset_s else ""
    window = format_duration(rule.window_s)
    if not native(metric):
        return _gauge(rule, metric, off)
    sel, by = _matchers(rule), _by(rule)
    rng = f"[{window}]{off}"
    if metric == "count":
        return f"sum {by} (increase(vigil_predictions_total{sel}{rng}))"
    if metric == "throughput":
        return f"sum {by} (rate(vigil_predictions_total{sel}{rng}))"
    if metric == "error_rate" or metric.startswith("error_rate:"):
        kind = metric.partition(":")[2]
        errors = _matchers(rule, error_type=kind) if kind else _matchers(rule)
        return (
            f"(sum {by} (rate(vigil_prediction_errors_total{errors}{rng}))\n"
            f" / sum {by} (rate(vigil_predictions_total{sel}{rng})))"
        )
    q = int(metric.removeprefix("latency_p")) / 100
    return (
        f"histogram_quantile({q:g}, sum {_by(rule, 'le')} "
        f"(rate(vigil_prediction_latency_seconds_bucket{sel}{rng})))"
    )


def _gauge(rule: Rule, metric: str, off: str = "") -> str:
    """The store gauge of ``metric`` over the rule's window, labelled like the rule's
    alerts (model, and version when the rule names one)."""
    window = format_duration(rule.window_s)
    sel = _matchers(rule, version=True, metric=metric, window=window)
    return f"max {_by(rule)} (vigil_metric_value{sel}{off})"


def _known(rule: Rule) -> str:
    """One series per model the server knows (per version for a versioned rule)."""
    model = f'{{model_name="{_quote(rule.model)}"}}' if rule.model != "*" else ""
    known = f"max by (model_name) ({LAST_EVENT}{model})"
    if rule.version:
        known = f'label_replace({known}, "model_version", "{_quote(rule.version)}", "", "")'
    return known


def _no_data(rule: Rule) -> str:
    """Silence by event time: vigil counts minutes ``>= floor((now - window) / 60) * 60``,
    so it fires when the newest minute with traffic starts ``window + 60 s`` or more ago."""
    if rule.op != "<" or rule.threshold != 1.0:  # "fewer than N": the windowed count
        return f"{_gauge(rule, 'count')} {rule.op} {rule.threshold:g}"
    newest = f"max {_by(rule)} ({LAST_EVENT}{_matchers(rule)})"
    expr = f"time() - {newest} >= {rule.window_s + MINUTE_S:g}"
    if rule.version:  # a version that never sent anything has no series of its own
        expr = f"({expr})\nor ({_known(rule)} unless {_on(rule)} {LAST_EVENT}{_matchers(rule)})"
    return expr


def _insight(rule: Rule) -> str:
    sel = _matchers(rule, version=True, rule=rule.name)
    if rule.kind == "forecast":  # present only while the interval crosses in the horizon
        return f"vigil_forecast_crossing_seconds{sel} >= 0"
    score, thr = f"vigil_anomaly_score{sel}", abs(rule.threshold)
    if rule.op in (">", ">="):
        return f"{score} {rule.op} {rule.threshold:g}"
    if rule.op in ("<", "<="):
        return f"{score} {rule.op} -{thr:g}"
    return f"abs({score}) > {thr:g}"


def promql(rule: Rule) -> str:
    """The alerting expression of ``rule``; ValueError when it has none."""
    if rule.alias:
        raise ValueError(f"alias {rule.alias!r} is resolved by vigil's registry, not PromQL")
    if rule.kind in ("forecast", "anomaly"):
        return _insight(rule)
    if rule.kind == "no_data":
        return _no_data(rule)
    expr = metric_expr(rule)
    if rule.kind == "change":
        base = metric_expr(rule, rule.baseline_s or 0.0)
        sign = "/" if rule.change == "ratio" else "-"
        expr = f"({expr}\n {sign} {base})"
    text = f"{expr} {rule.op} {rule.threshold:g}"
    count = None
    if rule.min_count:  # too few predictions: no verdict, as in vigil
        count = _gauge(rule, "count")
        text = f"({text})\nand {_on(rule)} ({count} >= {rule.min_count:g})"
    if rule.on_no_data == "alert":
        value = metric_expr(rule)
        text = f"({text})\nor ({_known(rule)} unless {_on(rule)} {value})"
        if count is not None:
            text += f"\nor {_on(rule)} ({count} < {rule.min_count:g})"
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
        entry["annotations"] = {
            "summary": rule.summary or rule.describe(),
            "description": f"vigil rule {rule.name}: {rule.describe()}",
        }
        out.append(entry)
    return {"groups": [{"name": "vigil", "rules": out}]}, skipped


def render(rules: Iterable[Rule]) -> tuple[str, list[tuple[str, str]]]:
    """The rule file as YAML text (with a header naming what was skipped)."""
    import yaml

    doc, skipped = alerting_rules(rules)
    header = (
        "# Prometheus alerting rules exported by `vigil export prometheus-rules`.\n"
        "# Rules on store metrics read vigil_metric_value, which a vigil server serves\n"
        "# for the (metric, window) pairs of the rules stored in its database.\n"
    )
    for name, reason in skipped:
        header += f"# skipped {name}: {reason}\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=100), skipped
