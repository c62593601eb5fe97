"""API-key authentication and scopes.

Scopes: ``ingest`` (send models' events), ``read`` (query), ``write`` (change models,
rules, registry; implies read and ingest) and ``admin`` (keys and audit; implies all).
With ``VIGIL_AUTH=auto`` keys are required only when the server is bound off loopback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from vigil.errors import AuthenticationError, InvalidParameterError, PermissionDeniedError
from vigil.store import ApiKeyRecord, Store

SCOPES = ("ingest", "read", "write", "admin")
IMPLIED: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest"}),
    "read": frozenset({"read"}),
    "write": frozenset({"write", "read", "ingest"}),
    "admin": frozenset(SCOPES),
}
_CACHE_TTL_S = 5.0  # a revoked key stops working within this time on every replica
_TOUCH_EVERY_S = 60.0


def check_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    """Validate scope names (clear error naming the allowed ones)."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise InvalidParameterError(
            f"Scopes must be one or more of {', '.join(SCOPES)}. Got {list(scopes)!r}."
        )
    return sorted(set(scopes))


def granted(scopes: frozenset[str]) -> frozenset[str]:
    """Every scope the given ones imply."""
    out: set[str] = set()
    for s in scopes:
        out |= IMPLIED.get(s, frozenset())
    return frozenset(out)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key, or anyone when auth is off."""

    key_id: str | None
    scopes: frozenset[str]
    name: str | None = None  # the key's name, given at `vigil keys create --name`

    @property
    def actor(self) -> str:
        """Who acts, for histories and the audit log: the key's name with its id
        (``"alice (key:3f2a...)"``), ``key:<id>`` for a key known by id only, or
        ``anonymous`` when auth is off."""
        if not self.key_id:
            return "anonymous"
        if self.name:
            return f"{self.name[:150]} (key:{self.key_id})"
        return f"key:{self.key_id}"

    def has(self, scope: str) -> bool:
        return scope in self.scopes


ANONYMOUS = Principal(None, frozenset(SCOPES))


class Authenticator:
    """Resolves ``Authorization: Bearer KEY`` to a :class:`Principal`, with a short cache.

    A key's record is read from the store at most once per ``cache_ttl_s`` (5 s): a key
    revoked on any replica is refused everywhere within that time. An answer from the
    cache is given on the event loop; only a lookup goes to a worker thread.
    """

    def __init__(self, store: Store, required: bool, cache_ttl_s: float = _CACHE_TTL_S) -> None:
        self.store = store
        self.required = required
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, ApiKeyRecord | None]] = {}
        self._touched: dict[str, float] = {}

    async def principal(self, request: Request) -> Principal:
        if not self.required:
            return ANONYMOUS
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthenticationError(
                "This server requires an API key: send 'Authorization: Bearer KEY'. "
                "Create one with `vigil keys create --scope ingest`."
            )
        secret = secret.strip()
        hit = self._cache.get(secret)  # a cached answer costs no hand-off to a thread
        if hit is not None and time.monotonic() - hit[0] < self.cache_ttl_s:
            record = hit[1]
        else:
            record = await run_in_threadpool(self._lookup, secret)
        if record is None or record.revoked_at is not None:
            raise AuthenticationError("The API key is unknown or revoked.")
        return Principal(record.id, granted(record.scopes), record.name)

    def _lookup(self, secret: str) -> ApiKeyRecord | None:
        now = time.monotonic()
        hit = self._cache.get(secret)
        if hit is not None and now - hit[0] < self.cache_ttl_s:
            return hit[1]
        record = self.store.find_api_key(secret)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[secret] = (now, record)
        if record is not None and now - self._touched.get(record.id, -1e9) > _TOUCH_EVERY_S:
            self._touched[record.id] = now
            self.store.touch_api_key(record.id, time.time())
        return record


def require(*any_of: str) -> Callable:
    """A FastAPI dependency: the caller must hold one of ``any_of`` scopes."""

    async def dependency(request: Request) -> Principal:
        principal = await request.app.state.auth.principal(request)
        if not any(principal.has(s) for s in any_of):
            raise PermissionDeniedError(
                f"This route needs the {' or '.join(any_of)} scope; the key has "
                f"{sorted(principal.scopes)}."
            )
        return principal

    return dependency
