"""Maintenance actions end to end: retrain (Parquet export + command or webhook) and rollback
(through vigil's registry and through an in-test RegistryClient), audit-logged with the alert."""

from __future__ import annotations

import sys
import time

import orjson
import pyarrow.parquet as pq
import pytest
from alerts_support import Receiver, Traffic, note, put_rule

from vigil.engine.alerts.actions import ActionError, RollbackAction
from vigil.engine.alerts.dispatch import Dispatcher
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.errors import ValidationFailedError
from vigil.notify.webhook import SIGNATURE_HEADER, verify_signature
from vigil.store.alerts.queries import AlertStore

# these tests send to receivers on loopback, which vigil refuses by default
pytestmark = pytest.mark.usefixtures("allow_private_targets")


def _fire(store, tmp_path, action: dict, registry=None):
    """Traffic with labels and feedback, a rule with ``action``, one evaluation."""
    traffic = Traffic(store)
    traffic.model()
    now = time.time()
    traffic.send(now - 120, count=6, errors=3)
    traffic.ingestor.ingest_labels(
        "churn",
        [{"prediction_id": "churn-1", "actual": 1}, {"prediction_id": "churn-2", "actual": 0}],
    )
    traffic.ingestor.ingest_feedback(
        "churn",
        [
            {"id": "fb1", "prediction_id": "churn-1", "score": 1.0},
            {"id": "fb2", "prediction_id": "churn-1", "score": 0.0, "comment": "meh"},
        ],
    )
    AlertStore(store).put_receiver("action", "act", action.pop("type"), action)
    put_rule(
        store,
        name="errors",
        model="churn",
        metric="error_rate",
        threshold=0.2,
        window="10m",
        actions=["act"],
    )
    dispatcher = Dispatcher(store, tmp_path, registry=registry)
    try:
        notes = AlertEngine(store, dispatcher).evaluate(now)
        dispatcher.wait(30)
    finally:
        dispatcher.close()
    (fired,) = notes
    return fired


def _audit(store, action):
    return [e for e in store.audit_entries() if e["action"] == action]


def test_retrain_exports_parquet_and_runs_the_command(store, tmp_path):
    script = tmp_path / "train.py"
    out = tmp_path / "called.json"
    script.write_text(
        "import json, os, sys\n"
        "called = {'argv': sys.argv[1:], 'env': os.environ['VIGIL_RETRAIN_PATH']}\n"
        f"json.dump(called, open({str(out)!r}, 'w'))\n"
    )
    fired = _fire(
        store,
        tmp_path,
        {
            "type": "retrain",
            "window": "1h",
            "command": [sys.executable, str(script), "{path}", "{model}"],
        },
    )
    called = orjson.loads(out.read_bytes())
    path, model = called["argv"]
    assert model == "churn" and called["env"] == path
    table = pq.read_table(path).to_pylist()
    assert len(table) == 6
    by_id = {r["prediction_id"]: r for r in table}
    assert by_id["churn-1"]["label"] == 1 and by_id["churn-3"]["label"] is None
    assert by_id["churn-1"]["feedback_score"] == 0.5 and by_id["churn-1"]["feedback_count"] == 2
    assert by_id["churn-1"]["feedback_comment"] == "meh"
    assert by_id["churn-1"]["input.age"] == 30 and by_id["churn-1"]["error"] == "boom"
    (entry,) = _audit(store, "action.retrain")
    assert entry["details"]["alert_id"] == fired.alert_id
    assert entry["details"]["outcome"] == "ok" and entry["details"]["result"]["rows"] == 6
    kinds = [e["kind"] for e in AlertStore(store).get_alert(fired.alert_id)["history"]]
    assert kinds == ["pending", "firing", "action"]


def test_retrain_webhook_is_signed_and_a_failing_command_is_audited(store, tmp_path):
    hook = Receiver()
    try:
        _fire(store, tmp_path, {"type": "retrain", "webhook": hook.url, "secret": "k"})
        req = hook.requests[0]
        assert verify_signature(req["body"], req["headers"][SIGNATURE_HEADER], "k")
        body = hook.json()
        assert body["action"] == "retrain" and body["rows"] == 6
        assert pq.read_table(body["path"]).num_rows == 6
        assert body["reason"].startswith("alert ")
    finally:
        hook.close()
    AlertStore(store).put_receiver(
        "action",
        "act",
        "retrain",
        {"command": [sys.executable, "-c", "import sys; sys.exit('no GPU')"]},
    )
    traffic = Traffic(store, start=100)
    traffic.send(time.time() - 60, count=5, errors=5)
    AlertStore(store).put_rule({**AlertStore(store).get_rule("errors"), "name": "errors2"})
    dispatcher = Dispatcher(store, tmp_path)
    AlertEngine(store, dispatcher).evaluate()
    dispatcher.wait(30)
    dispatcher.close()
    failed = [e for e in _audit(store, "action.retrain") if e["details"]["outcome"] == "failed"]
    assert "exited 1: no GPU" in failed[0]["details"]["error"]


