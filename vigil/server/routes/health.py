"""Liveness, readiness and Prometheus exposition (the dashboard lives in routes/ui.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from vigil._version import __version__
from vigil.errors import VigilError
from vigil.server.auth import Principal, require
from vigil.server.errors import JsonResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readyz(request: Request) -> JsonResponse:
    """The process can serve: the database answers."""
    try:
        await run_in_threadpool(request.app.state.store.ping)
    except VigilError as exc:
        return JsonResponse({"status": "unavailable", "reason": exc.message}, status_code=503)
    return JsonResponse({"status": "ready"})


@router.get("/metrics")
async def prometheus_metrics(
    request: Request, _: Principal = Depends(require("read"))
) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
