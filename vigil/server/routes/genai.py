"""Reads of language-model calls: tokens, cost and time to first token per window
(``/genai``) and per-answer quality with the worst answers (``/answers``)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Query, Request

from vigil.engine.genai.metrics import genai_summary
from vigil.engine.genai.quality import MAX_ANSWERS, answer_report
from vigil.server.auth import Principal, require
from vigil.server.errors import JsonResponse
from vigil.server.routes import on_model

router = APIRouter(prefix="/api/v1/models/{name}", tags=["genai"])


@router.get("/genai")
async def genai_windows(
    name: str,
    request: Request,
    start: float | None = Query(None, description="Unix seconds; default end - 1 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    step: int | None = Query(None, description="Window seconds, a multiple of 60."),
    version: str | None = Query(None),
    _: Principal = Depends(require("read")),
) -> JsonResponse:
    """Calls, errors, input/output tokens, cost and time to first token (p50, p95) of the
    model's LLM calls: for the range, per window and per version."""
    return JsonResponse(
        await on_model(
            request,
            name,
            lambda store, model: genai_summary(
                store, model, start=start, end=end, step=step, version=version
            ),
        )
    )


@router.get("/answers")
async def answers(
    name: str,
    request: Request,
    start: float | None = Query(None, description="Unix seconds; default end - 1 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    version: str | None = Query(None),
    limit: int = Query(200, description=f"Newest answers scored, 1..{MAX_ANSWERS}."),
    worst: int = Query(10, description="Answers listed per worst-of kind."),
    backend: str = Query("auto", description="Similarity: auto, embedding or tfidf."),
    _: Principal = Depends(require("read")),
) -> JsonResponse:
    """Relevance, consistency, refusal and length of each of the newest answers, and the
    least relevant answers, least consistent pairs and refusals."""
    stop = time.time() if end is None else end
    begin = stop - 3600 if start is None else start
    return JsonResponse(
        await on_model(
            request,
            name,
            lambda store, model: answer_report(
                store,
                model,
                start=begin,
                end=stop,
                version=version,
                limit=limit,
                worst=worst,
                backend=backend,
                wait=False,  # while the text model loads: stored scores, "pending"
            ),
        )
    )
