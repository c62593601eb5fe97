"""Sentry: each firing alert becomes an event with tags, through sentry-sdk (extra
``sentry``). A client of its own per notifier: the application's Sentry setup is untouched."""

from __future__ import annotations

from typing import Any

from vigil.errors import ConfigurationError
from vigil.notify.base import Notification, NotifierBase, NotifyError, RetryableNotifyError
from vigil.notify.config import SentrySettings

_LEVEL = {"critical": "error", "warning": "warning", "info": "info"}


def sentry_event(n: Notification, environment: str | None = None) -> dict[str, Any]:
    """The Sentry event for one notification."""
    tags = {
        "alertname": n.rule,
        "severity": n.severity,
        "status": n.status,
        **{k: str(v) for k, v in n.labels.items()},
    }
    event: dict[str, Any] = {
        "message": f"{n.title}: {n.summary}",
        "level": _LEVEL.get(n.severity, "error") if n.status == "firing" else "info",
        "logger": "vigil.alerts",
        "tags": tags,
        "fingerprint": ["vigil", n.fingerprint, n.status],
        "extra": {
            "value": n.value,
            "threshold": n.threshold,
            "alert_id": n.alert_id,
            "started_at": n.started_at,
        },
    }
    if environment:
        event["environment"] = environment
    return event


class SentryNotifier(NotifierBase):
    """Captures events to ``dsn``; resolutions too unless ``send_resolved = false``."""

    type = "sentry"
    settings: SentrySettings

    def __init__(self, name: str, config: dict[str, Any], *, resolve_env: bool = True) -> None:
        super().__init__(name, config, resolve_env=resolve_env)
        try:
            import sentry_sdk
        except ImportError:
            raise ConfigurationError(
                f"Notifier {name!r} needs sentry-sdk: pip install 'vigil[sentry]'."
            ) from None
        self._sdk = sentry_sdk

    def send(self, notification: Notification) -> None:
        if notification.status == "resolved" and not self.settings.send_resolved:
            return
        try:
            client = self._sdk.Client(
                dsn=self.settings.dsn,
                default_integrations=False,
                auto_enabling_integrations=False,
                environment=self.settings.environment,
                shutdown_timeout=self.timeout_s,
            )
        except Exception as exc:  # sentry-sdk raises BadDsn and friends
            raise NotifyError(f"sentry {self.name}: {exc}") from None
        try:
            scope = self._sdk.Scope(client=client)
            event_id = client.capture_event(
                sentry_event(notification, self.settings.environment),  # type: ignore[arg-type]  # a dict with the keys of sentry's Event TypedDict
                scope=scope,
            )
            if event_id is None:
                raise NotifyError(f"sentry {self.name}: the event was dropped by the client")
            client.flush(timeout=self.timeout_s)
        except NotifyError:
            raise
        except Exception as exc:
            raise RetryableNotifyError(f"sentry {self.name}: {exc}") from None
        finally:
            client.close(timeout=self.timeout_s)
