"""Daily range partitions of the event tables on PostgreSQL (migrations 0015 and 0019).

``predictions`` and what belongs to them - ``labels``, ``feedback``, the input scores
(``prediction_scores``) and the answer scores (``answer_scores``) - are each partitioned
by their ``ts``: the partition ``<table>_pYYYYMMDD`` of a UTC day holds
``day <= ts < day + 1``, and ``<table>_default`` holds rows of days without one
(backfills far in the past, clocks far ahead). The scores carry their prediction's time,
so they share its day; labels and feedback carry their own.

:func:`ensure_partitions` creates the partitions of the coming days for every table and
moves rows of a default partition into partitions of their own; retention drops whole
days (:func:`vigil.store.privacy.queries.drop_expired_partitions`). Time-bounded queries
on ``ts`` read only the matching partitions (PostgreSQL prunes them).

A key of a partitioned table must contain ``ts``, so uniqueness without it is kept by
the writers: prediction ids through ``prediction_ids`` (model_id, id), unpartitioned,
which ingest writes in the same statement as the rows; labels, feedback and input
scores under a per-model transaction lock (:func:`lock_model_rows`). SQLite has no
partitions: every function here does nothing there, and the rest of vigil runs the same
code on both.
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
MAX_MOVED_DAYS = 100  # days moved out of a default partition per run (bounded work)
# the partitioned tables; predictions first (the others follow its days)
TABLES = ("predictions", "labels", "feedback", "prediction_scores", "answer_scores")
# tables whose ts is their prediction's (the same day's partition)
SAME_DAY = ("prediction_scores", "answer_scores")
DEFAULT = "predictions_default"
LOCK_KEY = 0x76_69_67_69_6C_70_74  # pg_advisory_xact_lock key: one maintainer at a time
_BOUND = re.compile(r"FROM \('?([-0-9.e+]+)'?\) TO \('?([-0-9.e+]+)'?\)")


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition of a table: ``start <= ts < end`` (None for the default)."""

    name: str
    start: float | None
    end: float | None


def partition_name(day: int, table: str = "predictions") -> str:
    """The name of ``table``'s partition of day number ``day`` (days since 1970-01-01, UTC)."""
    return f"{table}_p" + time.strftime("%Y%m%d", time.gmtime(day * DAY_S))


def default_name(table: str) -> str:
    """The name of ``table``'s default partition."""
    return f"{table}_default"


def is_partitioned(conn: sa.Connection, table: str = "predictions") -> bool:
    """Whether ``table`` is a partitioned table (PostgreSQL, predictions from migration
    0015 on, the others from 0019 on)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.exec_driver_sql(
        f"SELECT relkind FROM pg_class WHERE oid = to_regclass('{table}')"
    ).scalar()
    return kind == "p"


def partitioned_tables(conn: sa.Connection) -> list[str]:
    """The tables of :data:`TABLES` that are partitioned in this database."""
    if conn.dialect.name != "postgresql":
        return []
    kinds: dict[str, str] = dict(
        conn.exec_driver_sql(
            "SELECT relname, relkind FROM pg_class WHERE relname = ANY(%(names)s) "
            "AND relnamespace = to_regnamespace(current_schema())::oid",
            {"names": list(TABLES)},
        ).all()
    )
    return [name for name in TABLES if kinds.get(name) == "p"]


def list_partitions(conn: sa.Connection, table: str = "predictions") -> list[Partition]:
    """The partitions of ``table``, oldest first, the default one last."""
    if not is_partitioned(conn, table):
        return []
    rows = conn.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid "
        f"WHERE i.inhparent = '{table}'::regclass"
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
    """Create the partitions of yesterday, today and ``ahead_days`` days ahead of every
    partitioned table, and give days whose rows landed in a default partition a
    partition of their own (rows moved).

    Idempotent and safe to run on every replica at once: runs are serialised by an
    advisory lock and a partition that exists is left alone. Returns the names created.
    Nothing to do on SQLite (no partitions).
    """
    if store.backend != "postgresql":
        return []
    today = int((time.time() if now is None else now) // DAY_S)
    created: list[str] = []
    with store.write() as conn:
        tables = partitioned_tables(conn)
        if not tables:
            return []
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
        for table in tables:
            have = {p.start for p in list_partitions(conn, table) if p.start is not None}
            stranded = {
                int(d)
                for d in conn.exec_driver_sql(
                    f"SELECT DISTINCT floor(ts / {DAY_S})::bigint AS day "
                    f"FROM {default_name(table)} WHERE ts >= 0 AND ts < 1e12 "
                    f"ORDER BY day DESC LIMIT {MAX_MOVED_DAYS}"
                ).scalars()
            }
            wanted = set(range(today - 1, today + ahead_days + 1)) | stranded
            todo = sorted(d for d in wanted if float(d * DAY_S) not in have)
            if todo:
                # Writers wait while partitions are made (a row routed to the default
                # partition meanwhile would fail the attach); readers too when rows move,
                # or a read planned before the move could miss them (not in default any
                # more, in a partition it does not know). Held to the end of this
                # transaction.
                mode = "ACCESS EXCLUSIVE" if stranded & set(todo) else "SHARE ROW EXCLUSIVE"
                conn.exec_driver_sql(f"LOCK TABLE {table} IN {mode} MODE")
            for day in todo:
                _create(conn, table, day, move=day in stranded)
                created.append(partition_name(day, table))
    return created


def _create(conn: sa.Connection, table: str, day: int, move: bool) -> None:
    """Create ``table``'s partition of ``day`` detached, move that day's rows out of the
    default partition into it, then attach it (attaching also builds its indexes and
    keys)."""
    name, lo, hi = partition_name(day, table), day * DAY_S, (day + 1) * DAY_S
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)")
    if move:  # deleted from the partition directly: the ids stay (the rows only move)
        conn.exec_driver_sql(
            f"WITH moved AS (DELETE FROM {default_name(table)} WHERE ts >= {lo} AND ts < {hi} "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        )
    conn.exec_driver_sql(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})"
    )


def models_in(conn: sa.Connection, name: str) -> list[int]:
    """The models with rows in partition ``name``: a loose index scan of an index that
    leads with model_id, one probe per model instead of a scan of the rows."""
    return [
        int(m)
        for m in conn.exec_driver_sql(
            f"WITH RECURSIVE m(id) AS (SELECT min(model_id) FROM {name} UNION ALL "
            f"SELECT (SELECT min(model_id) FROM {name} WHERE model_id > m.id) FROM m "
            "WHERE m.id IS NOT NULL) SELECT id FROM m WHERE id IS NOT NULL"
        ).scalars()
    ]


def lock_model_rows(conn: sa.Connection, table: str, model_id: int) -> None:
    """Take the transaction lock that serialises the writers of one model's rows of a
    partitioned ``table`` (labels, feedback, input scores).

    A partitioned table's key must contain ``ts``, and a label re-sent with another time
    (or feedback, or an input score of a duplicate prediction) would land as a second
    row. Writers of these tables therefore look for the stored rows of their ids and
    replace or skip them while holding this lock; a writer that waited on it reads what
    the one before it committed (each statement reads afresh under READ COMMITTED).
    """
    conn.exec_driver_sql(
        f"SELECT pg_advisory_xact_lock(hashtext('vigil:{table}'), {int(model_id)})"
    )


def maintain_partitions(store: Store) -> list[str]:
    """The maintenance job: what a scheduler calls (daily or more often; idempotent)."""
    return ensure_partitions(store)
