"""Grafana dashboards of vigil's Prometheus series, with provisioning files.

One dashboard per area (overview, model, quality, drift, resources and probes, alerts),
each with ``model`` and ``version`` template variables and links to the others.
:func:`write_grafana` writes ``dashboards/<uid>.json`` for each and, under
``provisioning/``, a Prometheus data source and a file-based dashboard provider, so
pointing Grafana's ``paths.provisioning`` at that folder is all the setup needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

DATASOURCE_UID = "vigil-prometheus"
DASHBOARD_UID = "vigil-overview"  # the first dashboard (kept for callers of one dashboard)
_DS = {"type": "prometheus", "uid": DATASOURCE_UID}
M = 'model_name=~"$model"'
MV = 'model_name=~"$model",model_version=~"$version"'
RATE = "[$__rate_interval]"
Target = tuple[str, str]  # (PromQL, legend)
Panel = tuple[str, str, list[Target]]  # (title, unit, targets)


def _value(metric: str) -> str:
    return f'vigil_metric_value{{{MV},metric=~"{metric}"}}'


def _rate(metric: str, by: str, sel: str = MV, fn: str = "rate") -> str:
    """``sum by (by) (rate(metric{sel}[$__rate_interval]))``."""
    return f"sum by ({by}) ({fn}({metric}{{{sel}}}{RATE}))"


def _quantile(q: float, metric: str, by: str, sel: str = MV) -> str:
    """The ``q`` quantile of a histogram over the rate interval, per ``by``."""
    inner = f"{metric}{{{sel}}}" if sel else metric
    return f"histogram_quantile({q}, sum by ({by}) (rate({inner}{RATE})))"


def _panel(title: str, unit: str, expr: str, legend: str) -> Panel:
    """A panel of one query (most are)."""
    return (title, unit, [(expr, legend)])


_BY_MODEL = "{{model_name}}"
_BY_VERSION = "{{model_name}} v{{model_version}}"
_LATENCY = "vigil_prediction_latency_seconds_bucket"

OVERVIEW: list[Panel] = [
    _panel(
        "Predictions per second",
        "reqps",
        _rate("vigil_predictions_total", "model_name, model_version"),
        _BY_VERSION,
    ),
    _panel(
        "Error rate",
        "percentunit",
        f"{_rate('vigil_prediction_errors_total', 'model_name')} / "
        f"{_rate('vigil_predictions_total', 'model_name')}",
        _BY_MODEL,
    ),
    _panel("Latency p95", "s", _quantile(0.95, _LATENCY, "le, model_name"), _BY_MODEL),
    _panel(
        "Time since the newest prediction (event time)",
        "s",
        f"time() - max by (model_name) (vigil_model_last_event_timestamp_seconds{{{M}}})",
        _BY_MODEL,
    ),
    (
        "Accuracy: realised and estimated (last hour)",
        "percentunit",
        [
            (f'vigil_quality{{{MV},metric="accuracy"}}', _BY_VERSION),
            (
                f'vigil_quality_estimated{{{M},metric="accuracy",bound="value"}}',
                "{{model_name}} estimated",
            ),
        ],
    ),
    _panel("Drift share (last hour)", "percentunit", _value("drift_share"), _BY_MODEL),
    _panel(
        "Firing and pending alerts",
        "short",
        f"sum by (model_name, state) (vigil_alert_active{{{M}}})",
        "{{model_name}} {{state}}",
    ),
]

MODEL: list[Panel] = [
    _panel(
        "Predictions per second by version",
        "reqps",
        _rate("vigil_predictions_total", "model_version"),
        "v{{model_version}}",
    ),
    (
        "Latency quantiles",
        "s",
        [
            (
                _quantile(q, _LATENCY, "le, model_version"),
                f"p{round(q * 100)} v{{{{model_version}}}}",
            )
            for q in (0.5, 0.95, 0.99)
        ],
    ),
    _panel(
        "Errors per second by kind",
        "reqps",
        _rate("vigil_prediction_errors_total", "error_type"),
        "{{error_type}}",
    ),
    (
        "Labels and feedback per second",
        "reqps",
        [(_rate(f"vigil_{kind}_total", "model_name", M), kind) for kind in ("labels", "feedback")],
    ),
    _panel(
        "Records rejected at ingest",
        "short",
        _rate("vigil_ingest_rejected_records_total", "kind", M, "increase"),
        "{{kind}}",
    ),
    _panel(
        "Newest prediction by version (event time)",
        "dateTimeAsIso",
        f"vigil_model_last_event_timestamp_seconds{{{MV}}} * 1000",
        "v{{model_version}}",
    ),
]

QUALITY: list[Panel] = [
    _panel(
        "Realised quality (last hour, labelled predictions)",
        "short",
        f"vigil_quality{{{MV}}}",
        "{{metric}} v{{model_version}}",
    ),
    (
        "Estimated quality without labels (CBPE, last hour)",
        "short",
        [
            (f'vigil_quality_estimated{{{M},bound="{bound}"}}', f"{{{{metric}}}}{suffix}")
            for bound, suffix in (("value", ""), ("lower", " lower"), ("upper", " upper"))
        ],
    ),
    _panel(
        "Text quality (last hour)",
        "percentunit",
        _value("answers_relevance_mean|answers_refusal_rate|answers_consistency|injection_rate"),
        "{{model_name}} {{metric}}",
    ),
    _panel(
        "Quality metrics rules watch",
        "short",
        _value(
            "accuracy|f1|roc_auc|log_loss|mae|rmse|r2|ndcg_at_k|estimated_.*|"
            "feedback_score|negative_feedback_rate"
        ),
        "{{model_name}} {{metric}} ({{window}})",
    ),
]

_FEATURE = "{{model_name}} {{feature}}"
DRIFT: list[Panel] = [
    _panel(
        "Share of features drifted (last hour)",
        "percentunit",
        _value("drift_share"),
        "{{model_name}} ({{window}})",
    ),
    _panel(
        "Features drifted (last hour)",
        "short",
        f"sum by (model_name) (vigil_feature_drifted{{{M}}})",
        _BY_MODEL,
    ),
    _panel(
        "Drift effect size per feature (last hour)",
        "short",
        f"vigil_feature_drift_score{{{M}}}",
        _FEATURE,
    ),
    _panel("Drifted features", "short", f"vigil_feature_drifted{{{M}}} == 1", _FEATURE),
]

_HOST = "{{host}}"
_BY_HOST = "{{model_name}} v{{model_version}} {{host}}"
_PROBE = "{{model_name}} {{probe}}"
RESOURCES: list[Panel] = [
    _panel(
        "Process CPU (% of one core)",
        "percent",
        f"vigil_model_process_cpu_percent{{{MV}}}",
        _BY_HOST,
    ),
    _panel(
        "Resident memory",
        "bytes",
        f"vigil_model_process_resident_memory_bytes{{{MV}}}",
        _BY_HOST,
    ),
    (
        "Threads and open files",
        "short",
        [
            (f"vigil_model_process_{metric}{{{MV}}}", f"{what} {_HOST}")
            for metric, what in (("threads", "threads"), ("open_fds", "open files"))
        ],
    ),
    _panel("Host CPU (% of all cores)", "percent", f"vigil_model_host_cpu_percent{{{MV}}}", _HOST),
    _panel("GPU utilisation", "percent", f"vigil_model_gpu_utilization_percent{{{MV}}}", _HOST),
    _panel("Endpoint probes up", "short", f"vigil_probe_up{{{M}}}", _PROBE),
    _panel("Endpoint probe latency", "s", f"vigil_probe_latency_seconds{{{M}}}", _PROBE),
]

_RULE = "{{rule}} {{model_name}}"
ALERTS: list[Panel] = [
    _panel(
        "Active alerts",
        "short",
        f"vigil_alert_active{{{M}}}",
        "{{alertname}} {{model_name}} ({{state}})",
    ),
    _panel(
        "Alerts by state and severity",
        "short",
        "sum by (state, severity) (vigil_alerts)",
        "{{state}} {{severity}}",
    ),
    _panel("Rule values", "short", f"vigil_rule_value{{{M}}}", _RULE),
    _panel(
        "Rule evaluation time p95",
        "s",
        _quantile(0.95, "vigil_rule_evaluation_duration_seconds_bucket", "le", ""),
        "p95",
    ),
    _panel(
        "Forecasts: time until the threshold is crossed",
        "s",
        f"vigil_forecast_crossing_seconds{{{M}}}",
        _RULE,
    ),
    _panel("Anomaly scores (robust z)", "short", f"vigil_anomaly_score{{{M}}}", _RULE),
    _panel(
        "Notifications",
        "short",
        f"sum by (notifier, outcome) (increase(vigil_notifications_total{RATE}))",
        "{{notifier}} {{outcome}}",
    ),
]

DASHBOARDS: list[tuple[str, str, list[Panel]]] = [
    ("vigil-overview", "vigil — overview", OVERVIEW),
    ("vigil-model", "vigil — model", MODEL),
    ("vigil-quality", "vigil — quality", QUALITY),
    ("vigil-drift", "vigil — drift", DRIFT),
    ("vigil-resources", "vigil — resources and probes", RESOURCES),
    ("vigil-alerts", "vigil — alerts", ALERTS),
]
_MODELS = "label_values(vigil_model_last_event_timestamp_seconds, model_name)"
_VERSIONS = (
    'label_values(vigil_model_last_event_timestamp_seconds{model_name=~"$model"}, model_version)'
)


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": _DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "refresh": 2,
        "current": {"text": "All", "value": "$__all"},
    }


def dashboard(uid: str = DASHBOARD_UID) -> dict[str, Any]:
    """The JSON model of the dashboard ``uid`` (one of :data:`DASHBOARDS`)."""
    title, panel_specs = next((t, p) for u, t, p in DASHBOARDS if u == uid)
    panels = []
    for i, (name, unit, targets) in enumerate(panel_specs):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": name,
                "datasource": _DS,
                "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [
                    {"refId": chr(65 + j), "datasource": _DS, "expr": expr, "legendFormat": legend}
                    for j, (expr, legend) in enumerate(targets)
                ],
            }
        )
    links = [
        {
            "title": t,
            "type": "link",
            "url": f"/d/{u}?${{__url_time_range}}&${{model:queryparam}}&${{version:queryparam}}",
        }
        for u, t, _ in DASHBOARDS
        if u != uid
    ]
    return {
        "uid": uid,
        "title": title,
        "tags": ["vigil"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "templating": {
            "list": [
                _variable("model", "Model", _MODELS),
                _variable("version", "Version", _VERSIONS),
            ]
        },
        "annotations": {"list": []},
        "links": links,
        "panels": panels,
    }


def panel_queries() -> list[tuple[str, str, str]]:
    """``(dashboard uid, panel title, PromQL)`` of every panel target of every dashboard
    (for checking against a Prometheus)."""
    return [
        (uid, title, expr)
        for uid, _, specs in DASHBOARDS
        for title, _, targets in specs
        for expr, _ in targets
    ]


def write_grafana(
    out_dir: Path,
    *,
    prometheus_url: str = "http://localhost:9090",
    dashboards_path: str | None = None,
) -> list[Path]:
    """Write the dashboards and provisioning files under ``out_dir``; return their paths
    (the dashboards first, then the data source and the dashboard provider).

    Args:
        out_dir: Folder to write (created).
        prometheus_url: Where Grafana reaches the Prometheus that scrapes vigil.
        dashboards_path: The dashboards folder as Grafana sees it (default: the absolute
            path written here).
    """
    import yaml

    out_dir = Path(out_dir)
    dash_dir = out_dir / "dashboards"
    ds_dir = out_dir / "provisioning" / "datasources"
    prov_dir = out_dir / "provisioning" / "dashboards"
    for d in (dash_dir, ds_dir, prov_dir):
        d.mkdir(parents=True, exist_ok=True)
    boards = []
    for uid, _, _ in DASHBOARDS:
        path = dash_dir / f"{uid}.json"
        path.write_bytes(orjson.dumps(dashboard(uid), option=orjson.OPT_INDENT_2))
        boards.append(path)
    ds = ds_dir / "vigil.yaml"
    ds.write_text(
        yaml.safe_dump(
            {
                "apiVersion": 1,
                "datasources": [
                    {
                        "name": "vigil-prometheus",
                        "type": "prometheus",
                        "uid": DATASOURCE_UID,
                        "access": "proxy",
                        "url": prometheus_url,
                        "isDefault": False,
                        "editable": True,
                        "jsonData": {"timeInterval": "15s"},
                    }
                ],
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    prov = prov_dir / "vigil.yaml"
    prov.write_text(
        yaml.safe_dump(
            {
                "apiVersion": 1,
                "providers": [
                    {
                        "name": "vigil",
                        "folder": "vigil",
                        "type": "file",
                        "disableDeletion": False,
                        "allowUiUpdates": True,
                        "options": {"path": dashboards_path or str(dash_dir.resolve())},
                    }
                ],
            },
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    return [*boards, ds, prov]
