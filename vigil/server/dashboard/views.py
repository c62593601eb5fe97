"""What the dashboard pages show, computed from the store through the engine.

Every function here takes a :class:`~vigil.store.Store` and returns plain dicts that the
templates render; nothing here knows HTTP. Windows come from the minute rollups
(:func:`vigil.engine.windows.metrics.window_metrics`), so a page costs the same over a thousand
or a billion stored predictions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from vigil.engine.windows.metrics import window_metrics
from vigil.errors import (
    InvalidParameterError,
    ModelNotFoundError,
    NotFoundError,
    VigilError,
)
from vigil.server.dashboard.charts import sparkline
from vigil.store import ModelRecord, Store

# the time-range picker: label -> seconds
RANGES: dict[str, int] = {
    "15m": 15 * 60,
    "1h": 3600,
    "6h": 6 * 3600,
    "24h": 24 * 3600,
    "7d": 7 * 86400,
    "30d": 30 * 86400,
}
RANGE_LABELS = {
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}
DEFAULT_RANGE = "1h"
# the overview is about now: its ranges stop at a day (every model's minutes are merged)
OVERVIEW_RANGES = ("15m", "1h", "6h", "24h")
_POINTS = 60  # about this many windows per chart
_HOURLY_FROM = 24 * 3600  # ranges this long chart whole hours (read from hourly rollups)


@dataclass(frozen=True, slots=True)
class Window:
    """A resolved time range: [start, end) in unix seconds and its window step."""

    key: str
    start: float
    end: float
    step: int

    @property
    def label(self) -> str:
        return RANGE_LABELS[self.key]


def resolve_range(
    key: str | None, now: float | None = None, allowed: tuple[str, ...] = tuple(RANGES)
) -> Window:
    """The window for a picker value; the end is aligned to the next minute.

    Examples:
        >>> w = resolve_range("24h", now=7_200_030.0)
        >>> w.end - w.start, w.step
        (86400.0, 3600)
        >>> resolve_range("2h")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vigil.errors.InvalidParameterError: The range must be one of 15m, 1h, ... Got '2h'.
    """
    key = key or DEFAULT_RANGE
    if key not in allowed:
        raise InvalidParameterError(f"The range must be one of {', '.join(allowed)}. Got {key!r}.")
    now = time.time() if now is None else now
    end = float((int(now) // 60 + 1) * 60)
    seconds = RANGES[key]
    step = max(60, seconds // _POINTS // 60 * 60)
    if seconds >= _HOURLY_FROM:  # whole-hour windows: each hour is one hourly rollup row
        step = -(-step // 3600) * 3600
    return Window(key, end - seconds, end, step)


def get_model(store: Store, name: str) -> ModelRecord:
    model = store.get_model(name)
    if model is None:
        raise ModelNotFoundError(f"No model is named {name!r}.")
    return model


def overview(
    store: Store, window: Window, alerts: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """One row per model: health state, traffic, error rate, p95 latency, sparklines.

    ``alerts`` maps a model to ``firing`` or ``warning`` (a pending alert), as
    :func:`vigil.server.dashboard.actions.alert_states_by_model` reads them.
    """
    alerts = alerts or {}
    rows = []
    for model in store.list_models():
        metrics = window_metrics(store, model, start=window.start, end=window.end, step=window.step)
        summary = metrics["summary"]
        series = _dense(metrics["series"], window)
        rows.append(
            {
                "name": model.name,
                "task": model.task,
                "state": health_state(summary, alerts.get(model.name)),
                "count": summary["count"],
                "per_min": summary["count"] / ((window.end - window.start) / 60),
                "error_rate": summary["error_rate"],
                "p95": summary["latency_p95_s"],
                "rejected": summary.get("rejected", 0),
                "rejected_rate": summary.get("rejected_rate"),
                "traffic": [p["count"] for p in series],
                "traffic_points": sparkline([p["count"] for p in series]),
                "latency_points": sparkline([p["latency_p95_s"] for p in series]),
            }
        )
    return rows


def health_state(summary: dict[str, Any], alert: str | None = None) -> dict[str, str]:
    """The state badge of a model: its label, CSS class and a sentence for its tooltip.

    An alert that fires makes the model *firing*, a pending one *warning*; otherwise a
    model with no traffic in the window is *idle*, else *OK*.

    Examples:
        >>> health_state({"count": 10}, "firing")["label"], health_state({"count": 0})["label"]
        ('firing', 'idle')
    """
    if alert == "firing":
        return {"label": "firing", "css": "firing", "text": "An alert is firing."}
    if alert == "warning":
        return {"label": "warning", "css": "warning", "text": "An alert is pending."}
    if not summary["count"]:
        return {"label": "idle", "css": "idle", "text": "No predictions in this range."}
    return {"label": "OK", "css": "ok", "text": "Serving."}


def model_page(
    store: Store, model: ModelRecord, window: Window, version: str | None, alert: str | None = None
) -> dict[str, Any]:
    """The model page's numbers: summary, per-window series and a per-version table."""
    versions = [v["version"] for v in store.list_versions(model.id)]
    if version is not None and version not in versions:
        raise InvalidParameterError(
            f"Model {model.name!r} has no version {version!r}; it has "
            f"{', '.join(versions) or 'none yet'}."
        )
    metrics = window_metrics(
        store, model, start=window.start, end=window.end, step=window.step, version=version
    )
    per_version = []
    for v in versions if version is None else [version]:
        summary = window_metrics(
            store,
            model,
            start=window.start,
            end=window.end,
            step=int(window.end - window.start),
            version=v,
        )["summary"]
        per_version.append({"version": v, **summary})
    return {
        "model": model,
        "versions": versions,
        "version": version,
        "summary": metrics["summary"],
        "state": health_state(metrics["summary"], alert),
        "series": _dense(metrics["series"], window),
        "per_version": per_version,
    }


