"""What people do to alerts: acknowledge and silence (both expire), and how alerts look."""

from __future__ import annotations

import time
from typing import Any

from vigil.engine.durations import parse_duration
from vigil.errors import NotFoundError, ValidationFailedError
from vigil.store import Store
from vigil.store.alerts.queries import AlertStore

MAX_SILENCE_S = 90 * 86400.0


def public_alert(row: dict[str, Any]) -> dict[str, Any]:
    """An alert row as the API and CLI show it (with ``acked`` and ``silenced`` resolved)."""
    now = time.time()
    out = dict(row)
    out.pop("active", None)
    out.pop("dispatch_pending", None)  # the engine's delivery bookkeeping
    out["acked"] = row.get("acked_at") is not None and (
        row.get("ack_until") is None or row["ack_until"] > now
    )
    return out


def ack_alert(
    store: Store, alert_id: int, actor: str, for_: Any = None, comment: str | None = None
) -> dict[str, Any]:
    """Acknowledge an active alert (until it resolves, or for ``for_``)."""
    alerts = AlertStore(store)
    row = alerts.get_alert(alert_id)
    if row is None:
        raise NotFoundError(f"No alert with id {alert_id}.")
    if row["state"] not in ("pending", "firing"):
        raise ValidationFailedError(
            f"Alert {alert_id} is {row['state']}; only pending or firing alerts can be "
            "acknowledged.",
            details=[{"field": "alert_id", "reason": f"alert is {row['state']}"}],
        )
    if comment is not None and not isinstance(comment, str):
        raise ValidationFailedError(
            "'comment' must be a string.", details=[{"field": "comment", "reason": "not a string"}]
        )
    now = time.time()
    until = None if for_ is None else now + parse_duration(for_, "for")
    alerts.update_alert(
        alert_id,
        {"acked_by": actor, "acked_at": now, "ack_until": until},
        {"ts": now, "kind": "acked", "details": {"by": actor, "until": until, "comment": comment}},
    )
    store.audit(actor, "alert.ack", str(alert_id), {"until": until, "comment": comment})
    return alerts.get_alert(alert_id) or {}


def create_silence(
    store: Store, matchers: Any, for_: Any, actor: str, comment: str | None = None
) -> dict[str, Any]:
    """Silence every alert whose labels include ``matchers``, from now for ``for_``."""
    if (
        not isinstance(matchers, dict)
        or not matchers
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in matchers.items())
    ):
        raise ValidationFailedError(
            "'matchers' must be a non-empty object of label: value strings, e.g. "
            f'{{"alertname": "slow", "model": "churn"}}. Got {matchers!r}.',
            details=[{"field": "matchers", "reason": "not a label object"}],
        )
    seconds = parse_duration(for_, "for")
    if not 0 < seconds <= MAX_SILENCE_S:
        raise ValidationFailedError(
            f"'for' must be more than 0 and at most 90d. Got {for_!r}.",
            details=[{"field": "for", "reason": "out of range"}],
        )
    if comment is not None and not isinstance(comment, str):
        raise ValidationFailedError(
            "'comment' must be a string.", details=[{"field": "comment", "reason": "not a string"}]
        )
    now = time.time()
    silence = AlertStore(store).create_silence(dict(matchers), now, now + seconds, actor, comment)
    store.audit(
        actor,
        "silence.create",
        str(silence["id"]),
        {"matchers": matchers, "ends_at": silence["ends_at"], "comment": comment},
    )
    return silence
