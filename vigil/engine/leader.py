"""Which replica runs which background job: leases renewed by one thread per process.

Every replica of role ``worker`` or ``all`` contends for the lease of each job (rules,
exports, retention, quality, registry, probes) every ``ttl_s / 3`` seconds; the one
holding it runs the job's rounds, the others wait. A holder that stops renewing (killed,
partitioned, paused) loses the job after ``ttl_s``: another replica takes over within
``ttl_s + ttl_s / 3`` seconds (:attr:`Leadership.takeover_s`). A holder trusts its lease
only until ``ttl_s - ttl_s / 3`` after the renewal it last saw succeed, so it has stopped
before anybody else can start; rounds and their writes carry the fencing token as well
(:mod:`vigil.store.leases`), so even a holder frozen past that point cannot write late.

The aggregator needs no lease: replicas share its batches with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator

from vigil.store import Store
from vigil.store.leases import LeaseLostError, Leases

log = logging.getLogger("vigil.leader")

JOBS = ("rules", "exports", "retention", "quality", "registry", "probes")
ROUND_RETENTION_S = 7 * 86400.0  # finished rounds are kept a week, for operators


def new_holder_id() -> str:
    """A holder id unique per process start: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leadership:
    """This process's leases.

    Args:
        store: where the leases live.
        jobs: the jobs this process may lead (none for the ingest role).
        ttl_s: how long a lease lasts without renewal.
        holder: this process's id (default: host, pid, random).
    """

    def __init__(
        self,
        store: Store,
        jobs: Iterable[str] = JOBS,
        *,
        ttl_s: float = 15.0,
        holder: str | None = None,
    ) -> None:
        self.store = store
        self.leases = Leases(store)
        self.jobs = tuple(jobs)
        self.ttl_s = ttl_s
        self.renew_s = ttl_s / 3
        self.holder = holder or new_holder_id()
        self._tokens: dict[str, tuple[int, float]] = {}  # job -> (token, trusted until)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0

    @property
    def takeover_s(self) -> float:
        """The longest a job goes without a leader after its leader dies."""
        return self.ttl_s + self.renew_s

    # -- state ---------------------------------------------------------------------------
    def token(self, job: str) -> int | None:
        """This process's fencing token for ``job`` while it may act on it, else None."""
        with self._lock:
            held = self._tokens.get(job)
        if held is None or time.monotonic() >= held[1]:
            return None
        return held[0]

    def leads(self, job: str) -> bool:
        return self.token(job) is not None

    def led(self) -> list[str]:
        """The jobs this process leads now."""
        return [job for job in self.jobs if self.leads(job)]

    # -- the renewal loop ----------------------------------------------------------------
    def renew(self) -> None:
        """Take or renew every job's lease once (never raises)."""
        for job in self.jobs:
            started = time.monotonic()
            try:
                token = self.leases.acquire(job, self.holder, self.ttl_s)
            except Exception:
                log.warning("could not renew the lease of %s; not leading it", job, exc_info=True)
                token = None
            with self._lock:
                before = self._tokens.get(job)
                if token is None:
                    self._tokens.pop(job, None)
                else:  # trusted from before the request was sent, minus a safety margin
                    self._tokens[job] = (token, started + self.ttl_s - self.renew_s)
            if before is None and token is not None:
                log.info("leading %s (token %d, holder %s)", job, token, self.holder)
            elif before is not None and token is None:
                log.warning("no longer leading %s", job)
        now = time.time()
        if self.jobs and now - self._last_prune > 3600 and self.leads(self.jobs[0]):
            self._last_prune = now
            with contextlib.suppress(Exception):
                self.leases.prune_rounds(now - ROUND_RETENTION_S)

    def start(self) -> Leadership:
        """Renew in a daemon thread; the first renewal happens before this returns."""
        if self.jobs and self._thread is None:
            self._stop.clear()
            self.renew()
            self._thread = threading.Thread(target=self._run, name="vigil-leases", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.renew_s):
            self.renew()

    def stop(self) -> None:
        """Stop renewing and let this process's leases lapse now, so another replica
        takes over at its next renewal instead of after the expiry."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._lock:
            self._tokens.clear()
        if self.jobs:
            try:
                self.leases.release(self.holder)
            except Exception:
                log.warning("could not release the leases; they lapse in %.0f s", self.ttl_s)

    # -- rounds --------------------------------------------------------------------------
    @contextlib.contextmanager
    def round(self, job: str, key: str, position: float | None = None) -> Iterator[int | None]:
        """Run round ``key`` of ``job`` at most once across replicas.

        Yields the fencing token when this process should run the round (it leads the
        job and nobody finished the round), else None; ``position`` is stored with the
        finished round (how far the job got: an export's end). The round is marked done when the
        block ends; a block that raises leaves it for the next attempt. A round whose
        leader died midway is run again by the next leader (at least once, never lost).
        """
        token = self.token(job.split(":", 1)[0])
        if token is None:
            yield None
            return
        try:
            mine = self.leases.begin_round(job, key, token, self.holder)
        except LeaseLostError:
            mine = False
        if not mine:
            yield None
            return
        try:
            yield token
        except BaseException:
            with contextlib.suppress(Exception):
                self.leases.abandon_round(job, key, token)
            raise
        self.leases.finish_round(job, key, token, position)
