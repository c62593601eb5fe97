"""OpenTelemetry GenAI traces: ``POST /v1/traces`` (OTLP/HTTP, protobuf or JSON, gzip too)
stores language-model spans as predictions (their reads are in :mod:`.genai`).

The answer follows OTLP/HTTP: an ``ExportTraceServiceResponse`` in the request's encoding,
with ``partial_success`` (rejected span count and a message naming each span's path, id,
field and reason) when some spans could not be stored; failures of the whole request carry
a ``google.rpc.Status`` for protobuf requests and vigil's error object for JSON ones.
Spans that are not model calls are accepted and ignored. Counts ride in ``X-Vigil-*``
headers (accepted, duplicates, rejected, ignored) so the body stays a valid OTLP message.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response
from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool

from vigil.engine.genai.otlp import (
    TRACE_SERVICE,
    BadSpan,
    ProtobufUnavailableError,
    Span,
    decode_json,
    decode_protobuf,
)
from vigil.engine.genai.spans import GENAI_SCHEMA, Price, SpanRejectedError, is_llm_span, to_call
from vigil.engine.ingest.ingestor import check_model_name
from vigil.engine.ingest.payload import parse_json
from vigil.errors import VigilError, http_status
from vigil.server.auth import Principal, require
from vigil.server.body import raw_body
from vigil.server.errors import JsonResponse
from vigil.server.routes import genai as genai_routes
from vigil.store.ingest.rows import PredictionRows

router = APIRouter(tags=["otlp"])

PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
JSON_TYPES = frozenset({"application/json"})
MESSAGE_REASONS = 10  # rejected spans named in the partial-success message
# google.rpc.Code for the statuses this route answers with
_RPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 415: 3, 422: 3, 503: 14}
_OUTCOMES = ("accepted", "duplicate", "rejected", "ignored")


@dataclass
class SpanOutcome:
    """What happened to the spans of one export request."""

    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)

    def reject(
        self, position: int, path: str, span_id: str | None, field_: str, reason: str
    ) -> None:
        where = f"{path} (span {span_id})" if span_id else path
        self.rejected.append(
            (position, f"{where}: {field_}: {reason}" if field_ else f"{where}: {reason}")
        )

    def message(self) -> str:
        """The reasons, in the order of the spans in the request (the first few)."""
        shown = "; ".join(m for _, m in sorted(self.rejected)[:MESSAGE_REASONS])
        more = len(self.rejected) - MESSAGE_REASONS
        return f"{shown}; and {more} more" if more > 0 else shown

    def headers(self) -> dict[str, str]:
        return {
            "X-Vigil-Accepted": str(self.accepted),
            "X-Vigil-Duplicates": str(self.duplicates),
            "X-Vigil-Rejected": str(len(self.rejected)),
            "X-Vigil-Ignored": str(self.ignored),
        }


def install(app: FastAPI) -> None:
    """Add the trace receiver, the GenAI reads (:mod:`.genai`) and, on /metrics,
    ``vigil_otlp_spans`` (per outcome) and the token and cost counters of every stored
    prediction that carries them (whichever way it arrived)."""
    app.include_router(router)
    app.include_router(genai_routes.router)
    registry = app.state.metrics.registry
    app.state.otlp_spans = Counter(
        "vigil_otlp_spans",
        "Spans received on POST /v1/traces, by outcome.",
        ("outcome",),
        registry=registry,
    )
    for outcome in _OUTCOMES:
        app.state.otlp_spans.labels(outcome)
    ingestor = app.state.ingestor
    ingestor.on_predictions = TokenCounters(registry, ingestor.on_predictions)


class TokenCounters:
    """Counts ``outputs.input_tokens``, ``output_tokens`` and ``cost`` of inserted
    predictions (``vigil_genai_tokens_total{type}``, ``vigil_genai_cost_total``), then
    calls the ingest callback it wraps. Duplicates are never counted: the ingestor calls
    it with the rows really inserted."""

    def __init__(self, registry: Any, then: Any = None) -> None:
        self.then = then
        labels = ("model_name", "model_version")
        self.tokens = Counter(
            "vigil_genai_tokens",
            "Tokens of stored LLM calls, by type (input, output).",
            (*labels, "type"),
            registry=registry,
        )
        self.cost = Counter(
            "vigil_genai_cost",
            "Cost of stored LLM calls (VIGIL_GENAI_PRICES).",
            labels,
            registry=registry,
        )

    def __call__(self, model: str, rows: Sequence[dict[str, Any]]) -> None:
        if self.then is not None:
            self.then(model, rows)
        batch = PredictionRows.from_rows(rows)
        outputs_column = batch.column("outputs")
        if not any(issubclass(kind, dict) for kind in set(map(type, outputs_column))):
            return  # no outputs object in the batch (a tabular model): nothing to count
        sums: dict[tuple[str, str], float] = {}
        for outputs, version in zip(outputs_column, batch.column("version"), strict=True):
            if not isinstance(outputs, dict):
                continue
            for key, kind in (
                ("input_tokens", "input"),
                ("output_tokens", "output"),
                ("cost", "cost"),
            ):
                value = outputs.get(key)
                if (
                    isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and 0 <= value < float("inf")
                ):
                    sums[(version, kind)] = sums.get((version, kind), 0) + value
        for (version, kind), value in sums.items():
            if kind == "cost":
                self.cost.labels(model, version).inc(value)
            else:
                self.tokens.labels(model, version, kind).inc(value)


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-protobuf": {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "ExportTraceServiceRequest",
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"resourceSpans": {"type": "array", "items": {"type": "object"}}},
                }
            },
        },
    }
}


@router.post(
    "/v1/traces",
    openapi_extra=_BODY,
    responses={
        200: {
            "description": "ExportTraceServiceResponse (partial_success when spans were rejected)."
        },
        400: {"description": "Not an OTLP trace export request."},
        415: {
            "description": "Content-Type is neither application/x-protobuf nor "
            "application/json (or protobuf support is not installed)."
        },
    },
)
async def export_traces(
    request: Request,
    model: str | None = Query(
        None,
        description="File every LLM span under this model "
        "(default: gen_ai.request.model, else service.name).",
    ),
    who: Principal = Depends(require("ingest")),
) -> Response:
    """Store the LLM spans of an OTLP/HTTP trace export as predictions."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    proto = ctype in PROTOBUF_TYPES
    if not proto and ctype not in JSON_TYPES:
        return _failure(
            False,
            415,
            "unsupported_media_type",
            f"Content-Type {ctype or None!r} is not OTLP/HTTP; send "
            "application/x-protobuf or application/json.",
        )
    try:
        if model is not None:
            check_model_name(model)
        body = await raw_body(request)
        outcome = await run_in_threadpool(_ingest, request.app.state, body, proto, model, who.actor)
    except ProtobufUnavailableError as exc:
        return _failure(proto, 415, exc.code, exc.message)
    except VigilError as exc:
        return _failure(proto, http_status(exc), exc.code, exc.message)
    counter = request.app.state.otlp_spans
    for name, count in zip(
        _OUTCOMES,
        (outcome.accepted, outcome.duplicates, len(outcome.rejected), outcome.ignored),
        strict=True,
    ):
        if count:
            counter.labels(name).inc(count)
    return _success(proto, outcome)


