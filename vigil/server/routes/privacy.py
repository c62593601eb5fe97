"""Privacy: erase or export a data subject, redaction policies, retention, the audit chain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from vigil.engine.privacy import admin
from vigil.server.auth import Principal, require
from vigil.store.audit_chain import verify_log
from vigil.store.privacy import queries as q

router = APIRouter(prefix="/api/v1", tags=["privacy"])


class PolicyRequest(BaseModel):
    """How one field is redacted at ingest."""

    action: str = Field(
        description="mask (PII spans become <KIND>), hash (keyed HMAC of "
        "the value) or drop (stored as null)."
    )
    kinds: list[str] | None = Field(None, description="PII kinds to mask (default: all).")


class RetentionRequest(BaseModel):
    """How many days the model's raw events are kept."""

    days: int = Field(ge=1, le=admin.MAX_RETENTION_DAYS)


def _redactor_changed(request: Request) -> None:
    redactor = getattr(request.app.state, "redactor", None)
    if redactor is not None:
        redactor.invalidate()


@router.delete("/subjects/{subject_id}")
async def erase_subject(
    subject_id: str, request: Request, who: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    """Erase a data subject's predictions, labels and feedback everywhere; the answer is
    the receipt."""
    return await run_in_threadpool(admin.erase, request.app.state.store, subject_id, who.actor)


@router.get("/subjects/{subject_id}")
async def export_subject(
    subject_id: str, request: Request, who: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    """Every stored event of a data subject (an access request)."""
    return await run_in_threadpool(admin.export, request.app.state.store, subject_id, who.actor)


@router.get("/privacy/erasures")
async def list_erasures(
    request: Request, limit: int = 100, _: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    """Erasure receipts, newest first."""
    receipts = await run_in_threadpool(
        q.list_receipts, request.app.state.store, None, max(1, min(limit, 1000))
    )
    return {"receipts": receipts}


@router.get("/models/{name}/privacy")
async def get_privacy(
    name: str, request: Request, _: Principal = Depends(require("read", "write"))
) -> dict[str, Any]:
    """The model's redaction policies and retention."""
    return await run_in_threadpool(admin.describe, request.app.state.store, name)


@router.put("/models/{name}/privacy/policies/{field}")
async def set_policy(
    name: str,
    field: str,
    body: PolicyRequest,
    request: Request,
    who: Principal = Depends(require("write")),
) -> dict[str, Any]:
    """Redact one input feature (or ``outputs``, or ``*`` for every text input) at ingest."""
    out = await run_in_threadpool(
        admin.set_policy, request.app.state.store, name, field, body.action, body.kinds, who.actor
    )
    _redactor_changed(request)
    return out


@router.delete("/models/{name}/privacy/policies/{field}")
async def delete_policy(
    name: str, field: str, request: Request, who: Principal = Depends(require("write"))
) -> dict[str, Any]:
    """Stop redacting this field: later records are stored as sent; audited."""
    out = await run_in_threadpool(
        admin.delete_policy, request.app.state.store, name, field, who.actor
    )
    _redactor_changed(request)
    return out


@router.put("/models/{name}/retention")
async def set_retention(
    name: str,
    body: RetentionRequest,
    request: Request,
    who: Principal = Depends(require("write")),
) -> dict[str, Any]:
    """Keep the model's raw events this many days (the retention job deletes older ones)."""
    return await run_in_threadpool(
        admin.set_retention, request.app.state.store, name, body.days, who.actor
    )


@router.delete("/models/{name}/retention")
async def delete_retention(
    name: str, request: Request, who: Principal = Depends(require("write"))
) -> dict[str, Any]:
    """Remove the model's retention: its raw events are kept until erased; audited."""
    return await run_in_threadpool(admin.delete_retention, request.app.state.store, name, who.actor)


@router.post("/privacy/retention/run")
async def run_retention(
    request: Request, who: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    """Enforce every model's retention now (the job also runs on its own schedule)."""
    return await run_in_threadpool(admin.run_retention, request.app.state.store, who.actor)


@router.get("/audit-log/verify")
async def verify_audit_log(
    request: Request, _: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    """Recompute the audit log's hash chain; says where it breaks, if it does."""
    store = request.app.state.store

    def check() -> dict[str, Any]:
        return verify_log(store).to_dict()

    return await run_in_threadpool(check)
