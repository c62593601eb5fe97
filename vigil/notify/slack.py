"""Slack incoming webhooks: a text fallback and Block Kit blocks."""

from __future__ import annotations

from typing import Any

import orjson

from vigil.notify.base import Notification, NotifierBase
from vigil.notify.config import SlackSettings
from vigil.notify.grouping import AlertGroup
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
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"<{n.url}|vigil alert {n.alert_id}> · {n.fingerprint}"
                        if n.url
                        else f"vigil alert {n.alert_id} · {n.fingerprint}",
                    }
                ],
            },
        ],
    }
    if channel:
        body["channel"] = channel
    return body


MAX_LISTED = 40  # Slack allows 50 blocks per message


def slack_group_payload(group: AlertGroup, channel: str | None = None) -> dict[str, Any]:
    """The incoming-webhook body for a group: one line per alert, each linking to the
    alert on the dashboard."""
    text = f"{_EMOJI.get(group.status, '')} {group.title}".strip()
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}}
    ]
    for a in group.alerts[:MAX_LISTED]:
        name = f"{a.rule} on {a.labels.get('model', '*')}"
        link = f"<{a.url}|{name}>" if a.url else name
        line = f"{_EMOJI.get(a.status, '')} {link} ({a.severity}, {a.status}): {a.summary}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line.strip()}})
    if len(group.alerts) > MAX_LISTED:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"and {len(group.alerts) - MAX_LISTED} more"}
                ],
            }
        )
    body: dict[str, Any] = {"text": text, "blocks": blocks}
    if channel:
        body["channel"] = channel
    return body


class SlackNotifier(NotifierBase):
    """Posts to a Slack incoming-webhook ``url``."""

    type = "slack"
    settings: SlackSettings

    def send_group(self, group: AlertGroup) -> None:
        self._post(slack_group_payload(group, self.settings.channel))

    def send(self, notification: Notification) -> None:
        self._post(slack_payload(notification, self.settings.channel))

    def _post(self, payload: dict[str, Any]) -> None:
        post(
            self.settings.url,
            orjson.dumps(payload),
            {"Content-Type": "application/json"},
            self.timeout_s,
            f"slack {self.name}",
        )