class FakeRegistry:
    """A real, minimal RegistryClient: aliases with a history stack."""

    def __init__(self) -> None:
        self.history = {("churn", "production"): ["1", "2"]}
        self.calls = []

    def rollback(self, model, alias, to=None, *, reason=None, actor=None, automatic=False):
        stack = self.history[(model, alias)]
        previous = stack[-2] if to is None else str(to)
        self.calls.append((model, alias, reason, actor, automatic))
        stack.append(previous)
        return {"model": model, "from": stack[-2], "resolved_version": previous}


def test_rollback_through_a_registry_client(store, tmp_path):
    registry = FakeRegistry()
    fired = _fire(store, tmp_path, {"type": "rollback", "alias": "production"}, registry=registry)
    assert registry.history[("churn", "production")][-1] == "1"
    model, alias, reason, actor, automatic = registry.calls[0]
    assert (model, alias, actor, automatic) == ("churn", "production", "vigil-engine", True)
    assert reason.startswith(f"alert {fired.alert_id} errors")
    (entry,) = _audit(store, "action.rollback")
    assert entry["target"] == "churn" and entry["details"]["result"]["resolved_version"] == "1"
    with pytest.raises(ActionError, match="no model registry"):
        RollbackAction("rb", {}, registry=None).run(note())
    with pytest.raises(ValidationFailedError, match="Unknown rollback action setting 'aliass'"):
        RollbackAction("rb", {"aliass": "x"}, registry=registry)


def test_rollback_through_vigils_registry(store, tmp_path):
    from vigil.registry.registry import Registry

    Traffic(store).model()
    reg = Registry(store, tmp_path)
    for version in ("1", "2"):
        artifact = tmp_path / f"model-{version}.txt"
        artifact.write_text(f"weights {version}")
        reg.register("churn", version, artifact)
        reg.promote("churn", "production", version)
    AlertStore(store).put_receiver("action", "act", "rollback", {})
    # the rule watches the version the alias points at (2): version 1's errors do not count
    put_rule(
        store,
        name="errors",
        model="churn",
        alias="production",
        metric="error_rate",
        threshold=0.2,
        window="10m",
        actions=["act"],
    )
    Traffic(store).send(time.time() - 60, count=4, errors=4, model="churn", version="1")
    assert AlertEngine(store).evaluate() == []
    Traffic(store, start=50).send(time.time() - 60, count=4, errors=4, model="churn", version="2")
    dispatcher = Dispatcher(store, tmp_path)  # the default registry: vigil's own
    AlertEngine(store, dispatcher).evaluate()
    dispatcher.wait(30)
    dispatcher.close()
    assert reg.alias("churn", "production")["resolved_version"] == "1"
    (alert,) = AlertStore(store).list_alerts()
    assert alert["labels"]["alias"] == "production"
    (entry,) = _audit(store, "action.rollback")
    assert entry["details"]["outcome"] == "ok"
    assert any(e["action"] == "registry.auto_rollback" for e in store.audit_entries())


def test_slow_notifiers_never_block_the_engine(store, tmp_path):
    slow = Receiver(delay_s=1.5)
    try:
        AlertStore(store).put_receiver("notifier", "slow", "webhook", {"url": slow.url})
        traffic = Traffic(store)
        traffic.model()
        traffic.send(time.time() - 30, count=4, errors=4)
        put_rule(
            store,
            name="errors",
            model="churn",
            metric="error_rate",
            threshold=0.2,
            notifiers=["slow"],
        )
        dispatcher = Dispatcher(store, tmp_path)
        started = time.monotonic()
        assert len(AlertEngine(store, dispatcher).evaluate()) == 1
        assert time.monotonic() - started < 1.0  # the send goes on in the background
        dispatcher.wait(10)
        dispatcher.close()
        assert len(slow.requests) == 1
    finally:
        slow.close()
