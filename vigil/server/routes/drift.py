"""Reference data and drift of a model's live inputs."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from vigil.engine.windows.drift import set_reference, window_drift, window_frame
from vigil.io import body_format, read_frame
from vigil.server.auth import Principal, require
from vigil.server.body import raw_body
from vigil.server.errors import JsonResponse
from vigil.store.references.queries import get_reference

router = APIRouter(prefix="/api/v1/models/{name}", tags=["drift"])


@router.post("/reference", status_code=201)
async def upload_reference(
    name: str, request: Request, who: Principal = Depends(require("write"))
) -> JsonResponse:
    """Set the model's reference data: Parquet, CSV (``text/csv``), JSON records, or a past
    window of the model's own traffic (``{"window": {"start", "end", "version"}}``, kept
    as a frozen snapshot)."""
    body = await raw_body(request)
    state = request.app.state

    def run() -> dict[str, Any]:
        model = state.ingestor.lookup_model(name)
        spec = _window_spec(body)
        source = request.headers.get("x-vigil-source")
        if spec is not None:
            frame, source = window_frame(state.store, model, spec)
        else:
            frame = read_frame(body, body_format(body, request.headers.get("content-type")))
        summary = set_reference(state.store, model, frame, source)
        state.store.audit(who.actor, "reference.set", name,
                          {"n_rows": summary["n_rows"], "columns": summary["columns"]})
        return summary

    return JsonResponse(await run_in_threadpool(run), status_code=201)


def _window_spec(body: bytes) -> Any:
    """The ``window`` of a ``{"window": {...}}`` JSON body, else None."""
    if not body.lstrip().startswith(b"{") or b'"window"' not in body:
        return None
    import orjson

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return data["window"] if isinstance(data, dict) and "window" in data else None


@router.get("/reference")
async def reference_summary(
    name: str, request: Request, _: Principal = Depends(require("read"))
) -> dict[str, Any]:
    state = request.app.state

    def run() -> dict[str, Any]:
        from vigil.errors import NotFoundError

        model = state.ingestor.lookup_model(name)
        ref = get_reference(state.store, model.id)
        if ref is None:
            raise NotFoundError(f"Model {name!r} has no reference data set.")
        return {"model": name, **ref.summary()}

    return await run_in_threadpool(run)


@router.get("/drift")
async def drift(
    name: str, request: Request,
    start: float | None = Query(None, description="Unix seconds; default end - 1 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    version: str | None = Query(None),
    method: str = Query("auto", description="Drift method for every column (catalog name)."),
    multivariate: bool = Query(False, description="Add the domain-classifier test (slower)."),
    _: Principal = Depends(require("read")),
) -> dict[str, Any]:
    """Per-feature and data set drift of the window against the reference."""
    state = request.app.state
    stop = time.time() if end is None else end
    begin = stop - 3600 if start is None else start

    def run() -> dict[str, Any]:
        model = state.ingestor.lookup_model(name)
        return window_drift(state.store, model, start=begin, end=stop, version=version,
                            method=method, multivariate=multivariate)

    return await run_in_threadpool(run)
