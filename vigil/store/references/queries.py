"""Queries for reference data and for the raw inputs of a window (drift's two sides)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vigil.store import tables as t
from vigil.store.references.tables import reference_data
from vigil.store.store import Store


@dataclass(frozen=True, slots=True)
class ReferenceRecord:
    """A model's stored reference data set."""

    n_rows: int
    sample_rows: int
    columns: list[str]
    profile: bytes
    sample: bytes
    source: str | None
    created_at: float

    def summary(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "sample_rows": self.sample_rows,
            "columns": self.columns,
            "source": self.source,
            "created_at": self.created_at,
        }


def reference_time(store: Store, model_id: int) -> float | None:
    """When the model's reference was stored (None: it has none); cheap, no blobs read."""
    r = reference_data
    with store.read() as conn:
        return conn.execute(sa.select(r.c.created_at).where(r.c.model_id == model_id)).scalar()


def save_reference(
    store: Store,
    model_id: int,
    *,
    n_rows: int,
    sample_rows: int,
    columns: list[str],
    profile: bytes,
    sample: bytes,
    source: str | None,
) -> None:
    """Store (or replace) the model's reference."""
    values = {
        "n_rows": n_rows,
        "sample_rows": sample_rows,
        "columns": columns,
        "profile": profile,
        "sample": sample,
        "source": source,
        "created_at": time.time(),
    }
    with store.write() as conn:
        conn.execute(reference_data.delete().where(reference_data.c.model_id == model_id))
        conn.execute(reference_data.insert().values(model_id=model_id, **values))


def get_reference(store: Store, model_id: int) -> ReferenceRecord | None:
    r = reference_data
    with store.read() as conn:
        row = conn.execute(
            sa.select(
                r.c.n_rows,
                r.c.sample_rows,
                r.c.columns,
                r.c.profile,
                r.c.sample,
                r.c.source,
                r.c.created_at,
            ).where(r.c.model_id == model_id)
        ).first()
    return ReferenceRecord(*row) if row else None


def count_window(store: Store, model_id: int, start: float, end: float, version: str | None) -> int:
    """Predictions with ``start <= ts < end`` (of one version when given)."""
    p = t.predictions
    query = (
        sa.select(sa.func.count())
        .select_from(p)
        .where(p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end)
    )
    if version is not None:
        query = query.where(p.c.version == version)
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())


def window_inputs(
    store: Store, model_id: int, start: float, end: float, version: str | None
) -> list[dict[str, Any]]:
    """The raw inputs of the predictions in the window, oldest first."""
    p = t.predictions
    query = (
        sa.select(p.c.inputs)
        .where(p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end)
        .order_by(p.c.ts)
    )
    if version is not None:
        query = query.where(p.c.version == version)
    with store.read() as conn:
        return [row[0] for row in conn.execute(query)]
