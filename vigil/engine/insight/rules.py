"""The alert engine's hooks into forecasts, anomalies and root-cause ranking.

:func:`evaluate_insight` evaluates a rule of kind ``forecast`` or ``anomaly`` into the
value, verdict and evidence the engine stores; :func:`explain_for_alert` ranks the causes
of a firing alert for its history. Both keep the engine free of statistics imports.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

from vigil.errors import InvalidParameterError

if TYPE_CHECKING:
    from vigil.engine.alerts.rules import Rule
    from vigil.store import ModelRecord, Store

log = logging.getLogger("vigil.alerts")
MAX_FORECAST_POINTS = 48  # forecast points kept in an alert's history (the nearest ones)
CACHE_SIZE = 512


class InsightCache:
    """Verdicts of forecast and anomaly rules, kept until the rule's window completes.

    A verdict changes only when a window completes, so the evaluation rounds inside one
    window (every 30 s by default) reuse it instead of refitting. One per alert engine.
    """

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def evaluate_insight(
    store: Store,
    rule: Rule,
    model: ModelRecord,
    version: str | None,
    now: float,
    cache: InsightCache | None = None,
) -> tuple[float | None, bool | None, dict[str, Any] | None]:
    """:func:`evaluate_uncached`, reused from ``cache`` until the rule's current window
    completes."""
    if cache is None:
        return evaluate_uncached(store, rule, model, version, now)
    boundary = math.floor(now / rule.window_s) * rule.window_s
    key = (model.id, version, boundary, orjson.dumps(rule.to_dict(), option=orjson.OPT_SORT_KEYS))
    hit = cache.get(key)
    if hit is not None:
        return hit
    result = evaluate_uncached(store, rule, model, version, now)
    if result[1] is not None:  # "too little history" is asked again next round
        cache.put(key, result)
    return result


def evaluate_uncached(
    store: Store, rule: Rule, model: ModelRecord, version: str | None, now: float
) -> tuple[float | None, bool | None, dict[str, Any] | None]:
    """``(value, holds, details)`` of a forecast or anomaly rule on one model.

    Forecast: the value is the seconds until the interval first crosses (None when it
    does not within the horizon; then the condition does not hold). Anomaly: the value is
    the robust z-score of the last whole window. Too little history gives
    ``(None, None, reason)`` so ``on_no_data`` decides.
    """
    history = rule.history_s or 28 * 86400.0
    if rule.kind == "forecast":
        from vigil.engine.insight.forecast import describe_crossing, forecast_metric

        try:
            forecast, _ = forecast_metric(
                store,
                model,
                rule.metric,
                horizon_s=rule.horizon_s or rule.window_s,
                step_s=rule.window_s,
                history_s=history,
                version=version,
                now=now,
            )
        except InvalidParameterError as exc:
            return None, None, {"reason": str(exc)}
        level = rule.level or 0.8
        index = forecast.crossing(rule.op, rule.threshold, level)
        summary = describe_crossing(rule.metric, rule.op, rule.threshold, index, forecast.step)
        data = forecast.to_dict()
        data["points"] = data["points"][:MAX_FORECAST_POINTS]
        details = {
            "summary": summary,
            "level": level,
            "forecast": data,
            "crosses_at": None if index is None else forecast.start + index * forecast.step,
        }
        if index is None:
            return None, False, details
        return float((index + 1) * forecast.step), True, details
    from vigil.engine.insight.anomaly import flagged, score_metric

    scored = score_metric(
        store, model, rule.metric, step_s=rule.window_s, history_s=history, version=version, now=now
    )
    if scored["score"] is None:
        return (
            None,
            None,
            {"reason": "too little history for a seasonal expectation", "anomaly": scored},
        )
    score = scored["score"]
    holds = flagged(score, rule.op, rule.threshold)
    summary = (
        f"{rule.metric} = {scored['value']:.4g} where {scored['expected']:.4g} was "
        f"expected ({scored['kind']} score {score:+.1f})"
    )
    return score, holds, {"summary": summary, "anomaly": scored}


def explain_for_alert(
    store: Store, rule: Rule, labels: dict[str, str], now: float
) -> dict[str, Any] | None:
    """The root-cause ranking for a firing alert, or None when the metric has no
    row-level meaning or it fails (an alert must fire whatever happens here)."""
    from vigil.engine.insight.explain import explain, explainable

    if not explainable(rule.metric):
        return None
    model = store.get_model(labels.get("model", ""))
    if model is None:
        return None
    span = max(rule.window_s, 3600.0)
    offset = rule.baseline_s or span
    try:
        out = explain(
            store,
            model,
            rule.metric,
            start=now - span,
            end=now,
            baseline_start=now - span - offset,
            baseline_end=now - offset,
            version=labels.get("version"),
        )
    except Exception:  # the ranking is evidence, never a reason for an alert not to fire
        log.exception("root-cause ranking for rule %s failed", rule.name)
        return None
    return {
        "verdict": out["verdict"],
        "clear_cause": out["clear_cause"],
        "change": out["change"],
        "candidates": out["candidates"][:5],
        "window": out["window"],
        "baseline": out["baseline"],
    }
