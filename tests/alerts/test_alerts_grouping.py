"""Grouped notifications (Alertmanager's group_by / group_wait / group_interval) through the
real engine and dispatcher to real receivers: an HTTP webhook, PagerDuty's Events API shape
on a local HTTP server, and email over aiosmtpd."""

from __future__ import annotations

import http.server
import threading
import time

import orjson
import pytest
from alerts_support import Traffic
from support.servers import free_port

from vigil.engine.alerts.apply import apply, parse_config
from vigil.engine.alerts.dispatch import Dispatcher
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.routing import check_route
from vigil.errors import ValidationFailedError
from vigil.store.alerts.queries import AlertStore

pytestmark = pytest.mark.usefixtures("allow_private_targets")  # receivers on loopback

WAIT_S, INTERVAL_S = 3.0, 4.0  # margins for a loaded machine: evaluate() must finish inside
BASE_URL = "http://vigil.example:8765"
CONFIG = """
[notifiers.hook]
type = "webhook"
url = "{hook}"

[notifiers.pd]
type = "pagerduty"
routing_key = "R0UTING"
url = "{pd}"

[notifiers.mail]
type = "email"
host = "127.0.0.1"
port = {smtp}
from = "vigil@example.com"
to = ["oncall@example.com"]

[routes.ml]
match = {{team = "ml"}}
notifiers = ["hook", "pd", "mail"]
group_by = ["model", "severity"]
group_wait = "{wait}s"
group_interval = "{interval}s"
{rules}
"""
RULE = """
[[rules]]
name = "{name}"
model = "*"
metric = "error_rate"
threshold = {threshold}
window = "10m"
severity = "critical"
labels = {{team = "ml"}}
"""


