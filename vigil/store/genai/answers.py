"""Reads and writes of the stored per-answer scores (:data:`answer_scores`), which the
background answer-quality job fills (:func:`vigil.engine.genai.quality.score_pending`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from vigil.store import Store
from vigil.store import tables as t
from vigil.store.genai.tables import answer_scores
from vigil.store.privacy.tables import prediction_scores

COLUMNS = ("relevance", "consistency", "refusal", "tokens", "unknown_tokens", "similarity")


def unscored_windows(
    store: Store, model_id: int, since: float, step: int, limit: int, until: float | None = None
) -> list[int]:
    """Starts of the oldest ``limit`` ``step``-second windows holding a prediction in
    ``[since, until)`` without stored answer scores."""
    p, a = t.predictions, answer_scores
    window = sa.cast(sa.func.floor(p.c.ts / step), sa.BigInteger) * step
    query = (
        sa.select(window.label("w"))
        .select_from(p.outerjoin(a, (a.c.prediction_id == p.c.id) & (a.c.model_id == p.c.model_id)))
        .where(p.c.model_id == model_id, p.c.ts >= since, a.c.prediction_id.is_(None))
        .where(sa.true() if until is None else p.c.ts < until)
        .group_by(window)
        .order_by(window)
        .limit(limit)
    )
    with store.read() as conn:
        return [int(w) for (w,) in conn.execute(query)]


def write_scores(store: Store, model_id: int, rows: Sequence[dict[str, Any]]) -> None:
    """Store (replace) the scores of these predictions (``prediction_id``, ``version``,
    ``ts`` and :data:`COLUMNS`, None for a skipped prediction)."""
    if not rows:
        return
    a = answer_scores
    ids = [r["prediction_id"] for r in rows]
    with store.write() as conn:
        for i in range(0, len(ids), 500):
            conn.execute(
                sa.delete(a).where(
                    a.c.model_id == model_id, a.c.prediction_id.in_(ids[i : i + 500])
                )
            )
        conn.execute(
            sa.insert(a),
            [
                {
                    "model_id": model_id,
                    "prediction_id": r["prediction_id"],
                    "version": r["version"],
                    "ts": r["ts"],
                    **{c: r.get(c) for c in COLUMNS},
                }
                for r in rows
            ],
        )


def stored_scores(
    store: Store, model_id: int, start: float, end: float, version: str | None = None
) -> list[dict[str, Any]]:
    """Stored answer scores in ``[start, end)`` (scored answers only, oldest first) with
    the input scores of ingest (``injection_score``, ``ood``)."""
    a, s = answer_scores, prediction_scores
    query = (
        sa.select(
            a.c.prediction_id,
            a.c.version,
            a.c.ts,
            *[a.c[c] for c in COLUMNS],
            s.c.injection_score,
            s.c.ood,
        )
        .outerjoin(s, (s.c.prediction_id == a.c.prediction_id) & (s.c.model_id == a.c.model_id))
        .where(a.c.model_id == model_id, a.c.ts >= start, a.c.ts < end, a.c.relevance.is_not(None))
    )
    if version is not None:
        query = query.where(a.c.version == version)
    keys = ("prediction_id", "version", "ts", *COLUMNS, "injection_score", "ood")
    with store.read() as conn:
        rows = conn.execute(query.order_by(a.c.ts, a.c.prediction_id)).all()
    return [dict(zip(keys, row, strict=True)) for row in rows]


def scores_by_id(store: Store, model_id: int, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Stored answer scores of these predictions, by id (absent: not scored yet)."""
    a = answer_scores
    out: dict[str, dict[str, Any]] = {}
    with store.read() as conn:
        for i in range(0, len(ids), 500):
            for row in conn.execute(
                sa.select(a.c.prediction_id, *[a.c[c] for c in COLUMNS]).where(
                    a.c.model_id == model_id, a.c.prediction_id.in_(list(ids[i : i + 500]))
                )
            ):
                out[row[0]] = dict(zip(COLUMNS, row[1:], strict=True))
    return out
