"""Resource samples (ingest and query) and scheduled probes of a model's endpoint."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool

from vigil.egress import EgressPolicy
from vigil.engine.resources import probe as probes
from vigil.engine.resources.samples import ingest_samples, resource_report
from vigil.errors import NotFoundError
from vigil.server.auth import Principal, require
from vigil.server.body import json_body
from vigil.server.errors import JsonResponse
from vigil.server.resources_prom import ResourceCollector
from vigil.server.routes import on_model
from vigil.server.routes.events import _RESPONSES, _answer
from vigil.server.timing import ServerTimingMiddleware
from vigil.store import ModelRecord, Store
from vigil.store.resources import queries as rq


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    gauges = getattr(app.state, "resource_gauges", None)
    scheduler = probes.ProbeScheduler(
        app.state.store,
        on_result=gauges.observe_probe if gauges is not None else None,
        egress=EgressPolicy(app.state.settings.allow_private_targets),
        leadership=getattr(app.state, "leadership", None),
    )
    app.state.probes = scheduler
    scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()


router = APIRouter(prefix="/api/v1/models/{name}", tags=["resources"], lifespan=_lifespan)


def install(app: FastAPI) -> None:
    """The app-wide parts: ``Server-Timing`` on every response and the resource gauges."""
    app.add_middleware(ServerTimingMiddleware)
    app.state.resource_gauges = ResourceCollector()
    app.state.metrics.registry.register(app.state.resource_gauges)


@router.post("/resources", responses=_RESPONSES)
async def ingest_resources(
    name: str,
    request: Request,
    version: str | None = Query(None, description="Version for samples that name none."),
    _: Principal = Depends(require("ingest")),
) -> JsonResponse:
    """Store ``{"samples": [...]}`` of process, host, GPU and network resources.

    Impossible samples (negative memory, CPU above 100 % x cores, used above total,
    non-finite numbers) are rejected one by one with the field and reason.
    """
    body, non_finite = await json_body(request)
    state = request.app.state
    result, _model, rows = await run_in_threadpool(
        ingest_samples, state.ingestor, name, body, version=version, non_finite=non_finite
    )
    gauges = getattr(state, "resource_gauges", None)
    if gauges is not None and rows:
        gauges.observe(name, rows)
    return _answer(request, name, "resource", result)


@router.get("/resources")
async def model_resources(
    name: str,
    request: Request,
    start: float | None = Query(None, description="Unix seconds; default end - 1 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    step: int | None = Query(None, description="Window seconds, a multiple of 60."),
    version: str | None = Query(None),
    host: str | None = Query(None),
    _: Principal = Depends(require("read")),
) -> JsonResponse:
    """Per-host resource windows, each host's last values and ``ok``/``stale`` status, and
    the model's probes with their latency, time to first byte and failures."""

    def run(store: Store, model: ModelRecord) -> dict[str, Any]:
        report = resource_report(
            store, model, start=start, end=end, step=step, version=version, host=host
        )
        report["probes"] = _probe_summaries(store, model.id, report["start"], report["end"])
        return report

    return JsonResponse(await on_model(request, name, run))


def _probe_summaries(store: Any, model_id: int, start: float, end: float) -> list[dict]:
    out = []
    for spec in rq.list_probes(store, model_id):
        results = rq.probe_results(store, spec["id"], start, end)
        out.append({**spec, "stats": probes.probe_stats(results)})
    return out


@router.post("/probes", status_code=201)
async def create_probe(
    name: str,
    request: Request,
    _: Principal = Depends(require("write")),
) -> JsonResponse:
    """Probe an HTTP endpoint of the model on a schedule: ``{url, method?, body?,
    interval_s?, timeout_s?, expect_status?, name?}`` (a probe of the same name is
    replaced)."""
    body, _nf = await json_body(request)
    spec = probes.validate_probe(body)
    state = request.app.state
    await run_in_threadpool(
        probes.check_target, spec, EgressPolicy(state.settings.allow_private_targets)
    )

    created = await on_model(
        request, name, lambda store, model: rq.create_probe(store, model.id, spec)
    )
    scheduler = getattr(state, "probes", None)
    if scheduler is not None:
        scheduler.refresh()
    return JsonResponse(created, status_code=201)


@router.get("/probes")
async def list_probes(
    name: str,
    request: Request,
    start: float | None = Query(None, description="Unix seconds; default end - 1 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    _: Principal = Depends(require("read")),
) -> JsonResponse:
    """The model's probes with stats over ``[start, end)`` and their newest results."""

    def run(store: Store, model: ModelRecord) -> list[dict[str, Any]]:
        stop = time.time() if end is None else end
        begin = stop - 3600 if start is None else start
        out = _probe_summaries(store, model.id, begin, stop)
        for item in out:
            item["recent"] = rq.probe_results(store, item["id"], begin, stop, limit=20)
        return out

    return JsonResponse({"probes": await on_model(request, name, run)})


@router.delete("/probes/{probe_id}")
async def delete_probe(
    name: str,
    probe_id: str,
    request: Request,
    _: Principal = Depends(require("write")),
) -> JsonResponse:
    """Stop a probe and delete its results."""
    if not await on_model(
        request, name, lambda store, model: rq.delete_probe(store, model.id, probe_id)
    ):
        raise NotFoundError(f"Model {name!r} has no probe {probe_id!r}.")
    scheduler = getattr(request.app.state, "probes", None)
    if scheduler is not None:
        scheduler.refresh()
    return JsonResponse({"deleted": probe_id})
