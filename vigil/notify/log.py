"""The log: firing alerts at WARNING, resolutions at INFO, on logger ``vigil.alerts``."""

from __future__ import annotations

import logging

from vigil.notify.base import Notification, NotifierBase

log = logging.getLogger("vigil.alerts")


class LogNotifier(NotifierBase):
    """Writes one line per notification."""

    type = "log"
    optional = frozenset({"level"})

    def send(self, notification: Notification) -> None:
        level = self.config.get("level")
        if level is None:
            level = logging.WARNING if notification.status == "firing" else logging.INFO
        else:
            level = logging.getLevelName(str(level).upper())
        labels = ",".join(f"{k}={v}" for k, v in sorted(notification.labels.items()))
        log.log(level if isinstance(level, int) else logging.WARNING,
                "%s: %s {%s} value=%s", notification.title, notification.summary, labels,
                notification.value)
