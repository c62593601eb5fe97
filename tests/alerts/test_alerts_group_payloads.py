"""Each notifier's grouped message against a real receiver: Slack lists every alert with its
dashboard link (and says how many it left out), the log writes one line, the webhook is
signed like single alerts, and a notifier without ``send_group`` gets the alerts one by
one."""

from __future__ import annotations

import logging

import orjson
import pytest
from alerts_support import Receiver, note

from vigil.notify import build_notifier, deliver
from vigil.notify.grouping import AlertGroup
from vigil.notify.webhook import verify_signature

pytestmark = pytest.mark.usefixtures("allow_private_targets")  # receivers on loopback


def _group(n: int, status: str = "firing") -> AlertGroup:
    return AlertGroup(
        "ml",
        {"model": "churn"},
        tuple(
            note(
                status,
                alert_id=i,
                rule=f"rule-{i}",
                fingerprint=f"{i:032d}",
                url=f"http://vigil.example/ui/alerts#alert-{i}",
            )
            for i in range(n)
        ),
    )


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_slack_lists_each_alert_with_its_link(receiver):
    slack = build_notifier("team", "slack", {"url": receiver.url, "retries": 0})
    assert deliver(slack, _group(3)) == 1
    (request,) = receiver.requests
    body = orjson.loads(request["body"])
    assert body["text"].endswith("[FIRING:3] ml (model=churn)")
    lines = [b["text"]["text"] for b in body["blocks"][1:]]
    assert len(lines) == 3
    for i, line in enumerate(lines):
        assert f"<http://vigil.example/ui/alerts#alert-{i}|rule-{i} on churn>" in line


def test_slack_stays_under_its_block_limit(receiver):
    slack = build_notifier("team", "slack", {"url": receiver.url, "retries": 0})
    deliver(slack, _group(45))
    body = receiver.json()
    assert len(body["blocks"]) <= 50
    assert body["blocks"][-1]["elements"][0]["text"] == "and 5 more"


def test_log_writes_one_line_per_group(caplog):
    log = build_notifier("log", "log", {})
    with caplog.at_level(logging.INFO, logger="vigil.alerts"):
        deliver(log, _group(2, "resolved"))
    (record,) = [r for r in caplog.records if r.name == "vigil.alerts"]
    assert record.levelno == logging.INFO
    assert record.getMessage().startswith("[RESOLVED:2] ml (model=churn): resolved rule-0")
    assert "#alert-1" in record.getMessage()


def test_grouped_webhook_is_signed(receiver):
    hook = build_notifier(
        "hook", "webhook", {"url": receiver.url, "secret": "s3cret", "retries": 0}
    )
    deliver(hook, _group(2))
    (request,) = receiver.requests
    assert verify_signature(request["body"], request["headers"]["X-Vigil-Signature"], "s3cret")
    body = orjson.loads(request["body"])
    assert [a["fingerprint"] for a in body["alerts"]] == [f"{i:032d}" for i in (0, 1)]


def test_a_notifier_without_send_group_gets_the_alerts_one_by_one():
    class OneByOne:
        name, retries, backoff_s = "custom", 0, 0.0

        def __init__(self) -> None:
            self.sent: list[int] = []

        def send(self, notification) -> None:
            self.sent.append(notification.alert_id)

    notifier = OneByOne()
    assert deliver(notifier, _group(3)) == 1
    assert notifier.sent == [0, 1, 2]
