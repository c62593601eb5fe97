"""A rules leader that dies between an alert's change and its delivery loses nothing.

A real child process runs one rule round on the test's database and exits abruptly
(``os._exit``, as after kill -9: no cleanup, no flush) at a chosen point: right after the
alert's change is stored (before its notifications are queued), or right after they are
queued (before anything is sent). The next leader - a fresh engine and dispatcher in this
process - must then deliver each notification exactly once, to plain and to grouped
notifiers, and a leader that finds nothing left must send nothing again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
from alerts_support import Receiver, Traffic
from support.polling import wait_until

from vigil.engine.alerts.apply import apply, parse_config
from vigil.engine.alerts.dispatch import Dispatcher
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.store.alerts.queries import AlertStore

pytestmark = pytest.mark.usefixtures("allow_private_targets")  # receivers on loopback

DYING_LEADER = textwrap.dedent(
    """
    import os, sys
    from vigil.engine.alerts.dispatch import Dispatcher
    from vigil.engine.alerts.lifecycle import AlertEngine
    from vigil.store import open_store

    where, url, home, now = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

    class DyingDispatcher(Dispatcher):
        def plan(self, rule, note, *, act):
            if where == "after-change":
                os._exit(9)
            return super().plan(rule, note, act=act)

        def start(self, queued):
            if where == "after-queue":
                os._exit(9)
            super().start(queued)

    store = open_store(url)
    AlertEngine(store, DyingDispatcher(store, home)).evaluate(now)
    os._exit(0)
    """
)

CONFIG = """
[notifiers.hook]
type = "webhook"
url = "{hook}"

[notifiers.grouped]
type = "webhook"
url = "{grouped}"

[routes.ml]
match = {{team = "ml"}}
notifiers = ["grouped"]
group_by = ["model"]
group_wait = "1s"
group_interval = "2s"

