"""Suggestions: plain-language recommendations, each with the numbers behind it.

Four kinds, each made only where the data supports it:

- ``rollback``: the newest version serving in the last day fails significantly more
  often (two-proportion z-test, p < 0.01) or is ≥ 25 % slower at p95 than the version
  before it, on the same day's traffic (both with at least ``MIN_VERSION_ROWS``).
- ``retrain``: a rule sets a floor on a quality metric (``accuracy``, ``f1``, ``roc_auc``
  or an ``estimated_*`` one, ``op`` ``<``/``<=``) and its forecast's 80 % interval crosses
  the floor within ``RETRAIN_HORIZON``; the evidence says how many labelled predictions
  of the last week a training set would hold (``vigil export dataset``).
- ``right_size``: over the last week (at least 5 days of hourly samples), GPU utilisation
  or host CPU busy stayed low at p95, or memory in use stayed under half of the total.
- ``network``: callers' end-to-end p95 latency is mostly not the model's own p95
  latency (the rest is network and queuing) over the last day.

A suggestion's ``id`` (``kind:subject``) is stable while the situation lasts, so a
dismissal (recorded in the audit log, see :func:`dismiss`) hides it until something else
is suggested.
"""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.errors import InvalidParameterError

if TYPE_CHECKING:
    from vigil.store import ModelRecord, Store

DAY = 86400.0
MIN_VERSION_ROWS = 100
RETRAIN_HORIZON = 3 * DAY
LOW_GPU, LOW_CPU, LOW_MEMORY = 30.0, 20.0, 0.5
NETWORK_SHARE = 0.5
_QUALITY = ("accuracy", "f1", "roc_auc", "estimated_accuracy", "estimated_f1", "estimated_roc_auc")
_ID = re.compile(r"^[a-z_]{1,20}:[A-Za-z0-9_.:@-]{1,180}$")


def suggestions(
    store: Store, model: ModelRecord, *, now: float | None = None, include_dismissed: bool = False
) -> list[dict[str, Any]]:
    """Every suggestion for ``model`` now, each with ``dismissed``; dismissed ones are left
    out unless ``include_dismissed``."""
    from vigil.store.insight.queries import dismissed_suggestions

    now = time.time() if now is None else now
    found = (
        _rollback(store, model, now)
        + _retrain(store, model, now)
        + _right_size(store, model, now)
        + _network(store, model, now)
    )
    dismissed = dismissed_suggestions(store, model.name)
    out = []
    for s in found:
        s["dismissed"] = s["id"] in dismissed
        if include_dismissed or not s["dismissed"]:
            out.append(s)
    return out


def dismiss(store: Store, model: ModelRecord, suggestion_id: str, actor: str) -> None:
    """Hide a suggestion (by id) from now on; recorded in the audit log."""
    if not isinstance(suggestion_id, str) or not _ID.match(suggestion_id):
        raise InvalidParameterError(
            f"A suggestion id looks like 'rollback:3' or 'right_size:gpu'. Got {suggestion_id!r}.",
            details=[{"field": "suggestion_id", "reason": "not a suggestion id"}],
        )
    store.audit(actor, "suggestion.dismiss", model.name, {"id": suggestion_id})


def _version_stats(
    store: Store, model: ModelRecord, start: float, end: float
) -> dict[str, dict[str, Any]]:
    from vigil.store.ingest.rollups import merge_windows

    rows = store.rollup_rows(model.id, start, end, None, profiles=False, hours=True)
    out = {}
    for version in sorted({r.version for r in rows}):
        w = merge_windows([r for r in rows if r.version == version], 1 << 62).get(0)
        if w and w["count"]:
            sketch = w["sketch"]
            out[version] = {
                "count": w["count"],
                "errors": w["errors"],
                "error_rate": w["errors"] / w["count"],
                "latency_p95": None
                if sketch is None or sketch.is_empty()
                else float(sketch.get_quantile(0.95)),
            }
    return out


