"""A rule metric as a regular time series: one value per ``step`` seconds.

Forecasts and anomaly rules need a metric's history, not one window. The backbone
metrics (count, throughput, error rates, latency quantiles) are cut from one read of the
minute rollups, merged per step; any other registered metric is computed window by
window through :mod:`vigil.engine.metric_sources`, so every rule metric has a series.
Buckets where the metric answers None stay NaN (a gap, never a zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.engine.metric_sources import get_metric
from vigil.errors import InvalidParameterError

if TYPE_CHECKING:
    from vigil.store import ModelRecord, Store

MAX_POINTS = 5000  # a series longer than this is refused (ask for a coarser step)
_LATENCY = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}


@dataclass(frozen=True, slots=True)
class Series:
    """Values of one metric at ``start, start + step, ...`` (each the window after it)."""

    metric: str
    start: float
    step: float
    values: np.ndarray  # float64, NaN where the metric had too little data

    @property
    def times(self) -> np.ndarray:
        return self.start + self.step * np.arange(len(self.values))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "start": self.start,
            "step": self.step,
            "values": [None if math.isnan(v) else float(v) for v in self.values],
        }


def metric_series(
    store: Store,
    model: ModelRecord,
    metric: str,
    *,
    start: float,
    end: float,
    step: float,
    version: str | None = None,
) -> Series:
    """The series of ``metric`` over ``[start, end)`` in windows of ``step`` seconds.

    ``start`` is aligned down to a multiple of ``step`` so windows fall on the same
    clock hours every call (seasonality is read by position).

    Raises:
        InvalidParameterError: Unknown metric, a step under 1 minute, or too many points.
    """
    source = get_metric(metric)
    if step < 60:
        raise InvalidParameterError(f"'step' must be at least 60 seconds. Got {step!r}.")
    begin = math.floor(start / step) * step
    n = math.ceil((end - begin) / step)
    if n > MAX_POINTS:
        raise InvalidParameterError(
            f"The series of {metric!r} would have {n} points (more than {MAX_POINTS}); use a "
            f"larger step or a shorter history."
        )
    fast = _from_rollups(store, model, metric, begin, step, n, version)
    if fast is not None:
        return Series(metric, begin, step, fast)
    values = np.full(n, np.nan)
    for i in range(n):
        value = source.compute(store, model, version, begin + i * step, begin + (i + 1) * step)
        if value is not None:
            values[i] = value
    return Series(metric, begin, step, values)


def _from_rollups(
    store: Store,
    model: ModelRecord,
    metric: str,
    begin: float,
    step: float,
    n: int,
    version: str | None,
) -> np.ndarray | None:
    """The backbone metrics from one rollup read; None for any other metric."""
    base, _, kind = metric.partition(":")
    if base not in ("count", "throughput", "error_rate") and metric not in _LATENCY:
        return None
    if base in ("count", "throughput") and kind:
        return None
    from vigil.store.ingest.rollups import merge_windows

    whole_hours = int(step) % 3600 == 0 and int(begin) % 3600 == 0  # an hour fits one window
    rows = store.rollup_rows(
        model.id,
        begin,
        begin + n * step,
        version,
        profiles=False,
        sketches=metric in _LATENCY,
        hours=whole_hours,
    )
    # merge_windows buckets absolute minutes by `step`; shift so buckets start at `begin`
    offset = int(begin) % int(step)
    sketches = metric in _LATENCY  # the others need no sketch: skip deserialising them
    windows = merge_windows([_Shifted(r, offset, sketches) for r in rows], int(step))
    values = np.full(n, np.nan)
    for key, w in windows.items():
        i = int((key + offset - begin) // step)
        if not 0 <= i < n:
            continue
        count = w["count"]
        if base == "count":
            values[i] = count
        elif base == "throughput":
            values[i] = count / step
        elif base == "error_rate" and count:
            errors = (w.get("error_types") or {}).get(kind, 0) if kind else w["errors"]
            values[i] = errors / count
        elif metric in _LATENCY and w["sketch"] is not None and not w["sketch"].is_empty():
            values[i] = float(w["sketch"].get_quantile(_LATENCY[metric]))
    if base in ("count", "throughput"):
        values[np.isnan(values)] = 0.0  # no predictions is a count of zero
    return values


class _Shifted:
    """A rollup row seen ``offset`` seconds earlier (so step buckets start at ``begin``),
    without its latency sketch when ``sketch`` is false."""

    __slots__ = (
        "count",
        "error_types",
        "errors",
        "latency_count",
        "latency_sketch",
        "latency_sum",
        "minute",
    )

    def __init__(self, row: Any, offset: int, sketch: bool = True) -> None:
        self.minute = row.minute - offset
        self.count, self.errors = row.count, row.errors
        self.error_types = row.error_types
        self.latency_count, self.latency_sum = row.latency_count, row.latency_sum
        self.latency_sketch = row.latency_sketch if sketch else None
