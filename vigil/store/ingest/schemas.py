"""Schema history and rejection counts: inputs that appeared, records that were refused.

A model's schema grows as new inputs arrive (never silently dropping them); each change is
a row in ``schema_changes`` with its time and version. Records refused at ingest are
counted per model, version, minute and reason in ``rejections``, like a rollup, so they
can be shown and alerted on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from vigil.store import tables as t

if TYPE_CHECKING:
    from vigil.store.store import Store


def add_features(
    store: Store, model_id: int, additions: Sequence[tuple[str, str, str | None]]
) -> dict[str, Any]:
    """Add ``(feature, kind, version)`` entries missing from the stored schema, record each
    in the history, and return the schema as stored afterwards.

    The stored schema is re-read under the write lock (a row lock on PostgreSQL), so two
    replicas adding the same input record it once; the first kind stored wins and the
    caller validates its records against the schema returned.
    """
    m = t.models

    def work(conn: sa.Connection) -> dict[str, Any]:
        query = sa.select(m.c.schema).where(m.c.id == model_id)
        if store.backend == "postgresql":  # FOR NO KEY UPDATE: ingest's FK checks go on
            query = query.with_for_update(key_share=True)
        schema = dict(conn.execute(query).scalar_one() or {})
        features = list(schema.get("features", []))
        known = {f["name"] for f in features}
        now = time.time()
        changes = []
        for name, kind, version in additions:
            if name in known:
                continue
            known.add(name)
            features.append({"name": name, "kind": kind, "required": False})
            changes.append(
                {
                    "model_id": model_id,
                    "ts": now,
                    "version": version,
                    "feature": name,
                    "change": "added",
                    "kind": kind,
                }
            )
        if changes:
            schema["features"] = features
            conn.execute(m.update().where(m.c.id == model_id).values(schema=schema, updated_at=now))
            conn.execute(t.schema_changes.insert(), changes)
        return schema

    return store.write_retrying(work)


def schema_history(store: Store, model_id: int) -> list[dict[str, Any]]:
    """The recorded schema changes of a model, oldest first."""
    c = t.schema_changes
    with store.read() as conn:
        rows = (
            conn.execute(
                sa.select(c.c.ts, c.c.version, c.c.feature, c.c.change, c.c.kind)
                .where(c.c.model_id == model_id)
                .order_by(c.c.ts, c.c.id)
            )
            .mappings()
            .all()
        )
    return [{str(k): v for k, v in r.items()} for r in rows]


def record_rejections(
    store: Store, model_id: int, counts: Mapping[tuple[str, int, str], int]
) -> None:
    """Add rejected-record counts keyed by (version, minute, reason), in key order."""
    if not counts:
        return
    rj = t.rejections
    rows = [
        {"model_id": model_id, "version": v, "minute": minute, "reason": reason, "count": n}
        for (v, minute, reason), n in sorted(counts.items())
    ]
    stmt = store._insert(rj)
    stmt = stmt.on_conflict_do_update(
        index_elements=[rj.c.model_id, rj.c.version, rj.c.minute, rj.c.reason],
        set_={"count": rj.c.count + stmt.excluded.count},
    )

    def work(conn: sa.Connection) -> None:
        conn.execute(stmt, rows)

    store.write_retrying(work)


def rejection_rows(
    store: Store, model_id: int, start: float, end: float, version: str | None = None
) -> list[dict[str, Any]]:
    """Rejection counts with ``start <= minute < end``: version, minute, reason, count."""
    rj = t.rejections
    query = sa.select(rj.c.version, rj.c.minute, rj.c.reason, rj.c.count).where(
        rj.c.model_id == model_id, rj.c.minute >= int(start // 60) * 60, rj.c.minute < end
    )
    if version is not None:
        query = query.where(rj.c.version == version)
    with store.read() as conn:
        rows = conn.execute(query.order_by(rj.c.minute)).mappings().all()
    return [{str(k): v for k, v in r.items()} for r in rows]
