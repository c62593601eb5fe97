"""Traffic, error and latency metrics over windows, merged from minute rollups."""

from __future__ import annotations

import math
import time
from typing import Any

from vigil.errors import InvalidParameterError
from vigil.store import ModelRecord, Store
from vigil.store.ingest.rollups import merge_totals, merge_windows
from vigil.store.ingest.schemas import rejection_rows

QUANTILES = (0.5, 0.95, 0.99)
MAX_POINTS = 10_000
MAX_TIME = 1e11  # unix seconds (the year 5138): anything past it is a mistake, not a range


def check_time(value: float | None, name: str) -> None:
    """Raise a 400-class error unless ``value`` is None or finite unix seconds in range."""
    if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_TIME):
        raise InvalidParameterError(
            f"'{name}' must be unix seconds between 0 and {MAX_TIME:.0e}. Got {value!r}.",
            details=[{"field": name, "reason": "out of range"}],
        )


def window_range(
    start: float | None,
    end: float | None,
    step: int | None,
    *,
    default_span_s: float = 3600.0,
    target_windows: int = 60,
    max_windows: int = MAX_POINTS,
) -> tuple[float, float, int]:
    """Check and fill a window request: ``start`` and ``end`` unix seconds (a millisecond
    timestamp is refused, naming the field), the last ``default_span_s`` by default,
    ``step`` a multiple of 60 s spreading the range over about ``target_windows`` windows,
    at most ``max_windows`` windows. Metrics and quality requests share it, so both answer
    a bad range with the same 400."""
    check_time(start, "start")
    check_time(end, "end")
    end = time.time() if end is None else float(end)
    start = end - default_span_s if start is None else float(start)
    if not end > start:
        raise InvalidParameterError(f"'end' ({end}) must be after 'start' ({start}).")
    if step is None:
        step = max(60, int((end - start) / target_windows) // 60 * 60)
    if step <= 0 or step % 60:
        raise InvalidParameterError(f"'step' must be a positive multiple of 60 s. Got {step}.")
    if (end - start) / step > max_windows:
        raise InvalidParameterError(
            f"start..end / step gives more than {max_windows} windows; use a larger 'step'."
        )
    return start, end, step


def window_metrics(
    store: Store,
    model: ModelRecord,
    *,
    start: float | None = None,
    end: float | None = None,
    step: int | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Per-window and whole-range traffic, errors and latency quantiles.

    Windows are ``step`` seconds (a multiple of 60) aligned to the epoch; the default range
    is the last hour and the default step spreads it over about 60 points. Latency
    quantiles come from merged KLL sketches (rank error about 1.65 %). Errors are
    broken down by kind (``errors_by_type``), and records rejected at ingest are counted
    per reason in the summary (``rejected``, ``rejected_by_reason``, ``rejected_rate``).
    """
    start, end, step = window_range(start, end, step)
    # windows of whole hours (epoch-aligned) can take each hour as one hourly row
    rows = store.rollup_rows(model.id, start, end, version, profiles=False, hours=step % 3600 == 0)
    windows = merge_windows(rows, step)
    series = [_point(ts, w, step) for ts, w in sorted(windows.items())]
    total = merge_totals(windows.values())  # after the series: it merges into their sketches
    span = max(end - start, 1.0)
    summary = _point(int(start), total, span) if total else _point(int(start), None, span)
    rejected: dict[str, int] = {}
    for row in rejection_rows(store, model.id, start, end, version):
        rejected[row["reason"]] = rejected.get(row["reason"], 0) + int(row["count"])
    n_rejected = sum(rejected.values())
    seen = summary["count"] + n_rejected
    summary.update(
        rejected=n_rejected,
        rejected_by_reason=rejected,
        rejected_rate=n_rejected / seen if seen else None,
    )
    return {
        "model": model.name,
        "version": version,
        "start": start,
        "end": end,
        "step": step,
        "series": series,
        "summary": summary,
    }


def _point(ts: int, window: dict[str, Any] | None, seconds: float) -> dict[str, Any]:
    if window is None:
        window = {"count": 0, "errors": 0, "latency_count": 0, "latency_sum": 0.0, "sketch": None}
    count, sketch = window["count"], window["sketch"]
    point: dict[str, Any] = {
        "ts": ts,
        "count": count,
        "errors": window["errors"],
        "error_rate": window["errors"] / count if count else None,
        "errors_by_type": dict(sorted((window.get("error_types") or {}).items())),
        "throughput_per_s": count / seconds,
        "latency_mean_s": (
            window["latency_sum"] / window["latency_count"] if window["latency_count"] else None
        ),
    }
    for q in QUANTILES:
        point[f"latency_p{round(q * 100)}_s"] = (
            float(sketch.get_quantile(q)) if sketch is not None and not sketch.is_empty() else None
        )
    return point