def _dense(series: list[dict[str, Any]], window: Window) -> list[dict[str, Any]]:
    """The series with an empty point for every window that had no traffic."""
    by_ts = {p["ts"]: p for p in series}
    first = int(window.start // window.step) * window.step
    out = []
    for ts in range(first, int(window.end), window.step):
        point = by_ts.get(ts)
        out.append(
            point
            if point is not None
            else {
                "ts": ts,
                "count": 0,
                "errors": 0,
                "error_rate": None,
                "throughput_per_s": 0.0,
                "latency_mean_s": None,
                "latency_p50_s": None,
                "latency_p95_s": None,
                "latency_p99_s": None,
            }
        )
    return out


def drift_page(
    store: Store, model: ModelRecord, window: Window, version: str | None
) -> dict[str, Any]:
    """Per-feature and data set drift of the window against the model's reference, drifted
    features first; ``reference`` is False (and the rest empty) when there is none."""
    from vigil.engine.windows.drift import window_drift  # scipy and scikit-learn: on demand

    versions = [v["version"] for v in store.list_versions(model.id)]
    if version is not None and version not in versions:
        raise InvalidParameterError(
            f"Model {model.name!r} has no version {version!r}; it has "
            f"{', '.join(versions) or 'none yet'}."
        )
    base = {"model": model, "versions": versions, "version": version}
    try:
        report = window_drift(store, model, start=window.start, end=window.end, version=version)
    except NotFoundError as exc:
        return {**base, "reference": False, "message": exc.message}
    columns = [{"name": name, **col} for name, col in report["columns"].items()]
    columns.sort(key=lambda c: (not c.get("drifted"), -(c.get("effect_size") or 0.0)))
    return {**base, "reference": True, "report": report, "columns": columns}


SEGMENT_WINDOWS = 12  # windows of the per-segment quality and fairness charts
QUALITY_METRICS = ("accuracy", "f1", "roc_auc", "mae", "rmse", "r2", "ndcg")


def quality_section(
    store: Store,
    model: ModelRecord,
    window: Window,
    version: str | None,
    segment: str | None = None,
) -> dict[str, Any]:
    """Realised quality (labelled predictions), estimated quality (CBPE, when fitted) and
    feedback over the window, through :func:`vigil.engine.quality.windows.quality_report`; with
    ``segment``, quality and fairness per segment, over the range and per window."""
    from vigil.engine.quality.windows import quality_report  # scikit-learn: on demand
    from vigil.store.quality.queries import list_runs

    report = quality_report(
        store,
        model,
        start=window.start,
        end=window.end,
        step=window.step,
        version=version,
        live_text=False,
    )
    realised = report.get("realised") or {}
    estimated = report.get("estimated") or {}
    summary = estimated.get("summary") or {}
    metric = next(
        (
            m
            for m in QUALITY_METRICS
            if realised.get(m) is not None or isinstance(summary.get(m), dict)
        ),
        None,
    )
    out = {
        "metric": metric,
        "labels": report["labels"],
        "realised": realised,
        "realised_value": realised.get(metric) if metric else None,
        "estimated": summary.get(metric) if metric else None,
        "estimated_n": estimated.get("n"),
        "feedback": report.get("feedback") or {},
        "series": report.get("series") or [],
        "estimated_series": estimated.get("series") or [],
        "concept_drift": report.get("concept_drift", {}).get("events", []),
        "runs": [
            {**run, "metric": metric, "value": (run.get("metrics") or {}).get(metric)}
            for run in list_runs(store, model.id, version=version, limit=10)
        ],
        "segment_inputs": segment_inputs(model),
    }
    out["segment"] = None
    if segment:  # coarser windows: each segment needs enough labels in every window
        step = max(60, int((window.end - window.start) / SEGMENT_WINDOWS) // 60 * 60)
        by_segment = quality_report(
            store,
            model,
            start=window.start,
            end=window.end,
            step=step,
            version=version,
            segment=segment,
        )
        out["segment"] = {**segment_section(out, by_segment), "step": step}
    return out


def resources_section(
    store: Store, model: ModelRecord, window: Window, version: str | None
) -> dict[str, Any]:
    """Per-host CPU, memory, GPU and network windows and each host's status (``ok`` or
    ``stale`` with its last values), from :func:`vigil.engine.resources.samples.resource_report`."""
    from vigil.engine.resources.samples import resource_report

    report = resource_report(
        store, model, start=window.start, end=window.end, step=window.step, version=version
    )
    return {"hosts": report["hosts"], "series": report["series"], "stale": report["stale_hosts"]}


def segment_inputs(model: ModelRecord) -> list[str]:
    """The model's categorical inputs: the fields quality can be split by on the page."""
    from vigil.schema import FeatureKind, ModelSchema

    schema = ModelSchema.from_dict(model.schema)
    return [f.name for f in schema.features if f.kind is FeatureKind.CATEGORICAL]


def check_segment(model: ModelRecord, segment: str | None) -> str | None:
    """``segment`` when it names a categorical input of the model (None for none)."""
    if not segment:
        return None
    allowed = segment_inputs(model)
    if segment not in allowed:
        raise InvalidParameterError(
            f"'segment' must be a categorical input of {model.name!r} "
            f"({', '.join(allowed) or 'it has none'}). Got {segment!r}."
        )
    return segment


def segment_section(quality: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """Per-segment metrics and fairness over the range and per window, for the page."""
    from vigil.quality.fairness import segment_key

    metric = quality["metric"]
    series = report.get("segment_series") or []
    fairness = report.get("fairness") or {}
    rates = {segment_key(e["segment"]): e for e in fairness.get("segments") or []}
    return {
        "name": report.get("segment"),
        "metric": metric,
        "segments": [
            {
                **s,
                "value": s.get(metric) if metric else None,
                "rates": rates.get(segment_key(s["segment"])),
            }
            for s in report.get("segments") or []
        ],
        "fairness": fairness,
        "series": series,
    }


def drift_summary(
    store: Store, model: ModelRecord, window: Window, version: str | None, top: int = 5
) -> dict[str, Any]:
    """The model page's drift line: share of drifted features and the most drifted ones
    (by effect size), or why there is none (no reference, no traffic). A drift test that
    cannot run is said in its place: it never takes the rest of the model page down."""
    from vigil.engine.windows.drift import window_drift

    try:
        report = window_drift(store, model, start=window.start, end=window.end, version=version)
    except VigilError as exc:
        return {"reference": False, "message": exc.message}
    columns = [{"name": name, **col} for name, col in report["columns"].items()]
    drifted = sorted(
        (c for c in columns if c.get("drifted")), key=lambda c: -(c.get("effect_size") or 0.0)
    )
    return {
        "reference": True,
        "n": report["n_current"],
        "mode": report["mode"],
        "dataset_drift": bool(report["dataset_drift"]),
        "drift_share": report["drift_share"],
        "n_features": len(columns),
        "n_drifted": len(drifted),
        "top": drifted[:top],
        "reason": report.get("reason"),
    }


HEATMAP_WINDOWS = 12  # columns of the drift heat map


def drift_over_time(
    store: Store, model: ModelRecord, window: Window, version: str | None
) -> dict[str, Any]:
    """Per-feature drift in about ``HEATMAP_WINDOWS`` windows of the range (heat map)."""
    from vigil.engine.windows.drift import drift_history

    span = window.end - window.start
    step = max(60, int(span / HEATMAP_WINDOWS) // 60 * 60)
    return drift_history(
        store, model, start=window.start, end=window.end, step=step, version=version
    )


def distributions(
    store: Store, model: ModelRecord, window: Window, version: str | None
) -> list[dict[str, Any]]:
    """Reference against current histogram of every numeric and categorical feature."""
    from vigil.engine.windows.drift import feature_distributions

    return feature_distributions(store, model, start=window.start, end=window.end, version=version)[
        "features"
    ]
