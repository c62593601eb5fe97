"""Notifiers: webhook (Alertmanager v4 shape, HMAC-signed), Slack, PagerDuty, email, Sentry,
log. Build one with :func:`build_notifier`; send with retries through :func:`deliver`."""

from vigil.notify.base import (
    Notification,
    Notifier,
    NotifyError,
    RetryableNotifyError,
    build_notifier,
    deliver,
    notifier_types,
)

__all__ = [
    "Notification",
    "Notifier",
    "NotifyError",
    "RetryableNotifyError",
    "build_notifier",
    "deliver",
    "notifier_types",
]
