"""Closing a Monitor from its own sender thread (issue 22): no self-join, nothing lost.

A sink's ``emit`` runs on the sender thread, so a sink that closes the Monitor, or that
drops the Monitor's last reference (its finaliser then runs right there), reproduces the
old ``RuntimeError: cannot join current thread`` deterministically.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from vigil.sdk import MemoryTransport, Monitor


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


class ClosingSink:
    """Closes (or forgets) its Monitor from ``emit``, i.e. on the sender thread."""

    def __init__(self, action: str) -> None:
        self.action = action
        self.mon: Monitor | None = None
        self.emit_threads: list[str] = []
        self.results: list[Any] = []
        self.errors: list[BaseException] = []
        self.closed = threading.Event()

    def emit(self, model: str, kind: str, records: list[dict[str, Any]]) -> None:
        self.emit_threads.append(threading.current_thread().name)
        if self.mon is None:
            return
        try:
            if self.action == "close":
                self.results.append(self.mon.close(timeout_s=30))
            elif self.action == "flush":
                self.results.append(self.mon.flush(timeout_s=30))
            else:  # drop the last reference: the finaliser runs here, on this thread
                self.mon = None
        except BaseException as exc:
            self.errors.append(exc)

    def close(self) -> None:
        self.closed.set()


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Exceptions raised where nobody could catch them (e.g. in a weakref finaliser)."""
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


def test_close_from_the_sender_thread_does_not_join_itself(tmp_path, unraisable):
    sink = MemoryTransport()
    closer = ClosingSink("close")
    mon = Monitor("m", transport=sink, spool_dir=tmp_path, flush_interval_s=3600, timeout_s=5)
    mon.add_sink(closer)
    ids = [mon.log_prediction({"x": i}, i) for i in range(5)]
    closer.mon = mon
    started = time.monotonic()
    mon.flush(timeout_s=0.001)  # wake the thread; the sink closes the Monitor there
    wait_for(lambda: closer.closed.is_set())
    assert time.monotonic() - started < 15  # before: a 30 s wait for itself, then an error
    assert closer.emit_threads[0].startswith("vigil-sender")
    assert closer.errors == []
    assert closer.results == [False]  # it could not wait there: not confirmed
    assert sorted(sink.predictions) == sorted(ids)  # the batch being handled was delivered
    assert sink.closed
    wait_for(lambda: not mon._sender._thread.is_alive())
    mon.log_prediction({"x": 9}, 9)  # after close: dropped and counted, no error
    assert mon.stats["dropped_closed"] == 1
    assert mon.close(timeout_s=5) is True  # idempotent, and now the thread is gone
    assert unraisable == []


def test_records_queued_before_a_close_on_the_sender_thread_are_delivered(tmp_path):
    sink = MemoryTransport()
    closer = ClosingSink("close")
    mon = Monitor(
        "m", transport=sink, spool_dir=tmp_path, flush_interval_s=3600, batch_size=2, timeout_s=5
    )
    mon.add_sink(closer)
    closer.mon = mon
    ids = [mon.log_prediction({"x": i}, i) for i in range(7)]  # 4 batches in one cycle
    mon.flush(timeout_s=0.001)
    wait_for(lambda: closer.closed.is_set())
    assert sorted(sink.predictions) == sorted(ids)
    assert closer.errors == []


def test_flush_from_the_sender_thread_returns_at_once(tmp_path):
    sink = MemoryTransport()
    flusher = ClosingSink("flush")
    mon = Monitor("m", transport=sink, spool_dir=tmp_path, flush_interval_s=3600, timeout_s=5)
    mon.add_sink(flusher)
    flusher.mon = mon
    pid = mon.log_prediction({"x": 1}, 1)
    started = time.monotonic()
    assert mon.flush(timeout_s=30)
    assert time.monotonic() - started < 15
    assert flusher.results == [False] and flusher.errors == []
    assert pid in sink.predictions
    flusher.mon = None
    assert mon.close(timeout_s=5)


def test_the_last_reference_dropped_on_the_sender_thread_finalises_cleanly(tmp_path, unraisable):
    sink = MemoryTransport()
    dropper = ClosingSink("drop")
    mon = Monitor("m", transport=sink, spool_dir=tmp_path, flush_interval_s=3600, timeout_s=30)
    mon.add_sink(dropper)
    ids = [mon.log_prediction({"x": i}, i) for i in range(3)]
    sender = mon._sender
    dropper.mon = mon
    del mon  # the sink now holds the only reference
    gc.collect()
    assert dropper.mon is not None
    started = time.monotonic()
    sender.wake.set()
    wait_for(lambda: dropper.closed.is_set())
    assert time.monotonic() - started < 15
    wait_for(lambda: not sender._thread.is_alive())
    assert dropper.errors == []
    assert unraisable == []  # before the fix: RuntimeError('cannot join current thread')
    assert sorted(sink.predictions) == sorted(ids)
    assert sink.closed
