"""Automatic rollback: watch a newly promoted version and return the alias when it breaches.

A policy on an alias names metrics (any registered in
:mod:`vigil.engine.metric_sources`: ``error_rate``, ``latency_p95``, quality metrics...)
with a ceiling (``max``) or a floor (``min``). For ``watch_s`` seconds after a promotion,
:func:`check_rollback_policies` computes them for the promoted version over the last
``window_s`` seconds (never before the promotion); once the version has served at least
``min_count`` predictions, any breach rolls the alias back to the version promoted before,
with the reason in the alias history and the audit log. Each rollback is also an alert
(rule ``registry:rollback``, in ``vigil alerts``, acknowledgeable) sent as firing to the
notifiers the policy names under ``notify`` (configured with ``vigil rules apply``); it
resolves, and the notifiers are told, once the restored version has served ``window_s``
seconds without breaching the policy, or when the alias is promoted again. The server's
background loop calls it every ``VIGIL_REGISTRY_CHECK_INTERVAL_S`` seconds.

Examples:
    >>> check_policy({"max": {"error_rate": 0.1}})["watch_s"]
    3600.0
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from vigil.engine.alerts.dispatch import with_dashboard_link
from vigil.errors import InvalidParameterError, VigilError
from vigil.registry.errors import StaleAliasError
from vigil.store import Store
from vigil.store.registry import queries as q

log = logging.getLogger("vigil.registry")

ACTOR = "vigil:rollback-policy"
ALERT_RULE = "registry:rollback"  # alerts of automatic rollbacks; rules.RESERVED_PREFIX
DEFAULTS = {"watch_s": 3600.0, "window_s": 300.0, "min_count": 20}
_KEYS = {"watch_s", "window_s", "min_count", "max", "min", "notify"}


def check_policy(policy: Any) -> dict[str, Any]:
    """Validate a policy and fill its defaults.

    Raises:
        InvalidParameterError: unknown keys or metrics, bad numbers, no condition.
    """
    from vigil.engine.metric_sources import get_metric

    if not isinstance(policy, dict):
        raise InvalidParameterError(f"A rollback policy must be an object. Got {policy!r}.")
    unknown = set(policy) - _KEYS
    if unknown:
        raise InvalidParameterError(
            f"Unknown rollback policy fields {sorted(unknown)}; allowed: {sorted(_KEYS)}."
        )
    out: dict[str, Any] = {**DEFAULTS, "max": {}, "min": {}, "notify": []}
    notify = policy.get("notify", [])
    if not isinstance(notify, list) or not all(isinstance(n, str) and n for n in notify):
        raise InvalidParameterError(
            f"'notify' of a rollback policy must be a list of notifier names. Got {notify!r}."
        )
    out["notify"] = list(notify)
    for key in ("watch_s", "window_s", "min_count"):
        value = policy.get(key, DEFAULTS[key])
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise InvalidParameterError(
                f"'{key}' of a rollback policy must be a positive number. Got {value!r}."
            )
        out[key] = int(value) if key == "min_count" else float(value)
    for bound in ("max", "min"):
        conditions = policy.get(bound, {})
        if not isinstance(conditions, dict):
            raise InvalidParameterError(
                f"'{bound}' of a rollback policy maps metric names to thresholds."
            )
        for metric, threshold in conditions.items():
            get_metric(metric)
            if not isinstance(threshold, int | float) or isinstance(threshold, bool):
                raise InvalidParameterError(
                    f"The threshold of '{bound}.{metric}' must be a number. Got {threshold!r}."
                )
            out[bound][metric] = float(threshold)
    if not out["max"] and not out["min"]:
        raise InvalidParameterError(
            'A rollback policy needs at least one condition, e.g. {"max": {"error_rate": 0.05}}.'
        )
    return out


def breaches(
    store: Store, model: Any, version: str, policy: dict[str, Any], start: float, end: float
) -> tuple[list[tuple[str, float, str, float]], float]:
    """The conditions ``version`` breaches over ``[start, end)`` — ``(metric, value, op,
    threshold)`` each — and its prediction count.

    Nothing is reported below ``min_count`` predictions (too few to judge).
    """
    from vigil.engine.metric_sources import get_metric

    count = get_metric("count").compute(store, model, version, start, end) or 0.0
    if count < policy["min_count"]:
        return [], count
    found = []
    for bound, sign in (("max", ">"), ("min", "<")):
        for metric, threshold in policy[bound].items():
            value = get_metric(metric).compute(store, model, version, start, end)
            if value is None:
                continue
            if (value > threshold) if sign == ">" else (value < threshold):
                found.append((metric, value, sign, threshold))
    return found, count


def check_rollback_policies(
    store: Store,
    now: float | None = None,
    *,
    notify: Callable[[dict[str, Any]], None] | None = None,
    base_url: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every enabled rollback policy once; return the rollbacks made.

    Args:
        store: the store.
        now: the evaluation time (default the clock).
        notify: called with each rollback (model, alias, from, to, reason).
        base_url: the server's URL, for the dashboard link in notifications.
    """
    from vigil.registry.registry import Registry

    now = time.time() if now is None else now
    _resolve_rollback_alerts(store, now, base_url)
    return settle_each(
        q.enabled_policies(store),
        "rollback policy",
        lambda row: _check_one(
            store,
            Registry(store, ".", actor=ACTOR),
            row["model"],
            row["alias"],
            check_policy(row["policy"]),
            now,
            base_url,
        ),
        notify,
    )


