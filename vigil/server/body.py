"""Reading request bodies: media type, size limit, gzip and tolerant JSON (see
vigil.engine.ingest.payload).

JSON routes take ``Content-Type: application/json`` (``+json`` types too), optionally with
``Content-Encoding: gzip``; anything else is a 415, so a web page cannot post to them
without a CORS preflight (which vigil never grants).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from vigil.engine.ingest.payload import decompress, parse_json
from vigil.errors import PayloadTooLargeError, UnsupportedMediaTypeError

JSON_TYPES = ("application/json",)


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower-cased ('' when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_media_type(request: Request, allowed: tuple[str, ...]) -> str:
    """The request's media type when it is one of ``allowed`` (or ``+json`` when JSON is
    allowed), else :class:`UnsupportedMediaTypeError` naming them."""
    kind = media_type(request)
    if kind in allowed or (
        "application/json" in allowed and kind.startswith("application/") and kind.endswith("+json")
    ):
        return kind
    raise UnsupportedMediaTypeError(
        f"This route takes {' or '.join(allowed)}; the request's Content-Type is "
        f"{kind or 'missing'!r}.",
        details=[{"field": "Content-Type", "reason": f"expected {' or '.join(allowed)}"}],
    )


async def json_body(request: Request) -> tuple[Any, bool]:
    """The parsed JSON body and whether it held NaN/Infinity (JSON media type only)."""
    require_media_type(request, JSON_TYPES)
    return parse_json(await raw_body(request))


async def raw_body(request: Request) -> bytes:
    """The body after Content-Encoding, refusing more than VIGIL_MAX_BODY_BYTES."""
    body, encoding, limit = await encoded_body(request)
    return decompress(body, encoding, limit)


async def encoded_body(request: Request) -> tuple[bytes, str | None, int]:
    """The body as sent (before Content-Encoding), its Content-Encoding and the size limit,
    refusing a body over VIGIL_MAX_BODY_BYTES as sent. For routes that decompress and
    parse it off the event loop, in the thread that uses it (:func:`decompress`)."""
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"The request body is {declared} bytes; the limit is {limit} (VIGIL_MAX_BODY_BYTES)."
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"The request body exceeds {limit} bytes (VIGIL_MAX_BODY_BYTES)."
            )
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return body, request.headers.get("content-encoding"), limit
