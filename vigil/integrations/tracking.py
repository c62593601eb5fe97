"""What experiment trackers (W&B, MLflow) receive: flat metrics, params and tables.

Pure functions over vigil's plain results — an evaluation run (``vigil evaluate``,
:func:`vigil.engine.quality.evaluation.evaluate`), window metrics (``window_metrics`` or
``GET /models/{m}/metrics``) and a drift report (``DriftReport`` or its ``to_dict()``) —
so both trackers log the same names.

Examples:
    >>> flatten({"accuracy": 0.9, "latency": {"p95_s": 0.02}, "ok": True, "name": "x"})
    {'accuracy': 0.9, 'latency/p95_s': 0.02, 'ok': 1.0}
    >>> columns, rows = drift_table({"columns": {"age": {"method": "ks", "statistic": 0.4,
    ...     "p_value": 0.001, "effect_size": 0.9, "threshold": 0.05, "drifted": True,
    ...     "n_reference": 10, "n_current": 12}}})
    >>> columns[:3], rows[0][:3]
    (['column', 'method', 'statistic'], ['age', 'ks', 0.4])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

DRIFT_COLUMNS = (
    "method",
    "statistic",
    "p_value",
    "p_value_adjusted",
    "effect_size",
    "threshold",
    "drifted",
    "n_reference",
    "n_current",
)
WINDOW_FIELDS = (
    "count",
    "errors",
    "error_rate",
    "throughput_per_s",
    "latency_mean_s",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Finite numeric leaves of nested mappings, keys joined with ``/`` (bools as 0/1)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}/"))
        elif isinstance(value, int | float) and math.isfinite(value):  # bools too, as 0/1
            out[name] = float(value)
    return out


def evaluation_record(
    run: Mapping[str, Any],
) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    """``(params, metrics, tags)`` of an evaluation run."""
    params = {
        k: str(run[k])
        for k in (
            "model",
            "version",
            "alias",
            "dataset",
            "dataset_sha256",
            "mode",
            "n_rows",
            "endpoint",
        )
        if run.get(k) is not None
    }
    metrics = flatten(run.get("metrics") or {})
    metrics.update(flatten(run.get("latency") or {}, "latency/"))
    tags = {"vigil.status": str(run.get("status", "unknown"))}
    if run.get("id") is not None:
        tags["vigil.evaluation_id"] = str(run["id"])
    if run.get("error"):
        tags["vigil.error"] = str(run["error"])[:500]
    return params, metrics, tags


def window_points(metrics: Mapping[str, Any]) -> list[tuple[int, dict[str, float]]]:
    """``(window start, values)`` per window of a ``window_metrics`` answer, oldest first."""
    points = []
    for point in metrics.get("series", []):
        values = {f: float(point[f]) for f in WINDOW_FIELDS if point.get(f) is not None}
        points.append((int(point["ts"]), values))
    return sorted(points, key=lambda p: p[0])


def drift_table(report: Any) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows (one per feature) of a drift report or its ``to_dict()``."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    rows = []
    for name, col in sorted(data.get("columns", {}).items()):
        rows.append([name, *(col.get(k) for k in DRIFT_COLUMNS)])
    return ["column", *DRIFT_COLUMNS], rows


def drift_summary(report: Any) -> dict[str, float]:
    """Data-set level drift numbers: ``dataset_drift`` (0/1), ``drift_share``, counts."""
    data = report.to_dict() if hasattr(report, "to_dict") else report
    keys = ("dataset_drift", "drift_share", "n_reference", "n_current")
    out = flatten({k: data[k] for k in keys if k in data})
    out["drifted_columns"] = float(len(data.get("drifted_columns", [])))
    return out
