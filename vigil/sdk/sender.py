"""The background half of a Monitor: a bounded buffer and the daemon thread that drains it.

The hot path calls :meth:`Sender.put` (or inlines it): a length check and a
``deque.append``; when the buffer is full the item is dropped and counted, nothing
blocks. The thread wakes every ``flush_interval_s`` or as soon as a batch is full,
builds and encodes batches (:mod:`vigil.sdk.encode`), registers the model on first
contact, and delivers through the :class:`~vigil.sdk.transport.Transport`:

* connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and
  jitter; once the retries are spent the batch goes to the :class:`~vigil.sdk.spool.Spool`;
* while the spool holds batches, new ones queue behind them, and the spool is replayed
  oldest first on a backoff schedule (and at once by ``flush``/``close``);
* any other 4xx is not retried: the batch is logged and counted as rejected; a 413 splits
  the batch in halves; a 404 ``model_not_found`` registers the model again once.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from vigil.schema import ModelSchema
from vigil.sdk.columnar import arrow_available, is_columnar, records_from_columnar, split_columnar
from vigil.sdk.encode import encode, to_records
from vigil.sdk.spool import Spool
from vigil.sdk.transport import BODY_KEYS, SendError, Transport

log = logging.getLogger("vigil.sdk")

_KINDS = ("predictions", "labels", "feedback", "resources")  # delivery order within a cycle


def backoff_delay(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with equal jitter: in ``[d/2, d]`` for ``d = base * 2**attempt``.

    Examples:
        >>> all(0.05 <= backoff_delay(0, 0.1, 5.0) <= 0.1 for _ in range(100))
        True
        >>> all(2.5 <= backoff_delay(10, 0.1, 5.0) <= 5.0 for _ in range(100))
        True
    """
    d = min(max_s, base_s * (2 ** min(attempt, 30)))
    return d / 2 + random.random() * d / 2


class _Counter:
    """An exact counter safe to bump from many threads without a lock."""

    __slots__ = ("_count",)

    def __init__(self) -> None:
        self._count = itertools.count()

    def bump(self) -> None:
        next(self._count)

    @property
    def value(self) -> int:
        return int(repr(self._count)[6:-1])  # "count(N)"; reading does not advance it


