"""Liveness, readiness, Prometheus exposition and the landing page."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
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


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, _: Principal = Depends(require("read"))) -> HTMLResponse:
    """A plain overview of the registered models with links to their data."""
    models = await run_in_threadpool(request.app.state.store.list_models)
    rows = "".join(
        f"<tr><td>{escape(m.name)}</td><td>{escape(m.task)}</td>"
        f"<td><a href='/api/v1/models/{escape(m.name)}/metrics'>metrics</a></td></tr>"
        for m in models
    ) or "<tr><td colspan=3>No models yet: start one with vigil.Monitor.</td></tr>"
    return HTMLResponse(
        f"<!doctype html><title>vigil</title><h1>vigil {__version__}</h1>"
        f"<table><tr><th>model</th><th>task</th><th></th></tr>{rows}</table>"
        "<p><a href='/docs'>API docs</a> · <a href='/metrics'>Prometheus metrics</a></p>"
    )
