"""PagerDuty Events API v2: trigger on firing, resolve on resolved, one stable dedup key.

The dedup key is ``vigil/<fingerprint>`` (the rule and its labels), so a re-sent trigger
updates the open incident instead of opening another, and the resolve closes it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from vigil.notify.base import Notification, NotifierBase, rfc3339
from vigil.notify.config import PagerDutySettings
from vigil.notify.grouping import AlertGroup
from vigil.notify.http import post

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def dedup_key(n: Notification) -> str:
    return f"vigil/{n.fingerprint}"


def pagerduty_event(n: Notification, routing_key: str, source: str = "vigil") -> dict[str, Any]:
    """The Events API v2 body for one notification."""
    if n.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(n)}
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
            "custom_details": {
                "value": n.value,
                "threshold": n.threshold,
                "labels": n.labels,
                "alert_id": n.alert_id,
            },
        },
        **({"links": [{"href": n.url, "text": "The alert in vigil"}]} if n.url else {}),
    }


def group_dedup_key(group: AlertGroup) -> str:
    """One incident per group: ``vigil/group/<sha256 of the group key>``."""
    return "vigil/group/" + hashlib.sha256(group.key.encode()).hexdigest()[:32]


def pagerduty_group_event(
    group: AlertGroup, routing_key: str, source: str = "vigil"
) -> dict[str, Any]:
    """The Events API v2 body for a group: one incident triggered while any of its alerts
    fires (the details list them all, with their dashboard links), resolved when none
    does — as Alertmanager keys PagerDuty incidents by group."""
    if group.status == "resolved":
        return {
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": group_dedup_key(group),
        }
    firing = group.firing
    worst = min(
        (a.severity for a in firing),
        key=lambda s: list(_SEVERITY).index(s) if s in _SEVERITY else -1,
    )
    links = [
        {"href": a.url, "text": f"{a.rule} on {a.labels.get('model', '*')}"}
        for a in group.alerts
        if a.url
    ]
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": group_dedup_key(group),
        "payload": {
            "summary": (
                group.title
                + ": "
                + "; ".join(f"{a.rule} on {a.labels.get('model', '*')}" for a in firing)
            )[:1024],
            "source": source,
            "severity": _SEVERITY.get(worst, "error"),
            "timestamp": rfc3339(min(a.started_at for a in firing)),
            "component": group.labels.get("model", "*"),
            "group": group.route,
            "custom_details": {
                "group_labels": group.labels,
                "alerts": [
                    {
                        "alert_id": a.alert_id,
                        "rule": a.rule,
                        "status": a.status,
                        "labels": a.labels,
                        "value": a.value,
                        "threshold": a.threshold,
                        "url": a.url,
                    }
                    for a in group.alerts
                ],
            },
        },
        **({"links": links} if links else {}),
    }


class PagerDutyNotifier(NotifierBase):
    """Sends events with ``routing_key`` to ``url`` (default the PagerDuty endpoint)."""

    type = "pagerduty"
    settings: PagerDutySettings

    def send_group(self, group: AlertGroup) -> None:
        s = self.settings
        self._post(pagerduty_group_event(group, s.routing_key, s.source))

    def send(self, notification: Notification) -> None:
        s = self.settings
        self._post(pagerduty_event(notification, s.routing_key, s.source))

    def _post(self, event: dict[str, Any]) -> None:
        post(
            self.settings.url or EVENTS_URL,
            orjson.dumps(event),
            {"Content-Type": "application/json"},
            self.timeout_s,
            f"pagerduty {self.name}",
        )
