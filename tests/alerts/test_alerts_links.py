"""Every notification links to its alert on the dashboard: Alertmanager's generatorURL,
Slack's context link, PagerDuty's links, the e-mail body; the link opens the alert."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from alerts_support import Receiver, Traffic, note, put_rule

from vigil.engine.alerts.dispatch import Dispatcher, with_dashboard_link
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.notify.email import email_message
from vigil.notify.pagerduty import pagerduty_event
from vigil.notify.slack import slack_payload
from vigil.notify.webhook import alertmanager_payload
from vigil.store.alerts.queries import AlertStore

pytestmark = pytest.mark.usefixtures("allow_private_targets")  # receivers on loopback


def test_each_format_carries_the_dashboard_link():
    linked = with_dashboard_link(note(), "https://vigil.example.com/")
    url = "https://vigil.example.com/ui/alerts?state=all&model=churn#alert-7"
    assert linked.url == url
    assert alertmanager_payload(linked, "hook")["alerts"][0]["generatorURL"] == url
    assert url in orjson.dumps(slack_payload(linked)).decode()
    assert pagerduty_event(linked, "key")["links"] == [{"href": url, "text": "The alert in vigil"}]
    assert f"dashboard: {url}" in email_message(linked, "a@x", ["b@x"]).get_content()
    # without a known server URL nothing is invented
    assert with_dashboard_link(note(), None).url == ""
    assert "links" not in pagerduty_event(note(), "key")


@pytest.mark.integration
def test_the_link_a_webhook_receives_opens_the_alert(store, server_factory, tmp_path):
    api = server_factory(auth="off")
    traffic = Traffic(store)
    traffic.model()
    now = time.time()
    traffic.send(now - 60, count=10, errors=5)
    hook = Receiver()
    try:
        AlertStore(store).put_receiver("notifier", "hook", "webhook", {"url": hook.url})
        put_rule(
            store,
            name="errors",
            model="churn",
            metric="error_rate",
            threshold=0.2,
            window="10m",
            notifiers=["hook"],
        )
        dispatcher = Dispatcher(store, tmp_path, base_url=str(api.base_url))
        try:
            AlertEngine(store, dispatcher).evaluate(now)
            dispatcher.wait(60)
        finally:
            dispatcher.close()
        (request,) = hook.requests
    finally:
        hook.close()
    alert = orjson.loads(request["body"])["alerts"][0]
    link = alert["generatorURL"]
    assert link.startswith(str(api.base_url)) and link.endswith("#alert-1")
    page = httpx.get(link, timeout=30)
    assert page.status_code == 200 and 'id="alert-1"' in page.text
