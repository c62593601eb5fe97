"""Reference data and drift of a model's live inputs."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from vigil.engine.windows.drift import (
    drift_history,
    feature_distributions,
    profile_window_drift,
    set_reference,
    set_reference_profile,
    window_drift,
    window_frame,
)
from vigil.io import body_format, read_frame
from vigil.server.auth import Principal, require
from vigil.server.body import media_type, raw_body
from vigil.server.errors import JsonResponse
from vigil.store.references.queries import get_reference

router = APIRouter(prefix="/api/v1/models/{name}", tags=["drift"])
PROFILE_MEDIA_TYPE = "application/vnd.vigil.profile"


@router.post("/reference", status_code=201)
async def upload_reference(
    name: str, request: Request, who: Principal = Depends(require("write"))
) -> JsonResponse:
    """Set the model's reference data: Parquet, CSV (``text/csv``), JSON records, a past
    window of the model's own traffic (``{"window": {"start", "end", "version"}}``, kept
    as a frozen snapshot), or a profile (``application/vnd.vigil.profile``: the bytes of
    ``Profile.to_bytes()``, e.g. from ``vigil.spark``; its windows are tested in sketch
    mode)."""
    body = await raw_body(request)
    state = request.app.state

    def run() -> dict[str, Any]:
        model = state.ingestor.lookup_model(name)
        source = request.headers.get("x-vigil-source")
        if media_type(request) == PROFILE_MEDIA_TYPE or body[:4] == b"VGPF":
            summary = set_reference_profile(state.store, model, body, source)
            state.store.audit(
                who.actor,
                "reference.set",
                name,
                {"n_rows": summary["n_rows"], "columns": summary["columns"], "profile": True},
            )
            return summary
        spec = _window_spec(body)
        if spec is not None:
            frame, source = window_frame(state.store, model, spec)
        else:
            frame = read_frame(body, body_format(body, request.headers.get("content-type")))
        summary = set_reference(state.store, model, frame, source)
        state.store.audit(
            who.actor,
            "reference.set",
            name,
            {"n_rows": summary["n_rows"], "columns": summary["columns"]},
        )
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
    """What the model's reference data set holds: rows, columns and where it came
    from (404 when none was uploaded)."""
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
    name: str,
    request: Request,
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
        return window_drift(
            state.store,
            model,
            start=begin,
            end=stop,
            version=version,
            method=method,
            multivariate=multivariate,
        )

    return await run_in_threadpool(run)


@router.get("/drift/history")
async def drift_over_time(
    name: str,
    request: Request,
    start: float | None = Query(None, description="Unix seconds; default end - 24 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    step: int | None = Query(
        None,
        description="Window seconds, a multiple of 60; default "
        "about 12 windows. At most 48 windows.",
    ),
    version: str | None = Query(None),
    _: Principal = Depends(require("read")),
) -> dict[str, Any]:
    """Per-feature drift of each window against the reference (a windows × features heat
    map: effect size, adjusted p-value and verdict per cell)."""
    state = request.app.state

    def run() -> dict[str, Any]:
        model = state.ingestor.lookup_model(name)
        return drift_history(state.store, model, start=start, end=end, step=step, version=version)

    return await run_in_threadpool(run)


@router.get("/drift/distributions")
async def distributions(
    name: str,
    request: Request,
    start: float | None = Query(None, description="Unix seconds; default end - 1 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    version: str | None = Query(None),
    bins: int = Query(20, description="Bins of numeric features, 2 to 100."),
    _: Principal = Depends(require("read")),
) -> dict[str, Any]:
    """Reference against current distribution of every feature, from sketches (numeric:
    shares per bin; categorical: shares of the commonest categories)."""
    state = request.app.state

    def run() -> dict[str, Any]:
        model = state.ingestor.lookup_model(name)
        return feature_distributions(
            state.store, model, start=start, end=end, version=version, bins=bins
        )

    return await run_in_threadpool(run)


@router.post("/drift/profile")
async def profile_drift_route(
    name: str,
    request: Request,
    method: str = Query("auto", description="Drift method for every column (catalog name)."),
    _: Principal = Depends(require("read")),
) -> JsonResponse:
    """Drift of an uploaded profile (``application/vnd.vigil.profile``: a window of the
    model's inputs profiled elsewhere, e.g. by ``vigil.spark``) against the reference, in
    sketch mode. Nothing is stored."""
    from vigil.errors import UnsupportedMediaTypeError

    if media_type(request) != PROFILE_MEDIA_TYPE:
        raise UnsupportedMediaTypeError(
            f"This route takes {PROFILE_MEDIA_TYPE} (the bytes of Profile.to_bytes()); the "
            f"request's Content-Type is {media_type(request) or 'missing'!r}.",
            details=[{"field": "Content-Type", "reason": f"expected {PROFILE_MEDIA_TYPE}"}],
        )
    body = await raw_body(request)
    state = request.app.state

    def run() -> dict[str, Any]:
        model = state.ingestor.lookup_model(name)
        return profile_window_drift(state.store, model, body, method)

    return JsonResponse(await run_in_threadpool(run))
