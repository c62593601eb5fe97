"""The dashboard's registry and alert sections, and the actions people take from them.

Reads and actions go through the same engine objects as the HTTP API
(:class:`vigil.registry.Registry`, :mod:`vigil.engine.alerts.admin`), so a rollback or an
acknowledgement made in the browser is recorded, audited and notified exactly like one
made with the API or the CLI.
"""

from __future__ import annotations

from typing import Any

from vigil.engine.alerts.admin import ack_alert, create_silence, public_alert
from vigil.errors import InvalidParameterError, NotFoundError
from vigil.registry import Registry
from vigil.store import ModelRecord, Store
from vigil.store.alerts.queries import AlertStore

HISTORY = 5  # alias changes shown per alias
ALERT_STATES = ("active", "resolved", "all")


def registry_section(store: Store, home: Any, model: ModelRecord) -> dict[str, Any]:
    """Registered versions, and each alias with where it points, its rollback target and
    its latest changes."""
    registry = Registry(store, home)
    aliases = []
    for row in registry.aliases(model.name):
        alias = row["alias"]
        history = registry.history(model.name, alias, HISTORY)
        entry = {
            **row,
            "rollback_to": registry.rollback_target(model.name, alias),
            "history": list(reversed(history)),
        }
        if row.get("canary"):  # the running canary beside stable, with its evidence so far
            import time

            from vigil.registry.canary import evidence

            entry["evidence"] = evidence(store, {**row, "model_id": model.id}, time.time())
        aliases.append(entry)
    return {"versions": registry.versions(model.name), "aliases": aliases}


def confirm_alias_change(
    store: Store, home: Any, model: str, alias: str, action: str, version: str | None
) -> dict[str, Any]:
    """What a promotion or rollback is about to do, for its confirmation page."""
    registry = Registry(store, home)
    current = registry.alias(model, alias)
    if action == "rollback":
        target = version or registry.rollback_target(model, alias)
        if target is None:
            raise InvalidParameterError(
                f"Alias {alias!r} of {model!r} has no earlier version to roll back to."
            )
    elif action == "promote":
        if not version:
            raise InvalidParameterError("Choose the version to promote.")
        registry.get(model, version)  # a clear 404 for an unknown version
        target = version
    else:
        raise InvalidParameterError(f"Unknown action {action!r}; use promote or rollback.")
    return {"model": model, "alias": alias, "action": action, "current": current, "target": target}


def change_alias(
    store: Store,
    home: Any,
    actor: str,
    model: str,
    alias: str,
    action: str,
    version: str,
    revision: int,
    reason: str | None,
) -> dict[str, Any]:
    """Promote or roll back, refusing if someone moved the alias since the confirmation."""
    registry = Registry(store, home, actor=actor)
    reason = reason or f"from the dashboard by {actor}"
    if action == "rollback":
        return registry.rollback(model, alias, version, reason=reason, expected_revision=revision)
    if action == "promote":
        return registry.promote(model, alias, version, reason=reason, expected_revision=revision)
    raise InvalidParameterError(f"Unknown action {action!r}; use promote or rollback.")


def alerts_page(
    store: Store, state: str, model: str | None, limit: int = 200
) -> list[dict[str, Any]]:
    """Alerts newest first: ``active`` (pending and firing), ``resolved`` or ``all``."""
    if state not in ALERT_STATES:
        raise InvalidParameterError(
            f"The alert state must be one of {', '.join(ALERT_STATES)}. Got {state!r}."
        )
    rows = AlertStore(store).list_alerts(
        state=None if state == "all" else state, model=model or None, limit=limit
    )
    return [public_alert(r) for r in rows]


def alert_states_by_model(store: Store) -> dict[str, str]:
    """For each model with an active alert: ``firing`` when one fires, else ``warning``."""
    out: dict[str, str] = {}
    for row in AlertStore(store).list_alerts(state="active", limit=10_000):
        model = (row.get("labels") or {}).get("model")
        if model is None:
            continue
        if row["state"] == "firing" or out.get(model) == "firing":
            out[model] = "firing"
        else:
            out[model] = "warning"
    return out


def acknowledge(store: Store, actor: str, alert_id: int, comment: str | None) -> dict[str, Any]:
    return public_alert(ack_alert(store, alert_id, actor, None, comment or None))


def silence(store: Store, actor: str, alert_id: int, duration: str) -> dict[str, Any]:
    """Silence the alert's rule and labels for ``duration`` (e.g. ``1h``)."""
    row = AlertStore(store).get_alert(alert_id)
    if row is None:
        raise NotFoundError(f"No alert with id {alert_id}.")
    return create_silence(store, row["labels"], duration, actor, "from the dashboard")


def ranking_of(row: dict[str, Any]) -> dict[str, Any] | None:
    """The root-cause ranking stored with an alert's latest firing event (see
    :func:`vigil.engine.insight_rules.explain_for_alert`), or None."""
    for event in reversed(row.get("history") or []):
        if event["kind"] == "firing":
            return (event.get("details") or {}).get("explain")
    return None


def model_alerts(store: Store, model: str) -> list[dict[str, Any]]:
    """The model's active alerts, firing first, each with its root-cause ranking."""
    alerts = AlertStore(store)
    out = []
    for row in alerts.list_alerts(state="active", model=model, limit=50):
        full = alerts.get_alert(row["id"]) or row
        out.append(
            {
                **public_alert(row),
                "ranking": ranking_of(full),
                "since": row["fired_at"] or row["started_at"],
            }
        )
    out.sort(key=lambda a: (a["state"] != "firing", -(a["since"] or 0.0)))
    return out


def alert_view(store: Store, alert_id: int) -> dict[str, Any]:
    """One alert with its history and root-cause ranking, for its page."""
    row = AlertStore(store).get_alert(alert_id)
    if row is None:
        raise NotFoundError(f"No alert with id {alert_id}.")
    return {**public_alert(row), "ranking": ranking_of(row)}
