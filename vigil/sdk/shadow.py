"""Run a shadow candidate off the caller's thread and record its answers under its version.

In a shadow release (``vigil registry canary ... --mode shadow``) the stable version keeps
serving every call; :meth:`vigil.Monitor.shadow` hands a copy of the inputs of the
shadow's share of calls to :class:`ShadowRunner`, whose single worker thread runs the
candidate and records its output, latency or exception as a prediction of the
candidate's version. Those predictions are compared with the stable ones by the server's
canary check, never served. At most ``max_pending`` runs wait; more are dropped and
counted (the inference path never waits for the candidate).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from time import perf_counter_ns
from typing import Any

log = logging.getLogger("vigil.sdk")


class ShadowRunner:
    """One worker thread running shadow candidates for a Monitor."""

    def __init__(self, monitor: Any, max_pending: int = 1000) -> None:
        self.monitor = monitor
        self.max_pending = max_pending
        self.pending = 0
        self.dropped = 0
        self.runs = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-shadow")

    def submit(
        self, candidate: Callable[[Any], Any], inputs: Any, version: str, subject_id: str | None
    ) -> Future[Any] | None:
        """Queue one run; None when too many are pending (dropped and counted)."""
        with self._lock:
            if self.pending >= self.max_pending:
                self.dropped += 1
                return None
            self.pending += 1
        try:
            copied = copy.deepcopy(inputs)  # the caller may reuse its inputs at once
            return self._pool.submit(self._run, candidate, copied, version, subject_id)
        except Exception:  # a closed pool or inputs that cannot be copied: never raise
            with self._lock:
                self.pending -= 1
                self.dropped += 1
            log.exception("vigil: could not queue a shadow run of version %s", version)
            return None

    def _run(
        self, candidate: Callable[[Any], Any], inputs: Any, version: str, subject_id: str | None
    ) -> Any:
        try:
            t0 = perf_counter_ns()
            error: BaseException | None = None
            output = None
            try:
                output = candidate(inputs)
            except Exception as exc:
                error = exc
            latency = (perf_counter_ns() - t0) / 1e9
            self.monitor.log_prediction(
                inputs,
                output,
                latency_s=latency,
                error=error,
                subject_id=subject_id,
                version=version,
            )
            self.runs += 1
            if error is not None:
                raise error
            return output
        finally:
            with self._lock:
                self.pending -= 1

    def close(self, timeout_s: float | None = None) -> None:
        """Finish the queued runs (their records then go out with the Monitor's flush)."""
        self._pool.shutdown(wait=True)
