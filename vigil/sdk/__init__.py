"""The vigil SDK: record predictions, labels and feedback from inference code.

``Monitor`` is the entry point (also ``vigil.Monitor``); transports decide where events go:
:class:`HttpTransport` (a vigil server), :class:`LocalTransport` (a store, no server) and
:class:`MemoryTransport` (tests, notebooks). Importing this package loads neither
SQLAlchemy nor FastAPI, scipy or scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vigil.sdk.ids import new_id
from vigil.sdk.local import LocalTransport
from vigil.sdk.monitor import Monitor, Observation
from vigil.sdk.spool import Spool
from vigil.sdk.transport import MemoryTransport, SendError, Transport, retryable_status

if TYPE_CHECKING:
    from vigil.sdk.http import HttpTransport

__all__ = [
    "HttpTransport",
    "LocalTransport",
    "MemoryTransport",
    "Monitor",
    "Observation",
    "SendError",
    "Spool",
    "Transport",
    "new_id",
    "retryable_status",
]


def __getattr__(name: str) -> Any:
    if name == "HttpTransport":  # httpx is loaded only when HTTP is used
        from vigil.sdk.http import HttpTransport

        return HttpTransport
    raise AttributeError(f"module 'vigil.sdk' has no attribute {name!r}")