class Sender:
    """Owns the buffer, the thread and the delivery policy of one Monitor."""

    def __init__(
        self,
        *,
        model: str,
        version: str,
        transport: Transport,
        spool: Spool,
        schema: ModelSchema | None,
        task: str,
        batch_size: int,
        flush_interval_s: float,
        queue_size: int,
        max_retries: int,
        backoff_s: float,
        max_backoff_s: float,
    ) -> None:
        self.model = model
        self.version = version
        self.transport = transport
        self.spool = spool
        self.schema = schema
        self.task = task
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        # Read by the hot path.
        self.buf: deque[tuple[Any, ...]] = deque()
        self.cap = queue_size
        self.trigger = batch_size - 1  # wake the thread when an append fills a batch
        self.wake = threading.Event()
        self.dropped = _Counter()
        self.dropped_closed = _Counter()
        # Written by the sender thread only.
        self.counts = dict.fromkeys(
            (
                "sent",
                "accepted",
                "duplicates",
                "rejected",
                "spooled",
                "replayed",
                "spool_dropped",
                "send_errors",
                "retries",
                "batches",
                "internal_errors",
            ),
            0,
        )
        self._ensured: set[str] = set()
        self._first_batch: list[dict[str, Any]] = []  # what the model's schema is inferred from
        self._switches: list[tuple[float, str]] = []  # (from ts, version): switch_version
        # Integrations (vigil.integrations): sinks get each batch's records in this thread
        # before delivery; exception hooks get the model's exceptions (error path only).
        self.sinks: list[Any] = []
        self.exception_hooks: list[Any] = []
        self._spool_pending = len(spool) > 0  # batches left by an earlier run: replay them
        self._replay_failures = 0
        self._next_replay = 0.0
        self._spool_announced = False
        self.no_error_type = False  # set when the server proves older than error_type
        # Prediction batches as Arrow tables when the transport takes them and pyarrow is
        # here (vigil.sdk.columnar); off for good once the server answers 415.
        self.columnar = bool(getattr(transport, "columnar", False)) and arrow_available()
        self._closing = threading.Event()
        self._cond = threading.Condition()
        self._flush_req = 0
        self._flush_done = 0
        self._flush_ok = True
        self._stopped = False
        self._release_on_exit = False
        self._thread = self._start_thread()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _restart_in_child(ref))

    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name=f"vigil-sender[{self.model}]", daemon=True)
        thread.start()
        return thread

    def restart_after_fork(self) -> None:
        """In a forked child: the thread did not survive the fork; start a fresh one.

        Records the parent had queued are the parent's to send; the child starts with an
        empty buffer and new connections (a transport may offer ``after_fork()``).
        """
        if self._closing.is_set():
            return
        self.buf.clear()
        self.wake = threading.Event()
        self._cond = threading.Condition()
        self._flush_req = self._flush_done = 0
        self._stopped = False
        self.counts = dict.fromkeys(self.counts, 0)
        self.dropped = _Counter()
        self.dropped_closed = _Counter()
        reset = getattr(self.transport, "after_fork", None)
        if reset is not None:
            reset()
        self._thread = self._start_thread()

    # -- producer side (any thread) -------------------------------------------------------

    def put(self, item: tuple[Any, ...]) -> None:
        """Enqueue one item, or drop and count it when the buffer is full. Never blocks."""
        buf = self.buf
        n = len(buf)
        if n < self.cap:
            buf.append(item)
            if n == self.trigger:
                self.wake.set()
        else:
            self.drop()

    def drop(self) -> None:
        """Count one record that did not fit (or came after ``close``)."""
        if self._closing.is_set():
            self.dropped_closed.bump()
        else:
            self.dropped.bump()

    def flush(self, timeout_s: float | None) -> bool:
        """Deliver what was queued before the call; True when nothing is left pending.

        On the sender thread itself (a sink calling ``flush``) it cannot wait for that
        thread: it wakes it for an early cycle and returns False.
        """
        if threading.current_thread() is self._thread:
            self.wake.set()
            return False
        with self._cond:
            if self._stopped or not self._thread.is_alive():
                return not self.buf and not self._spool_pending
            self._flush_req += 1
            req = self._flush_req
            self.wake.set()
            done = self._cond.wait_for(lambda: self._flush_done >= req, timeout_s)
            return done and self._flush_ok

    def close(self, timeout_s: float | None) -> bool:
        """Stop taking records, deliver (or spool) the rest, stop the thread.

        Called on the sender thread itself (from a sink, or by a Monitor's finaliser that
        the garbage collector happened to run there), it cannot wait for that thread: it
        only marks the sender closing and returns False; the thread finishes its cycle,
        delivers (or spools) everything queued, then releases the transport and sinks.
        """
        if self._closing.is_set():
            return not self._thread.is_alive()
        self._closing.set()
        self.cap = 0
        if threading.current_thread() is self._thread:
            self._release_on_exit = True
            self.wake.set()
            return False
        ok = self.flush(timeout_s)
        self.wake.set()
        self._thread.join(timeout_s)
        self._release()
        return ok and not self._thread.is_alive()

    def _release(self) -> None:
        """Close the transport and the sinks (once the thread no longer uses them)."""
        try:
            self.transport.close()
        except Exception:
            log.exception("vigil: closing the transport failed")
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                log.exception("vigil: closing the sink %r failed", sink)

    def report_exception(self, exc: BaseException, ts: float) -> None:
        """Hand a model's exception to the exception hooks; never raises."""
        for hook in self.exception_hooks:
            try:
                hook(exc, ts)
            except Exception:
                self.counts["internal_errors"] += 1

    def switch_version(self, version: str, at: float) -> None:
        """Tag predictions recorded from time ``at`` on with ``version``; earlier ones keep
        the version they were recorded under, even when they are sent later."""
        if not self._switches:
            self._switches.append((float("-inf"), self.version))
        self._switches.append((at, version))
        self.version = version

    def _version_at(self) -> Callable[[float], str]:
        """The version followed at a given time (see :meth:`switch_version`)."""
        switches = list(self._switches)
        times = [t for t, _ in switches]

        def at(ts: float) -> str:
            return switches[max(bisect.bisect_right(times, ts) - 1, 0)][1]

        return at

    def stats(self) -> dict[str, int]:
        out = dict(self.counts)
        out["queued"] = len(self.buf)
        out["dropped_queue_full"] = self.dropped.value
        out["dropped_closed"] = self.dropped_closed.value
        out["spool_files"] = len(self.spool) if self._spool_pending else 0
        return out

    # -- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self.wake.wait(self.flush_interval_s)
            self.wake.clear()
            with self._cond:
                req = self._flush_req
            closing = self._closing.is_set()
            try:
                self._cycle(force_replay=req > self._flush_done or closing)
                ok = not self._spool_pending
            except Exception:  # a bug here must not kill the thread
                self.counts["internal_errors"] += 1
                log.exception("vigil: the sender failed; continuing")
                ok = False
            if req > self._flush_done:
                with self._cond:
                    self._flush_ok = ok
                    self._flush_done = req
                    self._cond.notify_all()
            if closing:
                with self._cond:  # a flush asked for meanwhile still gets its cycle
                    if self._flush_req <= self._flush_done:
                        self._stopped = True
                        break
        if self._release_on_exit:  # close was called on this thread: release here
            self._release()

    def _cycle(self, *, force_replay: bool) -> None:
        buf = self.buf
        n = len(buf)
        while n > 0:
            k = min(n, self.batch_size)
            n -= k
            items = [buf.popleft() for _ in range(k)]
            try:
                groups = to_records(
                    items,
                    self.version,
                    time.time_ns() - time.perf_counter_ns(),
                    self._version_at() if self._switches else None,
                )
            except Exception:
                self.counts["internal_errors"] += k
                log.exception("vigil: could not build records; dropped %d", k)
                continue
            if self.no_error_type:
                for rec in groups["predictions"]:
                    rec.pop("error_type", None)
            if self.sinks:
                self._emit(groups)
            if self.model not in self._ensured and self.schema is None:
                self._first_batch = groups["predictions"]
            for kind in _KINDS:
                if groups[kind]:
                    for body, count in self._bodies(kind, groups[kind]):
                        self._deliver(self.model, kind, count, body)
        self._replay(force=force_replay)

    def _bodies(self, kind: str, records: list[dict[str, Any]]) -> list[tuple[bytes, int]]:
        """The encoded bodies of a batch and their record counts: predictions as one Arrow
        table (when columnar) plus JSON for the records that do not fit it, else JSON."""
        out = []
        if kind == "predictions" and self.columnar:
            try:
                table, rest = split_columnar(records)
            except Exception:  # a bug there must not lose the batch: JSON carries it
                self.counts["internal_errors"] += 1
                log.exception("vigil: could not encode a columnar batch; sending JSON")
                table, rest = None, records
            if table is not None:
                out.append((table, len(records) - len(rest)))
            records = rest
        if records:
            body, count = encode(BODY_KEYS[kind], records)
            self.counts["internal_errors"] += len(records) - count
            if count:
                out.append((body, count))
        return out

    def _emit(self, groups: dict[str, list[dict[str, Any]]]) -> None:
        for sink in self.sinks:
            for kind in _KINDS:
                if groups.get(kind):
                    try:
                        sink.emit(self.model, kind, groups[kind])
                    except Exception:  # a sink bug must not stop delivery to vigil
                        self.counts["internal_errors"] += 1
                        log.exception("vigil: the sink %r failed", sink)

    def _deliver(self, model: str, kind: str, n: int, body: bytes) -> None:
        if not self._spool_pending:
            if self._send(model, kind, n, body, retries=self.max_retries):
                return
            self._next_replay = time.monotonic() + backoff_delay(
                0, self.backoff_s * 4, self.max_backoff_s
            )
        self._to_spool(model, kind, n, body)

    def _to_spool(self, model: str, kind: str, n: int, body: bytes) -> None:
        try:
            lost = self.spool.put(model, kind, n, body)
        except OSError as exc:
            self.counts["spool_dropped"] += n
            log.error(
                "vigil: could not write %d %s to the spool at %s (%s); they are lost",
                n,
                kind,
                self.spool.directory,
                exc,
            )
            return
        self.counts["spool_dropped"] += lost
        if not self._spool_announced:
            self._spool_announced = True
            log.warning(
                "vigil: %s of %r could not be delivered; spooling them in %s (they "
                "are replayed only to %s)",
                kind,
                model,
                self.spool.directory,
                (self.spool.owner or {}).get("endpoint", "the same endpoint"),
            )
        if lost < n:
            self.counts["spooled"] += n
            self._spool_pending = True

    def _replay(self, *, force: bool) -> None:
        if not self._spool_pending or (not force and time.monotonic() < self._next_replay):
            return
        while True:
            batch = self.spool.oldest()
            if batch is None:
                self._spool_pending = False
                self._replay_failures = 0
                return
            if not self._send(batch.model, batch.kind, batch.n, batch.body, retries=0):
                self._replay_failures += 1
                self._next_replay = time.monotonic() + backoff_delay(
                    self._replay_failures, self.backoff_s * 4, self.max_backoff_s
                )
                return
            self.spool.remove(batch.path)
            self.counts["replayed"] += batch.n

    def _send(self, model: str, kind: str, n: int, body: bytes, *, retries: int) -> bool:
        """Deliver one batch; False when it should be kept for later (retryable failure)."""
        attempt = 0
        registered_again = False
        while True:
            try:
                self._ensure_model(model, kind, body)
                result = self.transport.send(model, kind, body)
            except SendError as exc:
                self.counts["send_errors"] += 1
                if exc.error_code == "model_not_found" and not registered_again:
                    registered_again = True
                    self._ensured.discard(model)
                    continue
                if is_columnar(body) and exc.status in (400, 415):
                    body = self._as_json(body, exc)
                    continue
                if exc.status == 413 and n > 1:
                    return self._send_halves(model, kind, body, retries)
                if not exc.retryable:
                    self._reject(model, kind, n, exc)
                    return True
                error: Exception = exc
            except Exception as exc:  # a transport bug: keep the batch, it may work later
                self.counts["send_errors"] += 1
                log.exception("vigil: the transport raised unexpectedly")
                error = exc
            else:
                if kind == "predictions" and result.get("rejected"):
                    n, result = self._resend_without_error_type(model, n, body, result)
                self._count(kind, n, result)
                return True
            if attempt >= retries or self._closing.is_set():
                log.warning(
                    "vigil: could not deliver %d %s of %r (%s); keeping them in the spool",
                    n,
                    kind,
                    model,
                    error,
                )
                return False
            self.counts["retries"] += 1
            self._closing.wait(backoff_delay(attempt, self.backoff_s, self.max_backoff_s))
            attempt += 1

    def _as_json(self, body: bytes, exc: SendError) -> bytes:
        """A columnar body the server refused, as JSON: a 415 (a server without Arrow
        bodies) turns columnar batches off for good, a 400 only for this one."""
        if exc.status == 415 and self.columnar:
            self.columnar = False
            log.warning("vigil: the server does not take Arrow bodies (%s); sending JSON", exc)
        elif exc.status == 400:
            log.warning("vigil: the server refused a columnar batch (%s); sending it as JSON", exc)
        json_body, _ = encode("records", records_from_columnar(body))
        return json_body

    def _resend_without_error_type(
        self, model: str, n: int, body: bytes, result: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """A server older than this SDK rejects ``error_type`` as an unknown field: send
        those records again without it (their ``error`` text still starts with the kind)
        and leave it out from now on. Returns what is left to count of the first answer."""
        rejected = result["rejected"]
        records = _loads(body).get("records", [])
        again = [
            r for r in rejected if _only_error_type_unknown(r) and 0 <= r["index"] < len(records)
        ]
        if not again:
            return n, result
        if not self.no_error_type:
            self.no_error_type = True
            log.warning(
                "vigil: the server does not know the field error_type (it is older "
                "than this SDK); error kinds are sent inside the error text only"
            )
        redo = []
        for r in again:
            rec = records[r["index"]]
            rec.pop("error_type", None)
            redo.append(rec)
        redo_body, count = encode("records", redo)
        if not self._send(model, "predictions", count, redo_body, retries=self.max_retries):
            self._to_spool(model, "predictions", count, redo_body)
        left = [r for r in rejected if not any(r is a for a in again)]
        return n - len(again), {**result, "rejected": left}

    def _send_halves(self, model: str, kind: str, body: bytes, retries: int) -> bool:
        items = _loads(body)[BODY_KEYS[kind]]
        mid = len(items) // 2
        for part in (items[:mid], items[mid:]):
            for part_body, count in self._bodies(kind, part):
                if not self._send(model, kind, count, part_body, retries=retries):
                    self._to_spool(model, kind, count, part_body)  # keep it for later
        return True

    def _ensure_model(self, model: str, kind: str, body: bytes) -> None:
        if model in self._ensured:
            return
        existing = self.transport.get_model(model)
        if existing is not None and model == self.model:
            self._reconcile(model, existing, body)
        if existing is None:
            own = model == self.model
            if kind != "predictions" and not (own and self.schema is not None):
                raise SendError(
                    f"Model {model!r} is not registered and {kind} cannot describe it; "
                    "log its predictions first or give Monitor a schema.",
                    status=404,
                    error_code="model_not_registered",
                )
            schema = self.schema if own else None
            task = self.task if own else "other"
            if schema is None:
                schema = ModelSchema.infer(self._first_inputs(model, body), task=task)
            self.transport.register_model({"name": model, "task": task, "schema": schema.to_dict()})
            log.info("vigil: registered model %r (%d features)", model, len(schema.features))
        self._ensured.add(model)
        self._first_batch = []

    def _first_inputs(self, model: str, body: bytes) -> list[dict[str, Any]]:
        """The inputs a schema is inferred from: this Monitor's whole first batch of
        predictions (a columnar body holds only the records that fit its table), else
        the body's."""
        records = (self._first_batch if model == self.model else None) or _loads(body).get(
            "records", []
        )
        return [r["inputs"] for r in records if isinstance(r.get("inputs"), dict)]

    def _reconcile(self, model: str, existing: dict[str, Any], body: bytes) -> None:
        """Fill in a placeholder model (made by ``vigil registry register``: task ``other``,
        no inputs) with this Monitor's task and schema; say so loudly when a registered
        task contradicts the Monitor's."""
        stored_task = existing.get("task")
        placeholder = stored_task == "other" and not (existing.get("schema") or {}).get("features")
        if placeholder and (self.task != "other" or self.schema is not None):
            schema = self.schema
            if schema is None:
                schema = ModelSchema.infer(self._first_inputs(model, body), task=self.task)
            self.transport.register_model(
                {"name": model, "task": self.task, "schema": schema.to_dict()}
            )
            log.info(
                "vigil: filled in model %r (registered without a task or inputs) with "
                "task %s and %d features",
                model,
                self.task,
                len(schema.features),
            )
        elif self.task != "other" and stored_task not in (self.task, "other"):
            log.error(
                "vigil: model %r is registered with task %r but this Monitor says %r; "
                "the stored task is kept, so quality is computed as %r. Fix one of "
                "them (POST /api/v1/models updates the model).",
                model,
                stored_task,
                self.task,
                stored_task,
            )

    def _count(self, kind: str, n: int, result: dict[str, Any]) -> None:
        c = self.counts
        rejected = result.get("rejected") or []
        c["batches"] += 1
        c["accepted"] += int(result.get("accepted", 0))
        c["duplicates"] += int(result.get("duplicates", 0))
        c["rejected"] += len(rejected)
        c["sent"] += n - len(rejected)
        if rejected:
            first = rejected[0]
            errors = first.get("errors", first) if isinstance(first, dict) else first
            if isinstance(errors, list) and len(errors) > 3:
                errors = [*errors[:3], f"... {len(errors) - 3} more"]
            log.warning(
                "vigil: the server rejected %d of %d %s; first: %s", len(rejected), n, kind, errors
            )

    def _reject(self, model: str, kind: str, n: int, exc: SendError) -> None:
        self.counts["rejected"] += n
        log.error(
            "vigil: %d %s of %r were rejected and will not be retried: %s", n, kind, model, exc
        )


def _restart_in_child(ref: weakref.ref[Sender]) -> None:
    sender = ref()
    if sender is not None:
        try:
            sender.restart_after_fork()
        except Exception:
            log.exception("vigil: could not restart the sender after fork")


def _only_error_type_unknown(rejection: Any) -> bool:
    """Whether a record was rejected only because the server does not know error_type."""
    errors = rejection.get("errors") if isinstance(rejection, dict) else None
    return (
        isinstance(errors, list)
        and len(errors) == 1
        and isinstance(errors[0], dict)
        and isinstance(rejection.get("index"), int)
        and str(errors[0].get("reason", "")).startswith("unknown fields ['error_type']")
    )


def _loads(body: bytes) -> dict[str, Any]:
    """A body's items under their JSON key, whether it is JSON or a columnar table."""
    if is_columnar(body):
        return {"records": records_from_columnar(body)}
    data = orjson.loads(body)
    return data if isinstance(data, dict) else {}
