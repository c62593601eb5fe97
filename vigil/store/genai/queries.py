"""Reads for language-model calls (written by ``POST /v1/traces``, see
:mod:`vigil.engine.genai.spans`, or by the SDK): token counts, cost and time to first token of
stored predictions, and the newest prompts and answers for per-answer quality.

For the sums only the numbers are read, extracted from the ``outputs`` JSON by the
database (``json_extract`` on SQLite, ``->>`` on PostgreSQL), so prompts and completions
stay in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa

from vigil.store import Store
from vigil.store import tables as t
from vigil.store.privacy.tables import prediction_scores

FIELDS = ("input_tokens", "output_tokens", "cost", "ttft_s")
SUMMED = ("input_tokens", "output_tokens", "cost")


def genai_columns(
    store: Store,
    model_id: int,
    start: float,
    end: float,
    version: str | None = None,
    fields: Sequence[str] = FIELDS,
) -> dict[str, Any]:
    """The model's predictions in ``[start, end)``, oldest first, as columns: ``ts``,
    ``latency_s`` (float arrays, NaN when absent), ``error`` (bool array), ``version``
    (a list) and each of ``fields`` (float arrays, NaN where the output holds no
    non-negative number)."""
    p = t.predictions
    numbers = [sa.func.coalesce(_number(store, p.c.outputs, key), -1.0) for key in fields]
    query = sa.select(
        p.c.ts, sa.func.coalesce(p.c.latency_s, -1.0), p.c.version, p.c.error.is_not(None), *numbers
    ).where(p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end)
    if version is not None:
        query = query.where(p.c.version == version)
    with store.read() as conn:
        rows = conn.execute(query.order_by(p.c.ts)).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * (4 + len(fields))
    out: dict[str, Any] = {
        "ts": np.array(columns[0], dtype=np.float64),
        "version": list(columns[2]),
        "error": np.array(columns[3], dtype=bool),
    }
    for key, values in zip(("latency_s", *fields), (columns[1], *columns[4:]), strict=True):
        array = np.array(values, dtype=np.float64)
        array[array < 0] = np.nan  # -1: absent (all stored values are >= 0 or NULL)
        out[key] = array
    return out


def genai_sums(
    store: Store,
    model_id: int,
    start: float,
    end: float,
    version: str | None = None,
    fields: Sequence[str] = SUMMED,
) -> dict[str, Any]:
    """``calls`` and, for each of ``fields``, the sum over ``[start, end)`` (None when no
    prediction carries the number), added up by the database."""
    p = t.predictions
    parts: list[Any] = [sa.func.count()]
    for key in fields:
        value = _number(store, p.c.outputs, key)
        parts += [sa.func.sum(value), sa.func.count(value)]
    query = sa.select(*parts).where(p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end)
    if version is not None:
        query = query.where(p.c.version == version)
    with store.read() as conn:
        calls, *values = conn.execute(query).one()
    out: dict[str, Any] = {"calls": int(calls)}
    for i, key in enumerate(fields):
        total, known = values[2 * i], values[2 * i + 1]
        out[key] = float(total) if known else None
    return out


def _number(store: Store, column: Any, key: str) -> Any:
    """``column[key]`` where it is a non-negative JSON number, else NULL (never a cast
    error on another model's text)."""
    if store.backend == "sqlite":
        path = f'$."{key}"'
        value: Any = sa.func.json_extract(column, path)
        return sa.case(
            (sa.func.json_type(column, path).in_(("integer", "real")) & (value >= 0), value),
            else_=sa.null(),
        )
    item = column.op("->")(key)
    value = sa.cast(column.op("->>")(key), sa.Double)
    return sa.case(
        (sa.func.jsonb_typeof(item) == "number", sa.case((value >= 0, value))), else_=sa.null()
    )


def recent_predictions(
    store: Store, model_id: int, start: float, end: float, version: str | None, limit: int
) -> list[dict[str, Any]]:
    """The newest ``limit`` predictions in ``[start, end)`` (id, ts, version, inputs,
    outputs) with the input scores computed at ingest (``injection_score``, ``ood``,
    ``flags``; None when the prediction has none), newest first."""
    p, s = t.predictions, prediction_scores
    query = (
        sa.select(
            p.c.id,
            p.c.ts,
            p.c.version,
            p.c.inputs,
            p.c.outputs,
            s.c.injection_score,
            s.c.ood,
            s.c.flags,
        )
        .outerjoin(s, (s.c.prediction_id == p.c.id) & (s.c.model_id == p.c.model_id))
        .where(p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end)
    )
    if version is not None:
        query = query.where(p.c.version == version)
    with store.read() as conn:
        rows = conn.execute(query.order_by(p.c.ts.desc(), p.c.id).limit(limit)).all()
    keys = ("id", "ts", "version", "inputs", "outputs", "injection_score", "ood", "flags")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def input_scores_by_id(
    store: Store, model_id: int, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """``injection_score`` and ``ood`` of ingest for these predictions, by id."""
    s = prediction_scores
    out: dict[str, dict[str, Any]] = {}
    with store.read() as conn:
        for i in range(0, len(ids), 500):
            for pid, score, ood in conn.execute(
                sa.select(s.c.prediction_id, s.c.injection_score, s.c.ood).where(
                    s.c.model_id == model_id, s.c.prediction_id.in_(list(ids[i : i + 500]))
                )
            ):
                out[pid] = {"injection_score": score, "ood": ood}
    return out
