"""Local mode: write events straight into a vigil store (SQLite or PostgreSQL), no server.

The store and ingest engine are imported when the transport is built, never when
``vigil.sdk`` is imported, so an inference service that talks HTTP never loads SQLAlchemy.
"""

from __future__ import annotations

from typing import Any

import orjson

from vigil.errors import (
    ConfigurationError,
    ModelNotFoundError,
    StoreError,
    VigilError,
    http_status,
)
from vigil.sdk.transport import BODY_KEYS, SendError


def is_local_endpoint(endpoint: str) -> bool:
    """Whether ``endpoint`` names a database (local mode) rather than a server.

    Examples:
        >>> [is_local_endpoint(e) for e in ("sqlite:///v.db", "postgresql+psycopg://h/db",
        ...                                 "http://127.0.0.1:8765")]
        [True, True, False]
    """
    return endpoint.startswith(("sqlite:", "postgresql"))


class LocalTransport:
    """A :class:`~vigil.sdk.transport.Transport` that ingests into a store in this process.

    Args:
        url: a SQLAlchemy URL, ``sqlite:///path.db`` or ``postgresql+psycopg://...``; the
            store's schema is upgraded when opened.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._open()

    def _open(self) -> None:
        try:
            from vigil.engine.ingest.ingestor import Ingestor
            from vigil.engine.privacy.policies import Redactor
            from vigil.store import open_store
        except ModuleNotFoundError as exc:  # the SDK alone (pip install vigil)
            if (exc.name or "vigil").startswith("vigil"):
                raise
            raise ConfigurationError(
                f"Writing to a store directly ({self.url}) needs the server's packages "
                f'({exc.name} is not installed): pip install "vigil[server]", or send '
                "to a vigil server's URL."
            ) from None

        self._store = open_store(self.url)
        self._ingestor = Ingestor(self._store, redactor=Redactor(self._store))

    def after_fork(self) -> None:
        """In a forked child: open the store again rather than share the parent's pool."""
        self._open()

    def get_model(self, name: str) -> dict[str, Any] | None:
        try:
            return self._call(self._ingestor.get_model, name)
        except SendError as exc:
            if exc.error_code == ModelNotFoundError.code:
                return None
            raise

    def register_model(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self._call(self._ingestor.register_model, payload)
        return answer[0] if isinstance(answer, tuple) else answer  # (model, created)

    def send(self, model: str, kind: str, body: bytes) -> dict[str, Any]:
        items = orjson.loads(body)[BODY_KEYS[kind]]
        ingest = {
            "predictions": self._ingestor.ingest_predictions,
            "labels": self._ingestor.ingest_labels,
            "feedback": self._ingestor.ingest_feedback,
            "resources": self._ingest_resources,
        }[kind]
        result = self._call(ingest, model, items)
        return result.to_dict() if hasattr(result, "to_dict") else dict(result)

    def _ingest_resources(self, model: str, items: Any) -> Any:
        from vigil.engine.resources.samples import ingest_samples

        return ingest_samples(self._ingestor, model, items)[0]

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except VigilError as exc:
            status = http_status(exc)
            details = exc.details
            if status == 422 and isinstance(details, dict) and "rejected" in details:
                return _Result(details)  # every record rejected: the result is in details
            raise SendError(
                exc.message,
                status=status,
                error_code=exc.code,
                details=details,
                retryable=isinstance(exc, StoreError) or status >= 500,
            ) from exc

    def close(self) -> None:
        self._store.close()


class _Result:
    """An ingest result given back inside an error's details."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def to_dict(self) -> dict[str, Any]:
        return self._data
