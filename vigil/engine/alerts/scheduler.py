"""The server's background loop: evaluate the rules every ``rules_interval_s`` seconds.

Started from the app's lifespan; any failure of a round is logged and counted and the
loop goes on, so the server never falls over because of a rule. With several replicas on
one database, only the leader of the ``rules`` job evaluates (:mod:`vigil.engine.leader`),
and each round (the interval it falls in) is claimed once under the lease's fencing
token, so a takeover neither skips nor repeats a round. :meth:`RuleScheduler.stop` ends
the loop and the notifiers cleanly on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from starlette.concurrency import run_in_threadpool

from vigil.engine.alerts.dispatch import Dispatcher
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.leader import Leadership

log = logging.getLogger("vigil.alerts")

LEASE = "rules"


class RuleScheduler:
    """Runs :meth:`AlertEngine.evaluate` periodically in a worker thread."""

    def __init__(
        self,
        engine: AlertEngine,
        dispatcher: Dispatcher,
        interval_s: float,
        leadership: Leadership | None = None,
    ) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.interval_s = interval_s
        self.leadership = leadership  # None: evaluate every round (one process, tests)
        self.rounds = 0
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        """Start the loop on the running event loop (no-op when the interval is 0)."""
        if self.interval_s > 0 and self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="vigil-rules")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the loop (letting a round in progress finish) and the dispatcher."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout_s)
            except TimeoutError:
                log.warning("rule evaluation did not stop within %.0fs", timeout_s)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await run_in_threadpool(self.dispatcher.close)

    def run_once(self) -> None:
        """One round: when leading, claim this interval's round and evaluate (errors are
        logged, never raised)."""
        try:
            if self.leadership is None:
                self.engine.evaluate()
            else:
                key = str(int(time.time() // self.interval_s))
                with self.leadership.round(LEASE, key) as token:
                    if token is not None:
                        self.engine.evaluate()
        except Exception:
            log.exception("rule evaluation round failed")
            if self.engine.metrics is not None:
                self.engine.metrics.evaluation_failed("*")
        self.rounds += 1

    async def _run(self) -> None:
        while not self._stop.is_set():
            await run_in_threadpool(self.run_once)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