def _rollback(store: Store, model: ModelRecord, now: float) -> list[dict[str, Any]]:
    from scipy.stats import norm

    stats = _version_stats(store, model, now - DAY, now)
    order = [v["version"] for v in store.list_versions(model.id) if v["version"] in stats]
    if len(order) < 2:
        return []
    new, old = order[-1], order[-2]
    a, b = stats[new], stats[old]
    if a["count"] < MIN_VERSION_ROWS or b["count"] < MIN_VERSION_ROWS:
        return []
    reasons, evidence = (
        [],
        {
            "version": new,
            "previous": old,
            "window": "24h",
            "predictions": a["count"],
            "predictions_previous": b["count"],
        },
    )
    pooled = (a["errors"] + b["errors"]) / (a["count"] + b["count"])
    se = math.sqrt(pooled * (1 - pooled) * (1 / a["count"] + 1 / b["count"]))
    p = float(2 * norm.sf(abs(a["error_rate"] - b["error_rate"]) / se)) if se else 1.0
    evidence.update(error_rate=a["error_rate"], error_rate_previous=b["error_rate"], p_value=p)
    if a["error_rate"] > b["error_rate"] and p < 0.01:
        reasons.append(
            f"fails {a['error_rate']:.2%} of predictions against "
            f"{b['error_rate']:.2%} (p = {p:.2g})"
        )
    if a["latency_p95"] is not None and b["latency_p95"] is not None:
        evidence.update(latency_p95=a["latency_p95"], latency_p95_previous=b["latency_p95"])
        if a["latency_p95"] > 1.25 * b["latency_p95"]:
            reasons.append(
                f"answers in {a['latency_p95'] * 1000:.0f} ms at p95 against "
                f"{b['latency_p95'] * 1000:.0f} ms"
            )
    if not reasons:
        return []
    return [
        {
            "id": f"rollback:{new}",
            "kind": "rollback",
            "title": f"Roll back version {new} to {old}",
            "text": f"Version {new} " + " and ".join(reasons) + f" of version {old} on the "
            "same day's traffic.",
            "evidence": evidence,
        }
    ]


def _retrain(store: Store, model: ModelRecord, now: float) -> list[dict[str, Any]]:
    from vigil.engine.insight.forecast import describe_crossing, forecast_metric
    from vigil.store.alerts.queries import AlertStore

    floors: dict[str, tuple[str, float]] = {}
    for spec in AlertStore(store).list_rules():  # stored as validated (Rule.to_dict)
        threshold = spec.get("threshold")
        if (
            spec.get("enabled", True)
            and spec.get("model", "*") in (model.name, "*")
            and spec.get("metric") in _QUALITY
            and spec.get("op") in ("<", "<=")
            and spec.get("kind", "threshold") == "threshold"
            and isinstance(threshold, int | float)
            and not isinstance(threshold, bool)
        ):
            floors.setdefault(spec["metric"], (spec["op"], float(threshold)))
    out = []
    for metric, (op, floor) in sorted(floors.items()):
        try:
            fc, series = forecast_metric(
                store,
                model,
                metric,
                horizon_s=RETRAIN_HORIZON,
                step_s=6 * 3600.0,
                history_s=14 * DAY,
                now=now,
            )
        except InvalidParameterError:
            continue
        index = fc.crossing(op, floor, 0.8)
        if index is None:
            continue
        from vigil.store.quality.queries import labelled_predictions

        labelled = len(labelled_predictions(store, model.id, now - 7 * DAY, now))
        last = series.values[~np.isnan(series.values)]
        out.append(
            {
                "id": f"retrain:{metric}",
                "kind": "retrain",
                "title": f"Retrain: {metric} is heading below {floor:g}",
                "text": f"{describe_crossing(metric, op, floor, index, fc.step)} (80 % interval); "
                f"{labelled} labelled predictions of the last week can be exported as "
                "a training set with `vigil export dataset`.",
                "evidence": {
                    "metric": metric,
                    "floor": floor,
                    "last": float(last[-1]),
                    "crosses_at": fc.start + index * fc.step,
                    "forecast_method": fc.method,
                    "labelled_rows_7d": labelled,
                },
            }
        )
    return out


