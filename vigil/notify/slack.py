"""Slack incoming webhooks: a text fallback and Block Kit blocks."""

from __future__ import annotations

from typing import Any

import orjson

from vigil.notify.base import Notification, NotifierBase
from vigil.notify.http import post

_EMOJI = {"firing": ":rotating_light:", "resolved": ":white_check_mark:"}


def slack_payload(n: Notification, channel: str | None = None) -> dict[str, Any]:
    """The incoming-webhook body for one notification."""
    text = f"{_EMOJI.get(n.status, '')} {n.title}: {n.summary}".strip()
    fields = [f"*Severity:* {n.severity}", f"*Rule:* {n.rule}"]
    fields += [f"*{k}:* {v}" for k, v in sorted(n.labels.items())]
    if n.value is not None:
        fields.append(f"*Value:* {n.value:g} (threshold {n.threshold:g})")
    body: dict[str, Any] = {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields[:10]]},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"<{n.url}|vigil alert {n.alert_id}> · {n.fingerprint}"
                 if n.url else f"vigil alert {n.alert_id} · {n.fingerprint}"}]},
        ],
    }
    if channel:
        body["channel"] = channel
    return body


class SlackNotifier(NotifierBase):
    """Posts to a Slack incoming-webhook ``url``."""

    type = "slack"
    required = frozenset({"url"})
    optional = frozenset({"channel"})

    def send(self, notification: Notification) -> None:
        body = orjson.dumps(slack_payload(notification, self.config.get("channel")))
        post(self.config["url"], body, {"Content-Type": "application/json"}, self.timeout_s,
             f"slack {self.name}")
