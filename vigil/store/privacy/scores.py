"""Queries of the input scores stored at ingest (``prediction_scores``: OOD, injection).

Written by :class:`vigil.engine.ingest.input_scores.InputScorer`, read by the
``ood_rate`` and ``injection_rate`` rule metrics and erased with the subject's predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from vigil.store import partitions
from vigil.store import tables as t
from vigil.store.privacy.tables import prediction_scores
from vigil.store.store import Store


def add_scores(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    """Store score rows (one per prediction; a prediction already scored is left as is)."""
    if not rows:
        return
    stmt = store._insert(prediction_scores).on_conflict_do_nothing()
    with store.write() as conn:
        if not store.partitioned():
            conn.execute(stmt, list(rows))
            return
        # partitioned, the key holds ts: a duplicate prediction sent with another time
        # would add a second row; skip the ids scored already, one writer per model
        s = prediction_scores
        for model_id in sorted({r["model_id"] for r in rows}):
            partitions.lock_model_rows(conn, "prediction_scores", model_id)
            first: dict[str, dict[str, Any]] = {}
            for r in rows:
                if r["model_id"] == model_id:
                    first.setdefault(r["prediction_id"], r)
            ids = sorted(first)
            stored: set[str] = set()
            for i in range(0, len(ids), 1000):
                stored.update(
                    conn.execute(
                        sa.select(s.c.prediction_id).where(
                            s.c.model_id == model_id, s.c.prediction_id.in_(ids[i : i + 1000])
                        )
                    ).scalars()
                )
            fresh = [r for i, r in first.items() if i not in stored]
            if fresh:
                conn.execute(s.insert(), fresh)


def flagged_share(
    store: Store,
    model_id: int,
    version: str | None,
    start: float,
    end: float,
    column: str,
    threshold: float | None,
) -> float | None:
    """Flagged predictions per prediction of ``[start, end)``: ``ood`` true when
    ``threshold`` is None, else ``column >= threshold``. None without predictions.

    Predictions without a score row count as clean (texts without any signal store none).
    """
    s, p = prediction_scores, t.predictions
    flagged = s.c.ood.is_(True) if threshold is None else s.c[column] >= threshold
    hits = (
        sa.select(sa.func.count())
        .select_from(s)
        .where(s.c.model_id == model_id, s.c.ts >= start, s.c.ts < end, flagged)
    )
    total = (
        sa.select(sa.func.count())
        .select_from(p)
        .where(p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end)
    )
    if version is not None:
        hits = hits.where(s.c.version == version)
        total = total.where(p.c.version == version)
    with store.read() as conn:
        n = conn.execute(total).scalar_one()
        return None if not n else conn.execute(hits).scalar_one() / n