def _samples(store: Store, model: ModelRecord, start: float, end: float) -> list[dict[str, Any]]:
    from vigil.store.resources import queries as rq

    return rq.sample_windows(store, model.id, start, end, 3600)


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def _right_size(store: Store, model: ModelRecord, now: float) -> list[dict[str, Any]]:
    windows = _samples(store, model, now - 7 * DAY, now)
    if not windows or max(w["ts"] for w in windows) - min(w["ts"] for w in windows) < 5 * DAY:
        return []
    out = []
    gpu = [w["gpu_utilization_percent"] for w in windows if "gpu_utilization_percent" in w]
    if len(gpu) >= 24 and _p95(gpu) < LOW_GPU:
        out.append(
            {
                "id": "right_size:gpu",
                "kind": "right_size",
                "title": "Right-size: the GPU is mostly idle",
                "text": f"GPU utilisation was {_p95(gpu):.0f} % at p95 over the last "
                f"week (hourly means, {len(gpu)} hours): a smaller or shared GPU, "
                "or CPU inference, would do.",
                "evidence": {"gpu_utilization_p95": _p95(gpu), "hours": len(gpu)},
            }
        )
    cpu = [w["host_cpu_percent"] for w in windows if "host_cpu_percent" in w]
    if len(cpu) >= 24 and _p95(cpu) < LOW_CPU:
        out.append(
            {
                "id": "right_size:cpu",
                "kind": "right_size",
                "title": "Right-size: CPU to spare",
                "text": f"Host CPU was {_p95(cpu):.0f} % busy at p95 over the last week "
                f"({len(cpu)} hours): fewer cores would do.",
                "evidence": {"host_cpu_p95": _p95(cpu), "hours": len(cpu)},
            }
        )
    memory = [
        w["host_memory_used_bytes_max"] / w["host_memory_total_bytes"]
        for w in windows
        if w.get("host_memory_total_bytes") and "host_memory_used_bytes_max" in w
    ]
    if len(memory) >= 24 and max(memory) < LOW_MEMORY:
        out.append(
            {
                "id": "right_size:memory",
                "kind": "right_size",
                "title": "Right-size: memory headroom",
                "text": f"At most {max(memory):.0%} of the host's memory was in use over "
                "the last week: a smaller instance would do.",
                "evidence": {"memory_used_share_max": max(memory), "hours": len(memory)},
            }
        )
    return out


def _network(store: Store, model: ModelRecord, now: float) -> list[dict[str, Any]]:
    windows = _samples(store, model, now - DAY, now)
    client = [w["client_latency_p95_ms"] for w in windows if "client_latency_p95_ms" in w]
    if not client:
        return []
    stats = _version_stats(store, model, now - DAY, now)
    from vigil.engine.metric_sources import get_metric

    model_p95 = get_metric("latency_p95").compute(store, model, None, now - DAY, now)
    if model_p95 is None or not stats:
        return []
    end_to_end = float(np.median(client)) / 1000.0
    share = 1.0 - model_p95 / end_to_end if end_to_end > 0 else 0.0
    if share < NETWORK_SHARE:
        return []
    return [
        {
            "id": "network:latency",
            "kind": "network",
            "title": "Network: most of the callers' latency is outside the model",
            "text": f"Callers see {end_to_end * 1000:.0f} ms at p95 (median over hours) "
            f"while the model takes {model_p95 * 1000:.0f} ms at p95: {share:.0%} "
            "is network and queuing. Serve closer to the callers, keep "
            "connections alive or batch requests.",
            "evidence": {
                "client_latency_p95": end_to_end,
                "model_latency_p95": model_p95,
                "network_share": share,
            },
        }
    ]