[[rules]]
name = "errors"
model = "*"
metric = "error_rate"
threshold = 0.1
window = "10m"
severity = "critical"
labels = {{team = "ml"}}
notifiers = ["hook"]
"""


def _die_in_a_round(where: str, url: str, home: Path, now: float) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", DYING_LEADER, where, url, str(home), str(now)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 9, done.stderr[-2000:]


def _firing_setup(store, hook: Receiver, grouped: Receiver) -> tuple[Traffic, float]:
    """The config above and a model whose last minute holds 50 % errors (the rule fires)."""
    apply(store, parse_config(CONFIG.format(hook=hook.url, grouped=grouped.url)))
    traffic = Traffic(store)
    traffic.model("churn")
    now = time.time()
    traffic.send(now - 60, count=20, errors=10, model="churn")
    return traffic, now


def _statuses(receiver: Receiver) -> list[str]:
    return [orjson.loads(r["body"])["status"] for r in receiver.requests]


@pytest.mark.parametrize("where", ["after-change", "after-queue"])
def test_the_next_leader_delivers_what_a_dead_one_left_exactly_once(where, store, db_url, tmp_path):
    hook, grouped = Receiver(), Receiver()
    alerts = AlertStore(store)
    try:
        _, now = _firing_setup(store, hook, grouped)

        _die_in_a_round(where, db_url, tmp_path, now)
        (row,) = alerts.list_alerts(state="firing")
        assert not hook.requests and not grouped.requests
        if where == "after-change":  # the change is stored, nothing queued
            assert row["dispatch_pending"] == "firing" and not alerts.open_outbox()
        else:  # queued, never sent: one entry per notifier
            assert row["dispatch_pending"] is None
            assert sorted(e["target"] for e in alerts.open_outbox()) == ["grouped", "hook"]

        dispatcher = Dispatcher(store, tmp_path)
        try:
            AlertEngine(store, dispatcher).evaluate(now + 1)
            wait_until(lambda: hook.requests and grouped.requests, 60, "both deliveries")
            wait_until(lambda: not alerts.open_outbox(), 60, "the outbox to be empty")
            dispatcher.wait(30)
        finally:
            dispatcher.close()
        assert _statuses(hook) == ["firing"]
        assert _statuses(grouped) == ["firing"]
        assert orjson.loads(grouped.requests[0]["body"])["groupKey"] == '{}/ml:{model="churn"}'
        history = [e["kind"] for e in alerts.get_alert(row["id"])["history"]]
        assert history.count("notified") == 2, history
        assert (alerts.get_alert(row["id"]) or {})["dispatch_pending"] is None

        # a leader after that one finds nothing owed and sends nothing more (its round's
        # deliveries are awaited before counting, so this is not a timing guess)
        later = Dispatcher(store, tmp_path)
        try:
            assert later.recover() == 0
            AlertEngine(store, later).evaluate(now + 2)
            later.wait(30)
        finally:
            later.close()
        assert len(hook.requests) == 1 and len(grouped.requests) == 1
    finally:
        hook.close()
        grouped.close()


def test_a_resolve_left_by_a_dead_leader_is_sent_after_its_firing(store, db_url, tmp_path):
    hook, grouped = Receiver(), Receiver()
    alerts = AlertStore(store)
    try:
        traffic, now = _firing_setup(store, hook, grouped)
        dispatcher = Dispatcher(store, tmp_path)
        try:
            AlertEngine(store, dispatcher).evaluate(now)
            wait_until(lambda: hook.requests and grouped.requests, 60, "the firing notifications")
            wait_until(lambda: not alerts.open_outbox(), 60, "the outbox to be empty")
        finally:
            dispatcher.close()

        # the errors age out of the window and good traffic follows: the next round
        # resolves, and its leader dies
        traffic.send(now + 840, count=20, errors=0, model="churn")
        _die_in_a_round("after-change", db_url, tmp_path, now + 900)
        (row,) = alerts.list_alerts(state="resolved")
        assert row["dispatch_pending"] == "resolved"

        dispatcher = Dispatcher(store, tmp_path)
        try:
            AlertEngine(store, dispatcher).evaluate(now + 901)
            wait_until(lambda: len(hook.requests) >= 2, 60, "the resolved notification")
            wait_until(lambda: len(grouped.requests) >= 2, 60, "the resolved group message")
            dispatcher.wait(30)
        finally:
            dispatcher.close()
        assert _statuses(hook) == ["firing", "resolved"]
        assert _statuses(grouped) == ["firing", "resolved"]
    finally:
        hook.close()
        grouped.close()


def test_an_action_left_queued_runs_once_across_leaders(store, tmp_path):
    """An action queued by a leader that died runs once on the next one; its outbox entry
    is closed before it runs, so no later leader (nor one handed the entry directly)
    runs it again."""
    alerts = AlertStore(store)
    marker = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')"]
    apply(
        store,
        parse_config(
            f'[actions.retrain]\ntype = "retrain"\ncommand = {orjson.dumps(command).decode()}\n'
        ),
    )
    traffic = Traffic(store)
    traffic.model("churn")
    traffic.send(time.time() - 60, count=5, model="churn")
    alert_id = alerts.open_alert(
        {
            "fingerprint": "f" * 32,
            "rule": "errors",
            "labels": {"model": "churn"},
            "severity": "critical",
            "state": "firing",
            "summary": "s",
            "started_at": 1.0,
            "updated_at": 1.0,
        },
        {"ts": 1.0, "kind": "firing", "details": None},
    )
    payload = {
        "status": "firing",
        "alert_id": alert_id,
        "rule": "errors",
        "fingerprint": "f" * 32,
        "labels": {"model": "churn"},
        "severity": "critical",
        "summary": "s",
        "value": 0.5,
        "threshold": 0.1,
        "started_at": 1.0,
    }
    entry = {"kind": "action", "target": "retrain", "payload": payload}
    (entry_id,) = alerts.queue(alert_id, [entry])  # the dead leader queued it

    for leader in range(2):
        dispatcher = Dispatcher(store, tmp_path)
        try:
            assert dispatcher.recover() == (1 if leader == 0 else 0)
            dispatcher.start([(entry_id, entry)])  # handed the entry again: ignored
            dispatcher.wait(60)
        finally:
            dispatcher.close()
    assert marker.read_text() == "x"
    history = [e["kind"] for e in alerts.get_alert(alert_id)["history"]]
    assert history.count("action") == 1, history
    assert not alerts.open_outbox()
