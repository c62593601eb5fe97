"""Event ingest: predictions, labels and feedback, batched and idempotent."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from vigil.engine.ingest.ingestor import Ingestor, IngestResult
from vigil.engine.ingest.payload import decompress, parse_json
from vigil.server.arrow_body import columns_from_arrow
from vigil.server.auth import Principal, require
from vigil.server.body import JSON_TYPES, encoded_body, json_body, media_type, require_media_type
from vigil.server.errors import JsonResponse

router = APIRouter(prefix="/api/v1/models/{name}", tags=["events"])
ARROW_STREAM = "application/vnd.apache.arrow.stream"

_RESPONSES: dict[int | str, dict[str, Any]] = {
    207: {"description": "Some records were stored, some rejected (listed per field)."},
    422: {"description": "Every record was rejected; details hold the per-record result."},
}


def _answer(request: Request, name: str, kind: str, result: IngestResult) -> JsonResponse:
    if result.rejected:
        request.app.state.metrics.rejected.labels(name, kind).inc(len(result.rejected))
    body = result.to_dict()
    if result.all_rejected:
        return JsonResponse(
            {
                "error": {
                    "code": "validation_failed",
                    "message": f"Every {kind} record was rejected; see details.rejected.",
                    "details": body,
                }
            },
            status_code=422,
        )
    return JsonResponse(body, status_code=207 if result.rejected else 200)


@router.post("/predictions", responses=_RESPONSES)
async def ingest_predictions(
    name: str,
    request: Request,
    version: str | None = Query(None, description="Version for records that name none."),
    _: Principal = Depends(require("ingest")),
) -> JsonResponse:
    """Store a batch: JSON ``{"records": [...]}``, or an Arrow IPC stream
    (``application/vnd.apache.arrow.stream``: columns ``id, version, ts, latency_s, error,
    error_type, subject_id, outputs, proba`` and ``inputs.<name>``); known ids count as
    duplicates."""
    arrow = media_type(request) == ARROW_STREAM
    if not arrow:
        require_media_type(request, JSON_TYPES)
    body, encoding, limit = await encoded_body(request)
    state = request.app.state
    work = partial(_ingest_body, state.ingestor, name, body, encoding, limit, arrow, version)
    pool = state.ingest_threads.executor()
    result = await asyncio.get_running_loop().run_in_executor(pool, work)
    return _answer(request, name, "prediction", result)


def _ingest_body(
    ingestor: Ingestor,
    name: str,
    body: bytes,
    encoding: str | None,
    limit: int,
    arrow: bool,
    version: str | None,
) -> IngestResult:
    """Decompress, parse and ingest a predictions body, all in one worker thread (one
    hand-off per request, and the parsed batch is used where it was built)."""
    raw = decompress(body, encoding, limit)
    if arrow:
        records, non_finite = columns_from_arrow(raw), False
    else:
        records, non_finite = parse_json(raw)
    return ingestor.ingest_predictions(name, records, version=version, non_finite=non_finite)


@router.get("/schema")
async def model_schema(
    name: str, request: Request, _: Principal = Depends(require("read"))
) -> JsonResponse:
    """The model's schema as it stands, whether it is strict, and its history (inputs
    that appeared, with time and version)."""
    out = await run_in_threadpool(request.app.state.ingestor.get_schema, name)
    return JsonResponse(out)


@router.post("/labels", responses=_RESPONSES)
async def ingest_labels(
    name: str, request: Request, _: Principal = Depends(require("ingest"))
) -> JsonResponse:
    """Store ``{"labels": [...]}`` or one ``{prediction_id, actual}``; the latest label wins."""
    body, non_finite = await json_body(request)
    if isinstance(body, dict) and "prediction_id" in body:
        body = [body]
    result = await run_in_threadpool(
        request.app.state.ingestor.ingest_labels, name, body, non_finite=non_finite
    )
    request.app.state.metrics.labels.labels(name).inc(result.accepted)
    return _answer(request, name, "label", result)


@router.post("/feedback", responses=_RESPONSES)
async def ingest_feedback(
    name: str, request: Request, _: Principal = Depends(require("ingest"))
) -> JsonResponse:
    """Store ``{"feedback": [...]}`` or one ``{prediction_id, score, comment}``."""
    body, non_finite = await json_body(request)
    if isinstance(body, dict) and "prediction_id" in body:
        body = [body]
    result = await run_in_threadpool(
        request.app.state.ingestor.ingest_feedback, name, body, non_finite=non_finite
    )
    request.app.state.metrics.feedback.labels(name).inc(result.accepted)
    return _answer(request, name, "feedback", result)
