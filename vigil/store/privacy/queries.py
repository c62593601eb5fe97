"""Privacy queries: redaction policies, retention, subject erasure and export.

Erasure and retention delete a prediction together with everything keyed to it: every
table that has a ``prediction_id`` column (labels, feedback and whatever later features
add) and every other table with a ``subject_id`` column. Rollups keep only aggregates
(counts, quantile sketches, frequent items); see docs/security.md.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from vigil.store import tables as t
from vigil.store.privacy.tables import (
    erasure_receipts,
    privacy_policies,
    privacy_secrets,
    retention_policies,
)
from vigil.store.store import Store

_KEEP = frozenset({"predictions", "erasure_receipts"})


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """How one field of one model is redacted at ingest."""

    field: str
    action: str
    kinds: tuple[str, ...] | None
    updated_by: str
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kinds"] = list(self.kinds) if self.kinds is not None else None
        return out


@dataclass(frozen=True, slots=True)
class RetentionRecord:
    """How long a model's raw events are kept, and when that was last enforced."""

    model_id: int
    days: int
    updated_by: str
    updated_at: float
    last_run_at: float | None
    last_deleted: int | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["model_id"]
        return out


def subject_hash(subject_id: str) -> str:
    """SHA-256 of a subject id: receipts and the audit log never hold the id itself."""
    return hashlib.sha256(subject_id.encode()).hexdigest()


# -- policies ------------------------------------------------------------------------------
def get_policies(store: Store, model_id: int) -> list[PolicyRecord]:
    p = privacy_policies
    with store.read() as conn:
        rows = conn.execute(sa.select(p).where(p.c.model_id == model_id).order_by(p.c.field)).all()
    return [
        PolicyRecord(
            r.field,
            r.action,
            tuple(r.kinds) if r.kinds is not None else None,
            r.updated_by,
            r.updated_at,
        )
        for r in rows
    ]


def set_policy(
    store: Store, model_id: int, field: str, action: str, kinds: list[str] | None, actor: str
) -> None:
    values = {"action": action, "kinds": kinds, "updated_by": actor, "updated_at": time.time()}
    stmt = store._insert(privacy_policies).values(model_id=model_id, field=field, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[privacy_policies.c.model_id, privacy_policies.c.field], set_=values
    )
    with store.write() as conn:
        conn.execute(stmt)


def delete_policy(store: Store, model_id: int, field: str) -> bool:
    p = privacy_policies
    with store.write() as conn:
        done = conn.execute(p.delete().where(p.c.model_id == model_id, p.c.field == field))
    return done.rowcount > 0


def redaction_key(store: Store) -> bytes:
    """The database's secret for keyed hashes, made on first use."""
    s = privacy_secrets
    with store.read() as conn:
        value = conn.execute(sa.select(s.c.value).where(s.c.name == "redaction_key")).scalar()
    if value is None:
        stmt = (
            store._insert(s)
            .values(name="redaction_key", value=secrets.token_hex(32), created_at=time.time())
            .on_conflict_do_nothing()
        )
        with store.write() as conn:
            conn.execute(stmt)
            value = conn.execute(
                sa.select(s.c.value).where(s.c.name == "redaction_key")
            ).scalar_one()
    return bytes.fromhex(value)


# -- retention -----------------------------------------------------------------------------
def set_retention(store: Store, model_id: int, days: int, actor: str) -> None:
    values = {"days": days, "updated_by": actor, "updated_at": time.time()}
    stmt = store._insert(retention_policies).values(model_id=model_id, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[retention_policies.c.model_id], set_=values)
    with store.write() as conn:
        conn.execute(stmt)


def delete_retention(store: Store, model_id: int) -> bool:
    r = retention_policies
    with store.write() as conn:
        return conn.execute(r.delete().where(r.c.model_id == model_id)).rowcount > 0


def list_retention(store: Store, model_id: int | None = None) -> list[RetentionRecord]:
    r = retention_policies
    query = sa.select(r).order_by(r.c.model_id)
    if model_id is not None:
        query = query.where(r.c.model_id == model_id)
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [
        RetentionRecord(
            x.model_id, x.days, x.updated_by, x.updated_at, x.last_run_at, x.last_deleted
        )
        for x in rows
    ]


