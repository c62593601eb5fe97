"""Request bodies: gzip, size limits, JSON parsing that keeps non-finite numbers visible.

Python's ``json.dumps`` writes ``NaN`` and ``Infinity`` by default, so a client may send
them. Rather than refuse the whole batch (and lose its valid records), such bodies are
parsed with the standard library, the constants kept as :class:`NonFinite` markers, and
only the records holding them are rejected, with the field path.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

import orjson

from vigil.errors import InvalidParameterError, PayloadTooLargeError


class NonFinite(float):
    """A NaN or ±Infinity that arrived in a JSON body."""


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body after Content-Encoding (identity or gzip), refusing more than ``limit`` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        if len(body) > limit:
            raise PayloadTooLargeError(
                f"The request body is {len(body)} bytes; the limit is {limit} "
                "(VIGIL_MAX_BODY_BYTES). Send smaller batches."
            )
        return body
    if encoding != "gzip":
        raise InvalidParameterError(
            f"Content-Encoding {encoding!r} is not supported; send identity or gzip."
        )
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidParameterError(f"The gzip body could not be decompressed: {exc}.") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLargeError(
            f"The decompressed body exceeds {limit} bytes (VIGIL_MAX_BODY_BYTES). "
            "Send smaller batches."
        )
    return out


def parse_json(body: bytes) -> tuple[Any, bool]:
    """Parse ``body``; return the value and whether it held non-finite numbers."""
    if not body.strip():
        raise InvalidParameterError("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(body), False
    except orjson.JSONDecodeError as fast_error:
        if "depth limit" in str(fast_error):
            # The stdlib parser's limit moves with the interpreter's recursion limit
            # (libraries raise it); refuse here so the answer never depends on that.
            raise InvalidParameterError(
                f"The request body is not valid JSON: {fast_error}."
            ) from None
        try:
            value = json.loads(body, parse_constant=NonFinite, parse_float=_float)
        except (ValueError, RecursionError):
            raise InvalidParameterError(
                f"The request body is not valid JSON: {fast_error}."
            ) from None
        return value, True


def _float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(value)


def find_non_finite(value: Any, path: str) -> str | None:
    """The path of the first non-finite number inside ``value``, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for k, v in value.items():
            found = find_non_finite(v, f"{path}.{k}")
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = find_non_finite(v, f"{path}[{i}]")
            if found:
                return found
    return None


MAX_DEPTH = 32  # nesting allowed inside one prediction field (storage refuses past 255)
_INT_MIN, _INT_MAX = -(1 << 63), 1 << 64  # what the JSON encoder and the databases hold


def field_problem(value: Any, max_chars: int, *, slow: bool, depth: int = 0) -> str | None:
    """Why ``value`` cannot be stored as one prediction field, or None when it can.

    Checks what would otherwise fail deep in the store and take the whole batch with it:
    integers outside 64 bits, nesting deeper than :data:`MAX_DEPTH`, strings longer than
    ``max_chars`` (VIGIL_MAX_FIELD_BYTES), NUL characters (PostgreSQL refuses them) and,
    for bodies parsed by the tolerant parser
    (``slow``), strings that are not valid Unicode (a lone surrogate such as "\\ud800").
    """
    kind = type(value)
    if kind is float or value is None or kind is bool:
        return None
    if kind is str:
        if len(value) > max_chars:
            return (
                f"a string of {len(value)} characters is longer than the limit of "
                f"{max_chars} (VIGIL_MAX_FIELD_BYTES)"
            )
        if "\x00" in value:
            return "a string holding a NUL character (\\u0000), which databases refuse"
        if slow:
            try:
                value.encode()
            except UnicodeEncodeError:
                return "a string that is not valid Unicode (a lone surrogate)"
        return None
    if kind is int:
        if _INT_MIN <= value < _INT_MAX:
            return None
        return "an integer outside the 64-bit range"
    if depth >= MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if kind is list or kind is tuple:
        for item in value:
            problem = field_problem(item, max_chars, slow=slow, depth=depth + 1)
            if problem:
                return problem
        return None
    if kind is dict:
        for key, item in value.items():
            problem = field_problem(key, max_chars, slow=slow, depth=depth + 1) or field_problem(
                item, max_chars, slow=slow, depth=depth + 1
            )
            if problem:
                return problem
        return None
    if isinstance(value, str):  # str subclasses, e.g. numpy.str_ from the SDK's local mode
        return field_problem(str(value), max_chars, slow=slow, depth=depth)
    if isinstance(value, int):
        return field_problem(int(value), max_chars, slow=slow, depth=depth)
    if isinstance(value, float) or kind.__module__ == "numpy":
        return None  # NonFinite markers, numpy scalars and arrays: the encoder takes them
    return f"a value of type {kind.__name__} that JSON cannot hold"