def settle_each(
    rows: Iterable[dict[str, Any]],
    kind: str,
    decide: Callable[[dict[str, Any]], dict[str, Any] | None],
    notify: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    """One round of an automatic alias change (rollback policies, canaries): ``decide``
    each row (``model``, ``alias``), notify each change made, return the changes.

    A row whose alias a person moved meanwhile is skipped (their decision stands); a row
    that cannot be judged, or a notifier that fails, is logged and does not stop the round.
    """
    done = []
    for row in rows:
        target = f"{row['model']}@{row['alias']}"
        try:
            action = decide(row)
        except StaleAliasError:
            continue  # a person moved the alias meanwhile; their decision stands
        except VigilError as exc:
            log.warning("the %s of %s could not be evaluated: %s", kind, target, exc)
            continue
        if action is None:
            continue
        done.append(action)
        if notify is not None:
            try:
                notify(action)
            except Exception:
                log.exception("notifying the %s decision of %s failed", kind, target)
    return done


def _check_one(
    store: Store,
    registry: Any,
    model: str,
    alias: str,
    policy: dict[str, Any],
    now: float,
    base_url: str | None = None,
) -> dict[str, Any] | None:
    from vigil.registry.registry import CANARY_ONLY

    recent = registry.history(model, alias, limit=20)
    history = [h for h in recent if h["action"] not in CANARY_ONLY]  # they move nothing
    if not history or history[-1]["action"] not in ("promote", "canary_promote"):
        return None  # nothing newly promoted (or already rolled back)
    last = history[-1]
    revision = recent[-1]["revision"]  # the alias as read: a later change wins
    if now - last["ts"] > policy["watch_s"] or last["version"] is None:
        return None
    target = registry.rollback_target(model, alias)
    if target is None:
        return None
    version = last["version"]
    start = max(last["ts"], now - policy["window_s"])
    found, count = breaches(store, registry.model(model), version, policy, start, now)
    if not found:
        return None
    reason = (
        f"version {version} breached its rollback policy within "
        f"{now - last['ts']:.0f} s of promotion ({int(count)} predictions): "
        f"{'; '.join(f'{m} {v:.4g} {op} {t:g}' for m, v, op, t in found)}"
    )
    row = registry.rollback(
        model, alias, target, reason=reason, actor=ACTOR, expected_revision=revision, automatic=True
    )
    log.warning("rolled %s@%s back from %s to %s: %s", model, alias, version, target, reason)
    action = {
        "model": model,
        "alias": alias,
        "from": version,
        "to": row["resolved_version"],
        "reason": reason,
        "revision": row["revision"],
        "notified": [],
    }
    metric, value, _, threshold = found[0]
    note = with_dashboard_link(
        _open_alert(store, action, policy, metric, value, threshold, now), base_url
    )
    action["alert_id"] = note.alert_id
    for name in policy["notify"]:
        if _tell(store, name, note, action):
            action["notified"].append(name)
    return action


def _open_alert(
    store: Store,
    action: dict[str, Any],
    policy: dict[str, Any],
    metric: str,
    value: float,
    threshold: float,
    now: float,
) -> Any:
    """Record the rollback as a firing alert; return its notification."""
    target = f"{action['model']}@{action['alias']}"
    labels = {
        "model": action["model"],
        "alias": action["alias"],
        "version": action["from"],
        "metric": metric,
        "revision": str(action["revision"]),
    }
    details = {
        "to": action["to"],
        "reason": action["reason"],
        "notify": policy["notify"],
        "window_s": policy["window_s"],
        "threshold": threshold,
    }
    return open_change_alert(
        store,
        ALERT_RULE,
        labels,
        severity="critical",
        summary=f"{target} rolled back to {action['to']}: {action['reason']}",
        value=value,
        threshold=threshold,
        details=details,
        annotations={"rolled_back_to": str(action["to"]), "action": "auto_rollback"},
        now=now,
    )


def open_change_alert(
    store: Store,
    rule: str,
    labels: dict[str, str],
    *,
    severity: str,
    summary: str,
    value: float,
    threshold: float,
    details: dict[str, Any],
    annotations: dict[str, str],
    now: float,
) -> Any:
    """Record an automatic change (``rule``: a rollback, a canary decision) as a firing
    alert, already notified; return the notification to send for it."""
    from vigil.engine.alerts.lifecycle import fingerprint
    from vigil.notify.base import Notification
    from vigil.store.alerts.queries import AlertStore

    fp = fingerprint({"alertname": rule, **labels})
    alert_id = AlertStore(store).open_alert(
        {
            "fingerprint": fp,
            "rule": rule,
            "labels": labels,
            "severity": severity,
            "state": "firing",
            "value": value,
            "summary": summary,
            "started_at": now,
            "fired_at": now,
            "updated_at": now,
            "notified_at": now,
        },
        {"ts": now, "kind": "firing", "details": details},
    )
    return Notification(
        status="firing",
        alert_id=alert_id,
        rule=rule,
        fingerprint=fp,
        labels=labels,
        severity=severity,
        summary=summary,
        value=value,
        threshold=threshold,
        started_at=now,
        annotations=annotations,
    )


def _resolve_rollback_alerts(store: Store, now: float, base_url: str | None = None) -> None:
    """Resolve rollback alerts whose restored version held for the policy's window (or
    whose alias was promoted since)."""
    from vigil.registry.registry import Registry

    registry = Registry(store, ".", actor=ACTOR)
    resolve_change_alerts(
        store,
        ALERT_RULE,
        now,
        base_url,
        lambda row, fired: _settled(store, registry, row["labels"], fired, row["fired_at"], now),
        lambda fired: {"rolled_back_to": str(fired.get("to")), "action": "auto_rollback"},
    )


def resolve_change_alerts(
    store: Store,
    rule: str,
    now: float,
    base_url: str | None,
    settled: Callable[[dict[str, Any], dict[str, Any]], str | None],
    annotations: Callable[[dict[str, Any]], dict[str, str]],
) -> None:
    """Resolve the active alerts of an automatic change (``rule``: a rollback, a canary
    decision) for which ``settled(alert, firing details)`` gives a reason, telling the
    notifiers that were told they fired (same fingerprint, so an incident closes)."""
    from vigil.notify.base import Notification
    from vigil.store.alerts.queries import AlertStore

    alerts = AlertStore(store)
    for row in alerts.active_alerts().values():
        if row["rule"] != rule:
            continue
        full = alerts.get_alert(row["id"]) or {"history": []}
        fired = next((e["details"] for e in full["history"] if e["kind"] == "firing"), None)
        if not fired:
            continue
        reason = settled(row, fired)
        if reason is None:
            continue
        alerts.update_alert(
            row["id"],
            {"state": "resolved", "resolved_at": now, "updated_at": now},
            {"ts": now, "kind": "resolved", "details": {"reason": reason}},
        )
        labels = row["labels"]
        note = with_dashboard_link(
            Notification(
                status="resolved",
                alert_id=row["id"],
                rule=rule,
                fingerprint=row["fingerprint"],
                labels=labels,
                severity=row["severity"],
                summary=f"{row['summary']} — resolved: {reason}",
                value=row["value"],
                threshold=float(fired.get("threshold", 0.0)),
                started_at=row["started_at"],
                ended_at=now,
                annotations=annotations(fired),
            ),
            base_url,
        )
        action = {"model": labels.get("model"), "alias": labels.get("alias")}
        for name in fired.get("notify", []):
            _tell(store, name, note, action)


def _settled(
    store: Store,
    registry: Any,
    labels: dict[str, str],
    fired: dict[str, Any],
    fired_at: float,
    now: float,
) -> str | None:
    """Why a rollback alert can resolve now, or None while it cannot."""
    model, alias = labels.get("model", ""), labels.get("alias", "")
    try:
        history = registry.history(model, alias, limit=1)
    except VigilError:
        return "the alias no longer exists"
    rolled_back_at = int(labels.get("revision") or 0)  # the alias revision of the rollback
    if history and history[-1]["revision"] > rolled_back_at and history[-1]["action"] == "promote":
        return f"{model}@{alias} was promoted to {history[-1]['version']} since"
    window = float(fired.get("window_s", DEFAULTS["window_s"]))
    if now - fired_at < window:
        return None
    policy_row = q.get_policy(store, registry.model(model).id, alias)
    if policy_row is not None and fired.get("to") is not None:
        found, _ = breaches(
            store,
            registry.model(model),
            str(fired["to"]),
            check_policy(policy_row["policy"]),
            fired_at,
            now,
        )
        if found:
            return None
    return f"version {fired.get('to')} served {now - fired_at:.0f} s within the policy"


def _tell(store: Store, name: str, note: Any, action: dict[str, Any]) -> bool:
    """Deliver ``note`` to notifier ``name``; a failure is logged and audited."""
    error = _notify(store, name, note)
    if error is None:
        return True
    target = f"{action['model']}@{action['alias']}"
    log.error("could not notify %s of the rollback of %s: %s", name, target, error)
    store.audit(
        ACTOR,
        "registry.notify_failed",
        target,
        {"notifier": name, "error": error, "status": note.status},
    )
    return False


def _notify(store: Store, name: str, note: Any) -> str | None:
    """Tell notifier ``name`` (an alerting receiver); the error, or None."""
    try:
        from vigil.notify.base import build_notifier, deliver
        from vigil.store.alerts.queries import AlertStore

        receiver = next(
            (r for r in AlertStore(store).list_receivers("notifier") if r["name"] == name), None
        )
        if receiver is None:
            return f"notifier {name!r} is not configured (vigil rules apply)"
        deliver(build_notifier(name, receiver["type"], receiver["config"]), note)
    except VigilError as exc:
        return exc.message
    except Exception as exc:  # a notifier bug must not stop the policy loop
        return f"{type(exc).__name__}: {exc}"
    return None


def set_rollback_policy(
    store: Store, model: str, alias: str, policy: dict[str, Any] | None, actor: str = "python"
) -> dict[str, Any] | None:
    """Create, replace (``policy``) or disable (``None``) the rollback policy of an alias."""
    from vigil.registry.registry import Registry, check_alias

    record = Registry(store, ".").model(model)
    check_alias(alias)
    if policy is None:
        existing = q.get_policy(store, record.id, alias)
        if existing is None:
            return None
        q.set_policy(store, record.id, alias, existing["policy"], actor, enabled=False)
        store.audit(actor, "registry.policy.disable", f"{model}@{alias}")
        return None
    checked = check_policy(policy)
    q.set_policy(store, record.id, alias, checked, actor)
    store.audit(actor, "registry.policy.set", f"{model}@{alias}", checked)
    return checked
