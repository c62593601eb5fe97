"""Daily range partitions of ``predictions`` on PostgreSQL (see migration 0017).

Each UTC day has its partition ``predictions_pYYYYMMDD`` holding ``day <= ts < day + 1``;
``predictions_default`` holds rows of days without one (backfills far in the past, clocks
far ahead). :func:`ensure_partitions` creates the partitions of the coming days and moves
rows of the default partition into partitions of their own; retention drops whole
partitions (:func:`vigil.store.privacy.queries.drop_expired_partitions`). Time-bounded
queries on ``ts`` read only the matching partitions (PostgreSQL prunes them).

Ids stay unique per model through ``prediction_ids`` (model_id, id), unpartitioned, which
ingest writes in the same statement as the rows. SQLite has no partitions: every function
here does nothing there, and the rest of vigil runs the same code on both.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from vigil.store.store import Store

DAY_S = 86400
AHEAD_DAYS = 7  # partitions created ahead of today
MAX_MOVED_DAYS = 100  # days moved out of the default partition per run (bounded work)
DEFAULT = "predictions_default"
_LOCK_KEY = 0x76_69_67_69_6C_70_74  # pg_advisory_xact_lock key: one maintainer at a time
_BOUND = re.compile(r"FROM \('?([-0-9.e+]+)'?\) TO \('?([-0-9.e+]+)'?\)")


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition of ``predictions``: ``start <= ts < end`` (None for the default)."""

    name: str
    start: float | None
    end: float | None


def partition_name(day: int) -> str:
    """The name of the partition of day number ``day`` (days since 1970-01-01, UTC)."""
    return "predictions_p" + time.strftime("%Y%m%d", time.gmtime(day * DAY_S))


def is_partitioned(conn: sa.Connection) -> bool:
    """Whether ``predictions`` is a partitioned table (PostgreSQL at migration 0017+)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.exec_driver_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass('predictions')"
    ).scalar()
    return kind == "p"


def list_partitions(conn: sa.Connection) -> list[Partition]:
    """The partitions of ``predictions``, oldest first, the default one last."""
    if not is_partitioned(conn):
        return []
    rows = conn.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'predictions'::regclass"
    ).all()
    out = []
    for name, bound in rows:
        found = _BOUND.search(bound or "")
        if found is None:
            out.append(Partition(name, None, None))
        else:
            out.append(Partition(name, float(found.group(1)), float(found.group(2))))
    return sorted(out, key=lambda p: (p.start is None, p.start or 0.0))


def ensure_partitions(
    store: Store, now: float | None = None, ahead_days: int = AHEAD_DAYS
) -> list[str]:
    """Create the partitions of yesterday, today and ``ahead_days`` days ahead, and give
    days whose rows landed in the default partition a partition of their own (rows moved).

    Idempotent and safe to run on every replica at once: runs are serialised by an
    advisory lock and a partition that exists is left alone. Returns the names created.
    Nothing to do on SQLite (no partitions).
    """
    if store.backend != "postgresql":
        return []
    today = int((time.time() if now is None else now) // DAY_S)
    with store.write() as conn:
        if not is_partitioned(conn):
            return []
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        have = {p.start for p in list_partitions(conn) if p.start is not None}
        stranded = {
            int(d)
            for d in conn.exec_driver_sql(
                f"SELECT DISTINCT floor(ts / {DAY_S})::bigint AS day FROM {DEFAULT} "
                f"WHERE ts >= 0 AND ts < 1e12 ORDER BY day DESC LIMIT {MAX_MOVED_DAYS}"
            ).scalars()
        }
        wanted = set(range(today - 1, today + ahead_days + 1)) | stranded
        todo = sorted(d for d in wanted if float(d * DAY_S) not in have)
        if todo:
            # Writers wait while partitions are made (a row routed to the default
            # partition meanwhile would fail the attach); readers too when rows move, or
            # a read planned before the move could miss them (not in default any more,
            # in a partition it does not know). Held to the end of this transaction.
            mode = "ACCESS EXCLUSIVE" if stranded & set(todo) else "SHARE ROW EXCLUSIVE"
            conn.exec_driver_sql(f"LOCK TABLE predictions IN {mode} MODE")
        created = []
        for day in todo:
            _create(conn, day, move=day in stranded)
            created.append(partition_name(day))
    return created


def _create(conn: sa.Connection, day: int, move: bool) -> None:
    """Create the partition of ``day`` detached, move that day's rows out of the default
    partition into it, then attach it (attaching also builds its indexes and keys)."""
    name, lo, hi = partition_name(day), day * DAY_S, (day + 1) * DAY_S
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE predictions INCLUDING DEFAULTS)")
    if move:  # deleted from the partition directly: the ids stay (the rows only move)
        conn.exec_driver_sql(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE ts >= {lo} AND ts < {hi} "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        )
    conn.exec_driver_sql(
        f"ALTER TABLE predictions ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})"
    )


def models_in(conn: sa.Connection, name: str) -> list[int]:
    """The models with rows in partition ``name``: a loose index scan of its (model_id,
    ts) index, one probe per model instead of a scan of the rows."""
    return [
        int(m)
        for m in conn.exec_driver_sql(
            f"WITH RECURSIVE m(id) AS (SELECT min(model_id) FROM {name} UNION ALL "
            f"SELECT (SELECT min(model_id) FROM {name} WHERE model_id > m.id) FROM m "
            "WHERE m.id IS NOT NULL) SELECT id FROM m WHERE id IS NOT NULL"
        ).scalars()
    ]


def maintain_partitions(store: Store) -> list[str]:
    """The maintenance job: what a scheduler calls (daily or more often; idempotent)."""
    return ensure_partitions(store)
