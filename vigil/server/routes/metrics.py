"""Window metrics of a model: traffic, errors, latency quantiles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from vigil.engine.resources.samples import resource_summary
from vigil.engine.windows.metrics import window_metrics
from vigil.server.auth import Principal, require

router = APIRouter(prefix="/api/v1/models/{name}", tags=["metrics"])


@router.get("/metrics")
async def model_metrics(
    name: str,
    request: Request,
    start: float | None = Query(None, description="Unix seconds; default end - 1 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    step: int | None = Query(None, description="Window seconds, a multiple of 60."),
    version: str | None = Query(None),
    _: Principal = Depends(require("read")),
) -> dict[str, Any]:
    """Traffic, errors by kind, latency quantiles and rejections per window of ``step``
    seconds, from the per-minute rollups, with a summary of the range and each host's
    resources (``resources``)."""
    state = request.app.state

    def run() -> dict[str, Any]:
        model = state.ingestor.lookup_model(name)
        out = window_metrics(state.store, model, start=start, end=end, step=step, version=version)
        out["resources"] = resource_summary(state.store, model, out["start"], out["end"], version)
        return out

    return await run_in_threadpool(run)
