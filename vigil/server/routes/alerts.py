"""Alerts with their history, acknowledgement and silences."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from vigil.engine.alerts.admin import ack_alert, create_silence, public_alert
from vigil.errors import NotFoundError, ValidationFailedError
from vigil.server.auth import Principal, require
from vigil.server.body import json_body
from vigil.server.errors import JsonResponse
from vigil.store.alerts.queries import AlertStore

router = APIRouter(prefix="/api/v1", tags=["alerts"])
STATES = ("active", "pending", "firing", "resolved", "inactive")


def _alerts(request: Request) -> AlertStore:
    return request.app.state.alert_engine.alerts


async def _object(request: Request) -> dict[str, Any]:
    body, _ = await json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ValidationFailedError("The body must be a JSON object.")
    return body


@router.get("/alerts")
async def list_alerts(
    request: Request,
    state: str | None = Query(None, description="active, pending, firing, resolved, inactive"),
    rule: str | None = Query(None),
    model: str | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    _: Principal = Depends(require("read")),
) -> dict[str, Any]:
    """Alerts that match the filters (``state``: active = pending or firing, or one state;
    ``rule``; ``model``), at most ``limit``, each with its labels, state and times."""
    if state is not None and state not in STATES:
        raise ValidationFailedError(
            f"'state' must be one of {', '.join(STATES)}. Got {state!r}.",
            details=[{"field": "state", "reason": "unknown state"}],
        )
    rows = await run_in_threadpool(
        _alerts(request).list_alerts, state=state, rule=rule, model=model, limit=limit
    )
    return {"alerts": [public_alert(r) for r in rows]}


@router.get("/alerts/{alert_id}")
async def get_alert(
    alert_id: int, request: Request, _: Principal = Depends(require("read"))
) -> dict[str, Any]:
    """One alert with its full history."""
    row = await run_in_threadpool(_alerts(request).get_alert, alert_id)
    if row is None:
        raise NotFoundError(f"No alert with id {alert_id}.")
    return public_alert(row)


@router.post("/alerts/{alert_id}/ack")
async def ack(
    alert_id: int, request: Request, who: Principal = Depends(require("write"))
) -> dict[str, Any]:
    """Acknowledge: no repeat notifications until it resolves (or ``for`` passes)."""
    body = await _object(request)
    row = await run_in_threadpool(
        ack_alert,
        request.app.state.store,
        alert_id,
        who.actor,
        body.get("for"),
        body.get("comment"),
    )
    return public_alert(row)


@router.post("/alerts/{alert_id}/silence", status_code=201)
async def silence_alert(
    alert_id: int, request: Request, who: Principal = Depends(require("write"))
) -> JsonResponse:
    """Silence this alert's rule and labels for ``for`` (default 1h)."""
    body = await _object(request)
    row = await run_in_threadpool(_alerts(request).get_alert, alert_id)
    if row is None:
        raise NotFoundError(f"No alert with id {alert_id}.")
    silence = await run_in_threadpool(
        create_silence,
        request.app.state.store,
        row["labels"],
        body.get("for", "1h"),
        who.actor,
        body.get("comment"),
    )
    return JsonResponse(silence, status_code=201)


@router.get("/silences")
async def list_silences(
    request: Request, active: bool = Query(True), _: Principal = Depends(require("read"))
) -> dict[str, Any]:
    """Silences in force now; ``active=false`` lists expired ones too."""
    import time

    rows = await run_in_threadpool(_alerts(request).list_silences, time.time() if active else None)
    return {"silences": rows}


@router.post("/silences", status_code=201)
async def post_silence(
    request: Request, who: Principal = Depends(require("write"))
) -> JsonResponse:
    """``{"matchers": {"alertname": ..., "model": ...}, "for": "2h", "comment": ...}``."""
    body = await _object(request)
    silence = await run_in_threadpool(
        create_silence,
        request.app.state.store,
        body.get("matchers"),
        body.get("for", "1h"),
        who.actor,
        body.get("comment"),
    )
    return JsonResponse(silence, status_code=201)


@router.delete("/silences/{silence_id}")
async def expire_silence(
    silence_id: int, request: Request, who: Principal = Depends(require("write"))
) -> dict[str, Any]:
    """End a silence now (404 when no silence in force has this id); audited."""
    import time

    if not await run_in_threadpool(_alerts(request).expire_silence, silence_id, time.time()):
        raise NotFoundError(f"No silence in force with id {silence_id}.")
    await run_in_threadpool(
        request.app.state.store.audit, who.actor, "silence.expire", str(silence_id)
    )
    return {"id": silence_id, "expired": True}
