"""OTLP trace requests (``ExportTraceServiceRequest``) decoded into plain :class:`Span` values.

Both encodings of OTLP/HTTP give the same spans:

* protobuf (``application/x-protobuf``), parsed with ``opentelemetry-proto`` (extra
  ``otel``, imported on first use);
* the OTLP JSON mapping (``application/json``, parsed into dicts and lists):
  lowerCamelCase keys (snake_case is read too), trace and span ids as hex, 64-bit
  integers as decimal strings or numbers, enums as integers (their names are read too),
  attribute values as ``AnyValue`` objects.

A structural mistake in one span (a bad id, a non-numeric time) rejects that span only,
with its path in the request and the reason; a body that is not an export request at all
raises :class:`~vigil.errors.InvalidParameterError`.
"""

from __future__ import annotations

import base64
import importlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigil.errors import InvalidParameterError

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.trace_service_pb2"
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_MAX_DEPTH = 8  # nested arrayValue / kvlistValue levels read before giving up


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """A timed event of a span (an exception, a first token, a prompt...)."""

    name: str
    time_ns: int
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Span:
    """One span with plain Python attribute values (str, int, float, bool, list, dict).

    Attributes:
        path: where the span sits in the request, e.g.
            ``resourceSpans[0].scopeSpans[1].spans[3]`` (for error messages).
        trace_id: 32 hex digits.
        span_id: 16 hex digits.
        start_ns: start time in unix nanoseconds (0 when absent).
        end_ns: end time in unix nanoseconds (0 when absent).
        status_code: 0 unset, 1 ok, 2 error.
        resource: the attributes of the span's resource (``service.name`` ...).
    """

    path: str
    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int = STATUS_UNSET
    status_message: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    resource: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BadSpan:
    """A span that could not be read: where it is, its span id if known, and why."""

    path: str
    span_id: str | None
    field: str
    reason: str


class ProtobufUnavailableError(InvalidParameterError):
    """Protobuf was sent but ``opentelemetry-proto`` is not installed (answered 415)."""

    code = "unsupported_media_type"


class _SpanError(Exception):
    def __init__(self, field_: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_
        self.reason = reason


# -- protobuf ------------------------------------------------------------------------------


def decode_protobuf(body: bytes) -> list[Span | BadSpan]:
    """Spans of a protobuf ``ExportTraceServiceRequest``.

    Raises:
        InvalidParameterError: the body is not one.
        ProtobufUnavailableError: ``opentelemetry-proto`` is not installed.
    """
    try:
        trace_service_pb2 = importlib.import_module(TRACE_SERVICE)
        from google.protobuf.message import DecodeError
    except ImportError:
        raise ProtobufUnavailableError(
            "OTLP protobuf needs opentelemetry-proto on the server: pip install "
            "'vigil[otel]', or send the OTLP JSON encoding (Content-Type: application/json)."
        ) from None
    request = trace_service_pb2.ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise InvalidParameterError(
            f"The body is not a protobuf ExportTraceServiceRequest: {exc}. Send OTLP/HTTP "
            "protobuf, or JSON with Content-Type: application/json."
        ) from None
    out: list[Span | BadSpan] = []
    for r, rs in enumerate(request.resource_spans):
        resource = _pb_attributes(rs.resource.attributes)
        for s, ss in enumerate(rs.scope_spans):
            for i, sp in enumerate(ss.spans):
                path = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                try:
                    out.append(_pb_span(sp, path, resource))
                except _SpanError as exc:
                    sid = sp.span_id.hex() if len(sp.span_id) == 8 else None
                    out.append(BadSpan(path, sid, exc.field, exc.reason))
    return out


def _pb_span(sp: Any, path: str, resource: Mapping[str, Any]) -> Span:
    if len(sp.span_id) != 8:
        raise _SpanError("spanId", f"expected 8 bytes, got {len(sp.span_id)}")
    if len(sp.trace_id) != 16:
        raise _SpanError("traceId", f"expected 16 bytes, got {len(sp.trace_id)}")
    events = tuple(
        SpanEvent(e.name, int(e.time_unix_nano), _pb_attributes(e.attributes)) for e in sp.events
    )
    return Span(
        path=path,
        trace_id=sp.trace_id.hex(),
        span_id=sp.span_id.hex(),
        name=sp.name,
        start_ns=int(sp.start_time_unix_nano),
        end_ns=int(sp.end_time_unix_nano),
        status_code=int(sp.status.code),
        status_message=sp.status.message,
        attributes=_pb_attributes(sp.attributes),
        events=events,
        resource=resource,
    )


def _pb_attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value, 0) for kv in items}


