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
from vigil.store.health import check_writable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readyz(request: Request) -> JsonResponse:
    """The process can serve: the database answers and takes writes (not read-only, not
    out of disk space). Also says this replica's role, its holder id, the jobs it leads
    now and how long a job may go leaderless after its leader dies (``takeover_s``)."""
    state = request.app.state
    store = state.store
    leadership = state.leadership
    about = {
        "role": state.settings.role,
        "holder": leadership.holder,
        "leads": leadership.led(),
        "takeover_s": leadership.takeover_s,
    }
    try:
        await run_in_threadpool(store.ping)
        await run_in_threadpool(check_writable, store, state.settings.min_free_bytes)
    except VigilError as exc:
        return JsonResponse(
            {"status": "unavailable", "reason": exc.message, "store_writable": False, **about},
            status_code=503,
        )
    return JsonResponse({"status": "ready", "store_writable": True, **about})


@router.get("/metrics")
async def prometheus_metrics(request: Request, _: Principal = Depends(require("read"))) -> Response:
    """Prometheus text exposition (read scope): traffic, errors and latency per model
    and version, quality, resources, probes and the aggregator's own loop."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
