"""Delivery policy: retries and backoff, rejection, splitting, spool and replay."""

from __future__ import annotations

import pytest

from vigil.sdk import MemoryTransport, Monitor, SendError, retryable_status
from vigil.sdk.sender import backoff_delay


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (None, True),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (413, False),
        (422, False),
    ],
)
def test_status_classification(status, retry):
    assert retryable_status(status) is retry
    assert SendError("x", status=status).retryable is retry


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    for attempt in range(8):
        d = min(5.0, 0.1 * 2**attempt)
        delays = [backoff_delay(attempt, 0.1, 5.0) for _ in range(200)]
        assert all(d / 2 <= x <= d for x in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff_delay(1000, 0.1, 5.0) <= 5.0


@pytest.mark.parametrize("status", [None, 429, 500, 503])
def test_transient_failures_are_retried(make_monitor, sink, status):
    mon = make_monitor(max_retries=3)
    mon.log_prediction({"x": 1}, 1)
    mon.flush(timeout_s=10)  # registers the model
    sink.fail_statuses = [status, status]
    mon.log_prediction({"x": 2}, 2)
    assert mon.flush(timeout_s=10)
    stats = mon.stats
    assert stats["retries"] == 2
    assert stats["send_errors"] == 2
    assert stats["sent"] == 2
    assert stats["spooled"] == 0


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_client_errors_are_rejected_not_retried(make_monitor, sink, status):
    mon = make_monitor(max_retries=3)
    mon.log_prediction({"x": 1}, 1)
    mon.flush(timeout_s=10)
    calls = sink.calls
    sink.fail_statuses = [status]
    mon.log_prediction({"x": 2}, 2)
    mon.log_prediction({"x": 3}, 3)
    assert mon.flush(timeout_s=10)
    assert sink.calls == calls + 1  # one attempt only
    assert mon.stats["rejected"] == 2
    assert mon.stats["retries"] == 0
    assert mon.stats["spooled"] == 0


def test_per_record_rejections_are_counted(make_monitor):
    class Picky(MemoryTransport):
        def send(self, model, kind, body):
            result = super().send(model, kind, body)
            result["rejected"] = [
                {
                    "index": 0,
                    "id": "x",
                    "errors": [
                        {"field": "records[0].inputs.x", "reason": "expected a finite number"}
                    ],
                }
            ]
            result["accepted"] -= 1
            return result

    mon = make_monitor(transport=Picky())
    for i in range(3):
        mon.log_prediction({"x": i}, i)
    assert mon.flush(timeout_s=10)
    assert (mon.stats["sent"], mon.stats["rejected"], mon.stats["accepted"]) == (2, 1, 2)


def test_a_too_large_batch_is_split(make_monitor, sink):
    mon = make_monitor()
    mon.log_prediction({"x": 0}, 0)
    mon.flush(timeout_s=10)
    sink.fail_statuses = [413, 413]
    for i in range(1, 9):
        mon.log_prediction({"x": i}, i)
    assert mon.flush(timeout_s=10)
    assert len(sink.predictions) == 9
    assert mon.stats["rejected"] == 0


def test_model_not_found_registers_again(make_monitor, sink):
    mon = make_monitor()
    mon.log_prediction({"x": 1}, 1)
    mon.flush(timeout_s=10)
    sink.models.clear()  # e.g. the server's database was reset
    mon.log_prediction({"x": 2}, 2)
    assert mon.flush(timeout_s=10)
    assert "m" in sink.models
    assert len(sink.predictions) == 2


def test_labels_for_an_unknown_model_without_schema_are_rejected(make_monitor, sink):
    mon = make_monitor()
    mon.log_label("p1", 1)
    assert mon.flush(timeout_s=10)
    assert mon.stats["rejected"] == 1
    assert "m" not in sink.models


def test_unreachable_server_spools_then_replays_in_order(make_monitor, sink):
    mon = make_monitor(max_retries=1)
    sink.down = True
    ids = []
    for batch in range(3):
        ids += [mon.log_prediction({"x": batch * 10 + i}, i) for i in range(4)]
        assert mon.flush(timeout_s=10) is False
    pid = ids[0]
    mon.log_label(pid, 1)
    assert mon.flush(timeout_s=10) is False
    stats = mon.stats
    assert stats["spooled"] == 13
    assert stats["spool_files"] == 4
    assert not sink.predictions

    sink.down = False
    ids += [mon.log_prediction({"x": 99}, 0)]  # queued behind the spooled batches
    assert mon.flush(timeout_s=10)
    assert list(sink.predictions) == ids  # arrival order == logging order
    assert [lb["prediction_id"] for lb in sink.labels] == [pid]
    stats = mon.stats
    assert stats["replayed"] == 14
    assert stats["spool_files"] == 0
    assert stats["sent"] == 14


def test_a_new_monitor_replays_what_an_old_one_spooled(tmp_path):
    down = MemoryTransport()
    down.down = True
    old = Monitor("m", transport=down, spool_dir=tmp_path, flush_interval_s=3600, max_retries=0)
    ids = [old.log_prediction({"x": i}, i) for i in range(5)]
    assert old.close(timeout_s=10) is False  # could not deliver: left in the spool
    assert len(list(old.spool_dir.glob("*.batch"))) == 1

    up = MemoryTransport()
    new = Monitor("m", transport=up, spool_dir=tmp_path, flush_interval_s=3600)
    assert new.flush(timeout_s=10)
    assert list(up.predictions) == ids
    assert new.stats["replayed"] == 5
    assert not list(new.spool_dir.glob("*.batch"))
    new.close(timeout_s=10)


def test_replay_after_a_lost_answer_creates_no_duplicates(make_monitor):
    class LosesAnswers(MemoryTransport):
        lose = 0

        def send(self, model, kind, body):
            result = super().send(model, kind, body)  # stored...
            if self.lose:
                self.lose -= 1
                raise SendError("connection reset", status=None)  # ...but the answer is lost
            return result

    sink = LosesAnswers()
    mon = make_monitor(transport=sink, max_retries=0)
    mon.log_prediction({"x": 0}, 0)
    mon.flush(timeout_s=10)
    sink.lose = 1
    for i in range(1, 4):
        mon.log_prediction({"x": i}, i)
    assert mon.flush(timeout_s=10)  # spooled after the lost answer, replayed by flush
    assert len(sink.predictions) == 4
    assert mon.stats["spooled"] == 3
    assert mon.stats["replayed"] == 3
    assert mon.stats["duplicates"] == 3


def test_spool_overflow_drops_oldest_and_counts(make_monitor, sink):
    mon = make_monitor(max_retries=0, spool_max_bytes=1500)
    sink.down = True
    for batch in range(6):
        for i in range(3):
            mon.log_prediction({"x": batch * 3 + i, "pad": "p" * 50}, i)
        mon.flush(timeout_s=10)
    stats = mon.stats
    assert stats["spool_dropped"] > 0
    assert stats["spooled"] + stats["spool_dropped"] >= 18
    sink.down = False
    assert mon.flush(timeout_s=10)
    kept = [r["inputs"]["x"] for r in sink.predictions.values()]
    assert kept == list(range(18 - len(kept), 18))  # the newest survived, in order
    assert len(kept) + mon.stats["spool_dropped"] == 18


def test_close_while_unreachable_is_quick_and_spools(make_monitor, sink):
    import time

    mon = make_monitor(max_retries=5, backoff_s=5, max_backoff_s=5)
    sink.down = True
    mon.log_prediction({"x": 1}, 1)
    t0 = time.monotonic()
    assert mon.close(timeout_s=10) is False
    assert time.monotonic() - t0 < 3
    assert mon.stats["spooled"] == 1