def _pb_value(value: Any, depth: int) -> Any:
    kind = value.WhichOneof("value")
    if kind is None or depth > _MAX_DEPTH:
        return None
    if kind == "array_value":
        return [_pb_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    return getattr(value, kind)


# -- JSON ----------------------------------------------------------------------------------


def decode_json(body: Any) -> list[Span | BadSpan]:
    """Spans of an ``ExportTraceServiceRequest`` in the OTLP JSON mapping (parsed JSON).

    Raises:
        InvalidParameterError: ``body`` is not an object with a ``resourceSpans`` list.
    """
    if not isinstance(body, dict):
        raise InvalidParameterError(
            "The body must be an OTLP ExportTraceServiceRequest object with 'resourceSpans'. "
            f"Got {type(body).__name__}."
        )
    resource_spans = _get(body, "resourceSpans", "resource_spans")
    if resource_spans is None:
        if body:
            raise InvalidParameterError(
                "The body must be an OTLP ExportTraceServiceRequest object with "
                f"'resourceSpans'. Got keys {sorted(map(str, body))[:10]}."
            )
        return []
    _expect_list(resource_spans, "resourceSpans")
    out: list[Span | BadSpan] = []
    for r, rs in enumerate(resource_spans):
        rpath = f"resourceSpans[{r}]"
        if not isinstance(rs, dict):
            raise InvalidParameterError(f"{rpath} must be an object. Got {type(rs).__name__}.")
        res = _get(rs, "resource") or {}
        try:
            resource = _json_attributes(_get(res, "attributes") if isinstance(res, dict) else None)
        except _SpanError as exc:
            raise InvalidParameterError(f"{rpath}.resource.{exc.field}: {exc.reason}.") from None
        scope_spans = _get(rs, "scopeSpans", "scope_spans") or []
        _expect_list(scope_spans, f"{rpath}.scopeSpans")
        for s, ss in enumerate(scope_spans):
            spans = _get(ss, "spans") if isinstance(ss, dict) else None
            _expect_list(spans or [], f"{rpath}.scopeSpans[{s}].spans")
            for i, sp in enumerate(spans or []):
                path = f"{rpath}.scopeSpans[{s}].spans[{i}]"
                try:
                    out.append(_json_span(sp, path, resource))
                except _SpanError as exc:
                    sid = _get(sp, "spanId", "span_id") if isinstance(sp, dict) else None
                    ok = isinstance(sid, str) and len(sid) == 16 and _HEX.match(sid)
                    out.append(
                        BadSpan(path, str(sid).lower() if ok else None, exc.field, exc.reason)
                    )
    return out


def _json_span(sp: Any, path: str, resource: Mapping[str, Any]) -> Span:
    if not isinstance(sp, dict):
        raise _SpanError("", f"expected a span object, got {type(sp).__name__}")
    span_id = _hex_id(_get(sp, "spanId", "span_id"), "spanId", 16)
    trace_id = _hex_id(_get(sp, "traceId", "trace_id"), "traceId", 32)
    name = _get(sp, "name") or ""
    if not isinstance(name, str):
        raise _SpanError("name", f"expected a string, got {type(name).__name__}")
    status = _get(sp, "status") or {}
    if not isinstance(status, dict):
        raise _SpanError("status", f"expected an object, got {type(status).__name__}")
    code = _get(status, "code")
    code = _STATUS_NAMES.get(code, code) if isinstance(code, str) else code
    if code is None:
        code = STATUS_UNSET
    if code not in (STATUS_UNSET, STATUS_OK, STATUS_ERROR) or isinstance(code, bool):
        raise _SpanError("status.code", f"expected 0 (unset), 1 (ok) or 2 (error), got {code!r}")
    message = _get(status, "message") or ""
    raw_events = _get(sp, "events") or []
    if not isinstance(raw_events, list):
        raise _SpanError("events", f"expected a list, got {type(raw_events).__name__}")
    events = []
    for j, ev in enumerate(raw_events):
        if not isinstance(ev, dict):
            raise _SpanError(f"events[{j}]", f"expected an object, got {type(ev).__name__}")
        ev_name = _get(ev, "name") or ""
        try:
            attrs = _json_attributes(_get(ev, "attributes"))
        except _SpanError as exc:
            raise _SpanError(f"events[{j}].{exc.field}", exc.reason) from None
        events.append(
            SpanEvent(
                str(ev_name),
                _nanos(_get(ev, "timeUnixNano", "time_unix_nano"), f"events[{j}].timeUnixNano"),
                attrs,
            )
        )
    return Span(
        path=path,
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        start_ns=_nanos(_get(sp, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano"),
        end_ns=_nanos(_get(sp, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano"),
        status_code=code,
        status_message=str(message),
        attributes=_json_attributes(_get(sp, "attributes")),
        events=tuple(events),
        resource=resource,
    )


def _get(obj: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in obj:
            return obj[key]
    return None


def _expect_list(value: Any, path: str) -> None:
    if not isinstance(value, list):
        raise InvalidParameterError(f"{path} must be a list. Got {type(value).__name__}.")


def _hex_id(value: Any, name: str, digits: int) -> str:
    if not isinstance(value, str) or len(value) != digits or not _HEX.match(value):
        raise _SpanError(name, f"expected {digits} hex digits, got {value!r}")
    if not value.strip("0"):
        raise _SpanError(name, "an all-zero id is invalid")
    return value.lower()


def _nanos(value: Any, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    raise _SpanError(name, f"expected unix nanoseconds (a non-negative integer), got {value!r}")


def _json_attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise _SpanError(
            "attributes", f"expected a list of {{key, value}}, got {type(items).__name__}"
        )
    out: dict[str, Any] = {}
    for k, kv in enumerate(items):
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise _SpanError(
                f"attributes[{k}]", "expected an object {key, value} with a string key"
            )
        out[kv["key"]] = _json_value(kv.get("value"), f"attributes[{k}].value", 0)
    return out


def _json_value(value: Any, path: str, depth: int) -> Any:
    """An ``AnyValue`` in the JSON mapping as a plain Python value."""
    if value is None or depth > _MAX_DEPTH:
        return None
    if not isinstance(value, dict):
        raise _SpanError(path, f"expected an AnyValue object, got {type(value).__name__}")
    if not value:
        return None
    key, raw = next(iter(value.items()))
    if key in ("stringValue", "string_value"):
        if isinstance(raw, str):
            return raw
    elif key in ("boolValue", "bool_value"):
        if isinstance(raw, bool):
            return raw
    elif key in ("intValue", "int_value"):
        if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw):
            return int(raw)
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif key in ("doubleValue", "double_value"):
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return float(raw)
        if raw in ("NaN", "Infinity", "-Infinity"):
            return float(raw.replace("Infinity", "inf"))
    elif key in ("arrayValue", "array_value"):
        values = raw.get("values", []) if isinstance(raw, dict) else None
        if isinstance(values, list):
            return [
                _json_value(v, f"{path}.arrayValue.values[{i}]", depth + 1)
                for i, v in enumerate(values)
            ]
    elif key in ("kvlistValue", "kvlist_value"):
        values = raw.get("values", []) if isinstance(raw, dict) else None
        if isinstance(values, list):
            try:
                return _json_attributes(values)
            except _SpanError as exc:
                raise _SpanError(f"{path}.kvlistValue.{exc.field}", exc.reason) from None
    elif key in ("bytesValue", "bytes_value"):
        if isinstance(raw, str):
            try:
                return base64.b64decode(raw, validate=True)
            except ValueError:
                pass
    else:
        raise _SpanError(path, f"unknown AnyValue kind {key!r}")
    raise _SpanError(path, f"{key} holds {raw!r}, which is not of that kind")


def finite(value: Any) -> bool:
    """Whether ``value`` is a finite real number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
