"""Alert rules, notifiers and actions over HTTP; the engine's wiring into the app."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from vigil.egress import EgressPolicy, EgressRefusedError, TargetUnresolvedError
from vigil.engine.alerts.apply import check_receiver, check_rule_targets
from vigil.engine.alerts.dispatch import Dispatcher
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.prom import AlertMetrics
from vigil.engine.alerts.rules import Rule
from vigil.engine.alerts.scheduler import RuleScheduler
from vigil.engine.metric_sources import list_metrics
from vigil.errors import ConflictError, NotFoundError, ValidationFailedError
from vigil.notify.base import mask
from vigil.server.auth import Principal, require
from vigil.server.body import json_body
from vigil.server.errors import JsonResponse
from vigil.store.alerts.queries import AlertStore

router = APIRouter(prefix="/api/v1", tags=["rules"])


def install(app: FastAPI) -> None:
    """Build the engine, its dispatcher, metrics and scheduler on ``app.state``.

    The app's lifespan calls ``app.state.rules.start()`` and ``await ...stop()``.
    """
    state = app.state
    metrics = AlertMetrics(state.metrics.registry)
    dispatcher = Dispatcher(
        state.store, state.settings.home, metrics=metrics, base_url=state.settings.base_url
    )
    engine = AlertEngine(
        state.store, dispatcher, metrics=metrics, builtin_rules=state.settings.builtin_rules
    )
    state.alert_engine = engine
    state.rules = RuleScheduler(
        engine, dispatcher, state.settings.rules_interval_s, leadership=state.leadership
    )


def _alerts(request: Request) -> AlertStore:
    return request.app.state.alert_engine.alerts


async def _rule_from(request: Request, name: str | None = None) -> Rule:
    body, _ = await json_body(request)
    if isinstance(body, dict) and name is not None and body.setdefault("name", name) != name:
        raise ValidationFailedError(
            f"The body names rule {body['name']!r} but the URL names {name!r}.",
            details=[{"field": "name", "reason": "differs from the URL"}],
        )
    rule = Rule.from_dict(body)
    await run_in_threadpool(check_rule_targets, request.app.state.store, rule)
    return rule


@router.get("/rules")
async def list_rules(request: Request, _: Principal = Depends(require("read"))) -> dict[str, Any]:
    """Every alert rule as stored."""
    return {"rules": await run_in_threadpool(_alerts(request).list_rules)}


@router.post("/rules", status_code=201)
async def create_rule(request: Request, who: Principal = Depends(require("write"))) -> JsonResponse:
    """Create a rule (409 when the name is taken; PUT replaces)."""
    rule = await _rule_from(request)
    alerts = _alerts(request)
    if await run_in_threadpool(alerts.get_rule, rule.name) is not None:
        raise ConflictError(
            f"Rule {rule.name!r} exists; PUT /api/v1/rules/{rule.name} replaces it."
        )
    await run_in_threadpool(alerts.put_rule, rule.to_dict())
    await run_in_threadpool(request.app.state.store.audit, who.actor, "rule.create", rule.name)
    return JsonResponse(rule.to_dict(), status_code=201)


@router.post("/rules/evaluate")
async def evaluate_rules(
    request: Request, _: Principal = Depends(require("write"))
) -> dict[str, Any]:
    """Evaluate every rule now; answer the notifications this round produced."""
    engine: AlertEngine = request.app.state.alert_engine
    notes = await run_in_threadpool(engine.evaluate)
    return {"notifications": [n.to_dict() for n in notes]}


@router.get("/rules/{name}")
async def get_rule(
    name: str, request: Request, _: Principal = Depends(require("read"))
) -> dict[str, Any]:
    """One alert rule as stored (404 when none has this name)."""
    spec = await run_in_threadpool(_alerts(request).get_rule, name)
    if spec is None:
        raise NotFoundError(f"No rule named {name!r}.")
    return spec


@router.put("/rules/{name}")
async def put_rule(
    name: str, request: Request, who: Principal = Depends(require("write"))
) -> JsonResponse:
    """Create or replace a rule; 201 when created, 200 otherwise."""
    rule = await _rule_from(request, name)
    outcome = await run_in_threadpool(_alerts(request).put_rule, rule.to_dict())
    if outcome != "unchanged":
        action = "rule.create" if outcome == "created" else "rule.update"
        await run_in_threadpool(request.app.state.store.audit, who.actor, action, name)
    return JsonResponse(
        {**rule.to_dict(), "outcome": outcome}, status_code=201 if outcome == "created" else 200
    )


@router.delete("/rules/{name}")
async def delete_rule(
    name: str, request: Request, who: Principal = Depends(require("write"))
) -> dict[str, Any]:
    """Delete an alert rule (404 when none has this name); audited."""
    if not await run_in_threadpool(_alerts(request).delete_rule, name):
        raise NotFoundError(f"No rule named {name!r}.")
    await run_in_threadpool(request.app.state.store.audit, who.actor, "rule.delete", name)
    return {"name": name, "deleted": True}


@router.get("/metric-sources")
async def metric_sources(_: Principal = Depends(require("read"))) -> dict[str, Any]:
    """The metrics rules can use."""
    return {"metrics": [m.to_dict() for m in list_metrics()]}


# -- notifiers and actions (admin: their configuration holds secrets) --------------------
_TARGET_KEYS = ("url", "webhook")  # config keys the server will send requests to


def check_receiver_targets(config: dict[str, Any], allow: str) -> None:
    """Refuse (422, naming the key) a receiver whose literal URL is an internal address,
    at once rather than at its first alert (``env:`` URLs are checked when sending)."""
    policy = EgressPolicy(allow)
    for key in _TARGET_KEYS:
        url = config.get(key)
        if not isinstance(url, str) or url.startswith("env:"):
            continue
        try:
            policy.resolve(url)
        except TargetUnresolvedError:
            continue  # may resolve later; sending reports it
        except EgressRefusedError as exc:
            raise ValidationFailedError(
                exc.message, details=[{"field": key, "reason": "an internal address"}]
            ) from None


def _receiver_routes(category: str, path: str) -> None:
    @router.get(
        f"/{path}",
        name=f"list_{path}",
        description=f"Every {category}, with secrets in its configuration masked (admin scope).",
    )
    async def list_receivers(
        request: Request, _: Principal = Depends(require("admin"))
    ) -> dict[str, Any]:
        items = await run_in_threadpool(_alerts(request).list_receivers, category)
        return {path: [{**r, "config": mask(r["config"])} for r in items]}

    @router.put(
        f"/{path}/{{name}}",
        name=f"put_{category}",
        description=f"Create or replace the {category} named in the path from "
        '``{"type": ..., <its settings>}``; 201 when created, 200 '
        "otherwise. A literal URL to an internal address is refused (422); "
        "audited.",
    )
    async def put_receiver(
        name: str, request: Request, who: Principal = Depends(require("admin"))
    ) -> JsonResponse:
        body, _ = await json_body(request)
        spec = check_receiver(category, name, body)
        await run_in_threadpool(
            check_receiver_targets, spec["config"], request.app.state.settings.allow_private_targets
        )
        outcome = await run_in_threadpool(
            _alerts(request).put_receiver, category, name, spec["type"], spec["config"]
        )
        await run_in_threadpool(
            request.app.state.store.audit,
            who.actor,
            f"{category}.put",
            name,
            {"type": spec["type"], "outcome": outcome},
        )
        return JsonResponse(
            {
                "name": name,
                "type": spec["type"],
                "config": mask(spec["config"]),
                "outcome": outcome,
            },
            status_code=201 if outcome == "created" else 200,
        )

    @router.delete(
        f"/{path}/{{name}}",
        name=f"delete_{category}",
        description=f"Delete a {category} (404 when none has this name); audited.",
    )
    async def delete_receiver(
        name: str, request: Request, who: Principal = Depends(require("admin"))
    ) -> dict[str, Any]:
        if not await run_in_threadpool(_alerts(request).delete_receiver, category, name):
            raise NotFoundError(f"No {category} named {name!r}.")
        await run_in_threadpool(
            request.app.state.store.audit, who.actor, f"{category}.delete", name
        )
        return {"name": name, "deleted": True}


_receiver_routes("notifier", "notifiers")
_receiver_routes("action", "actions")
