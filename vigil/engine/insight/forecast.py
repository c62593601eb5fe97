"""Forecasts of a rule metric with 80 % and 95 % prediction intervals.

The method depends on how much history there is (``step`` is the series' spacing):

- ``mstl_ets`` (at least two days of history, statsmodels installed): the series is split
  by MSTL into daily and, with at least two weeks, weekly seasonal parts plus the rest;
  the rest is forecast by an additive-error, damped-trend exponential smoothing model
  (ETS(A,Ad,N)) with its analytic prediction intervals, and each seasonal part is carried
  forward by repeating its last cycle.
- ``ets``: shorter history (at least ``MIN_ETS`` points): the same ETS model without the
  seasonal parts.
- ``naive`` (fewer points, or statsmodels missing): the last value, with intervals from
  the spread of step-to-step changes growing with the square root of the lead time (a
  random walk). Without statsmodels and with at least two cycles, ``seasonal_naive``:
  the value one cycle earlier, intervals from the quantiles of past seasonal-naive errors.

Gaps (windows where the metric had too little data) are filled by linear interpolation
before fitting. A constant history is forecast as constant (method ``constant``, intervals
of zero width).

Examples:
    >>> import numpy as np
    >>> f = forecast_values([2.0, 2.5, 2.0, 2.5, 2.0, 3.0], step=3600, horizon=3)
    >>> f.method, [round(float(v), 2) for v in f.mean]
    ('naive', [3.0, 3.0, 3.0])
    >>> bool((f.upper[0.95] > f.upper[0.8]).all())
    True

References:
    Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed.), §8
    (ETS models and their prediction intervals) and §3.6 (MSTL); Bandara, Hyndman &
    Bergmeir (2021), "MSTL: A Seasonal-Trend Decomposition Algorithm for Time Series with
    Multiple Seasonal Patterns".
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.errors import InvalidParameterError

if TYPE_CHECKING:
    from vigil.store import ModelRecord, Store

LEVELS = (0.8, 0.95)
MIN_ETS = 10  # fewer points than this: the naive method
MAX_HORIZON = 2000  # points ahead
DAY, WEEK = 86400.0, 604800.0


@dataclass(frozen=True, slots=True)
class Forecast:
    """Forecast means and interval bounds for the windows after the history."""

    method: str
    start: float  # start of the first forecast window (unix seconds)
    step: float
    mean: np.ndarray
    lower: dict[float, np.ndarray]  # level -> lower bounds
    upper: dict[float, np.ndarray]
    n_history: int
    periods: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)

    def crossing(self, op: str, threshold: float, level: float = 0.8) -> int | None:
        """Index of the first window whose ``level`` interval reaches past ``threshold``
        in the direction of ``op`` (``>``/``>=``: the upper bound, ``<``/``<=``: the lower
        bound); None when none does within the horizon."""
        if op in (">", ">="):
            bound = self.upper[level]
            hit = bound > threshold if op == ">" else bound >= threshold
        elif op in ("<", "<="):
            bound = self.lower[level]
            hit = bound < threshold if op == "<" else bound <= threshold
        else:
            raise InvalidParameterError(
                f"A forecast can be compared with '>', '>=', '<' or '<='. Got {op!r}."
            )
        idx = np.flatnonzero(hit)
        return int(idx[0]) if idx.size else None

    def to_dict(self) -> dict[str, Any]:
        times = self.start + self.step * np.arange(len(self.mean))
        points = []
        for i, ts in enumerate(times):
            point = {"ts": float(ts), "mean": _num(self.mean[i])}
            for level in LEVELS:
                key = f"{round(level * 100)}"
                point[f"lower_{key}"] = _num(self.lower[level][i])
                point[f"upper_{key}"] = _num(self.upper[level][i])
            points.append(point)
        return {
            "method": self.method,
            "step": self.step,
            "n_history": self.n_history,
            "periods": list(self.periods),
            "levels": list(LEVELS),
            "notes": self.notes,
            "points": points,
        }


def _num(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 10)


def _fill(values: np.ndarray) -> np.ndarray:
    """Drop leading/trailing gaps, interpolate inner ones."""
    y = np.asarray(values, dtype=np.float64)
    ok = np.flatnonzero(~np.isnan(y))
    if ok.size == 0:
        return y[:0]
    y = y[ok[0] : ok[-1] + 1]
    gaps = np.isnan(y)
    if gaps.any():
        idx = np.arange(len(y))
        y[gaps] = np.interp(idx[gaps], idx[~gaps], y[~gaps])
    return y


def _periods(step: float, n: int) -> tuple[int, ...]:
    """Seasonal periods (in points) with more than two full cycles in ``n`` points."""
    out = []
    for span in (DAY, WEEK):
        p = round(span / step)
        if p >= 2 and abs(p * step - span) < 1e-6 * span and n > 2 * p:
            out.append(p)
    return tuple(out)


def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def forecast_values(
    values: Any, *, step: float, horizon: int, start: float = 0.0, method: str = "auto"
) -> Forecast:
    """Forecast ``horizon`` windows after ``values`` (spaced ``step`` seconds apart).

    ``start`` is the time of the first forecast window. ``method`` forces one of
    ``mstl_ets``, ``ets``, ``seasonal_naive`` or ``naive`` (``auto`` picks as the module
    docstring says).

    Raises:
        InvalidParameterError: Fewer than 2 values with data, or a bad horizon.
    """
    if not 1 <= horizon <= MAX_HORIZON:
        raise InvalidParameterError(
            f"The forecast horizon must be 1 to {MAX_HORIZON} steps. Got {horizon}."
        )
    y = _fill(values)
    if len(y) < 2:
        raise InvalidParameterError(
            f"A forecast needs at least 2 windows with data; the history has {len(y)}."
        )
    periods = _periods(step, len(y))
    notes: list[str] = []
    if float(np.ptp(y)) == 0.0:  # nothing to fit: the value stays, with no spread
        flat = np.full(horizon, float(y[-1]))
        return Forecast(
            "constant",
            start,
            step,
            flat,
            dict.fromkeys(LEVELS, flat),
            dict.fromkeys(LEVELS, flat),
            len(y),
            (),
            ["the history is constant"],
        )
    if method == "auto":
        try:
            import statsmodels  # noqa: F401
        except ImportError:
            notes.append(
                "statsmodels is not installed (pip install 'vigil[forecast]'); used a naive method"
            )
            method = "seasonal_naive" if periods else "naive"
        else:
            method = "mstl_ets" if periods else "ets" if len(y) >= MIN_ETS else "naive"
    if method == "mstl_ets" and not periods:
        method = "ets"
    if method == "ets" and len(y) < MIN_ETS:
        method = "naive"
    if method == "seasonal_naive" and not periods:
        method = "naive"
    if method in ("mstl_ets", "ets"):
        mean, lower, upper = _ets(y, horizon, periods if method == "mstl_ets" else ())
    elif method == "seasonal_naive":
        mean, lower, upper = _seasonal_naive(y, horizon, max(periods))
    elif method == "naive":
        mean, lower, upper = _naive(y, horizon)
    else:
        raise InvalidParameterError(
            f"Unknown forecast method {method!r}; use auto, mstl_ets, ets, seasonal_naive or naive."
        )
    return Forecast(
        method,
        start,
        step,
        mean,
        lower,
        upper,
        len(y),
        periods if method in ("mstl_ets", "seasonal_naive") else (),
        notes,
    )


def _ets(
    y: np.ndarray, horizon: int, periods: tuple[int, ...]
) -> tuple[np.ndarray, dict[float, np.ndarray], dict[float, np.ndarray]]:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    n = len(y)
    seasonal_ahead = np.zeros(horizon)
    rest = y
    inflate = 1.0
    if periods:
        from statsmodels.tsa.seasonal import MSTL

        cycles = [n // p for p in periods]
        # seasonal smoothers longer than the history with degree 0: each seasonal shape is
        # the same in every cycle (an average over the cycles), so it carries little noise
        windows = [2 * c + 1 for c in cycles]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts = MSTL(
                y, periods=list(periods), windows=windows, stl_kwargs={"seasonal_deg": 0}
            ).fit()
        seasonal = np.asarray(parts.seasonal, dtype=np.float64).reshape(n, -1)
        for k, p in enumerate(periods):
            last = seasonal[n - p :, k]
            seasonal_ahead += last[np.arange(horizon) % p]
        rest = y - seasonal.sum(axis=1)
        # each seasonal value is a mean of `c` noisy points: the fit absorbs ~1/c of the
        # noise variance, and the forecast adds ~1/c of it (a mean's prediction interval)
        absorbed = sum(1.0 / c for c in cycles)
        inflate = math.sqrt((1 + absorbed) / max(1 - absorbed, 0.25))
    scale = float(np.std(rest)) or 1.0
    center = float(np.mean(rest))
    z = (rest - center) / scale  # fit on a unit scale: the optimiser is scale-sensitive
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ETSModel(pd.Series(z), error="add", trend="add", damped_trend=True).fit(disp=False)
        pred = fit.get_prediction(start=n, end=n + horizon - 1)
        mean = np.asarray(pred.predicted_mean, dtype=np.float64) * scale + center
        lower, upper = {}, {}
        for level in LEVELS:
            frame = pred.summary_frame(alpha=1 - level)
            mid = frame["mean"].to_numpy()
            lo = mid - (mid - frame["pi_lower"].to_numpy()) * inflate
            hi = mid + (frame["pi_upper"].to_numpy() - mid) * inflate
            lower[level] = lo * scale + center + seasonal_ahead
            upper[level] = hi * scale + center + seasonal_ahead
    return mean + seasonal_ahead, lower, upper


def _naive(
    y: np.ndarray, horizon: int
) -> tuple[np.ndarray, dict[float, np.ndarray], dict[float, np.ndarray]]:
    last = float(y[-1])
    sigma = float(np.std(np.diff(y), ddof=1)) if len(y) > 2 else abs(float(np.diff(y)[0]))
    lead = np.sqrt(np.arange(1, horizon + 1))
    mean = np.full(horizon, last)
    lower = {lv: mean - _z(lv) * sigma * lead for lv in LEVELS}
    upper = {lv: mean + _z(lv) * sigma * lead for lv in LEVELS}
    return mean, lower, upper


def _seasonal_naive(
    y: np.ndarray, horizon: int, period: int
) -> tuple[np.ndarray, dict[float, np.ndarray], dict[float, np.ndarray]]:
    n = len(y)
    mean = y[n - period + np.arange(horizon) % period]
    errors = y[period:] - y[:-period]
    cycles = np.floor(np.arange(horizon) / period) + 1
    lower, upper = {}, {}
    for level in LEVELS:
        lo, hi = np.quantile(errors, [0.5 - level / 2, 0.5 + level / 2])
        lower[level] = mean + lo * np.sqrt(cycles)
        upper[level] = mean + hi * np.sqrt(cycles)
    return mean, lower, upper


def forecast_metric(
    store: Store,
    model: ModelRecord,
    metric: str,
    *,
    horizon_s: float,
    step_s: float = 3600.0,
    history_s: float = 28 * DAY,
    version: str | None = None,
    now: float | None = None,
    method: str = "auto",
) -> tuple[Forecast, Any]:
    """Forecast ``metric`` of ``model`` for ``horizon_s`` after the last whole window.

    The history is the ``history_s`` before the current (incomplete) window, in windows of
    ``step_s``; windows before the model's first data are left out. Returns the forecast
    and the :class:`~vigil.engine.insight.series.Series` it was fitted on.
    """
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
    horizon = max(1, math.ceil(horizon_s / step_s))
    if np.count_nonzero(~np.isnan(values)) < 2:
        raise InvalidParameterError(
            f"Too little history to forecast {metric!r} of model {model.name!r}: fewer than "
            f"2 windows of {step_s:g}s with data in the last {history_s:g}s."
        )
    return forecast_values(values, step=step_s, horizon=horizon, start=end, method=method), series


def describe_crossing(
    metric: str, op: str, threshold: float, index: int | None, step: float
) -> str:
    """``"error_rate will pass 0.05 in about 3h"`` (or that it will not within the horizon)."""
    from vigil.engine.durations import format_duration

    verb = "pass" if op in (">", ">=") else "fall below"
    if index is None:
        return f"{metric} is not expected to {verb} {threshold:g} within the horizon"
    return f"{metric} may {verb} {threshold:g} in about {format_duration((index + 1) * step)}"
