"""Anomalies of a metric against its robust seasonal expectation.

The expectation of window ``t`` is the median of the same hour of the week in the last
four weeks (at least ``MIN_SAME`` of them), else of the same hour of the day in the last
four days, else of the previous day's windows, plus the median residual of the week
before the last day (so a slow, steady trend does not read as an anomaly). The residual
``x_t - expectation`` is scaled by the median absolute deviation (× 1.4826) of the
history's residuals, so the outliers being looked for neither move the expectation nor
widen the scale. Two scores are read:

- ``point``: the last window's robust z-score (spikes, abrupt level shifts);
- ``sustained``: the median residual of the last day (at most ``SUSTAIN`` windows, less
  the level) over its standard error, ``1.2533 · scale / √m`` (slow drifts and small
  lasting shifts that no single window shows).

The reported score is the larger of the two in absolute value, with its sign; a rule of
kind ``anomaly`` compares it with its threshold (``>``: above expectation, ``<``: below,
``!=``: either way, threshold given as a positive number of robust z units).

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = 10 + np.sin(np.arange(24 * 14) * 2 * np.pi / 24) + rng.normal(0, 0.1, 24 * 14)
    >>> y[-1] += 3
    >>> r = score_last(y, step=3600)
    >>> r["kind"], r["score"] > 10
    ('point', True)

References:
    Rousseeuw & Croux (1993), "Alternatives to the median absolute deviation" (MAD and
    its 1.4826 consistency factor); Hochenbaum, Vallis & Kejariwal (2017), "Automatic
    anomaly detection in the cloud via statistical learning" (seasonal median + MAD).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vigil.store import ModelRecord, Store

MIN_SAME = 2  # earlier same-position windows needed for a seasonal expectation
SUSTAIN = 24  # windows the sustained score looks back over (at most a day of them)
MAD_K = 1.4826
DAY, WEEK = 86400.0, 604800.0


def expectations(values: np.ndarray, step: float) -> np.ndarray:
    """The robust seasonal expectation of every window from earlier windows only (NaN
    where there is no history yet)."""
    y = np.asarray(values, dtype=np.float64)
    n = len(y)
    out = np.full(n, np.nan)
    for span in (WEEK, DAY):
        lag = round(span / step)
        if span < 2 * step or lag >= n:
            continue
        same = np.full((4, n), np.nan)
        for k in range(1, 5):
            if k * lag < n:
                same[k - 1, k * lag :] = y[: n - k * lag]
        enough = np.count_nonzero(~np.isnan(same), axis=0) >= MIN_SAME
        todo = enough & np.isnan(out)
        if todo.any():
            out[todo] = np.nanmedian(same[:, todo], axis=0)
    day = max(1, round(DAY / step))
    for t in np.flatnonzero(np.isnan(out)):
        recent = y[max(0, t - day) : t]
        recent = recent[~np.isnan(recent)]
        if len(recent) >= 3:
            out[t] = float(np.median(recent))
    return out


def robust_scale(residuals: np.ndarray) -> float:
    """MAD × 1.4826 of the finite residuals (a floor keeps flat series from dividing by 0)."""
    r = residuals[np.isfinite(residuals)]
    if r.size == 0:
        return float("nan")
    mad = float(np.median(np.abs(r - np.median(r)))) * MAD_K
    floor = 1e-9 + 1e-6 * float(np.median(np.abs(r)) or 0.0)
    return max(mad, floor)


def score_last(values: Any, *, step: float) -> dict[str, Any]:
    """Score the last window of ``values`` (see the module docstring).

    Returns ``{"score", "kind" ("point" | "sustained"), "value", "expected", "scale",
    "point", "sustained", "n_history"}``; ``score`` is None when the last window has no
    value or the history gives no expectation yet.
    """
    y = np.asarray(values, dtype=np.float64)
    exp = expectations(y, step)
    residuals = y - exp
    m = min(SUSTAIN, max(1, round(DAY / step)))
    week = max(m + 3, round(WEEK / step))
    # the level residuals sat at over the week before the sustained window: a slow trend
    # shifts every seasonal expectation by about the same amount, which this takes out
    before = residuals[max(0, len(y) - week) : max(0, len(y) - m)]
    before = before[np.isfinite(before)]
    level = float(np.median(before)) if before.size >= 3 else 0.0
    history = residuals[:-1]
    # the scale of the last two weeks: older residuals come from thinner expectations
    scale = robust_scale(history[-2 * week :])
    last, expected = float(y[-1]), float(exp[-1]) + level
    out: dict[str, Any] = {
        "score": None,
        "kind": None,
        "value": None if math.isnan(last) else last,
        "expected": None if math.isnan(expected) else expected,
        "scale": None if math.isnan(scale) else scale,
        "point": None,
        "sustained": None,
        "n_history": int(np.count_nonzero(np.isfinite(history))),
    }
    if math.isnan(last) or math.isnan(expected) or math.isnan(scale) or out["n_history"] < 3:
        return out
    point = (last - expected) / scale
    tail = residuals[-m:]
    tail = tail[np.isfinite(tail)]
    sustained = (
        (float(np.median(tail)) - level) / (1.2533 * scale / math.sqrt(len(tail)))
        if len(tail) >= max(3, m // 2)
        else 0.0
    )
    kind, score = ("point", point) if abs(point) >= abs(sustained) else ("sustained", sustained)
    return {
        **out,
        "score": float(score),
        "kind": kind,
        "point": float(point),
        "sustained": float(sustained),
    }


def flagged(score: float, op: str, threshold: float) -> bool:
    """Whether a score is anomalous for a rule's ``op`` and (positive) threshold."""
    if op in (">", ">="):
        return score > threshold if op == ">" else score >= threshold
    if op in ("<", "<="):
        return score < -abs(threshold) if op == "<" else score <= -abs(threshold)
    return abs(score) > abs(threshold)


def score_metric(
    store: Store,
    model: ModelRecord,
    metric: str,
    *,
    step_s: float,
    history_s: float,
    version: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Score the last whole ``step_s`` window of ``metric`` against its history."""
    from vigil.engine.insight.series import metric_series

    now = time.time() if now is None else now
    end = math.floor(now / step_s) * step_s
    series = metric_series(
        store, model, metric, start=end - history_s, end=end, step=step_s, version=version
    )
    values = series.values
    if metric.partition(":")[0] in ("count", "throughput"):  # zeros before the first data
        nonzero = np.flatnonzero(values > 0)
        values = values[nonzero[0] :] if nonzero.size else values[:0]
    if len(values) == 0:
        return {
            "score": None,
            "kind": None,
            "value": None,
            "expected": None,
            "scale": None,
            "point": None,
            "sustained": None,
            "n_history": 0,
            "window_end": end,
        }
    return {**score_last(values, step=step_s), "window_end": end}