def retention_cutoff(store: Store, cutoff: float) -> float:
    """The cutoff retention applies: ``cutoff`` itself, or on partitioned PostgreSQL the
    start of its UTC day, so that retention removes whole days (a row goes once its day
    is wholly past the cutoff: it is kept ``days`` to ``days + 1`` days)."""
    from vigil.store import partitions

    if not store.partitioned():
        return cutoff
    return float(cutoff // partitions.DAY_S * partitions.DAY_S)


def purge_before(store: Store, model_id: int, cutoff: float, dropped: int = 0) -> dict[str, int]:
    """Delete the model's rows older than ``cutoff`` row by row (``dropped``: rows that
    went with whole partitions this run, for the run's record).

    The predictions older than ``cutoff`` and everything keyed to them; partitioned
    (PostgreSQL), also the rows of every partitioned table older than ``cutoff`` by that
    table's own time (a label's or feedback's; the scores share their prediction's), read
    from the old partitions only. Left to do after :func:`drop_expired_partitions` are
    the old rows of models that share their days with models keeping them.
    """
    from vigil.store import partitions

    p = t.predictions
    doomed = sa.select(p.c.model_id, p.c.id).where(p.c.model_id == model_id, p.c.ts < cutoff)
    with store.write() as conn:
        deleted = _delete_dependents(conn, doomed, None)
        if store.partitioned():
            for name in partitions.partitioned_tables(conn):
                tbl = sa.table(name, sa.column("model_id"), sa.column("ts"))
                deleted[name] = deleted.get(name, 0) + (
                    conn.execute(
                        tbl.delete().where(tbl.c.model_id == model_id, tbl.c.ts < cutoff)
                    ).rowcount
                )
        else:
            deleted["predictions"] = conn.execute(
                p.delete().where(p.c.model_id == model_id, p.c.ts < cutoff)
            ).rowcount
        conn.execute(
            retention_policies.update()
            .where(retention_policies.c.model_id == model_id)
            .values(last_run_at=time.time(), last_deleted=sum(deleted.values()) + dropped)
        )
    return deleted


def drop_expired_partitions(store: Store, cutoffs: dict[int, float]) -> dict[int, dict[str, int]]:
    """PostgreSQL with partitioned tables: drop each daily partition of every
    partitioned table (predictions, labels, feedback, scores) that lies wholly before the
    retention cutoff of every model with rows in it (``cutoffs``: per model id; a model
    without retention keeps its days).

    A drop is DDL, not row deletes: the day's prediction ids leave ``prediction_ids`` by
    one range delete on its ``ts``. Labels and feedback go by their own day, and those
    that came after their prediction's day (in later partitions) are deleted with it,
    looked up by one join of the dropped day's ids with those later rows. Writers wait
    while a day is dropped (its rows are counted and its ids released); readers do not.

    Returns rows dropped per model and table. Rows of days only partly past a cutoff, or
    shared with a model that keeps them, are left to :func:`purge_before`.
    """
    from vigil.store import partitions

    if not cutoffs or not store.partitioned():
        return {}
    done: dict[int, dict[str, int]] = {}
    latest = max(cutoffs.values())
    with store.read() as conn:
        tables = partitions.partitioned_tables(conn)
        candidates = [
            (table, part)
            for table in tables
            for part in partitions.list_partitions(conn, table)
            if part.start is not None and part.end is not None and part.end <= latest
        ]

    def droppable(conn: sa.Connection, name: str, end: float) -> list[int] | None:
        """The models with rows in partition ``name`` when it may go, else None."""
        if conn.exec_driver_sql(f"SELECT to_regclass('{name}')").scalar() is None:
            return None  # dropped by another replica meanwhile
        models = partitions.models_in(conn, name)
        if not all(m in cutoffs and end <= cutoffs[m] for m in models):
            return None
        if not models and end > min(cutoffs.values()):
            return None  # empty: dropped once past every retention
        return models

    for table, part in candidates:
        start, end = part.start or 0.0, part.end or 0.0  # the candidates are bounded
        with store.read() as conn:  # days kept for another model: no lock taken for them
            if droppable(conn, part.name, end) is None:
                continue
        with store.write() as conn:
            # one maintainer at a time (as ensure_partitions); writers of the table wait
            # from here (a row must not land in the day between the check and the drop)
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({partitions.LOCK_KEY})")
            conn.exec_driver_sql(f"LOCK TABLE ONLY {table} IN SHARE ROW EXCLUSIVE MODE")
            models = droppable(conn, part.name, end)  # again, now that nothing can land
            if models is None:
                continue
            counts: dict[int, int] = (
                dict(
                    conn.exec_driver_sql(
                        f"SELECT model_id, count(*) FROM {part.name} GROUP BY model_id"
                    ).all()
                )
                if models
                else {}
            )
            if table == "predictions":
                # the scores share their prediction's day: they go with their own drop
                shared = frozenset(partitions.SAME_DAY) & frozenset(tables)
                for name, per_model in _dependent_tables(conn, skip=shared):
                    key = "model_id, prediction_id" if per_model else "prediction_id"
                    doomed = f"SELECT {'model_id, ' if per_model else ''}id FROM {part.name}"
                    # rows of a partitioned table from before the day's end go by their
                    # own day (dropped, or deleted by purge_before): only later ones (a
                    # label that came after its prediction) are looked up here
                    later = f" AND ts >= {end}" if name in tables else ""
                    gone = conn.exec_driver_sql(
                        f'DELETE FROM "{name}" WHERE ({key}) IN ({doomed}){later} RETURNING '
                        f"{'model_id' if per_model else '0'}"
                    ).scalars()
                    for model_id, n in Counter(gone).items():
                        per = done.setdefault(model_id, {})
                        per[name] = per.get(name, 0) + n
                # the rows go with the partition (no delete trigger fires): their ids are
                # released here, the day's range of the id table's ts
                conn.exec_driver_sql(
                    f"DELETE FROM prediction_ids WHERE ts >= {start} AND ts < {end}"
                )
            # all partitions of the table, parent first: the order every query takes
            conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            conn.exec_driver_sql(f"DROP TABLE {part.name}")
            for model_id, n in counts.items():
                per = done.setdefault(int(model_id), {})
                per[table] = per.get(table, 0) + int(n)
    return done


def wipe_deleted(
    store: Store, tables: Collection[str] | None = None, attempts: int = 50
) -> dict[str, Any]:
    """After a deletion, make the deleted bytes unrecoverable where the backend allows.

    SQLite: ``secure_delete`` (set on every connection) has zeroed the freed content in
    the pages; the write-ahead log still holds earlier images of those pages, so it is
    checkpointed into the database and truncated to zero bytes (retried while readers
    hold an older snapshot). PostgreSQL: the affected tables are vacuumed (dead rows become
    reusable space; their bytes stay in the files until overwritten, see docs/security.md):
    ``tables``, by default every event table. Returns what was done, for the erasure
    receipt.
    """
    if store.backend != "sqlite":
        vacuumed = _vacuum(store, tables)
        return {"backend": store.backend, "wal_truncated": None, "vacuumed": vacuumed}
    raw = store.engine.raw_connection()
    try:
        for attempt in range(attempts):
            cursor = raw.cursor()
            busy, _log, _done = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
            if not busy:
                return {"backend": "sqlite", "secure_delete": True, "wal_truncated": True}
            time.sleep(min(0.01 * 2**attempt, 0.5))
    finally:
        raw.close()
    return {"backend": "sqlite", "secure_delete": True, "wal_truncated": False}


def _vacuum(store: Store, only: Collection[str] | None = None) -> list[str]:
    tables = ["predictions", "labels", "feedback", "prediction_scores", "answer_scores"]
    if only is not None:
        tables = [name for name in tables if name in only]
    done = []
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        existing = set(sa.inspect(conn).get_table_names())
        for name in tables:
            if name in existing:
                conn.exec_driver_sql(f'VACUUM "{name}"')
                done.append(name)
    return done


# -- subjects ------------------------------------------------------------------------------
def erase_subject(store: Store, subject_id: str, actor: str) -> dict[str, Any]:
    """Delete every event of a data subject; store and return a receipt."""
    requested = time.time()
    p = t.predictions
    doomed = sa.select(p.c.model_id, p.c.id).where(p.c.subject_id == subject_id)
    with store.write() as conn:
        models = sorted(
            conn.execute(
                sa.select(t.models.c.name)
                .distinct()
                .join(p, p.c.model_id == t.models.c.id)
                .where(p.c.subject_id == subject_id)
            ).scalars()
        )
        deleted = _delete_dependents(conn, doomed, subject_id)
        deleted["predictions"] = conn.execute(
            p.delete().where(p.c.subject_id == subject_id)
        ).rowcount
        receipt = {
            "id": secrets.token_hex(8),
            "subject_hash": subject_hash(subject_id),
            "requested_by": actor,
            "requested_at": requested,
            "completed_at": time.time(),
            "deleted": deleted,
            "models": models,
        }
        conn.execute(erasure_receipts.insert().values(**receipt))
    return receipt


def list_receipts(
    store: Store, subject_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    e = erasure_receipts
    query = sa.select(e).order_by(e.c.completed_at.desc()).limit(limit)
    if subject_id is not None:
        query = query.where(e.c.subject_hash == subject_hash(subject_id))
    with store.read() as conn:
        return [{str(k): v for k, v in r.items()} for r in conn.execute(query).mappings()]


def export_subject(store: Store, subject_id: str) -> dict[str, Any]:
    """Every stored event of a data subject, for an access request."""
    p, lab, fb = t.predictions, t.labels, t.feedback
    ids = sa.select(p.c.model_id, p.c.id).where(p.c.subject_id == subject_id)
    with store.read() as conn:
        preds = _rows(
            conn,
            store,
            p,
            ("inputs", "outputs", "proba"),
            p.c.subject_id == subject_id,
            extra=[t.models.c.name.label("model")],
            join=(t.models, t.models.c.id == p.c.model_id),
            order=p.c.ts,
        )
        # ids are per model: a label or feedback belongs to (its model, its prediction id)
        labels = _rows(
            conn, store, lab, ("actual",), sa.tuple_(lab.c.model_id, lab.c.prediction_id).in_(ids)
        )
        feedback = _rows(conn, store, fb, (), sa.tuple_(fb.c.model_id, fb.c.prediction_id).in_(ids))
    return {
        "subject_id": subject_id,
        "exported_at": time.time(),
        "predictions": preds,
        "labels": labels,
        "feedback": feedback,
    }


def _rows(
    conn: sa.Connection,
    store: Store,
    table: sa.Table,
    json_cols: tuple[str, ...],
    where: Any,
    extra: list[Any] | None = None,
    join: tuple[Any, Any] | None = None,
    order: Any = None,
) -> list[dict[str, Any]]:
    """Rows of ``table`` as dicts without ``model_id``. On SQLite the JSON columns are read
    as text and parsed here: a JSON scalar stored there may come back as a number."""
    sqlite = store.backend == "sqlite"
    cols = [
        sa.cast(c, sa.Text).label(c.name) if sqlite and c.name in json_cols else c
        for c in table.c
        if c.name != "model_id"
    ]
    query = sa.select(*cols, *(extra or []))
    if join is not None:
        query = query.join(join[0], join[1])
    query = query.where(where)
    if order is not None:
        query = query.order_by(order)
    out = []
    for row in conn.execute(query).mappings():
        item = {str(k): v for k, v in row.items()}
        if sqlite:
            for name in json_cols:
                if item[name] is not None:
                    item[name] = orjson.loads(item[name])
        out.append(item)
    return out


_KEY_COLUMNS = ("model_id", "prediction_id", "subject_id")


def _key_columns(conn: sa.Connection) -> dict[str, set[str]]:
    """Per table (partitions left out: they are reached through their table, whose
    triggers fire there), which of model_id, prediction_id and subject_id it has."""
    if conn.dialect.name == "postgresql":  # one catalog query, however many partitions
        rows = conn.exec_driver_sql(
            "SELECT c.relname, a.attname FROM pg_class c "
            "JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND c.relnamespace = to_regnamespace(current_schema())::oid "
            "AND NOT a.attisdropped AND a.attname = ANY(%(cols)s)",
            {"cols": list(_KEY_COLUMNS)},
        ).all()
        out: dict[str, set[str]] = {}
        for name, column in rows:
            out.setdefault(name, set()).add(column)
        return out
    inspector = sa.inspect(conn)
    return {
        name: {c["name"] for c in inspector.get_columns(name)} & set(_KEY_COLUMNS)
        for name in inspector.get_table_names()
    }


def _dependent_tables(
    conn: sa.Connection, skip: frozenset[str] = frozenset()
) -> list[tuple[str, bool]]:
    """Tables keyed to predictions: (name, whether the key includes model_id)."""
    return [
        (name, "model_id" in columns)
        for name, columns in sorted(_key_columns(conn).items())
        if name not in _KEEP and name not in skip and "prediction_id" in columns
    ]


def _delete_dependents(
    conn: sa.Connection,
    doomed: sa.Select,
    subject_id: str | None,
    skip: frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Delete rows keyed to the ``doomed`` (model id, prediction id) pairs (and to the
    subject) everywhere but in the ``skip`` tables."""
    deleted: dict[str, int] = {}
    for name, columns in sorted(_key_columns(conn).items()):
        if name in _KEEP or name in skip:
            continue
        if "prediction_id" in columns and "model_id" in columns:  # ids are per model
            tbl = sa.table(name, sa.column("model_id"), sa.column("prediction_id"))
            deleted[name] = conn.execute(
                tbl.delete().where(sa.tuple_(tbl.c.model_id, tbl.c.prediction_id).in_(doomed))
            ).rowcount
        elif "prediction_id" in columns:
            tbl = sa.table(name, sa.column("prediction_id"))
            ids = sa.select(doomed.subquery().c.id)
            deleted[name] = conn.execute(tbl.delete().where(tbl.c.prediction_id.in_(ids))).rowcount
        elif subject_id is not None and "subject_id" in columns:
            tbl = sa.table(name, sa.column("subject_id"))
            deleted[name] = conn.execute(
                tbl.delete().where(tbl.c.subject_id == subject_id)
            ).rowcount
    return deleted
