"""The log: firing alerts at WARNING, resolutions at INFO, on logger ``vigil.alerts``."""

from __future__ import annotations

import logging

from vigil.notify.base import Notification, NotifierBase
from vigil.notify.config import LogSettings
from vigil.notify.grouping import AlertGroup

log = logging.getLogger("vigil.alerts")


class LogNotifier(NotifierBase):
    """Writes one line per notification."""

    type = "log"
    settings: LogSettings

    def _level(self, status: str) -> int:
        level = self.settings.level
        if level is None:
            return logging.WARNING if status == "firing" else logging.INFO
        return logging.getLevelNamesMapping()[level.upper()]

    def send_group(self, group: AlertGroup) -> None:
        listed = "; ".join(
            f"{a.status} {a.rule} on {a.labels.get('model', '*')} {a.url}".rstrip()
            for a in group.alerts
        )
        log.log(self._level(group.status), "%s: %s", group.title, listed)

    def send(self, notification: Notification) -> None:
        level = self._level(notification.status)
        labels = ",".join(f"{k}={v}" for k, v in sorted(notification.labels.items()))
        # the likely cause and the forecast/anomaly summary, then the dashboard link
        extra = "".join(f" {k}={v!r}" for k, v in sorted(notification.annotations.items()))
        link = f" {notification.url}" if notification.url else ""
        log.log(
            level,
            "%s: %s {%s} value=%s%s%s",
            notification.title,
            notification.summary,
            labels,
            notification.value,
            extra,
            link,
        )
