"""A Grafana dashboard of vigil's Prometheus series, with provisioning files.

:func:`write_grafana` writes ``dashboards/vigil-overview.json`` and, under
``provisioning/``, a Prometheus data source and a file-based dashboard provider, so
pointing Grafana's ``paths.provisioning`` at that folder is all the setup needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

DATASOURCE_UID = "vigil-prometheus"
DASHBOARD_UID = "vigil-overview"
_DS = {"type": "prometheus", "uid": DATASOURCE_UID}
_SEL = 'model_name=~"$model"'

PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("Predictions per second", "reqps", [
        (f"sum by (model_name, model_version) (rate(vigil_predictions_total{{{_SEL}}}"
         "[$__rate_interval]))", "{{model_name}} v{{model_version}}")]),
    ("Error rate", "percentunit", [
        (f"sum by (model_name) (rate(vigil_prediction_errors_total{{{_SEL}}}"
         f"[$__rate_interval])) / sum by (model_name) (rate(vigil_predictions_total{{{_SEL}}}"
         "[$__rate_interval]))", "{{model_name}}")]),
    ("Latency quantiles", "s", [
        (f"histogram_quantile({q}, sum by (le, model_name) "
         f"(rate(vigil_prediction_latency_seconds_bucket{{{_SEL}}}[$__rate_interval])))",
         f"p{round(q * 100)} {{{{model_name}}}}") for q in (0.5, 0.95, 0.99)]),
    ("Active alerts", "short", [
        (f"sum by (alertname, model_name, state) (vigil_alert_active{{{_SEL}}})",
         "{{alertname}} {{model_name}} ({{state}})")]),
    ("Rule values", "short", [
        ('vigil_rule_value{model_name=~"$model"}', "{{rule}} {{model_name}}")]),
    ("Notifier failures", "short", [
        ('sum by (notifier) (increase(vigil_notifications_total{outcome="failed"}'
         "[$__rate_interval]))", "{{notifier}}")]),
]


def dashboard() -> dict[str, Any]:
    """The dashboard JSON model."""
    panels = []
    for i, (title, unit, targets) in enumerate(PANELS):
        panels.append({
            "id": i + 1, "type": "timeseries", "title": title, "datasource": _DS,
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
            "targets": [{"refId": chr(65 + j), "datasource": _DS, "expr": expr,
                         "legendFormat": legend} for j, (expr, legend) in enumerate(targets)],
        })
    return {
        "uid": DASHBOARD_UID, "title": "vigil — models overview", "tags": ["vigil"],
        "schemaVersion": 39, "version": 1, "editable": True, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"}, "timezone": "",
        "templating": {"list": [{
            "name": "model", "label": "Model", "type": "query", "datasource": _DS,
            "query": {"query": "label_values(vigil_predictions_total, model_name)",
                      "refId": "model"},
            "definition": "label_values(vigil_predictions_total, model_name)",
            "includeAll": True, "allValue": ".*", "multi": True, "refresh": 2,
            "current": {"text": "All", "value": "$__all"},
        }]},
        "annotations": {"list": []},
        "panels": panels,
    }


def panel_queries() -> list[str]:
    """Every PromQL expression of the dashboard (for checking against a Prometheus)."""
    return [expr for _, _, targets in PANELS for expr, _ in targets]


def write_grafana(out_dir: Path, *, prometheus_url: str = "http://localhost:9090",
                  dashboards_path: str | None = None) -> list[Path]:
    """Write the dashboard and provisioning files under ``out_dir``; return their paths.

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
    dash = dash_dir / f"{DASHBOARD_UID}.json"
    dash.write_bytes(orjson.dumps(dashboard(), option=orjson.OPT_INDENT_2))
    ds = ds_dir / "vigil.yaml"
    ds.write_text(yaml.safe_dump({"apiVersion": 1, "datasources": [{
        "name": "vigil-prometheus", "type": "prometheus", "uid": DATASOURCE_UID,
        "access": "proxy", "url": prometheus_url, "isDefault": False, "editable": True,
        "jsonData": {"timeInterval": "15s"}}]}, sort_keys=False), encoding="utf-8")
    prov = prov_dir / "vigil.yaml"
    prov.write_text(yaml.safe_dump({"apiVersion": 1, "providers": [{
        "name": "vigil", "folder": "vigil", "type": "file", "disableDeletion": False,
        "allowUiUpdates": True,
        "options": {"path": dashboards_path or str(dash_dir.resolve())}}]}, sort_keys=False),
        encoding="utf-8")
    return [dash, ds, prov]
