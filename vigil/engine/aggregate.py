"""The aggregator's background loop: fold ingested batches into the minute rollups.

Ingest only appends (see :mod:`vigil.store.aggregation`); this loop folds what is
pending every ``interval_s`` seconds, in the server, on every replica. Replicas share
the work safely: on PostgreSQL each claims batches with ``FOR UPDATE SKIP LOCKED``, on
SQLite the single writer lock orders them. Reads that must be current fold the pending
batches of their model themselves, so the loop only keeps that cost small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vigil.store import Store

log = logging.getLogger("vigil.engine.aggregate")


class Aggregator:
    """Runs :meth:`Store.fold_pending` in a loop on the event loop's thread pool."""

    def __init__(self, store: Store, interval_s: float) -> None:
        self.store = store
        self.interval_s = interval_s
        self.rounds = 0
        self.failures = 0
        self.folded = 0
        self._task: asyncio.Task[None] | None = None

    def run_once(self) -> int:
        """Fold everything pending now (skipping batches another replica holds)."""
        done = self.store.fold_pending(wait=False)
        self.folded += done
        return done

    def start(self) -> None:
        if self.interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:  # a failed round must not stop the loop; the batch stays pending
                self.failures += 1
                log.exception("aggregation round failed")
            self.rounds += 1
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
