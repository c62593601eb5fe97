"""Reading request bodies: size limit, gzip and tolerant JSON (see vigil.engine.payload)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from vigil.engine.payload import decompress, parse_json
from vigil.errors import PayloadTooLargeError


async def json_body(request: Request) -> tuple[Any, bool]:
    """The parsed JSON body and whether it held NaN/Infinity."""
    return parse_json(await raw_body(request))


async def raw_body(request: Request) -> bytes:
    """The body after Content-Encoding, refusing more than VIGIL_MAX_BODY_BYTES."""
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"The request body is {declared} bytes; the limit is {limit} (VIGIL_MAX_BODY_BYTES)."
        )
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise PayloadTooLargeError(
                f"The request body exceeds {limit} bytes (VIGIL_MAX_BODY_BYTES)."
            )
    return decompress(bytes(raw), request.headers.get("content-encoding"), limit)
