"""A per-key rate limit (``VIGIL_RATE_LIMIT_PER_MINUTE``): a token bucket per API key.

Requests are told apart by a hash of their ``Authorization`` header (so each key has its
own bucket; the secret is never kept) or, without one, by the client address. Probes
(``/healthz``, ``/readyz``) are never limited. Each replica keeps its own buckets.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from typing import Any

import orjson

_EXEMPT = frozenset({"/healthz", "/readyz"})
_MAX_BUCKETS = 100_000


class RateLimitMiddleware:
    """ASGI middleware answering 429 ``rate_limited`` once a caller's bucket is empty."""

    def __init__(self, app: Any, per_minute: int) -> None:
        self.app = app
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _identity(self, scope: dict[str, Any]) -> str:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                return "k:" + hashlib.sha256(value).hexdigest()
        client = scope.get("client")
        return "a:" + (client[0] if client else "?")

    def take(self, identity: str, now: float) -> float:
        """Take one token; return 0 when allowed, else the seconds until the next one."""
        with self._lock:
            tokens, last = self._buckets.get(identity, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
            if tokens >= 1.0:
                if len(self._buckets) >= _MAX_BUCKETS:
                    self._buckets.clear()
                self._buckets[identity] = (tokens - 1.0, now)
                return 0.0
            self._buckets[identity] = (tokens, now)
            return (1.0 - tokens) / self.refill_per_s

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in _EXEMPT:
            await self.app(scope, receive, send)
            return
        wait = self.take(self._identity(scope), time.monotonic())
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = str(max(1, math.ceil(wait)))
        body = orjson.dumps(
            {
                "error": {
                    "code": "rate_limited",
                    "message": f"Too many requests for this API key: the limit is "
                    f"{int(self.capacity)} per minute (VIGIL_RATE_LIMIT_PER_MINUTE). "
                    f"Retry in {retry} s.",
                    "details": {"retry_after_s": int(retry)},
                }
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", retry.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
