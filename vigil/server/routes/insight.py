"""Forecasts, root-cause ranking and suggestions of a model's metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from vigil.engine.durations import parse_duration
from vigil.server.auth import Principal, require
from vigil.server.routes import on_model
from vigil.store import ModelRecord, Store

router = APIRouter(prefix="/api/v1/models/{name}", tags=["insight"])


@router.get("/forecast")
async def forecast(
    name: str,
    request: Request,
    metric: str = Query(..., description="A rule metric (see /api/v1/rules/metrics)."),
    horizon: str = Query("24h", description="How far ahead, e.g. '6h' or '3d'."),
    step: str = Query("1h", description="Window of each point, at least 1m."),
    history: str = Query("28d", description="History the model is fitted on."),
    version: str | None = Query(None),
    threshold: float | None = Query(None, description="Say when the interval crosses it."),
    op: str = Query(">", description="Direction of the threshold: >, >=, < or <=."),
    level: float = Query(0.8, description="Interval the crossing is read on: 0.8 or 0.95."),
    _: Principal = Depends(require("read")),
) -> dict[str, Any]:
    """The metric's history and its forecast with 80 % and 95 % intervals."""
    from vigil.engine.insight.forecast import LEVELS, describe_crossing, forecast_metric
    from vigil.errors import InvalidParameterError

    horizon_s = parse_duration(horizon, "horizon")
    step_s = parse_duration(step, "step")
    history_s = parse_duration(history, "history")
    if level not in LEVELS:
        raise InvalidParameterError(
            f"'level' must be 0.8 or 0.95. Got {level!r}.",
            details=[{"field": "level", "reason": "not 0.8 or 0.95"}],
        )
    if op not in (">", ">=", "<", "<="):
        raise InvalidParameterError(
            f"'op' must be >, >=, < or <=. Got {op!r}.",
            details=[{"field": "op", "reason": "not a direction"}],
        )

    def run(store: Store, model: ModelRecord) -> dict[str, Any]:
        fc, series = forecast_metric(
            store,
            model,
            metric,
            horizon_s=horizon_s,
            step_s=step_s,
            history_s=history_s,
            version=version,
            now=time.time(),
        )
        out: dict[str, Any] = {
            "model": name,
            "metric": metric,
            "version": version,
            "history": series.to_dict(),
            "forecast": fc.to_dict(),
        }
        if threshold is not None:
            index = fc.crossing(op, threshold, level)
            out["crossing"] = {
                "op": op,
                "threshold": threshold,
                "level": level,
                "at": None if index is None else fc.start + index * fc.step,
                "in_seconds": None if index is None else (index + 1) * fc.step,
                "summary": describe_crossing(metric, op, threshold, index, fc.step),
            }
        return out

    return await on_model(request, name, run)


@router.get("/explain")
async def explain(
    name: str,
    request: Request,
    metric: str = Query(..., description="error_rate, latency_p95, accuracy, ..."),
    start: float | None = Query(None, description="Unix seconds; default end - 1 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    baseline_start: float | None = Query(
        None, description="Default: the window of the same length just before start."
    ),
    baseline_end: float | None = Query(None),
    version: str | None = Query(None),
    _: Principal = Depends(require("read")),
) -> dict[str, Any]:
    """Candidate causes of the metric's change, ranked, with their evidence."""
    from vigil.engine.insight.explain import explain as rank

    stop = time.time() if end is None else end
    begin = stop - 3600 if start is None else start
    return await on_model(
        request,
        name,
        lambda store, model: rank(
            store,
            model,
            metric,
            start=begin,
            end=stop,
            baseline_start=baseline_start,
            baseline_end=baseline_end,
            version=version,
        ),
    )


@router.get("/suggestions")
async def list_suggestions(
    name: str,
    request: Request,
    include_dismissed: bool = Query(False, description="List dismissed ones too."),
    _: Principal = Depends(require("read")),
) -> dict[str, Any]:
    """Recommendations (roll back, retrain, right-size, network) with their numbers."""
    from vigil.engine.insight.suggest import suggestions

    return await on_model(
        request,
        name,
        lambda store, model: {
            "model": name,
            "suggestions": suggestions(store, model, include_dismissed=include_dismissed),
        },
    )


@router.post("/suggestions/{suggestion_id}/dismiss")
async def dismiss_suggestion(
    name: str,
    suggestion_id: str,
    request: Request,
    who: Principal = Depends(require("write")),
) -> dict[str, Any]:
    """Hide one suggestion from now on (recorded in the audit log)."""
    from vigil.engine.insight.suggest import dismiss

    def run(store: Store, model: ModelRecord) -> dict[str, Any]:
        dismiss(store, model, suggestion_id, who.actor)
        return {"model": name, "dismissed": suggestion_id}

    return await on_model(request, name, run)