def _ingest(state: Any, body: bytes, proto: bool, model: str | None, actor: str) -> SpanOutcome:
    """Decode, map, group by model, register unknown models and store (in the thread
    pool: decoding a large export is CPU work)."""
    spans = decode_protobuf(body) if proto else decode_json(parse_json(body)[0])
    out = SpanOutcome()
    prices = {k: Price(p.input, p.output) for k, p in state.settings.genai_prices.items()}
    groups: dict[str, list[tuple[int, Span, dict[str, Any]]]] = {}
    for i, span in enumerate(spans):
        if isinstance(span, BadSpan):
            out.reject(i, span.path, span.span_id, span.field, span.reason)
        elif not is_llm_span(span):
            out.ignored += 1
        else:
            try:
                call = to_call(span, model=model, prices=prices)
            except SpanRejectedError as exc:
                out.reject(i, span.path, span.span_id, exc.field, exc.reason)
                continue
            groups.setdefault(call.model, []).append((i, span, call.record))
    batch = state.ingestor.max_batch
    for name, items in groups.items():
        _ensure_model(state, name, actor)
        for first in range(0, len(items), batch):
            chunk = items[first : first + batch]
            result = state.ingestor.ingest_predictions(name, [r for _, _, r in chunk])
            out.accepted += result.accepted
            out.duplicates += result.duplicates
            for rejected in result.rejected:
                i, span, _ = chunk[rejected["index"]]
                reasons = ", ".join(
                    f"{e['field'].partition('.')[2] or e['field']}: {e['reason']}"
                    for e in rejected["errors"]
                )
                out.reject(
                    i,
                    span.path,
                    span.span_id,
                    "",
                    f"prediction of model {name!r} rejected: {reasons}",
                )
    return out


def _ensure_model(state: Any, name: str, actor: str) -> None:
    """Register ``name`` as a text-generation model on first sight of its spans."""
    if state.store.get_model(name) is not None:
        return
    model, created = state.ingestor.register_model(
        {
            "name": name,
            "task": "text_generation",
            "schema": GENAI_SCHEMA,
            "description": "Registered by POST /v1/traces (OpenTelemetry GenAI spans).",
        }
    )
    if created:
        state.store.audit(
            actor, "model.create", model["name"], {"task": model["task"], "source": "otlp"}
        )


def _success(proto: bool, outcome: SpanOutcome) -> Response:
    headers = outcome.headers()
    if proto:
        answer = importlib.import_module(TRACE_SERVICE).ExportTraceServiceResponse()
        if outcome.rejected:
            answer.partial_success.rejected_spans = len(outcome.rejected)
            answer.partial_success.error_message = outcome.message()
        return Response(
            answer.SerializeToString(), media_type="application/x-protobuf", headers=headers
        )
    body: dict[str, Any] = {}
    if outcome.rejected:  # int64 as a decimal string, as the OTLP JSON mapping writes it
        body["partialSuccess"] = {
            "rejectedSpans": str(len(outcome.rejected)),
            "errorMessage": outcome.message(),
        }
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def _failure(proto: bool, status: int, code: str, message: str) -> Response:
    if not proto:
        return JsonResponse(
            {"error": {"code": code, "message": message, "details": None}}, status_code=status
        )
    return Response(
        rpc_status(_RPC_CODE.get(status, 2), message),
        status_code=status,
        media_type="application/x-protobuf",
    )


def rpc_status(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` message (``code`` = field 1, ``message`` = field 2) in the
    protobuf wire format, written by hand so no extra package is needed."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
