"""The aggregator's background loop: fold ingested batches into the minute rollups, and
rebuild the hourly rollups of complete hours whose minutes changed.

Ingest only appends (see :mod:`vigil.store.ingest.aggregation`); this loop folds what is
pending every ``interval_s`` seconds, and sooner when the batches this process appended
fill half of the memory kept for them (so a fast stream is folded from memory rather than
read back after the oldest were evicted), in the server, on every replica. Replicas share
the work safely: on PostgreSQL each claims batches with ``FOR UPDATE SKIP LOCKED``, on
SQLite the single writer lock orders them. Reads that must be current fold the pending
batches of their model themselves, so the loop only keeps that cost small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from functools import partial

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.store import Store
from vigil.store.ingest.aggregation import oldest_pending_age_s, pending_count

log = logging.getLogger("vigil.engine.windows.aggregate")
RECENT_ROWS = 50_000  # rows of recent batches kept in memory for the loop to fold
# an hour is rebuilt once its minutes stopped changing this long (a backfill landing in it
# is not rebuilt every round); reads take a changed hour from its minutes meanwhile
HOUR_SETTLE_S = 30.0


class Aggregator:
    """Runs :meth:`Store.fold_pending` in a loop on the event loop's thread pool."""

    def __init__(self, store: Store, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self.rounds = 0
        self.failures = 0
        self.folded = 0
        self.hours_built = 0
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        if interval_s > 0:  # this process folds what it appends: keep those rows at hand
            store.recent_batches.max_rows = max(store.recent_batches.max_rows, RECENT_ROWS)

    def run_once(self) -> int:
        """Fold everything pending now (skipping batches another replica holds), then
        rebuild the hourly rollups of complete hours whose minutes changed and settled."""
        done = self.store.fold_pending(wait=False)
        self.folded += done
        self.hours_built += self.store.build_hours(settle_s=HOUR_SETTLE_S)
        return done

    def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._stop = asyncio.Event()
            self._wake = asyncio.Event()
            loop = asyncio.get_running_loop()
            self.store.recent_batches.on_pressure = partial(_wake_on, loop, self._wake)
            self._task = loop.create_task(self._loop(), name="vigil-aggregate")

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:  # a failed round must not stop the loop; the batch stays pending
                self.failures += 1
                log.exception("aggregation round failed")
            self.rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the loop, letting a round in progress finish (the store closes after)."""
        self._stop.set()
        self._wake.set()
        self.store.recent_batches.on_pressure = None
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            log.warning("aggregation did not stop within %.0fs", timeout_s)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _wake_on(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set ``event`` from another thread (an ingest thread); a loop closed meanwhile (the
    server stopping) is left alone: the batch is folded by the next server's loop."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(event.set)


class AggregatorCollector(Collector):
    """The aggregator on ``/metrics``: rounds, failed rounds, batches folded by this
    process, and the backlog in the database (pending batches, age of the oldest), so a
    stalled aggregator is visible and alertable."""

    def __init__(self, aggregator: Aggregator) -> None:
        self.aggregator = aggregator

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        agg = self.aggregator
        rounds = CounterMetricFamily(
            "vigil_aggregation_rounds", "Aggregation rounds run by this server."
        )
        rounds.add_metric([], agg.rounds)
        failures = CounterMetricFamily(
            "vigil_aggregation_failures", "Aggregation rounds that failed (see the log)."
        )
        failures.add_metric([], agg.failures)
        folded = CounterMetricFamily(
            "vigil_aggregation_batches", "Ingest batches folded into rollups by this server's loop."
        )
        folded.add_metric([], agg.folded)
        hours = CounterMetricFamily(
            "vigil_aggregation_hours_built",
            "Hourly rollups rebuilt from their minutes by this server.",
        )
        hours.add_metric([], agg.hours_built)
        yield from (rounds, failures, folded, hours)
        try:
            pending, age = pending_count(agg.store), oldest_pending_age_s(agg.store)
        except Exception:  # /metrics must answer even when the store does not
            log.exception("reading the aggregation backlog failed")
            return
        backlog = GaugeMetricFamily(
            "vigil_aggregation_pending_batches", "Ingest batches not folded into the rollups yet."
        )
        backlog.add_metric([], pending)
        oldest = GaugeMetricFamily(
            "vigil_aggregation_oldest_pending_seconds",
            "Age of the oldest batch waiting to be folded (0: none).",
        )
        oldest.add_metric([], age or 0.0)
        yield from (backlog, oldest)
