"""What every integration shares: fail-soft delivery and counters (a sink is any object with
``emit(model, kind, records)`` and ``close()``; see ``Monitor.add_sink``).

SDK-side integrations are *record sinks*: ``Monitor.add_sink(sink)`` hands them each
batch of records in the sender's background thread (never in the tracked call), before
the batch goes to vigil. A sink that talks to a network keeps what it could not deliver
in a bounded buffer, backs off, and tries again on the next batch; a down backend costs
one short timeout per backoff period, is counted in :attr:`NetworkSink.stats` and
logged, and never raises into the sender.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("vigil.integrations")


class DeliveryError(Exception):
    """A delivery failed in part or whole.

    Attributes:
        retry: the items worth sending again (None: the whole batch).
        refused: how many items the backend refused for good (not retried).
    """

    def __init__(self, message: str, retry: list[Any] | None = None, refused: int = 0) -> None:
        super().__init__(message)
        self.retry = retry
        self.refused = refused


class NetworkSink:
    """Base of sinks that push items to a backend: bounded buffer, backoff, counters.

    Subclasses implement :meth:`items` (records to wire items) and :meth:`deliver`
    (send a list of items; raise :class:`DeliveryError` with the items to retry, or
    return the number of items the backend refused for good).

    Args:
        max_pending: most undelivered items kept; the oldest give way (counted).
        batch_size: most items per request.
        backoff_s: first wait after a failure; doubles up to ``max_backoff_s``.
    """

    name = "sink"

    def __init__(
        self,
        *,
        max_pending: int = 10_000,
        batch_size: int = 500,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
    ) -> None:
        self.pending: deque[Any] = deque()
        self.max_pending = max_pending
        self.batch_size = batch_size
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.stats = dict.fromkeys(
            ("delivered", "rejected", "dropped", "failures", "retried_items", "internal_errors"), 0
        )
        self._failures = 0
        self._next_try = 0.0
        self._lock = threading.Lock()

    # -- to implement ----------------------------------------------------------------------
    def items(self, model: str, kind: str, records: list[dict[str, Any]]) -> Iterable[Any]:
        raise NotImplementedError

    def deliver(self, items: list[Any]) -> int:
        raise NotImplementedError

    # -- the sink protocol -----------------------------------------------------------------
    def emit(self, model: str, kind: str, records: list[dict[str, Any]]) -> None:
        try:
            new = list(self.items(model, kind, records))
        except Exception:
            self.stats["internal_errors"] += len(records)
            log.exception("vigil: %s could not convert %d %s", self.name, len(records), kind)
            return
        with self._lock:
            self._queue(new)
            if time.monotonic() >= self._next_try:
                self._drain()

    def flush(self) -> bool:
        """Try to deliver everything pending now; True when nothing is left."""
        with self._lock:
            self._drain()
            return not self.pending

    def close(self) -> None:
        self.flush()
        if self.pending:
            self.stats["dropped"] += len(self.pending)
            log.warning(
                "vigil: %s closed with %d undelivered items; they are lost",
                self.name,
                len(self.pending),
            )
            self.pending.clear()

    # -- internals -------------------------------------------------------------------------
    def _queue(self, items: list[Any]) -> None:
        self.pending.extend(items)
        excess = len(self.pending) - self.max_pending
        if excess > 0:
            for _ in range(excess):
                self.pending.popleft()
            self.stats["dropped"] += excess
            log.warning("vigil: %s buffer full; dropped the %d oldest items", self.name, excess)

    def _drain(self) -> None:
        while self.pending:
            batch = [self.pending.popleft() for _ in range(min(self.batch_size, len(self.pending)))]
            try:
                refused = self.deliver(batch)
            except DeliveryError as exc:
                retry = batch if exc.retry is None else exc.retry
                self._fail(exc, batch, retry, exc.refused)
                return
            except Exception as exc:  # transport errors: keep the whole batch
                self._fail(exc, batch, batch, 0)
                return
            self.stats["delivered"] += len(batch) - refused
            self.stats["rejected"] += refused
            self._failures = 0

    def _fail(self, exc: Exception, batch: list[Any], retry: list[Any], refused: int) -> None:
        self.stats["failures"] += 1
        self.stats["delivered"] += max(len(batch) - len(retry) - refused, 0)
        self.stats["rejected"] += refused
        self.stats["retried_items"] += len(retry)
        self.pending.extendleft(reversed(retry))
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** min(self._failures, 20))
        self._failures += 1
        self._next_try = time.monotonic() + delay / 2 + random.random() * delay / 2
        log.warning(
            "vigil: %s delivery failed (%s); %d items kept for a retry", self.name, exc, len(retry)
        )


def iso_ts(ts: float) -> str:
    """An RFC 3339 UTC timestamp with milliseconds.

    Examples:
        >>> iso_ts(1700000000.1234)
        '2023-11-14T22:13:20.123Z'
    """
    secs, ms = divmod(round(ts * 1000), 1000)
    return f"{_second(secs)}.{ms:03d}Z"


@functools.lru_cache(maxsize=1024)
def _second(secs: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
