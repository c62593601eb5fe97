"""Models: register, list, describe, versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from vigil.errors import PermissionDeniedError
from vigil.server.auth import Principal, require
from vigil.server.body import json_body
from vigil.server.errors import JsonResponse

router = APIRouter(prefix="/api/v1", tags=["models"])


@router.post("/models", status_code=201)
async def register_model(
    request: Request, who: Principal = Depends(require("ingest", "write"))
) -> JsonResponse:
    """Create a model (``ingest`` scope suffices) or update one (``write`` scope)."""
    body, _ = await json_body(request)
    state = request.app.state
    name = body.get("name") if isinstance(body, dict) else None
    if not who.has("write") and isinstance(name, str):
        exists = await run_in_threadpool(state.store.get_model, name)
        if exists is not None:
            raise PermissionDeniedError(
                f"Model {name!r} exists; changing it needs the write scope."
            )
    model, created = await run_in_threadpool(state.ingestor.register_model, body)
    await run_in_threadpool(
        state.store.audit,
        who.actor,
        "model.create" if created else "model.update",
        model["name"],
        {"task": model["task"]},
    )
    return JsonResponse(model, status_code=201 if created else 200)


@router.get("/models")
async def list_models(request: Request, _: Principal = Depends(require("read"))) -> dict[str, Any]:
    """Every registered model with its task and schema."""
    store = request.app.state.store
    models = await run_in_threadpool(store.list_models)
    return {"models": [m.to_dict() for m in models]}


@router.get("/models/{name}")
async def get_model(
    name: str, request: Request, _: Principal = Depends(require("read", "ingest"))
) -> dict[str, Any]:
    """One model: task, schema and versions (the ``ingest`` scope may read it, so an
    SDK can check the model it sends to)."""
    return await run_in_threadpool(request.app.state.ingestor.get_model, name)


@router.get("/models/{name}/versions")
async def list_versions(
    name: str, request: Request, _: Principal = Depends(require("read"))
) -> dict[str, Any]:
    """The versions the model has seen, from registration or ingest."""
    model = await run_in_threadpool(request.app.state.ingestor.get_model, name)
    return {"model": name, "versions": model["versions"]}
