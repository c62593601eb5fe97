"""Hourly rollups: each hour's minute rollups merged, so long ranges read 60× fewer rows.

The aggregator marks an hour (``rollup_hours_pending``) in the transaction that changes
any of its minutes; :func:`build_hours` rebuilds a marked hour once it is complete (all
of its versions, from the stored minutes) and clears the mark in the same transaction.
Re-running it changes nothing, and late data re-marks the hour, so it is built again.

Reads over ``HOURLY_MIN_RANGE_S`` or longer that merge into whole hours
(:func:`read_rows`) take each hour inside the range from here unless it is marked, and
minutes for the rest (the range's ragged ends, marked hours), so they give the numbers a
minute read gives: counts exactly, sketches as the merge of the same minutes.

On PostgreSQL builders claim marks with ``FOR UPDATE SKIP LOCKED``; a fold that re-marks
an hour being built waits for that build to commit (its upsert takes the row lock), so a
change is never lost between the build's read of the minutes and its clearing the mark.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from datasketches import kll_doubles_sketch

from vigil.profile import Profile
from vigil.store import tables as t
from vigil.store.entities import RollupRow
from vigil.store.ingest.rollups import merge_error_types

if TYPE_CHECKING:
    from vigil.store.store import Store

HOUR = 3600
HOURLY_MIN_RANGE_S = 6 * HOUR  # reads at least this long take whole hours from hourly rows
CLAIM_HOURS = 8  # hours rebuilt per transaction (bounded memory and lock time)
MAX_MARKED_IN_READ = 500  # more marked hours than this in a range: read it all from minutes


def mark_hours(store: Store, conn: sa.Connection, keys: Iterable[tuple[int, int]]) -> None:
    """Mark (model, hour) keys as changed, in key order (one global lock order)."""
    now = time.time()
    rows = [{"model_id": m, "hour": h, "marked_at": now} for m, h in sorted(set(keys))]
    if not rows:
        return
    stmt = store._insert(t.rollup_hours_pending)
    # DO UPDATE, not DO NOTHING: it takes the row lock, so it waits for a build in progress
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.rollup_hours_pending.c.model_id, t.rollup_hours_pending.c.hour],
            set_={"marked_at": stmt.excluded.marked_at},
        ),
        rows,
    )


def merge_minutes(rows: Sequence[sa.RowMapping]) -> dict[str, Any]:
    """The hourly values of one version's stored minute rows (serialised sketches)."""
    sketch: kll_doubles_sketch | None = None
    profile: Profile | None = None
    error_types: dict[str, int] | None = None
    for row in rows:
        if row["latency_sketch"] is not None:
            part = kll_doubles_sketch.deserialize(bytes(row["latency_sketch"]))
            if sketch is None:
                sketch = part
            else:
                sketch.merge(part)
        if row["profile"] is not None:
            part_p = Profile.from_bytes(bytes(row["profile"]))
            profile = part_p if profile is None else profile.merge(part_p)
        error_types = merge_error_types(error_types, row["error_types"])
    return {
        "count": sum(int(r["count"]) for r in rows),
        "errors": sum(int(r["errors"]) for r in rows),
        "latency_count": sum(int(r["latency_count"]) for r in rows),
        "latency_sum": float(sum(float(r["latency_sum"]) for r in rows)),
        "latency_sketch": sketch.serialize() if sketch is not None else None,
        "profile": profile.to_bytes() if profile is not None else None,
        "error_types": error_types,
    }


def build_hours(
    store: Store, *, now: float | None = None, settle_s: float = 0.0, model_id: int | None = None
) -> int:
    """Rebuild the marked hours complete at ``now`` (default: the clock) and last marked
    at least ``settle_s`` ago (so a backfill in progress is not rebuilt every round);
    return how many."""
    now = time.time() if now is None else now
    total = 0
    while True:
        done = store.write_retrying(lambda conn: _build_once(store, conn, now, settle_s, model_id))
        total += done
        if done < CLAIM_HOURS:
            return total


