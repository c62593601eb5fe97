"""The seam between the SDK and wherever events go: the :class:`Transport` protocol.

A transport knows how to look up and register a model and how to deliver one encoded
batch. :mod:`vigil.sdk.http` sends to a vigil server, :mod:`vigil.sdk.local` writes to a
store directly and :class:`MemoryTransport` keeps everything in memory (tests,
notebooks). A failed delivery raises :class:`SendError`, which says whether trying again
later can help; the sender decides on retries, the spool and counting.
"""

from __future__ import annotations

import gzip
import threading
from typing import Any, Protocol, runtime_checkable

import orjson

from vigil.errors import TransportError

#: The batch kinds and the JSON key that holds their items (the URL's last part is the kind).
BODY_KEYS: dict[str, str] = {
    "predictions": "records",
    "labels": "labels",
    "feedback": "feedback",
    "resources": "samples",
}
#: Prediction fields the SDK leaves out when they are None (the server reads null).
_NULLABLE = ("error", "subject_id", "proba")
#: Bodies larger than this are gzip-compressed before they go over the network.
GZIP_MIN_BYTES = 64 * 1024
GZIP_LEVEL = 1  # JSON with repeated keys shrinks ~10x at level 1; higher levels cost CPU


def retryable_status(status: int | None) -> bool:
    """Whether a failed request may succeed later unchanged.

    ``None`` stands for no answer at all (connection refused or reset, timeout): retry.
    408 (request timeout), 429 (too many requests) and every 5xx: retry. Any other 4xx
    means the request itself is wrong and is not retried.

    Examples:
        >>> [retryable_status(s) for s in (None, 408, 429, 500, 503, 400, 401, 404, 422)]
        [True, True, True, True, True, False, False, False, False]
    """
    return status is None or status in (408, 429) or status >= 500


class SendError(TransportError):
    """A delivery failed.

    Attributes:
        status: the HTTP status (or its equivalent in local mode); None when no answer came.
        error_code: the ``error.code`` of the answer, e.g. ``model_not_found``.
        retryable: whether the same request may succeed later.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        details: Any = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.error_code = error_code
        self.retryable = retryable_status(status) if retryable is None else retryable


@runtime_checkable
class Transport(Protocol):
    """Where a Monitor's events go. Implementations must be usable from one thread at a time."""

    def get_model(self, name: str) -> dict[str, Any] | None:
        """The registered model, or None when no model has that name."""
        ...

    def register_model(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Create (or update) a model from ``{"name", "task", "schema"}``."""
        ...

    def send(self, model: str, kind: str, body: bytes) -> dict[str, Any]:
        """Deliver one batch and return the ingest result.

        Args:
            model: the model name.
            kind: ``predictions``, ``labels`` or ``feedback``.
            body: the JSON request body, ``{"records"|"labels"|"feedback": [...]}``.

        Returns:
            ``{"accepted": n, "duplicates": n, "rejected": [...]}``.

        Raises:
            SendError: when the batch was not (entirely) delivered.
        """
        ...

    def close(self) -> None:
        """Release connections; the transport is not used afterwards."""
        ...


class MemoryTransport:
    """Keeps models and events in memory, idempotent on ids like the server.

    Args:
        compress: gzip bodies over :data:`GZIP_MIN_BYTES` and keep them in
            :attr:`bodies`, exactly as they would go over the wire (for benchmarks).
        keep: decode and keep the events (``predictions``, ``labels``, ``feedback``).

    Attributes:
        models: registered models by name.
        predictions: prediction records by id.
        labels: label items in arrival order.
        resources: resource samples in arrival order.
        feedback: feedback items by id.
        bodies: ``(model, kind, bytes)`` of each delivered body when ``compress`` is on.
        calls: how many ``send`` calls arrived (failed ones included).
        down: while true every call fails as if the server were unreachable.
        fail_statuses: statuses the next calls fail with, one per call, first first.

    Examples:
        >>> t = MemoryTransport()
        >>> _ = t.register_model({"name": "m", "task": "other", "schema": {"features": []}})
        >>> t.send("m", "predictions", b'{"records": [{"id": "a"}, {"id": "a"}]}')
        {'accepted': 1, 'duplicates': 1, 'rejected': []}
    """

    def __init__(self, *, compress: bool = False, keep: bool = True) -> None:
        self.compress = compress
        self.keep = keep
        self.models: dict[str, dict[str, Any]] = {}
        self.predictions: dict[str, dict[str, Any]] = {}
        self.labels: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.feedback: dict[str, dict[str, Any]] = {}
        self.bodies: list[tuple[str, str, bytes]] = []
        self.calls = 0
        self.down = False
        self.fail_statuses: list[int | None] = []
        self.closed = False
        self._lock = threading.Lock()

    def _check(self) -> None:
        if self.down:
            raise SendError("memory transport is down", status=None)
        if self.fail_statuses:
            status = self.fail_statuses.pop(0)
            raise SendError(f"memory transport failed with {status}", status=status)

    def get_model(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            self._check()
            return self.models.get(name)

    def register_model(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._check()
            self.models[payload["name"]] = dict(payload)
            return dict(payload)

    def send(self, model: str, kind: str, body: bytes) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            self._check()
            if model not in self.models:
                raise SendError(
                    f"Model {model!r} is not registered.", status=404, error_code="model_not_found"
                )
            if self.compress:
                wire = gzip.compress(body, GZIP_LEVEL) if len(body) > GZIP_MIN_BYTES else body
                self.bodies.append((model, kind, wire))
            if not self.keep:
                return {"accepted": 0, "duplicates": 0, "rejected": []}
            items = orjson.loads(body)[BODY_KEYS[kind]]
            accepted = duplicates = 0
            for item in items:
                if kind == "predictions":  # absent fields are null, as on the server
                    for key in _NULLABLE:
                        item.setdefault(key, None)
                if kind in ("labels", "resources"):
                    (self.labels if kind == "labels" else self.resources).append(item)
                    accepted += 1
                    continue
                store = self.predictions if kind == "predictions" else self.feedback
                if item["id"] in store:
                    duplicates += 1
                else:
                    store[item["id"]] = item
                    accepted += 1
            return {"accepted": accepted, "duplicates": duplicates, "rejected": []}

    def close(self) -> None:
        self.closed = True
