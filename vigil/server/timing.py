"""``Server-Timing: vigil;dur=MS`` on every HTTP response: the server's own handling time.

A client that measures its round trip subtracts this to learn the network's share (the
SDK does, see :mod:`vigil.sdk.resources`). A pure ASGI middleware: two clock reads and one
header per response, no body buffering.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"server-timing"


class ServerTimingMiddleware:
    """Adds the time from request start to response start, in milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (perf_counter() - t0) * 1000.0
                headers: list[Any] = list(message.get("headers", ()))
                headers.append((HEADER, f"vigil;dur={ms:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed)
