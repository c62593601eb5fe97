"""Queries of resource samples and endpoint probes (see :mod:`vigil.store.resources.tables`).

Functions take a :class:`~vigil.store.Store` and return plain dicts; SQL stays here.
Windows are aggregated in the database (``minute - minute % step`` groups), so a long
range costs one grouped scan of the model's index rather than a row per sample.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from vigil.store import ModelRecord, Store
from vigil.store.resources import tables as rt

#: Fields that count events since the previous sample: a window sums them. Everything
#: else is a gauge (``host_cpu_count`` too, although its name ends in ``_count``).
SUMMED = frozenset({"net_sends", "request_count", "client_latency_count"})
#: How each field is summarised over a window: mean, max or sum of the samples.
AGGREGATE: dict[str, tuple[str, ...]] = {
    name: ("sum",)
    if name in SUMMED
    else ("max",)
    if name.endswith(("_p95_ms", "_seconds", "_total_bytes", "_cpu_count"))
    else ("mean", "max")
    for name in rt.SAMPLE_FIELDS
}
_SQL: dict[str, Any] = {"mean": sa.func.avg, "max": sa.func.max, "sum": sa.func.sum}


def insert_samples(store: Store, model: ModelRecord, rows: Sequence[dict[str, Any]]) -> int:
    """Insert samples not stored yet (same model, version, host, pid and ts); return how
    many were new."""
    if not rows:
        return 0
    table = rt.resource_samples
    stmt = store._insert(table).on_conflict_do_nothing().returning(table.c.ts)
    with store.write() as conn:
        store._ensure_versions(conn, model.id, {r["version"] for r in rows})
        return len(conn.execute(stmt, [{**r, "model_id": model.id} for r in rows]).all())


def _filters(table: sa.Table, model_id: int, version: str | None, host: str | None) -> list[Any]:
    out: list[Any] = [table.c.model_id == model_id]
    if version is not None:
        out.append(table.c.version == version)
    if host is not None:
        out.append(table.c.host == host)
    return out


def sample_windows(
    store: Store,
    model_id: int,
    start: float,
    end: float,
    step: int,
    *,
    version: str | None = None,
    host: str | None = None,
) -> list[dict[str, Any]]:
    """Per host and ``step``-second window: samples and each field's aggregates, oldest
    first. Windows without samples are absent, and so are fields no sample held (never
    zeros)."""
    s = rt.resource_samples
    bucket = (s.c.minute - s.c.minute % step).label("bucket")
    cols: list[Any] = [s.c.host, bucket, sa.func.count().label("samples")]
    for name, aggs in AGGREGATE.items():
        cols += [_SQL[a](s.c[name]).label(f"{name}__{a}") for a in aggs]
    query = (
        sa.select(*cols)
        .where(*_filters(s, model_id, version, host), s.c.ts >= start, s.c.ts < end)
        .group_by(s.c.host, bucket)
        .order_by(bucket, s.c.host)
    )
    with store.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [_window(row) for row in rows]


def _window(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "host": row["host"],
        "ts": int(row["bucket"]),
        "samples": int(row["samples"]),
    }
    for name, aggs in AGGREGATE.items():
        for agg in aggs:
            value = row[f"{name}__{agg}"]
            key = name if agg != "max" or len(aggs) == 1 else f"{name}_max"
            if value is not None:  # a field no sample held stays absent, never 0
                out[key] = float(value)
    return out


def latest_per_host(
    store: Store,
    model_id: int,
    *,
    version: str | None = None,
    before: float | None = None,
) -> list[dict[str, Any]]:
    """The newest sample of each host (and version) that ever reported, newest first."""
    s = rt.resource_samples
    where = _filters(s, model_id, version, None)
    if before is not None:
        where.append(s.c.ts < before)
    newest = (
        sa.select(s.c.host, s.c.version, sa.func.max(s.c.ts).label("ts"))
        .where(*where)
        .group_by(s.c.host, s.c.version)
        .subquery()
    )
    query = (
        sa.select(s)
        .join(
            newest,
            sa.and_(
                s.c.host == newest.c.host, s.c.version == newest.c.version, s.c.ts == newest.c.ts
            ),
        )
        .where(s.c.model_id == model_id)
        .order_by(s.c.ts.desc(), s.c.host)
    )
    with store.read() as conn:
        rows = conn.execute(query).mappings().all()
    seen: set[tuple[str, str]] = set()
    out = []
    for row in rows:  # two pids of one host at the same instant: keep one
        if (row["host"], row["version"]) not in seen:
            seen.add((row["host"], row["version"]))
            out.append({str(k): v for k, v in row.items() if k not in ("model_id", "minute")})
    return out


def field_aggregate(
    store: Store,
    model_id: int,
    field: str,
    agg: str,
    start: float,
    end: float,
    version: str | None = None,
) -> float | None:
    """One aggregate (``mean``, ``max`` or ``sum``) of one field over a window, or None
    when no sample in it holds the field."""
    s = rt.resource_samples
    query = sa.select(_SQL[agg](s.c[field])).where(
        *_filters(s, model_id, version, None), s.c.ts >= start, s.c.ts < end
    )
    with store.read() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else float(value)


# -- probes ----------------------------------------------------------------------------


def create_probe(store: Store, model_id: int, spec: dict[str, Any]) -> dict[str, Any]:
    """Store a probe definition (``name`` unique per model; a second one replaces it)."""
    p = rt.probes
    with store.write() as conn:
        old = conn.execute(
            sa.select(p.c.id).where(p.c.model_id == model_id, p.c.name == spec["name"])
        ).scalar()
        if old is not None:
            conn.execute(p.delete().where(p.c.id == old))
        row = {"id": secrets.token_hex(8), "model_id": model_id, "created_at": time.time(), **spec}
        conn.execute(p.insert().values(**row))
    return _probe(row)


def list_probes(store: Store, model_id: int | None = None) -> list[dict[str, Any]]:
    """Probe definitions of one model, or of every model (each with its ``model`` name)."""
    from vigil.store.tables import models

    p = rt.probes
    query = (
        sa.select(p, models.c.name.label("model"))
        .join(models, models.c.id == p.c.model_id)
        .order_by(p.c.created_at)
    )
    if model_id is not None:
        query = query.where(p.c.model_id == model_id)
    with store.read() as conn:
        return [{**_probe(r), "model": r["model"]} for r in conn.execute(query).mappings()]


def delete_probe(store: Store, model_id: int, probe_id: str) -> bool:
    """Delete a probe and its results; False when the model has no such probe."""
    p = rt.probes
    with store.write() as conn:
        conn.execute(rt.probe_results.delete().where(rt.probe_results.c.probe_id == probe_id))
        result = conn.execute(p.delete().where(p.c.id == probe_id, p.c.model_id == model_id))
    return result.rowcount > 0


def insert_probe_result(store: Store, probe_id: str, result: dict[str, Any]) -> None:
    """Append one probe outcome (dropped silently when the probe was deleted meanwhile)."""
    r = rt.probe_results
    with store.write() as conn:
        exists = conn.execute(sa.select(rt.probes.c.id).where(rt.probes.c.id == probe_id))
        if exists.first() is not None:
            conn.execute(
                store._insert(r).values(probe_id=probe_id, **result).on_conflict_do_nothing()
            )


def probe_results(
    store: Store,
    probe_id: str,
    start: float,
    end: float,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    """A probe's outcomes in ``[start, end)``, newest first."""
    r = rt.probe_results
    query = (
        sa.select(r)
        .where(r.c.probe_id == probe_id, r.c.ts >= start, r.c.ts < end)
        .order_by(r.c.ts.desc())
        .limit(limit)
    )
    with store.read() as conn:
        return [
            {str(k): v for k, v in row.items() if k != "probe_id"}
            for row in conn.execute(query).mappings()
        ]


def _probe(row: Any) -> dict[str, Any]:
    return {
        k: row[k]
        for k in (
            "id",
            "name",
            "url",
            "method",
            "body",
            "interval_s",
            "timeout_s",
            "expect_status",
            "created_at",
        )
    }
