"""API keys (admin scope) and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from vigil.errors import NotFoundError
from vigil.server.auth import Principal, check_scopes, require
from vigil.server.errors import JsonResponse

router = APIRouter(prefix="/api/v1", tags=["keys"])


class KeyRequest(BaseModel):
    """A new API key: a name for people and the scopes it grants (``ingest``,
    ``read``, ``write``, ``admin``)."""

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)


@router.post("/keys", status_code=201)
async def create_key(
    body: KeyRequest, request: Request, who: Principal = Depends(require("admin"))
) -> JsonResponse:
    """Create a key; the secret is in this answer only."""
    scopes = check_scopes(body.scopes)
    store = request.app.state.store
    record, secret = await run_in_threadpool(store.create_api_key, body.name, scopes)
    await run_in_threadpool(
        store.audit, who.actor, "key.create", record.id, {"name": body.name, "scopes": scopes}
    )
    return JsonResponse({**record.to_dict(), "key": secret}, status_code=201)


@router.get("/keys")
async def list_keys(request: Request, _: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """Every API key's id, name, scopes and state; never a secret (keys are stored
    hashed)."""
    keys = await run_in_threadpool(request.app.state.store.list_api_keys)
    return {"keys": [k.to_dict() for k in keys]}


@router.delete("/keys/{key_id}")
async def revoke_key(
    key_id: str, request: Request, who: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    """Revoke a key at once (404 when no active key has this id); audited."""
    store = request.app.state.store
    if not await run_in_threadpool(store.revoke_api_key, key_id):
        raise NotFoundError(f"No active API key with id {key_id!r}.")
    await run_in_threadpool(store.audit, who.actor, "key.revoke", key_id)
    return {"id": key_id, "revoked": True}


@router.get("/audit-log")
async def audit_log(
    request: Request, limit: int = 100, _: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    """The newest audit-log entries (``limit``, at most 1,000): who did what to
    which object, and when."""
    entries = await run_in_threadpool(request.app.state.store.audit_entries, min(limit, 1000))
    return {"entries": entries}
