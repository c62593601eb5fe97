"""Sentry reporting through sentry-sdk, to a local endpoint that records the envelopes."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sentry_sdk", reason="needs the 'sentry' extra (sentry-sdk)")

from vigil.integrations.sentry import SentryReporter
from vigil.sdk import MemoryTransport, Monitor


def _events(requests):
    """Event payloads of the recorded envelopes (header line, then item header + payload)."""
    events = []
    for req in requests:
        assert req.path == "/api/42/envelope/"
        assert req.headers.get("content-encoding") == "gzip"
        lines = req.body.split(b"\n")
        assert "sentry_key=public" in req.headers["x-sentry-auth"]
        assert "sent_at" in json.loads(lines[0])  # the envelope header
        i = 1
        while i < len(lines) and lines[i]:
            item = json.loads(lines[i])
            payload = lines[i + 1]
            if item["type"] == "event":
                events.append(json.loads(payload))
            i += 2
    return events


@pytest.fixture
def sentry_endpoint(receiver):
    return receiver(lambda req: (200, {"Content-Type": "application/json"}, b'{"id": "x"}'))


def test_exceptions_of_tracked_predictions_reach_sentry(tmp_path, sentry_endpoint):
    host = sentry_endpoint.url.removeprefix("http://")
    reporter = SentryReporter(f"http://public@{host}/42", environment="test", send_inputs=True)
    memory = MemoryTransport()
    mon = Monitor(
        "fraud", version="7", transport=memory, spool_dir=tmp_path / "spool", flush_interval_s=0.05
    )
    mon.add_sink(reporter)

    @mon.track
    def predict(features):
        if features["amount"] < 0:
            raise ValueError("negative amount")
        return 0

    assert predict({"amount": 3, "email": "jane.doe@example.com"}) == 0
    with pytest.raises(ValueError, match="negative amount"):  # the model's error, untouched
        predict({"amount": -1, "email": "jane.doe@example.com", "note": "call 555-0100"})
    mon.log_prediction({"amount": 1}, None, error="TimeoutError: upstream")
    assert mon.close()
    events = _events(sentry_endpoint.requests)
    assert len(events) == 2 and reporter.stats["captured"] == 2
    tracked = next(e for e in events if "exception" in e)
    exc = tracked["exception"]["values"][-1]
    assert exc["type"] == "ValueError" and exc["value"] == "negative amount"
    assert exc["mechanism"]["type"] == "vigil"
    assert exc["stacktrace"]["frames"][-1]["function"] == "predict"
    failed = [pid for pid, r in memory.predictions.items() if r["error"]]
    assert tracked["tags"]["vigil.prediction_id"] in failed
    assert tracked["tags"]["vigil.model"] == "fraud" and tracked["tags"]["vigil.version"] == "7"
    assert tracked["environment"] == "test"
    inputs = tracked["contexts"]["vigil"]["inputs"]
    assert inputs["amount"] == -1 and "jane" not in json.dumps(tracked["contexts"])
    assert not any("vars" in f for f in exc["stacktrace"]["frames"])  # locals hold inputs
    assert inputs["email"] != "jane.doe@example.com"
    message = next(e for e in events if "exception" not in e)
    assert message["message"] == "TimeoutError: upstream"
    assert reporter.stats["without_traceback"] == 1


def test_inputs_are_not_sent_by_default_and_the_rate_is_bounded(tmp_path, sentry_endpoint):
    host = sentry_endpoint.url.removeprefix("http://")
    reporter = SentryReporter(f"http://public@{host}/42", max_events_per_minute=2)
    mon = Monitor("m", transport=MemoryTransport(), spool_dir=tmp_path / "spool")
    mon.add_sink(reporter)
    for i in range(5):
        with pytest.raises(KeyError), mon.observe({"secret": f"s{i}"}):
            raise KeyError("missing")
    assert mon.close()
    events = _events(sentry_endpoint.requests)
    assert len(events) == 2 and reporter.stats["rate_limited"] == 3
    assert all("inputs" not in e["contexts"]["vigil"] for e in events)
    assert '"s1"' not in json.dumps(events)


def test_a_down_sentry_does_not_break_predictions(tmp_path):
    from support.servers import free_port

    reporter = SentryReporter(f"http://public@127.0.0.1:{free_port()}/42")
    memory = MemoryTransport()
    mon = Monitor("m", transport=memory, spool_dir=tmp_path / "spool")
    mon.add_sink(reporter)
    for _ in range(3):
        mon.log_prediction({"x": 1}, None, error=RuntimeError("boom"))
    assert mon.close() and len(memory.predictions) == 3
    assert reporter.stats["captured"] == 3 and reporter.stats["internal_errors"] == 0
