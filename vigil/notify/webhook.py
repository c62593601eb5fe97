"""Generic webhook in the Alertmanager v4 webhook shape, signed with HMAC-SHA256.

The signature header is ``X-Vigil-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw
body with the configured ``secret`` (as GitHub signs its webhooks); verify it with
:func:`verify_signature`.

Examples:
    >>> body = b'{"status": "firing"}'
    >>> header = sign(body, "s3cret")
    >>> verify_signature(body, header, "s3cret"), verify_signature(body, header, "other")
    (True, False)
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from vigil.notify.base import Notification, NotifierBase, rfc3339
from vigil.notify.config import WebhookSettings
from vigil.notify.grouping import AlertGroup
from vigil.notify.http import post

SIGNATURE_HEADER = "X-Vigil-Signature"


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """Whether ``header`` is the signature of ``body`` with ``secret`` (constant time)."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


def _alert(n: Notification) -> dict[str, Any]:
    """One entry of the ``alerts`` list (``generatorURL``: the alert on the dashboard)."""
    return {
        "status": n.status,
        "labels": {"alertname": n.rule, "severity": n.severity, **n.labels},
        "annotations": _annotations(n),
        "startsAt": rfc3339(n.started_at),
        "endsAt": rfc3339(n.ended_at),
        "generatorURL": n.url,
        "fingerprint": n.fingerprint,
    }


def _annotations(n: Notification) -> dict[str, str]:
    annotations = {"summary": n.summary, **n.annotations}
    if n.value is not None:
        annotations.setdefault("value", f"{n.value:g}")
    return annotations


def alertmanager_group_payload(
    group: AlertGroup, receiver: str, external_url: str = ""
) -> dict[str, Any]:
    """The Alertmanager v4 webhook body for a group: every alert of it, each with its
    dashboard URL, under the group's labels."""
    alerts = [_alert(a) for a in group.alerts]
    common_annotations = {
        k: v
        for k, v in alerts[0]["annotations"].items()
        if all(a["annotations"].get(k) == v for a in alerts[1:])
    }
    return {
        "version": "4",
        "groupKey": group.key,
        "truncatedAlerts": 0,
        "status": group.status,
        "receiver": receiver,
        "groupLabels": group.labels,
        "commonLabels": group.common_labels(),
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "alerts": alerts,
    }


def alertmanager_payload(n: Notification, receiver: str, external_url: str = "") -> dict[str, Any]:
    """The Alertmanager v4 webhook body for one notification."""
    labels = {"alertname": n.rule, "severity": n.severity, **n.labels}
    annotations = _annotations(n)
    group_labels = {"alertname": n.rule}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{n.rule}"}}',
        "truncatedAlerts": 0,
        "status": n.status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [_alert(n)],
    }


class WebhookNotifier(NotifierBase):
    """POSTs the Alertmanager v4 JSON to ``url``; signs it when ``secret`` is set."""

    type = "webhook"
    settings: WebhookSettings

    def send(self, notification: Notification) -> None:
        self._post(alertmanager_payload(notification, self.name, self.settings.external_url))

    def send_group(self, group: AlertGroup) -> None:
        self._post(alertmanager_group_payload(group, self.name, self.settings.external_url))

    def _post(self, payload: dict[str, Any]) -> None:
        body = orjson.dumps(payload)
        headers = {"Content-Type": "application/json", **self.settings.headers}
        if self.settings.secret:
            headers[SIGNATURE_HEADER] = sign(body, self.settings.secret)
        post(self.settings.url, body, headers, self.timeout_s, f"webhook {self.name}")