def _build_once(
    store: Store, conn: sa.Connection, now: float, settle_s: float, model_id: int | None
) -> int:
    p, r, h = t.rollup_hours_pending, t.rollups, t.hourly_rollups
    claim = (
        sa.select(p.c.model_id, p.c.hour)
        .where(p.c.hour <= now - HOUR)
        .order_by(p.c.model_id, p.c.hour)
        .limit(CLAIM_HOURS)
    )
    if settle_s > 0:  # by the wall clock: marks carry the time they were made
        claim = claim.where(p.c.marked_at <= time.time() - settle_s)
    if model_id is not None:
        claim = claim.where(p.c.model_id == model_id)
    if store.backend == "postgresql":
        claim = claim.with_for_update(skip_locked=True)
    claimed = conn.execute(claim).all()
    for mid, hour in claimed:
        minutes = (
            conn.execute(
                sa.select(
                    r.c.version,
                    r.c.count,
                    r.c.errors,
                    r.c.latency_count,
                    r.c.latency_sum,
                    r.c.latency_sketch,
                    r.c.profile,
                    r.c.error_types,
                )
                .where(r.c.model_id == mid, r.c.minute >= hour, r.c.minute < hour + HOUR)
                .order_by(r.c.version, r.c.minute)
            )
            .mappings()
            .all()
        )
        by_version: dict[str, list[sa.RowMapping]] = {}
        for row in minutes:
            by_version.setdefault(row["version"], []).append(row)
        conn.execute(h.delete().where(h.c.model_id == mid, h.c.hour == hour))
        if by_version:
            conn.execute(
                h.insert(),
                [
                    {"model_id": mid, "version": v, "hour": hour, **merge_minutes(rows)}
                    for v, rows in sorted(by_version.items())
                ],
            )
        conn.execute(p.delete().where(p.c.model_id == mid, p.c.hour == hour))
    return len(claimed)


def whole_hours(start: float, end: float) -> tuple[int, int] | None:
    """The hours that lie wholly in [start, end) when the range is long enough to read
    hourly rows, as [first, stop); None otherwise."""
    if end - start < HOURLY_MIN_RANGE_S:
        return None
    first = math.ceil(start / HOUR) * HOUR
    stop = int(end // HOUR) * HOUR
    return (first, stop) if stop > first else None


def row_columns(table: sa.Table, key: sa.Column, profiles: bool, sketches: bool) -> list[Any]:
    """The columns of a :class:`RollupRow` from ``table``, NULL for the sketches left
    unread (so they are neither sent by the database nor decoded)."""
    c = table.c
    return [
        c.version,
        key,
        c.count,
        c.errors,
        c.latency_count,
        c.latency_sum,
        c.latency_sketch if sketches else sa.null().label("latency_sketch"),
        c.profile if profiles else sa.null().label("profile"),
        c.error_types,
    ]


def read_rows(
    store: Store,
    model_id: int,
    start: float,
    end: float,
    version: str | None,
    profiles: bool,
    sketches: bool = True,
) -> list[RollupRow] | None:
    """Rollup rows for [start, end): hourly rows for unmarked whole hours inside the
    range, minute rows for the rest, oldest first; None when the range is too short or
    too many of its hours are marked (the caller reads minutes)."""
    span = whole_hours(start, end)
    if span is None:
        return None
    first, stop = span
    p, r, h = t.rollup_hours_pending, t.rollups, t.hourly_rollups
    with store.read() as conn:
        marked = set(
            conn.execute(
                sa.select(p.c.hour).where(
                    p.c.model_id == model_id, p.c.hour >= first, p.c.hour < stop
                )
            ).scalars()
        )
        if len(marked) > MAX_MARKED_IN_READ:
            return None
        hq = sa.select(*row_columns(h, h.c.hour, profiles, sketches)).where(
            h.c.model_id == model_id, h.c.hour >= first, h.c.hour < stop
        )
        if marked:
            hq = hq.where(h.c.hour.not_in(sorted(marked)))
        outside = sa.or_(
            r.c.minute < first,
            r.c.minute >= stop,
            *((r.c.minute >= hour) & (r.c.minute < hour + HOUR) for hour in sorted(marked)),
        )
        mq = sa.select(*row_columns(r, r.c.minute, profiles, sketches)).where(
            r.c.model_id == model_id, r.c.minute >= int(start // 60) * 60, r.c.minute < end, outside
        )
        if version is not None:
            hq = hq.where(h.c.version == version)
            mq = mq.where(r.c.version == version)
        rows = [RollupRow(*row) for row in conn.execute(hq)]
        rows += [RollupRow(*row) for row in conn.execute(mq)]
    rows.sort(key=lambda row: row.minute)
    return rows