class TimedReceiver:
    """A real HTTP server that records each JSON body with its monotonic arrival time."""

    def __init__(self) -> None:
        self.bodies: list[tuple[float, dict]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append((time.monotonic(), orjson.loads(body)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    class Inbox(Sink):
        def __init__(self) -> None:
            self.messages: list[tuple[float, str]] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((time.monotonic(), envelope.content.decode()))
            return "250 OK"

    hook, pd, inbox = TimedReceiver(), TimedReceiver(), Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    yield hook, pd, inbox, port
    smtp.stop()
    hook.close()
    pd.close()


def _poll(condition, what: str, deadline_s: float = 60.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _config(hook, pd, port, rules):
    return parse_config(
        CONFIG.format(
            hook=hook.url,
            pd=pd.url,
            smtp=port,
            wait=WAIT_S,
            interval=INTERVAL_S,
            rules="".join(RULE.format(name=n, threshold=t) for n, t in rules),
        )
    )


def _alerts(body: dict) -> list[tuple[str, str, str]]:
    return sorted(
        (a["labels"]["alertname"], a["labels"]["model"], a["status"]) for a in body["alerts"]
    )


def _of(receiver, model: str) -> list[tuple[float, dict]]:
    return [(t, b) for t, b in receiver.bodies if b["groupLabels"]["model"] == model]


def test_alerts_of_one_group_go_out_as_one_message_then_follow_ups(store, tmp_path, receivers):
    hook, pd, inbox, port = receivers
    apply(store, _config(hook, pd, port, [("a", 0.1), ("b", 0.2), ("c", 0.3)]))
    traffic = Traffic(store)
    traffic.model("churn")
    traffic.model("fraud")
    now = time.time()
    traffic.send(now - 60, count=20, errors=20, model="churn")  # a, b and c fire
    traffic.send(now - 60, count=20, errors=3, model="fraud")  # 0.15: only a fires
    dispatcher = Dispatcher(store, tmp_path, base_url=BASE_URL)
    engine = AlertEngine(store, dispatcher)
    try:
        start = time.monotonic()
        engine.evaluate(now)
        # one message per group, after group_wait, listing the group's alerts
        _poll(lambda: len(hook.bodies) >= 2, "the first two group messages")
        ((t_churn, churn),) = _of(hook, "churn")
        ((t_fraud, fraud),) = _of(hook, "fraud")
        assert t_churn - start >= WAIT_S and t_fraud - start >= WAIT_S
        assert _alerts(churn) == [
            ("a", "churn", "firing"),
            ("b", "churn", "firing"),
            ("c", "churn", "firing"),
        ]
        assert _alerts(fraud) == [("a", "fraud", "firing")]
        assert churn["status"] == "firing"
        assert churn["groupLabels"] == {"model": "churn", "severity": "critical"}
        assert churn["groupKey"] == '{}/ml:{model="churn", severity="critical"}'
        assert churn["commonLabels"] == {
            "model": "churn",
            "severity": "critical",
            "team": "ml",
            "metric": "error_rate",
        }
        links = [a["generatorURL"] for a in churn["alerts"]]
        assert all(u.startswith(f"{BASE_URL}/ui/alerts") for u in links)
        assert len(set(links)) == 3  # each alert's own dashboard link

        # PagerDuty: one incident per group, its links the alerts' dashboard pages
        _poll(lambda: len(pd.bodies) >= 2, "the PagerDuty triggers")
        triggers = {b["payload"]["component"]: b for _, b in pd.bodies}
        assert {b["event_action"] for b in triggers.values()} == {"trigger"}
        assert len(triggers["churn"]["payload"]["custom_details"]["alerts"]) == 3
        assert sorted(x["href"] for x in triggers["churn"]["links"]) == sorted(links)
        assert triggers["churn"]["dedup_key"] != triggers["fraud"]["dedup_key"]
        # email: one message per group listing every alert with its link
        _poll(lambda: len(inbox.messages) >= 2, "the two emails")
        mail = next(m for _, m in inbox.messages if "model=churn" in m)
        assert "Subject: [FIRING:3] ml (model=churn, severity=critical)" in mail
        assert all(f"dashboard: {u}" in mail for u in links)

        # a new alert joins: one follow-up after group_interval, listing the group
        rules = [("a", 0.1), ("b", 0.2), ("c", 0.3), ("d", 0.5)]
        apply(store, _config(hook, pd, port, rules))
        engine.evaluate(now + 1)
        _poll(lambda: len(_of(hook, "churn")) >= 2, "the follow-up")
        (t_follow, follow) = _of(hook, "churn")[1]
        # the group's first flush came group_wait after the alerts, the follow-up one
        # group_interval after that flush
        assert t_follow - start >= WAIT_S + INTERVAL_S
        assert _alerts(follow) == [
            ("a", "churn", "firing"),
            ("b", "churn", "firing"),
            ("c", "churn", "firing"),
            ("d", "churn", "firing"),
        ]

        # everything resolves: one resolved message per group (evaluated right after the
        # follow-up went out, so all four resolve before the group's next look)
        traffic.send(now + 650, count=20, errors=0, model="churn")
        traffic.send(now + 650, count=20, errors=0, model="fraud")
        engine.evaluate(now + 700)
        _poll(
            lambda: len(_of(hook, "churn")) >= 3 and len(_of(hook, "fraud")) >= 2,
            "the resolved messages",
        )
        (_, resolved) = _of(hook, "churn")[2]
        assert resolved["status"] == "resolved"
        assert _alerts(resolved) == [
            ("a", "churn", "resolved"),
            ("b", "churn", "resolved"),
            ("c", "churn", "resolved"),
            ("d", "churn", "resolved"),
        ]
        assert _alerts(_of(hook, "fraud")[1][1]) == [("a", "fraud", "resolved")]
        # the PagerDuty incident of each group resolves with the group's key
        _poll(
            lambda: sum(b["event_action"] == "resolve" for _, b in pd.bodies) >= 2,
            "the PagerDuty resolves",
        )
        resolves = {b["dedup_key"] for _, b in pd.bodies if b["event_action"] == "resolve"}
        assert resolves == {triggers["churn"]["dedup_key"], triggers["fraud"]["dedup_key"]}
        _poll(lambda: len(inbox.messages) >= 5, "the follow-up and resolved emails")
        assert any("[RESOLVED:4] ml (model=churn" in m for _, m in inbox.messages)
    finally:
        dispatcher.close()
    # three churn messages and two fraud messages in all: nothing was sent alone
    assert len(_of(hook, "churn")) == 3 and len(_of(hook, "fraud")) == 2
    alerts = AlertStore(store)
    (a_churn,) = [a for a in alerts.list_alerts(rule="a") if a["labels"]["model"] == "churn"]
    history = alerts.get_alert(a_churn["id"])["history"]
    grouped = [e["details"] for e in history if e["kind"] == "grouped"]
    assert grouped[0]["route"] == "ml" and grouped[0]["group"] == churn["groupKey"]
    notified = [e["details"] for e in history if e["kind"] == "notified"]
    assert {(d["notifier"], d["status"]) for d in notified} == {
        (n, s) for n in ("hook", "pd", "mail") for s in ("firing", "resolved")
    }
    assert all(d["group"] == churn["groupKey"] for d in notified)


def test_closing_the_dispatcher_sends_groups_still_waiting(store, tmp_path, receivers):
    hook, pd, _inbox, port = receivers
    config = _config(hook, pd, port, [("a", 0.1)])
    config["route"]["ml"]["config"]["group_wait"] = 3600.0  # would wait an hour
    config["route"]["ml"]["config"]["notifiers"] = ["hook"]
    apply(store, config)
    traffic = Traffic(store)
    traffic.model("churn")
    now = time.time()
    traffic.send(now - 60, count=20, errors=20, model="churn")
    dispatcher = Dispatcher(store, tmp_path)
    AlertEngine(store, dispatcher).evaluate(now)
    assert dispatcher.grouper().pending() == 1
    dispatcher.close()  # flushes: the alert is not lost with the process
    ((_, body),) = hook.bodies
    assert _alerts(body) == [("a", "churn", "firing")]


def test_an_alert_resolved_before_its_group_was_sent_is_dropped(store, tmp_path, receivers):
    hook, pd, _inbox, port = receivers
    config = _config(hook, pd, port, [("a", 0.1)])
    config["route"]["ml"]["config"]["group_wait"] = 3600.0  # nothing goes out before close
    config["route"]["ml"]["config"]["notifiers"] = ["hook"]
    apply(store, config)
    traffic = Traffic(store)
    traffic.model("churn")
    traffic.model("fraud")
    now = time.time()
    traffic.send(now - 60, count=20, errors=20, model="churn")
    traffic.send(now - 60, count=20, errors=20, model="fraud")
    dispatcher = Dispatcher(store, tmp_path)
    engine = AlertEngine(store, dispatcher)
    engine.evaluate(now)  # both fire
    traffic.send(now + 650, count=20, errors=0, model="churn")  # churn recovers
    traffic.send(now + 650, count=20, errors=20, model="fraud")  # fraud does not
    engine.evaluate(now + 700)
    dispatcher.close()  # flushes both groups
    # churn's alert fired and resolved unheard: its group sends nothing; fraud's is sent
    assert [(b["groupLabels"]["model"], _alerts(b)) for _, b in hook.bodies] == [
        ("fraud", [("a", "fraud", "firing")])
    ]


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"group_by": "model"}, "non-empty list of label names"),
        ({"group_by": []}, "non-empty list of label names"),
        ({"group_by": ["model"], "group_wait": "soon"}, "duration"),
        ({"group_by": ["model"], "group_interval": 0}, "must be positive"),
        ({"group_wait": "30s"}, "needs 'group_by'"),
        ({"group_by": ["model"], "group_every": "5m"}, "unknown fields"),
    ],
)
def test_bad_grouping_settings_are_refused_with_the_field(config, needle):
    with pytest.raises(ValidationFailedError, match=needle):
        check_route("r", {"match": {"team": "ml"}, "notifiers": ["x"], **config})


def test_grouping_defaults_follow_alertmanager():
    route = check_route(
        "r",
        {"match": {"team": "ml"}, "notifiers": ["x"], "group_by": ["model", "model", "severity"]},
    )
    assert route["group_by"] == ["model", "severity"]
    assert (route["group_wait"], route["group_interval"]) == (30.0, 300.0)
