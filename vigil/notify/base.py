"""What every notifier shares: the notification, the protocol, settings and retries."""

from __future__ import annotations

import importlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from vigil.errors import ValidationFailedError, VigilError

log = logging.getLogger("vigil.notify")

# type name -> "module:Class"; imported only when a notifier of that type is built
_TYPES = {
    "webhook": "vigil.notify.webhook:WebhookNotifier",
    "slack": "vigil.notify.slack:SlackNotifier",
    "pagerduty": "vigil.notify.pagerduty:PagerDutyNotifier",
    "email": "vigil.notify.email:EmailNotifier",
    "sentry": "vigil.notify.sentry:SentryNotifier",
    "log": "vigil.notify.log:LogNotifier",
}


class NotifyError(VigilError):
    """A notifier failed and retrying will not help (e.g. HTTP 400)."""

    code = "notify_failed"


class RetryableNotifyError(NotifyError):
    """A notifier failed in a way that may pass (connection error, HTTP 429 or 5xx)."""

    code = "notify_retryable"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Notification:
    """One alert changing state (``firing`` or ``resolved``), as every notifier sees it."""

    status: str
    alert_id: int
    rule: str
    fingerprint: str
    labels: dict[str, str]
    severity: str
    summary: str
    value: float | None
    threshold: float
    started_at: float
    ended_at: float | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    url: str = ""  # the alert on vigil's dashboard (empty when the server's URL is unknown)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def title(self) -> str:
        """``[FIRING] rule on model``."""
        model = self.labels.get("model", "*")
        return f"[{self.status.upper()}] {self.rule} on {model}"


def rfc3339(ts: float | None) -> str:
    """Unix seconds as RFC 3339 UTC (Alertmanager's zero time for None)."""
    if ts is None:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Notifier(Protocol):
    """Sends one notification; raises :class:`NotifyError` (retryable or not) on failure."""

    name: str
    retries: int
    backoff_s: float

    def send(self, notification: Notification) -> None: ...


class NotifierBase:
    """Config handling shared by the built-in notifiers.

    Subclasses declare ``type``; their settings are validated against the type's model in
    :mod:`vigil.notify.config` (``self.settings``). String values ``"env:NAME"`` are read
    from the environment when the notifier is built, so secrets can stay out of
    vigil.toml and the database; with ``resolve_env=False`` (validating a configuration
    that will be sent from elsewhere) they are kept as written.
    """

    type = ""

    def __init__(self, name: str, config: dict[str, Any], *, resolve_env: bool = True) -> None:
        from vigil.notify.config import expand_env, notifier_settings

        self.name = name
        self.settings = notifier_settings(self.type, config, resolve_env=resolve_env)
        self.config = expand_env(config) if resolve_env else dict(config)
        self.retries = self.settings.retries
        self.backoff_s = self.settings.backoff_s
        self.timeout_s = self.settings.timeout_s


def notifier_types() -> list[str]:
    """The notifier types vigil ships."""
    return sorted(_TYPES)


def build_notifier(
    name: str, type_: str, config: dict[str, Any], *, resolve_env: bool = True
) -> Notifier:
    """A notifier of ``type_`` from its configuration (validated; nothing is sent).
    ``resolve_env=False`` keeps ``env:`` values unread: to check a configuration only."""
    target = _TYPES.get(type_)
    if target is None:
        raise ValidationFailedError(
            f"Notifier {name!r} has unknown type {type_!r}; use one of "
            f"{', '.join(sorted(_TYPES))}.",
            details=[{"field": "type", "reason": "unknown"}],
        )
    module, cls = target.split(":")
    notifier: Notifier = getattr(importlib.import_module(module), cls)(
        name, dict(config), resolve_env=resolve_env
    )
    return notifier


def mask(config: dict[str, Any]) -> dict[str, Any]:
    """The configuration with secrets replaced by ``"***"`` (``env:`` references shown):
    by key name, and inside URLs (userinfo, query, token-like path segments) and header
    tables anywhere in it (see :mod:`vigil.notify.masking`)."""
    from vigil.notify.masking import mask_config

    return mask_config(config)


def deliver(
    notifier: Notifier, notification: Any, *, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Send with retries and exponential backoff (full jitter, honouring Retry-After);
    return the number of attempts. Raises the last :class:`NotifyError` when all failed.

    ``notification`` is a :class:`Notification`, or an
    :class:`~vigil.notify.grouping.AlertGroup` sent as one message by the notifier's
    ``send_group`` (a notifier without one sends the group's alerts one by one).
    """
    from vigil.notify.grouping import AlertGroup

    if isinstance(notification, AlertGroup):
        group = notification
        send_group = getattr(notifier, "send_group", None)

        def send() -> None:
            if send_group is not None:
                send_group(group)
            else:
                for alert in group.alerts:
                    notifier.send(alert)
    else:

        def send() -> None:
            notifier.send(notification)

    attempt = 0
    while True:
        attempt += 1
        try:
            send()
            return attempt
        except RetryableNotifyError as exc:
            if attempt > notifier.retries:
                raise
            delay = exc.retry_after_s
            if delay is None:
                delay = random.uniform(0.5, 1.0) * notifier.backoff_s * 2 ** (attempt - 1)
            log.info(
                "notifier %s failed (%s); retry %d in %.2fs",
                notifier.name,
                exc.message,
                attempt,
                delay,
            )
            sleep(min(delay, 60.0))
