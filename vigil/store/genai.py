"""Reads for language-model calls (written by ``POST /v1/traces``, see
:mod:`vigil.engine.genai`, or by the SDK): token counts, cost and time to first token of
stored predictions, and the newest prompts and answers for per-answer quality.

For the sums only the numbers are read, extracted from the ``outputs`` JSON by the
database (``json_extract`` on SQLite, ``->>`` on PostgreSQL), so prompts and completions
stay in it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from vigil.store import Store
from vigil.store import tables as t

FIELDS = ("input_tokens", "output_tokens", "cost", "ttft_s")


def genai_calls(store: Store, model_id: int, start: float, end: float,
                version: str | None = None) -> list[dict[str, Any]]:
    """``ts``, ``version``, ``latency_s``, ``error`` (bool) and the numbers of
    :data:`FIELDS` (None when absent) of the model's predictions in ``[start, end)``,
    oldest first."""
    p = t.predictions
    numbers = [_number(store, p.c.outputs, key).label(key) for key in FIELDS]
    query = sa.select(p.c.ts, p.c.version, p.c.latency_s,
                      p.c.error.is_not(None).label("error"), *numbers).where(
        p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end)
    if version is not None:
        query = query.where(p.c.version == version)
    with store.read() as conn:
        rows = conn.execute(query.order_by(p.c.ts)).all()
    out = []
    for ts, ver, latency, error, *values in rows:
        call = {"ts": ts, "version": ver, "latency_s": latency, "error": bool(error)}
        call.update((k, None if v is None else float(v)) for k, v in zip(FIELDS, values,
                                                                         strict=True))
        out.append(call)
    return out


def _number(store: Store, column: Any, key: str) -> Any:
    """``column[key]`` as a float where it is a JSON number, else NULL (never a cast error
    on another model's text)."""
    if store.backend == "sqlite":
        path = f'$."{key}"'
        return sa.case((sa.func.json_type(column, path).in_(("integer", "real")),
                        sa.func.json_extract(column, path)), else_=sa.null())
    item = column.op("->")(key)
    return sa.case((sa.func.jsonb_typeof(item) == "number",
                    sa.cast(column.op("->>")(key), sa.Double)), else_=sa.null())


def recent_predictions(store: Store, model_id: int, start: float, end: float,
                       version: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` predictions in ``[start, end)`` (id, ts, version, inputs,
    outputs), newest first."""
    p = t.predictions
    query = sa.select(p.c.id, p.c.ts, p.c.version, p.c.inputs, p.c.outputs).where(
        p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end)
    if version is not None:
        query = query.where(p.c.version == version)
    with store.read() as conn:
        rows = conn.execute(query.order_by(p.c.ts.desc(), p.c.id).limit(limit)).all()
    return [{"id": i, "ts": ts, "version": v, "inputs": inputs, "outputs": outputs}
            for i, ts, v, inputs, outputs in rows]
