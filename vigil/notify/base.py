"""What every notifier shares: the notification, the protocol, config checks and retries."""

from __future__ import annotations

import importlib
import logging
import os
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
COMMON = frozenset({"retries", "backoff_s", "timeout_s"})
SECRET_KEYS = frozenset({"secret", "routing_key", "password", "dsn", "token"})


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

    Subclasses declare ``type``, ``required`` and ``optional`` config keys; string values
    ``"env:NAME"`` are read from the environment when the notifier is built, so secrets
    can stay out of vigil.toml and the database.
    """

    type = ""
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        check_config(self.type, config, self.required, self.optional)
        self.config = {k: _expand(k, v) for k, v in config.items()}
        self.retries = _int(config, "retries", 3)
        self.backoff_s = _float(config, "backoff_s", 1.0)
        self.timeout_s = _float(config, "timeout_s", 10.0)


def _expand(key: str, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("env:"):
        var = value[4:]
        if var not in os.environ:
            raise ValidationFailedError(
                f"Notifier setting {key!r} names the environment variable {var}, which is not set.",
                details=[{"field": key, "reason": f"{var} is not set"}],
            )
        return os.environ[var]
    return value


def _int(config: dict[str, Any], key: str, default: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailedError(
            f"Notifier setting {key!r} must be a non-negative integer. Got {value!r}.",
            details=[{"field": key, "reason": "not an integer"}],
        )
    return value


def _float(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValidationFailedError(
            f"Notifier setting {key!r} must be a non-negative number. Got {value!r}.",
            details=[{"field": key, "reason": "not a number"}],
        )
    return float(value)


def check_config(
    type_: str, config: Any, required: frozenset[str], optional: frozenset[str]
) -> None:
    """Raise :class:`ValidationFailedError` naming a missing or unknown key."""
    if not isinstance(config, dict):
        raise ValidationFailedError(f"The {type_} configuration must be a table. Got {config!r}.")
    missing = sorted(required - set(config))
    if missing:
        raise ValidationFailedError(
            f"The {type_} notifier needs {', '.join(repr(m) for m in missing)}.",
            details=[{"field": m, "reason": "required"} for m in missing],
        )
    unknown = sorted(set(config) - required - optional - COMMON)
    if unknown:
        allowed = ", ".join(sorted(required | optional | COMMON))
        raise ValidationFailedError(
            f"Unknown {type_} notifier setting {unknown[0]!r}; allowed: {allowed}.",
            details=[{"field": u, "reason": "unknown"} for u in unknown],
        )


def notifier_types() -> list[str]:
    """The notifier types vigil ships."""
    return sorted(_TYPES)


def build_notifier(name: str, type_: str, config: dict[str, Any]) -> Notifier:
    """A notifier of ``type_`` from its configuration (validated; nothing is sent)."""
    target = _TYPES.get(type_)
    if target is None:
        raise ValidationFailedError(
            f"Notifier {name!r} has unknown type {type_!r}; use one of "
            f"{', '.join(sorted(_TYPES))}.",
            details=[{"field": "type", "reason": "unknown"}],
        )
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)(name, dict(config))


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
