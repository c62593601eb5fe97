"""PagerDuty Events API v2: trigger on firing, resolve on resolved, one stable dedup key.

The dedup key is ``vigil/<fingerprint>`` (the rule and its labels), so a re-sent trigger
updates the open incident instead of opening another, and the resolve closes it.
"""

from __future__ import annotations

from typing import Any

import orjson

from vigil.notify.base import Notification, NotifierBase, rfc3339
from vigil.notify.http import post

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def dedup_key(n: Notification) -> str:
    return f"vigil/{n.fingerprint}"


def pagerduty_event(n: Notification, routing_key: str, source: str = "vigil") -> dict[str, Any]:
    """The Events API v2 body for one notification."""
    if n.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve",
                "dedup_key": dedup_key(n)}
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(n),
        "payload": {
            "summary": f"{n.title}: {n.summary}"[:1024],
            "source": source,
            "severity": _SEVERITY.get(n.severity, "error"),
            "timestamp": rfc3339(n.started_at),
            "component": n.labels.get("model", "*"),
            "group": n.rule,
            "class": n.labels.get("metric", ""),
            "custom_details": {"value": n.value, "threshold": n.threshold,
                               "labels": n.labels, "alert_id": n.alert_id},
        },
        **({"links": [{"href": n.url, "text": "The alert in vigil"}]} if n.url else {}),
    }


class PagerDutyNotifier(NotifierBase):
    """Sends events with ``routing_key`` to ``url`` (default the PagerDuty endpoint)."""

    type = "pagerduty"
    required = frozenset({"routing_key"})
    optional = frozenset({"url", "source"})

    def send(self, notification: Notification) -> None:
        event = pagerduty_event(notification, self.config["routing_key"],
                                self.config.get("source", "vigil"))
        post(self.config.get("url", EVENTS_URL), orjson.dumps(event),
             {"Content-Type": "application/json"}, self.timeout_s, f"pagerduty {self.name}")
