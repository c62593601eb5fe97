"""``vigil.Monitor``: record a model's predictions, labels and feedback from inference code.

The calls made in the inference path (a tracked function, ``observe``, the ``log_*``
methods) only read clocks (a tracked call: the monotonic clock, twice) and append a tuple
to a bounded buffer; ids for tracked calls,
record dicts, JSON, compression and network all happen in a background thread
(:mod:`vigil.sdk.sender`). The SDK never raises into a tracked call: a full buffer drops
and counts, an instrumentation failure is logged and counted, and the model's own
exceptions are recorded and re-raised unchanged.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import logging
import os
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from time import perf_counter_ns, time
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from vigil.errors import ConfigurationError, InvalidParameterError
from vigil.schema import ModelSchema, Task
from vigil.sdk.encode import (
    ERROR_TYPE_MAX,
    FEEDBACK,
    LABEL,
    PREDICTION,
    TRACKED,
    describe_error,
    error_kind,
    timeout_error,
)
from vigil.sdk.ids import id_at, new_id
from vigil.sdk.local import LocalTransport, is_local_endpoint
from vigil.sdk.sender import Sender
from vigil.sdk.spool import Spool, normalise_endpoint, safe_name, spool_directory
from vigil.sdk.transport import Transport

if TYPE_CHECKING:
    from vigil.sdk.follow import AliasFollower

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("vigil.sdk")

_MAX_BATCH = 10_000  # the server's default limit per ingest request


class Monitor:
    """Records one model version's traffic and sends it to vigil in the background.

    Args:
        model: the model name (registered on first contact when it does not exist yet).
        version: the model version every record is tagged with.
        endpoint: the server's URL, or a database URL (``sqlite:///path.db``,
            ``postgresql+psycopg://...``) to write to a store directly (local mode).
        api_key: sent as a bearer token to the server.
        schema: the model's input features (a :class:`~vigil.schema.ModelSchema` or its
            dict form); inferred from the first records when not given.
        task: the model's task (``binary_classification``, ``regression``, ...); default
            the schema's task, else ``other``.
        batch_size: records per request (at most 10,000).
        flush_interval_s: the longest a record waits in the buffer before it is sent.
        queue_size: the most records the buffer holds; more are dropped and counted.
        spool_dir: the folder under which undeliverable batches wait, each Monitor in
            its own ``<model>-<key>`` subfolder keyed by endpoint and model (so they are
            replayed only to the endpoint they were meant for); default
            ``VIGIL_SPOOL_DIR``, else ``VIGIL_HOME/spool``. The folder is logged at the
            first spooled batch and is :attr:`spool_dir`.
        spool_max_bytes: the spool's size bound; the oldest batches give way.
        timeout_s: the timeout of each request, and of the flush at exit.
        max_retries: retries of a failed request before its batch goes to the spool.
        backoff_s: the first retry delay; it doubles each retry, with jitter.
        max_backoff_s: the longest delay between retries and spool replays.
        transport: where to send instead of ``endpoint`` (e.g.
            :class:`~vigil.sdk.transport.MemoryTransport` in tests and notebooks).
        resources: sample this process and its host (CPU, memory, threads, open files,
            load, NVIDIA GPUs, the network's share of each delivery) in a background
            thread and send the samples beside the predictions
            (:mod:`vigil.sdk.resources`). Needs psutil (``vigil[sdk-resources]``; GPUs
            also ``vigil[gpu]``, and are left out without it).
        resource_interval_s: seconds between resource samples.
        cpu_time: also measure the thread CPU time of each tracked (non-async) call and
            send its mean and p95 with the samples; needs ``resources``. Off by default:
            it adds two CPU-clock reads to each call.
        version_from: follow a registry alias (``"sentiment@production"``): the version is
            read at start and polled every ``follow_interval_s`` seconds (with ETags); when
            the alias moves, ``on_version_change(version)`` runs (load the new model there)
            and predictions recorded from then on carry the new version.
        on_version_change: called with the new version when the followed alias moves; if
            it raises, the Monitor stays on the old version and asks again next poll.
        follow_interval_s: seconds between polls of ``version_from``.
        on_canary_change: called with ``{"version", "share", "mode"}`` when the followed
            alias starts a canary or shadow release (load the candidate there), and with
            None when it ends; if it raises, calls keep going to the stable version and
            it is asked again next poll. Route calls with :meth:`serving_version` (or
            :meth:`serve`) and run a shadow candidate with :meth:`shadow`.

    Examples:
        >>> from vigil.sdk import MemoryTransport
        >>> sink = MemoryTransport()
        >>> mon = Monitor("churn", version="2", transport=sink, task="binary_classification")
        >>> @mon.track
        ... def predict(features):
        ...     return int(features["age"] > 40)
        >>> predict({"age": 52, "plan": "pro"})
        1
        >>> pid = mon.log_prediction({"age": 30, "plan": "free"}, 0, proba=[0.8, 0.2])
        >>> mon.log_label(pid, 1)
        >>> mon.flush()
        True
        >>> sorted(r["outputs"] for r in sink.predictions.values())
        [0, 1]
        >>> [f["name"] for f in sink.models["churn"]["schema"]["features"]]
        ['age', 'plan']
        >>> mon.stats["sent"], mon.stats["dropped_queue_full"]
        (3, 0)
        >>> mon.close()
        True
    """

    def __init__(
        self,
        model: str,
        version: str | int = "1",
        endpoint: str = "http://127.0.0.1:8765",
        api_key: str | None = None,
        schema: ModelSchema | Mapping[str, Any] | None = None,
        *,
        task: Task | str | None = None,
        batch_size: int = 1000,
        flush_interval_s: float = 1.0,
        queue_size: int = 100_000,
        spool_dir: str | Path | None = None,
        spool_max_bytes: int = 256 * 1024 * 1024,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.1,
        max_backoff_s: float = 10.0,
        transport: Transport | None = None,
        resources: bool = False,
        resource_interval_s: float = 10.0,
        cpu_time: bool = False,
        version_from: str | None = None,
        on_version_change: Callable[[str], Any] | None = None,
        follow_interval_s: float = 30.0,
        on_canary_change: Callable[[dict[str, Any] | None], Any] | None = None,
    ) -> None:
        _check_options(
            model,
            batch_size=batch_size,
            queue_size=queue_size,
            max_retries=max_retries,
            spool_max_bytes=spool_max_bytes,
            flush_interval_s=flush_interval_s,
            timeout_s=timeout_s,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
        )
        _check_resources(resources, cpu_time)
        schema, resolved_task = _schema_and_task(schema, task)
        self.model = model
        self.version = str(version)
        self.endpoint = endpoint
        self.timeout_s = float(timeout_s)
        if transport is None:
            transport = _default_transport(endpoint, api_key, self.timeout_s)
        self.transport = transport
        self._sender = Sender(
            model=model,
            version=self.version,
            transport=transport,
            spool=_open_spool(
                spool_dir, getattr(transport, "endpoint", endpoint), model, spool_max_bytes
            ),
            schema=schema,
            task=resolved_task.value,
            batch_size=batch_size,
            flush_interval_s=float(flush_interval_s),
            queue_size=queue_size,
            max_retries=max_retries,
            backoff_s=float(backoff_s),
            max_backoff_s=float(max_backoff_s),
        )
        self._resources = None
        if resources:
            from vigil.sdk.resources import start_sampler

            self._resources = start_sampler(self._sender, transport, resource_interval_s, cpu_time)
        # Closes (flushes) when the Monitor is garbage-collected and at interpreter exit;
        # it holds the sender, not the Monitor, so it does not keep the Monitor alive.
        self._finalizer = weakref.finalize(
            self, _shutdown, self._resources, self._sender, self.timeout_s
        )
        self._follower: AliasFollower | None = None
        self._shadow: Any = None
        if version_from is not None:
            self._follow(
                version_from, on_version_change, follow_interval_s, api_key, on_canary_change
            )

    def _follow(
        self,
        ref: str,
        on_version_change: Callable[[str], Any] | None,
        interval_s: float,
        api_key: str | None,
        on_canary_change: Callable[[dict[str, Any] | None], Any] | None,
    ) -> None:
        """Start following the registry alias ``ref`` (see ``version_from``); a failure to
        start closes the Monitor before it is raised."""
        from vigil.sdk.follow import start_following

        try:
            follower = start_following(
                self, ref, on_version_change, interval_s, api_key, on_canary_change
            )
        except BaseException:
            self.close(0)
            raise
        self._follower = follower
        weakref.finalize(self, follower.stop)

    def __repr__(self) -> str:
        return f"Monitor({self.model!r}, version={self.version!r}, endpoint={self.endpoint!r})"

    def add_sink(self, sink: Any) -> None:
        """Also hand every batch of records to ``sink`` (see :mod:`vigil.integrations`).

        ``sink.emit(model, kind, records)`` runs in the background thread, never in the
        tracked call (prediction records leave out the fields that are None: ``error``,
        ``error_type``, ``subject_id``, ``proba``; read them with ``.get``);
        ``sink.close()`` runs at ``close``; ``sink.on_exception(exc, ts)``, when the sink
        has it, gets each exception a tracked prediction raised.
        """
        self._sender.sinks.append(sink)
        hook = getattr(sink, "on_exception", None)
        if hook is not None:
            self._sender.exception_hooks.append(hook)

    # -- canary and shadow releases (with version_from) -------------------------------------

    @property
    def canary(self) -> dict[str, Any] | None:
        """The followed alias's canary being routed to (``version``, ``share``, ``mode``)."""
        return self._follower.canary if self._follower is not None else None

    def serving_version(self, subject_id: str | None = None) -> str:
        """The version that should serve this call: a canary's for its share of calls
        (sticky per ``subject_id``: a hash of it), else :attr:`version`.

        Examples:
            >>> from vigil.sdk import MemoryTransport
            >>> mon = Monitor("m", version="3", transport=MemoryTransport())
            >>> mon.serving_version("u42")  # no alias followed: always this version
            '3'
            >>> mon.close()
            True
        """
        if self._follower is None:
            return self.version
        return self._follower.serving_version(subject_id)

    def serve(
        self,
        features: Any,
        *,
        subject_id: str | None = None,
        id: str | None = None,
        timeout_s: float | None = None,
    ) -> Observation:
        """:meth:`observe` with the call routed: ``obs.version`` names the version to run
        (see :meth:`serving_version`) and the prediction is recorded under it.

        Examples:
            >>> from vigil.sdk import MemoryTransport
            >>> sink = MemoryTransport()
            >>> mon = Monitor("m", version="3", transport=sink)
            >>> models = {"3": lambda f: f["x"] * 2}
            >>> with mon.serve({"x": 1.5}, subject_id="u42") as obs:
            ...     obs.output = models[obs.version]({"x": 1.5})
            >>> mon.flush()
            True
            >>> sink.predictions[obs.id]["version"], sink.predictions[obs.id]["outputs"]
            ('3', 3.0)
            >>> mon.close()
            True
        """
        obs = self.observe(features, subject_id=subject_id, id=id, timeout_s=timeout_s)
        obs.version = self.serving_version(subject_id)
        return obs

    def shadow(
        self, candidate: Callable[[Any], Any], inputs: Any, *, subject_id: str | None = None
    ) -> Any:
        """In a shadow release, run ``candidate(copy of inputs)`` off the caller's thread
        for the shadow's share of calls and record its answer, latency or exception under
        the candidate's version (never served). Returns the
        :class:`concurrent.futures.Future` of the run, or None when this call is not
        shadowed (no shadow release, not in its share, or too many runs pending).
        """
        if self._follower is None:
            return None
        version = self._follower.shadow_version(subject_id)
        if version is None:
            return None
        if self._shadow is None:
            from vigil.sdk.shadow import ShadowRunner

            self._shadow = ShadowRunner(self)
        return self._shadow.submit(candidate, inputs, version, subject_id)

    # -- recording -------------------------------------------------------------------------

    def track(self, fn: F | None = None, *, timeout_s: float | None = None) -> Any:
        """Decorate a predict function to record each call: inputs, output, latency, error.

        Use as ``@mon.track``, ``@mon.track()`` or ``@mon.track(timeout_s=0.25)``.

        The inputs are the call's first mapping argument (so methods work), else its
        keyword arguments, else ``{"input": first argument}``. An exception raised by the
        function is recorded as the prediction's error, with ``error_type`` its class
        name, and re-raised unchanged. Coroutine functions are supported. Do not mutate
        the inputs or output after the call: they are serialised later, in the background.

        Args:
            fn: the function (when used without parentheses).
            timeout_s: the call's time budget. A call that returns after it still returns
                its result to the caller, and its record keeps the output, but it counts
                as a failed prediction: ``error_type="timeout"``,
                ``error="timeout: took X s > budget Y s"``. (The call is not interrupted;
                an exception, even a late one, is recorded as that exception.)

        Examples:
            >>> import time
            >>> from vigil.sdk import MemoryTransport
            >>> sink = MemoryTransport()
            >>> mon = Monitor("m", transport=sink)
            >>> @mon.track(timeout_s=0.001)
            ... def slow(features):
            ...     time.sleep(0.01)
            ...     return 1
            >>> slow({"x": 1.0})
            1
            >>> mon.flush()
            True
            >>> [(r["outputs"], r["error_type"]) for r in sink.predictions.values()]
            [(1, 'timeout')]
            >>> mon.close()
            True
        """
        if timeout_s is not None:
            _check_positive("timeout_s", timeout_s, "track")
        if fn is None:
            return functools.partial(self.track, timeout_s=timeout_s)
        budget_ns = None if timeout_s is None else round(timeout_s * 1e9)
        if (
            self._resources is not None
            and self._resources.cpu_time
            and not inspect.iscoroutinefunction(fn)
        ):
            from vigil.sdk.resources import cpu_timed

            fn = cpu_timed(fn, self._resources.cpu_times)
        return _tracking(self, fn, budget_ns)

    def observe(
        self,
        features: Any,
        *,
        subject_id: str | None = None,
        id: str | None = None,
        timeout_s: float | None = None,
    ) -> Observation:
        """A context manager that records one prediction made inside its block.

        Set ``obs.output`` (and optionally ``obs.proba``) inside the block; ``obs.id`` is
        the prediction id, for labels and feedback later. An exception in the block is
        recorded as the prediction's error (``error_type`` its class name) and propagates
        unchanged. A block that ran longer than ``timeout_s`` is recorded with its output
        as a failed prediction of kind ``timeout``, as in :meth:`track`.

        Examples:
            >>> from vigil.sdk import MemoryTransport
            >>> mon = Monitor("m", transport=MemoryTransport())
            >>> with mon.observe({"x": 1.0}, subject_id="u42") as obs:
            ...     obs.output = 2.0
            >>> len(obs.id), obs.latency_s >= 0
            (36, True)
            >>> mon.close()
            True
        """
        if timeout_s is not None:
            _check_positive("timeout_s", timeout_s, "observe")
        return Observation(
            self._sender, features, subject_id, new_id() if id is None else id, timeout_s
        )

    def log_prediction(
        self,
        features: Any,
        prediction: Any,
        proba: Any = None,
        latency_s: float | None = None,
        error: str | BaseException | None = None,
        subject_id: str | None = None,
        id: str | None = None,
        ts: float | None = None,
        error_type: str | None = None,
        version: str | None = None,
    ) -> str:
        """Record a prediction made elsewhere; return its id (given or made here).

        ``error`` is the failure's message, or the exception itself (then ``error_type``
        defaults to its class name); ``error_type`` names the kind of failure (``timeout``,
        ``oov``, ...; see also :meth:`log_error`). ``version`` names the version that
        served it (a canary's, see :meth:`serving_version`); default :attr:`version`.

        Raises:
            InvalidParameterError: ``id``, ``ts``, ``latency_s``, ``subject_id`` or
                ``error_type`` has a wrong type (a programming error, raised before
                anything is queued).
        """
        _check_kind("error_type", error_type)
        if version is not None and not isinstance(version, str):
            raise InvalidParameterError(
                f"'version' must be a string. Got {type(version).__name__}."
            )
        if id is not None and not isinstance(id, str):
            raise InvalidParameterError(f"'id' must be a string. Got {type(id).__name__}.")
        if subject_id is not None and not isinstance(subject_id, str):
            raise InvalidParameterError(
                f"'subject_id' must be a string. Got {type(subject_id).__name__}."
            )
        _check_number("latency_s", latency_s)
        _check_number("ts", ts)
        if ts is None:
            ts = time()
            pid = new_id() if id is None else id
        else:
            pid = id_at(ts) if id is None else id
        if isinstance(error, BaseException):
            if self._sender.exception_hooks:
                self._sender.report_exception(error, ts)
            if error_type is None:
                error_type = error_kind(error)
            error = describe_error(error)
        elif error is not None:
            error = str(error)
        elif error_type is not None:
            error = error_type  # a kind alone still marks the prediction failed
        self._sender.put(
            (
                PREDICTION,
                features,
                prediction,
                proba,
                latency_s,
                error,
                subject_id,
                pid,
                ts,
                error_type,
                version,
            )
        )
        return pid

    def log_error(
        self,
        features: Any,
        kind: str,
        message: str | None = None,
        *,
        latency_s: float | None = None,
        prediction: Any = None,
        subject_id: str | None = None,
        id: str | None = None,
        ts: float | None = None,
    ) -> str:
        """Record a failed prediction of a named kind; return its id.

        The record's ``error_type`` is ``kind`` (``"oov"``, ``"timeout"``, ``"bad_input"``,
        ...) and its ``error`` is ``"kind: message"`` (or ``kind`` alone), so errors can be
        counted and alerted on per kind.

        Raises:
            InvalidParameterError: ``kind`` is not a string of 1-100 characters, or another
                argument has a wrong type (see :meth:`log_prediction`).

        Examples:
            >>> from vigil.sdk import MemoryTransport
            >>> sink = MemoryTransport()
            >>> mon = Monitor("m", transport=sink)
            >>> pid = mon.log_error({"word": "zyx"}, "oov", "unknown token 'zyx'",
            ...                     latency_s=0.002)
            >>> mon.flush()
            True
            >>> rec = sink.predictions[pid]
            >>> rec["error_type"], rec["error"]
            ('oov', "oov: unknown token 'zyx'")
            >>> mon.close()
            True
        """
        if kind is None:
            raise InvalidParameterError(
                "'kind' of log_error must be a string of 1-100 "
                "characters naming the failure. Got None."
            )
        _check_kind("kind", kind)
        if message is not None and not isinstance(message, str):
            raise InvalidParameterError(
                f"'message' of log_error must be a string. Got {type(message).__name__}."
            )
        error = f"{kind}: {message}" if message else kind
        return self.log_prediction(
            features,
            prediction,
            latency_s=latency_s,
            error=error,
            subject_id=subject_id,
            id=id,
            ts=ts,
            error_type=kind,
        )

    def log_label(self, prediction_id: str, actual: Any, ts: float | None = None) -> None:
        """Record the true outcome of a prediction (it may arrive hours later)."""
        if not isinstance(prediction_id, str):
            raise InvalidParameterError(
                f"'prediction_id' must be the string id of a prediction. "
                f"Got {type(prediction_id).__name__}."
            )
        _check_number("ts", ts)
        self._sender.put((LABEL, prediction_id, actual, time() if ts is None else ts))

    def log_feedback(
        self,
        prediction_id: str,
        score: float,
        comment: str | None = None,
        *,
        id: str | None = None,
        ts: float | None = None,
    ) -> str:
        """Record a user's score (and comment) of a prediction; return the feedback id."""
        if not isinstance(prediction_id, str):
            raise InvalidParameterError(
                f"'prediction_id' must be the string id of a prediction. "
                f"Got {type(prediction_id).__name__}."
            )
        _check_number("score", score)
        if score is None:
            raise InvalidParameterError("'score' of log_feedback must be a number. Got None.")
        if comment is not None and not isinstance(comment, str):
            raise InvalidParameterError(f"'comment' must be a string. Got {comment!r}.")
        _check_number("ts", ts)
        fid = new_id() if id is None else id
        self._sender.put(
            (FEEDBACK, fid, prediction_id, score, comment, time() if ts is None else ts)
        )
        return fid

    def log_client_latency(self, latency_s: float) -> None:
        """Record an end-to-end latency a caller measured (network and queueing included),
        reported with the resource samples beside the model's own latency.

        Raises:
            InvalidParameterError: ``latency_s`` is not a finite number >= 0, or the
                Monitor was made without ``resources=True``.
        """
        if self._resources is None:
            raise InvalidParameterError(
                "log_client_latency needs Monitor(..., resources=True): client latencies "
                "travel in the resource samples."
            )
        if (
            isinstance(latency_s, bool)
            or not isinstance(latency_s, int | float)
            or not latency_s >= 0
            or latency_s == float("inf")
        ):
            raise InvalidParameterError(
                f"'latency_s' must be a finite number of seconds >= 0. Got {latency_s!r}."
            )
        self._resources.client_latencies.append(float(latency_s))

    @property
    def resources(self) -> Any:
        """The :class:`~vigil.sdk.resources.ResourceSampler`, or None when off."""
        return self._resources

    # -- lifecycle -------------------------------------------------------------------------

    def flush(self, timeout_s: float | None = 30.0) -> bool:
        """Send everything recorded so far; True when it was all delivered.

        False means the time ran out or the server is unreachable (the records wait in
        the spool and are replayed later).
        """
        return self._sender.flush(timeout_s)

    def close(self, timeout_s: float | None = 30.0) -> bool:
        """Flush, stop the background thread and release the transport (idempotent).

        Records made after ``close`` are dropped and counted as ``dropped_closed``.
        """
        self._finalizer.detach()
        if self._shadow is not None:
            self._shadow.close(timeout_s)  # its records go out with the rest
        if self._follower is not None:
            self._follower.stop()
        return _shutdown(self._resources, self._sender, timeout_s)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def spool_dir(self) -> Path:
        """The folder where this Monitor's undeliverable batches wait."""
        return self._sender.spool.directory

    @property
    def stats(self) -> dict[str, int]:
        """Counters: queued, sent, accepted, duplicates, rejected, dropped_queue_full,
        dropped_closed, spooled, replayed, spool_dropped, spool_files, send_errors,
        retries, batches, internal_errors."""
        return self._sender.stats()


class Observation:
    """One prediction being observed by :meth:`Monitor.observe`.

    Attributes:
        inputs: the inputs given to ``observe``.
        output: set it to the model's answer inside the block.
        proba: optionally set the class probabilities or scores.
        subject_id: the data subject the prediction is about.
        version: the version recorded as having served it (None: the Monitor's).
        id: the prediction id.
        ts: the Unix time the block started.
        latency_s: the block's duration, after it ended.
    """

    __slots__ = (
        "_sender",
        "_t0",
        "id",
        "inputs",
        "latency_s",
        "output",
        "proba",
        "subject_id",
        "timeout_s",
        "ts",
        "version",
    )

    def __init__(
        self,
        sender: Sender,
        inputs: Any,
        subject_id: str | None,
        pid: str,
        timeout_s: float | None = None,
    ) -> None:
        self._sender = sender
        self.timeout_s = timeout_s
        self.inputs = inputs
        self.subject_id = subject_id
        self.id = pid
        self.output: Any = None
        self.proba: Any = None
        self.latency_s: float | None = None
        self.version: str | None = None

    def __enter__(self) -> Observation:
        self.ts = time()
        self._t0 = perf_counter_ns()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        self.latency_s = (perf_counter_ns() - self._t0) / 1e9
        if exc is not None and not isinstance(exc, Exception):
            return False  # KeyboardInterrupt, SystemExit...: no prediction was made
        try:
            if exc is not None and self._sender.exception_hooks:
                self._sender.report_exception(exc, self.ts)
            error = error_type = None
            if exc is not None:
                error, error_type = describe_error(exc), error_kind(exc)
            elif self.timeout_s is not None and self.latency_s > self.timeout_s:
                error, error_type = timeout_error(self.latency_s, self.timeout_s)
            self._sender.put(
                (
                    PREDICTION,
                    self.inputs,
                    self.output,
                    self.proba,
                    self.latency_s,
                    error,
                    self.subject_id,
                    self.id,
                    self.ts,
                    error_type,
                    self.version,
                )
            )
        except Exception:  # never mask the block's own exception
            self._sender.counts["internal_errors"] += 1
        return False


def _tracking(monitor: Monitor, fn: Callable[..., Any], budget_ns: int | None) -> Any:
    """The wrapper :meth:`Monitor.track` returns: it appends each call to the sender's
    buffer (serialised later, in the background) and records an exception as the
    prediction's error before re-raising it. The wrapper keeps its Monitor alive."""
    sender = monitor._sender
    buf = sender.buf

    def record_error(args: Any, kwargs: Any, t0: int, t1: int, exc: BaseException) -> None:
        try:
            ts = time() - (t1 - t0) / 1e9  # the record's time: hooks pair on it
            if sender.exception_hooks:
                sender.report_exception(exc, ts)
            sender.put(
                (
                    TRACKED,
                    args,
                    kwargs,
                    None,
                    t0,
                    t1,
                    (describe_error(exc), error_kind(exc), ts),
                    budget_ns,
                )
            )
        except Exception:  # never mask the model's own exception
            sender.counts["internal_errors"] += 1

    def record(args: Any, kwargs: Any, out: Any, t0: int, t1: int) -> None:
        n = len(buf)
        if n < sender.cap:
            buf.append((TRACKED, args, kwargs or None, out, t0, t1, None, budget_ns))
            if n == sender.trigger:
                sender.wake.set()
        else:
            sender.drop()

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_tracked(*args: Any, **kwargs: Any) -> Any:
            t0 = perf_counter_ns()
            try:
                out = await fn(*args, **kwargs)
            except Exception as exc:
                record_error(args, kwargs, t0, perf_counter_ns(), exc)
                raise
            record(args, kwargs, out, t0, perf_counter_ns())
            return out

        async_tracked.__vigil_monitor__ = monitor  # type: ignore[attr-defined]
        return async_tracked

    @functools.wraps(fn)
    def tracked(*args: Any, **kwargs: Any) -> Any:
        t0 = perf_counter_ns()  # the wall time of t0 is worked out in the background
        try:
            out = fn(*args, **kwargs)
        except Exception as exc:
            record_error(args, kwargs, t0, perf_counter_ns(), exc)
            raise
        t1 = perf_counter_ns()  # what record() does, inlined: this is every call's cost
        n = len(buf)
        if n < sender.cap:
            buf.append((TRACKED, args, kwargs or None, out, t0, t1, None, budget_ns))
            if n == sender.trigger:
                sender.wake.set()
        else:
            sender.drop()
        return out

    tracked.__vigil_monitor__ = monitor  # type: ignore[attr-defined]
    return tracked


def _check_resources(resources: bool, cpu_time: bool) -> None:
    """``cpu_time`` needs ``resources``; ``resources`` needs psutil (extra sdk-resources)."""
    if cpu_time and not resources:
        raise InvalidParameterError(
            "'cpu_time' of Monitor needs resources=True: CPU times travel in the resource samples."
        )
    if resources and importlib.util.find_spec("psutil") is None:
        raise ConfigurationError(
            "Monitor(resources=True) samples with psutil, which is not installed: "
            'pip install "vigil[sdk-resources]" (GPUs also need "vigil[gpu]").'
        )


def _check_options(
    model: Any,
    *,
    batch_size: Any,
    queue_size: Any,
    max_retries: Any,
    spool_max_bytes: Any,
    **seconds: Any,
) -> None:
    """Refuse a Monitor's wrong arguments before anything starts (no thread, no spool)."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidParameterError(f"'model' must be a non-empty string. Got {model!r}.")
    _check_int("batch_size", batch_size, 1, _MAX_BATCH)
    _check_int("queue_size", queue_size, 1, None)
    _check_int("max_retries", max_retries, 0, None)
    _check_int("spool_max_bytes", spool_max_bytes, 1, None)
    for name, value in seconds.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise InvalidParameterError(
                f"'{name}' of Monitor must be a positive number of seconds. Got {value!r}."
            )


def _schema_and_task(
    schema: ModelSchema | Mapping[str, Any] | None, task: Task | str | None
) -> tuple[ModelSchema | None, Task]:
    """The schema (parsed from its dict form) and the task: ``task`` when given (it also
    overrides the schema's), else the schema's, else ``other``."""
    if schema is not None and not isinstance(schema, ModelSchema):
        schema = ModelSchema.from_dict(schema)
    resolved = (
        _task(task) if task is not None else (schema.task if schema is not None else Task.OTHER)
    )
    if schema is not None and schema.task is not resolved:
        schema = ModelSchema(schema.features, task=resolved)
    return schema, resolved


def _default_transport(endpoint: str, api_key: str | None, timeout_s: float) -> Transport:
    """A store URL writes to the store directly; anything else is a server's URL."""
    if is_local_endpoint(endpoint):
        return LocalTransport(endpoint)
    from vigil.sdk.http import HttpTransport  # its module loads no HTTP client yet

    return HttpTransport(endpoint, api_key=api_key, timeout_s=timeout_s)


def _shutdown(sampler: Any, sender: Sender, timeout_s: float | None) -> bool:
    if sampler is not None:
        sampler.stop(timeout_s)
    return sender.close(timeout_s)


def _task(task: Task | str) -> Task:
    try:
        return Task(task)
    except ValueError:
        tasks = ", ".join(t.value for t in Task)
        raise InvalidParameterError(
            f"'task' of Monitor must be one of {tasks}. Got {task!r} instead."
        ) from None


def _open_spool(root: str | Path | None, endpoint: str, model: str, max_bytes: int) -> Spool:
    """The spool of ``model`` sending to ``endpoint``, in its own folder under ``root``."""
    if root is None:
        root = default_spool_root()
    root = Path(root).absolute()
    directory = spool_directory(root, endpoint, model)
    # vigil <= 0.1 spooled into <root>/<model> by default, or straight into an explicit
    # spool_dir; the endpoint of those batches is unknown, so they are never sent on a guess.
    for legacy in (root / safe_name(model), root):
        if legacy.is_dir() and any(legacy.glob("*.batch")):
            log.warning(
                "vigil: %s holds batches spooled by an earlier vigil for an unknown "
                "endpoint; they are not replayed automatically. Move the *.batch files "
                "into %s to send them to %s, or delete them.",
                legacy,
                directory,
                endpoint,
            )
    return Spool(
        directory,
        max_bytes=max_bytes,
        owner={"endpoint": normalise_endpoint(endpoint), "model": model},
    )


def default_spool_root() -> Path:
    """The spool root when ``spool_dir`` is not given: the ``spool_dir`` setting, else
    ``{home}/spool``, each from ``VIGIL_*`` then vigil.toml's ``[settings]`` as in
    :mod:`vigil.config`, read here with the standard library so that a Monitor never
    loads pydantic (which the SDK alone does not install)."""
    table = _toml_settings()

    def setting(name: str) -> str | None:
        value = os.environ.get(f"VIGIL_{name.upper()}")
        if value is None:
            value = table.get(name)
        return None if value is None else str(value)

    spool = setting("spool_dir")
    if spool is not None:
        return Path(spool)
    return Path(setting("home") or "vigil-data") / "spool"


def _toml_settings() -> dict[str, Any]:
    """vigil.toml's ``[settings]`` (``VIGIL_CONFIG``, else ./vigil.toml); {} when absent."""
    path = Path(os.environ.get("VIGIL_CONFIG", "vigil.toml"))
    if not path.is_file():
        if "VIGIL_CONFIG" in os.environ:
            raise ConfigurationError(
                f"VIGIL_CONFIG names {str(path)!r}, which is not a file. "
                "Point it at a vigil.toml or unset it."
            )
        return {}
    import tomllib

    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("settings", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    return table if isinstance(table, dict) else {}


def _check_int(name: str, value: Any, low: int, high: int | None) -> None:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise InvalidParameterError(
            f"'{name}' of Monitor must be an integer {bound}. Got {value!r} instead."
        )


def _check_positive(name: str, value: Any, where: str) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not value > 0
        or value == float("inf")
    ):
        raise InvalidParameterError(
            f"'{name}' of {where} must be a positive number of seconds (or None). "
            f"Got {value!r} instead."
        )


def _check_kind(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= ERROR_TYPE_MAX):
        raise InvalidParameterError(
            f"'{name}' must be a string of 1-{ERROR_TYPE_MAX} characters naming the kind "
            f"of failure (e.g. 'timeout', 'oov'). Got {value!r} instead."
        )


def _check_number(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise InvalidParameterError(
            f"'{name}' must be a number (or None). Got {type(value).__name__} instead."
        )
