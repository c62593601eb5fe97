"""The store: every read and write vigil makes, on SQLite or PostgreSQL, behind one API.

Callers get plain records (:mod:`vigil.store.entities`) and vigil errors; SQL and driver
exceptions stay in here. Writes go through :meth:`Store.write`, which serialises writers
on SQLite and maps database failures to :class:`~vigil.errors.StoreError`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import repeat
from typing import Any, TypeVar

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from vigil.errors import InvalidParameterError, SchemaOutdatedError, StoreError
from vigil.store import migrate, partitions
from vigil.store import tables as t
from vigil.store.engine import inserted_id, make_engine
from vigil.store.entities import ApiKeyRecord, ModelRecord, RollupRow
from vigil.store.ingest import aggregation, hourly
from vigil.store.ingest.rollups import BatchColumns
from vigil.store.ingest.rows import JsonObjects, PredictionRows

T = TypeVar("T")
log = logging.getLogger("vigil.store")
KEY_PREFIX = "vgl_"
# deadlock detected, serialization failure, lock not available: worth another try
_TRANSIENT = frozenset({"40P01", "40001", "55P03"})
_SQLITE_INSERTS: dict[tuple[str, ...], str] = {}  # by the columns a batch writes
_JSON_OPTION = orjson.OPT_SERIALIZE_NUMPY


def _json_column(values: Sequence[Any], *, nullable: bool) -> list[str] | list[str | None]:
    """Each value as JSON text (None stays null where the column is nullable); the texts
    themselves when the values came as texts and were not read since."""
    if isinstance(values, JsonObjects) and values.texts is not None:
        return values.texts
    dumps, option = orjson.dumps, _JSON_OPTION
    if not nullable:
        return [dumps(v, option=option).decode() for v in values]
    return [None if v is None else dumps(v, option=option).decode() for v in values]


_PLAIN_NUMBERS = frozenset({int, float, type(None)})
_INT64_BOUND = 9.2e18  # under 2**63 with room for the float conversion's rounding


def _sqlite_json_column(values: list[Any]) -> list[Any]:
    """A nullable JSON column for SQLite: each value's JSON text, except in a column of
    plain, finite numbers (and nulls), whose values are bound as they are. A JSON column
    has numeric affinity, so SQLite stores the text of a number (``1``, ``0.5``, ``3.0``)
    as that number anyway: the same value, without serialising it."""
    types = set(map(type, values))
    if types <= _PLAIN_NUMBERS and types - {type(None)}:
        numbers = np.array(values, dtype=np.float64)  # None: NaN, told apart below
        finite = np.isfinite(numbers)
        if finite.all() or (type(None) in types and _nan_only_for_none(values, finite)):
            kept = numbers[finite]
            if not kept.size or np.abs(kept).max() < _INT64_BOUND:
                return values
    return _json_column(values, nullable=True)


def _nan_only_for_none(values: list[Any], finite: np.ndarray) -> bool:
    """Whether every non-finite entry is a None (not a NaN or infinite float)."""
    return all(values[i] is None for i in np.flatnonzero(~finite).tolist())


def _all_none(values: list[Any]) -> bool:
    """Whether every value is None (checked in C: a list of Nones equals its count)."""
    return values.count(None) == len(values)


class Store:
    """vigil's database, opened from a URL (see :func:`open_store`)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.backend = self.engine.dialect.name
        self._insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        # SQLite has one writer; a process-wide lock keeps this process's threads in line.
        self._write_lock = threading.Lock() if self.backend == "sqlite" else None
        # rows of batches this process appended, so its aggregator need not read them back
        self.recent_batches = aggregation.RecentBatches()
        self._partitioned: bool | None = None  # predictions partitioned (PostgreSQL, 0015)

    # -- lifecycle -------------------------------------------------------------------
    def upgrade(self) -> None:
        """Bring the schema to this vigil's newest migration."""
        with self._guard():
            migrate.upgrade(self.engine)
        self._partitioned = None
        if self.backend == "postgresql":
            partitions.ensure_partitions(self)

    def partitioned(self) -> bool:
        """Whether the event tables are partitioned (PostgreSQL from migration 0015 on)."""
        if self._partitioned is None:
            if self.backend != "postgresql":
                self._partitioned = False
            else:
                with self.read() as conn:
                    self._partitioned = partitions.is_partitioned(conn)
        return self._partitioned

    def check_schema(self) -> None:
        """Raise :class:`SchemaOutdatedError` unless the database is at the newest migration."""
        current, head = migrate.current_revision(self.engine), migrate.head_revision()
        if migrate.current_revisions(self.engine) != migrate.head_revisions():
            raise SchemaOutdatedError(
                f"The database at {self.engine.url.render_as_string(hide_password=True)} is at "
                f"schema revision {current or 'none'}, this vigil needs {head}. "
                "Run `vigil db upgrade` (with the same --db / VIGIL_DB_URL) first."
            )

    def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers."""
        with self.read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions ----------------------------------------------------------------
    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Map driver errors to vigil errors; the driver's text (which may carry process
        and transaction ids, SQL and values) goes to the server log, never to a client."""
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.InternalError) as exc:
            code = _sqlstate(exc)
            log.warning("database error (sqlstate %s): %s", code, exc.orig or exc)
            transient = code in _TRANSIENT or "locked" in str(exc.orig)
            cause = _safe_cause(code, str(exc.orig or exc))
            raise StoreError(
                "The database could not complete the request"
                + (
                    " (it is busy; retry shortly)."
                    if transient
                    else f"{cause}; see the server log."
                )
            ) from exc
        except OverflowError as exc:  # SQLite: a Python int wider than 64 bits
            raise InvalidParameterError(
                "A number in the request is out of the database's range (64-bit integers)."
            ) from exc
        except sa.exc.DataError as exc:  # PostgreSQL: e.g. integer out of range
            log.warning("database rejected a value: %s", exc.orig or exc)
            raise InvalidParameterError(
                f"A value in the request does not fit the database (SQLSTATE {_sqlstate(exc)})."
            ) from exc

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction: committed on success, rolled back on any exception."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        try:
            with self._guard(), self.engine.connect() as conn:
                conn.info["vigil_write"] = True
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.info.pop("vigil_write", None)
        finally:
            if lock is not None:
                lock.release()

    def write_retrying(self, work: Callable[[sa.Connection], T], attempts: int = 5) -> T:
        """Run ``work`` in a write transaction, again on a transient failure (deadlock,
        serialization failure, a locked SQLite file) a few times before giving up."""
        for attempt in range(attempts):
            try:
                with self.write() as conn:
                    return work(conn)
            except StoreError as exc:
                cause = exc.__cause__
                transient = isinstance(cause, sa.exc.DBAPIError) and (
                    _sqlstate(cause) in _TRANSIENT or "locked" in str(cause.orig)
                )
                if not transient or attempt == attempts - 1:
                    raise
                time.sleep(0.01 * 2**attempt + secrets.randbelow(10) / 1000)
        raise AssertionError("unreachable")

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read-only transaction."""
        with self._guard(), self.engine.connect() as conn, conn.begin():
            yield conn

    # -- models ----------------------------------------------------------------------
    def get_model(self, name: str) -> ModelRecord | None:
        with self.read() as conn:
            row = conn.execute(sa.select(t.models).where(t.models.c.name == name)).first()
        return _model(row) if row else None

    def list_models(self) -> list[ModelRecord]:
        with self.read() as conn:
            rows = conn.execute(sa.select(t.models).order_by(t.models.c.name)).all()
        return [_model(r) for r in rows]

    def upsert_model(
        self,
        name: str,
        task: str,
        schema: dict[str, Any],
        description: str | None = None,
        strict: bool | None = None,
    ) -> tuple[ModelRecord, bool]:
        """Create the model or update its task, schema, description and strictness (None
        keeps it); say which."""
        now = time.time()
        with self.write() as conn:
            existing = conn.execute(
                sa.select(t.models.c.id).where(t.models.c.name == name)
            ).scalar()
            values = {"task": task, "schema": schema, "description": description, "updated_at": now}
            if strict is not None:
                values["strict"] = strict
            if existing is None:
                conn.execute(t.models.insert().values(name=name, created_at=now, **values))
            else:
                conn.execute(t.models.update().where(t.models.c.id == existing).values(**values))
            row = conn.execute(sa.select(t.models).where(t.models.c.name == name)).one()
        return _model(row), existing is None

    def list_versions(self, model_id: int) -> list[dict[str, Any]]:
        v = t.model_versions
        with self.read() as conn:
            rows = conn.execute(
                sa.select(v.c.version, v.c.created_at)
                .where(v.c.model_id == model_id)
                .order_by(v.c.created_at, v.c.version)
            ).all()
        return [{"version": r.version, "created_at": r.created_at} for r in rows]

    def _ensure_versions(self, conn: sa.Connection, model_id: int, versions: set[str]) -> None:
        now = time.time()
        stmt = self._insert(t.model_versions).on_conflict_do_nothing()
        conn.execute(
            stmt,
            [{"model_id": model_id, "version": v, "created_at": now} for v in sorted(versions)],
        )

    # -- events ----------------------------------------------------------------------
    def insert_predictions(
        self,
        model: ModelRecord,
        rows: Sequence[dict[str, Any]] | PredictionRows,
        *,
        input_columns: Mapping[str, Any] | None = None,
    ) -> set[str]:
        """Append the predictions not stored yet as one ingest batch; return the ids inserted.

        Ids are scoped per model: a row whose (model, id) is stored is skipped (idempotent
        ingest). Nothing else is touched on this path: the batch is recorded in
        ``pending_batches`` in the same transaction, and the aggregator folds it into the
        rollups later (:mod:`vigil.store.ingest.aggregation`). On PostgreSQL rows are
        written in id order, so concurrent writers take the index locks in one global
        order (SQLite has one writer). ``rows``: row dicts, or ingest's columns
        (:class:`~vigil.store.ingest.rows.PredictionRows`, read without building dicts);
        ``input_columns``: the rows' inputs as columns (aligned with ``rows``), when the
        caller has them, for the aggregator.
        """
        if not rows:
            return set()
        batch_rows = PredictionRows.from_rows(rows)
        versions = set(batch_rows.column("version"))
        ts = batch_rows.column("ts")
        partitioned = self.partitioned()
        ts_min, ts_max = min(ts), max(ts)

        def work(conn: sa.Connection) -> tuple[int, set[str]]:
            self._ensure_versions(conn, model.id, versions)
            batch = inserted_id(
                conn.execute(
                    t.pending_batches.insert().values(
                        model_id=model.id, created_at=time.time(), ts_min=ts_min, ts_max=ts_max
                    )
                )
            )
            if self.backend == "postgresql":
                inserted = aggregation.copy_predictions(
                    conn, model.id, batch_rows, batch, partitioned
                )
            else:
                inserted = self._insert_sqlite(conn, model.id, batch_rows, batch)
            if not inserted:
                conn.execute(t.pending_batches.delete().where(t.pending_batches.c.batch == batch))
            return batch, inserted

        batch, inserted = self.write_retrying(work)
        if inserted and self.recent_batches.wants(len(inserted)):
            # committed: the aggregator of this process can fold it from memory
            kept = batch_rows
            if len(inserted) < len(batch_rows):
                keep = [i for i, r in enumerate(batch_rows.column("id")) if r in inserted]
                kept = batch_rows.take(keep)
                if input_columns is not None:
                    input_columns = {
                        k: c[keep] if hasattr(c, "dtype") else [c[i] for i in keep]
                        for k, c in input_columns.items()
                    }
            self.recent_batches.put(batch, BatchColumns.from_prediction_rows(kept, input_columns))
        return inserted

    def _insert_sqlite(
        self, conn: sa.Connection, model_id: int, rows: PredictionRows, batch: int
    ) -> set[str]:
        # This transaction holds the only write lock (BEGIN IMMEDIATE). The driver's
        # executemany with pre-serialised JSON is several times cheaper than compiled
        # multi-row INSERTs; a row whose (model, id) is stored is ignored, and when the
        # count says some were, the rows of this batch are read back by its number.
        # Tuples are zipped from the columns, and a column that is null in every row is
        # left out of the statement (its default is null): the driver binds None through
        # its adapter lookup, which costs more per value than a stored double.
        n = len(rows)
        ids = rows.column("id")
        columns: dict[str, Any] = {"model_id": repeat(model_id, n), "id": ids}
        for name in ("version", "ts", "latency_s", "error", "error_type", "subject_id"):
            columns[name] = rows.column(name)
        columns["inputs"] = _json_column(rows.column("inputs"), nullable=False)
        for name in ("outputs", "proba"):
            columns[name] = _sqlite_json_column(rows.column(name))
        columns["received_at"] = (
            repeat(rows.received_at, n)
            if rows.uniform("received_at")
            else rows.column("received_at")
        )
        columns["batch"] = repeat(batch, n)
        names = tuple(k for k, c in columns.items() if not isinstance(c, list) or not _all_none(c))
        sql = _SQLITE_INSERTS.get(names)
        if sql is None:
            sql = _SQLITE_INSERTS[names] = (
                f"INSERT OR IGNORE INTO predictions ({', '.join(names)}) "
                f"VALUES ({','.join('?' * len(names))})"
            )
        fresh = list(zip(*(columns[k] for k in names), strict=False))
        count = conn.exec_driver_sql(sql, fresh).rowcount
        if count == n:
            return set(ids)
        return set(
            conn.exec_driver_sql(
                "SELECT id FROM predictions WHERE model_id = ? AND batch = ?", (model_id, batch)
            ).scalars()
        )

    def fold_pending(self, model_id: int | None = None, *, wait: bool = True) -> int:
        """Fold pending ingest batches into the rollups; return how many were folded.

        ``model_id`` limits it to one model (what a read that must be current needs);
        ``wait=False`` skips batches another replica is folding right now (the background
        loop), ``wait=True`` waits for them so the rollups read next include them.
        """
        return aggregation.fold(self, model_id, wait=wait)

    def build_hours(self, *, now: float | None = None, settle_s: float = 0.0) -> int:
        """Rebuild the hourly rollups of complete hours whose minutes changed; return how
        many hours were built (:func:`vigil.store.ingest.hourly.build_hours`)."""
        return hourly.build_hours(self, now=now, settle_s=settle_s)

    def upsert_labels(self, model_id: int, rows: Sequence[dict[str, Any]]) -> int:
        """Store labels (a re-sent label replaces the earlier one); return how many match
        a stored prediction of this model."""
        if not rows:
            return 0
        stmt = self._insert(t.labels)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.labels.c.model_id, t.labels.c.prediction_id],
            set_={
                "actual": stmt.excluded.actual,
                "ts": stmt.excluded.ts,
                "received_at": stmt.excluded.received_at,
            },
        )
        ids = [r["prediction_id"] for r in rows]
        # partitioned: the id table answers with one index probe per id (no partition scan)
        p = (
            sa.table("prediction_ids", sa.column("model_id"), sa.column("id"))
            if self.partitioned()
            else t.predictions
        )
        with self.write() as conn:
            if self.partitioned():
                # the key holds ts (a re-sent label may bring another): replace the stored
                # label of each id, one writer per model at a time
                partitions.lock_model_rows(conn, "labels", model_id)
                last = {r["prediction_id"]: r for r in rows}  # a batch's last label wins
                lab = t.labels
                for chunk in _chunks(sorted(last), 1000):
                    conn.execute(
                        lab.delete().where(
                            lab.c.model_id == model_id, lab.c.prediction_id.in_(chunk)
                        )
                    )
                conn.execute(
                    lab.insert(), [{**last[i], "model_id": model_id} for i in sorted(last)]
                )
            else:
                conn.execute(
                    stmt,
                    sorted(
                        ({**r, "model_id": model_id} for r in rows),
                        key=lambda r: r["prediction_id"],
                    ),
                )
            matched = conn.execute(
                sa.select(sa.func.count())
                .select_from(p)
                .where(p.c.model_id == model_id, p.c.id.in_(ids))
            ).scalar_one()
        return int(matched)

    def insert_feedback(self, model_id: int, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert feedback not stored yet; return the ids inserted."""
        if not rows:
            return set()
        stmt = self._insert(t.feedback).on_conflict_do_nothing().returning(t.feedback.c.id)
        with self.write() as conn:
            if not self.partitioned():
                return set(
                    conn.execute(stmt, [{**r, "model_id": model_id} for r in rows]).scalars()
                )
            # the key holds ts: skip the ids stored already, one writer per model at a time
            partitions.lock_model_rows(conn, "feedback", model_id)
            fb = t.feedback
            first: dict[str, dict[str, Any]] = {}
            for r in rows:
                first.setdefault(r["id"], r)
            stored: set[str] = set()
            for chunk in _chunks(sorted(first), 1000):
                stored.update(
                    conn.execute(
                        sa.select(fb.c.id).where(fb.c.model_id == model_id, fb.c.id.in_(chunk))
                    ).scalars()
                )
            fresh = [{**r, "model_id": model_id} for i, r in first.items() if i not in stored]
            if fresh:
                conn.execute(fb.insert(), fresh)
            return {r["id"] for r in fresh}

    def count(self, table: str, model_id: int | None = None) -> int:
        """Rows in one of the event tables (predictions, labels, feedback), per model."""
        tbl = {"predictions": t.predictions, "labels": t.labels, "feedback": t.feedback}[table]
        query = sa.select(sa.func.count()).select_from(tbl)
        if model_id is not None:
            query = query.where(tbl.c.model_id == model_id)
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    def rollup_rows(
        self,
        model_id: int,
        start: float,
        end: float,
        version: str | None = None,
        *,
        profiles: bool = True,
        sketches: bool = True,
        hours: bool = False,
    ) -> list[RollupRow]:
        """Minute rollups with ``start <= minute < end``, oldest first.

        ``profiles=False`` leaves the input profiles (the bulk of each row) unread, and
        ``sketches=False`` the latency sketches (reads of counts, errors and mean latency
        need neither, and skip their transfer and decoding). Pending
        ingest batches of the model are folded first, so a read sees every stored row.
        ``hours=True`` says the caller merges rows into windows of whole hours (or the
        whole range): a range of 6 h or longer then reads each built hour inside it as one
        row of the hourly rollups (its ``minute`` is the hour's start), which merges to the
        same numbers (:mod:`vigil.store.ingest.hourly`).
        """
        self.fold_pending(model_id)
        if hours:
            built = hourly.read_rows(self, model_id, start, end, version, profiles, sketches)
            if built is not None:
                return built
        r = t.rollups
        query = sa.select(*hourly.row_columns(r, r.c.minute, profiles, sketches)).where(
            r.c.model_id == model_id, r.c.minute >= int(start // 60) * 60, r.c.minute < end
        )
        if version is not None:
            query = query.where(r.c.version == version)
        with self.read() as conn:
            rows = conn.execute(query.order_by(r.c.minute)).all()
        return [RollupRow(*row) for row in rows]

    # -- API keys --------------------------------------------------------------------
    def create_api_key(self, name: str, scopes: Sequence[str]) -> tuple[ApiKeyRecord, str]:
        """Make a key; return its record and the secret, which is shown once only."""
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = time.time()
        with self.write() as conn:
            conn.execute(
                t.api_keys.insert().values(
                    id=key_id,
                    name=name,
                    key_hash=hash_key(secret),
                    scopes=",".join(sorted(set(scopes))),
                    created_at=now,
                )
            )
        return ApiKeyRecord(key_id, name, frozenset(scopes), now, None, None), secret

    def find_api_key(self, secret: str) -> ApiKeyRecord | None:
        """The key whose hash matches ``secret`` (revoked keys included)."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(t.api_keys).where(t.api_keys.c.key_hash == hash_key(secret))
            ).first()
        return _key(row) if row else None

    def list_api_keys(self) -> list[ApiKeyRecord]:
        with self.read() as conn:
            rows = conn.execute(sa.select(t.api_keys).order_by(t.api_keys.c.created_at)).all()
        return [_key(r) for r in rows]

    def revoke_api_key(self, key_id: str) -> bool:
        with self.write() as conn:
            result = conn.execute(
                t.api_keys.update()
                .where(t.api_keys.c.id == key_id, t.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        return result.rowcount > 0

    def touch_api_key(self, key_id: str, when: float) -> None:
        with self.write() as conn:
            conn.execute(
                t.api_keys.update().where(t.api_keys.c.id == key_id).values(last_used_at=when)
            )

    # -- audit log -------------------------------------------------------------------
    def audit(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append one entry to the audit log, hash-chained (see vigil.store.audit_chain)."""
        from vigil.store import audit_chain

        with self.write() as conn:
            audit_chain.append(conn, time.time(), actor, action, target, details)

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        a = t.audit_log
        with self.read() as conn:
            rows = conn.execute(sa.select(a).order_by(a.c.id.desc()).limit(limit)).mappings()
            return [dict(r) for r in rows]


_SAFE_CAUSES = (  # (text the driver says, what an operator may be told) - no internals
    ("readonly", "the database is read-only"),
    ("read-only", "the database is read-only"),
    ("disk is full", "the disk is full"),
    ("no space left", "the disk is full"),
    ("unable to open database file", "the database file cannot be opened"),
    ("connection refused", "the database server refuses connections"),
)
_SAFE_SQLSTATES = {
    "25006": "the database is read-only",
    "53100": "the disk is full",
    "57P01": "the database server is shutting down",
    "08006": "the connection to the database failed",
    "08001": "the database server cannot be reached",
}


def _safe_cause(code: str | None, text: str) -> str:
    """A short cause an operator can act on, from a fixed list (never the driver's text)."""
    found = _SAFE_SQLSTATES.get(code or "")
    if found is None:
        lowered = text.lower()
        found = next((cause for needle, cause in _SAFE_CAUSES if needle in lowered), None)
    return f" ({found})" if found else ""


def hash_key(secret: str) -> str:
    """SHA-256 of an API key. Keys carry 256 random bits, so a fast hash is safe here."""
    return hashlib.sha256(secret.encode()).hexdigest()


def open_store(url: str, *, upgrade: bool = True) -> Store:
    """Open the store at ``url``; migrate it to the newest schema unless ``upgrade`` is false,
    in which case an outdated schema raises :class:`SchemaOutdatedError`."""
    store = Store(url)
    try:
        if upgrade:
            store.upgrade()
        else:
            store.check_schema()
    except BaseException:
        store.close()
        raise
    return store


def _model(row: Any) -> ModelRecord:
    return ModelRecord(
        row.id,
        row.name,
        row.task,
        row.schema,
        row.description,
        row.created_at,
        row.updated_at,
        bool(row.strict),
    )


def _sqlstate(exc: sa.exc.StatementError) -> str | None:
    """The SQLSTATE of a PostgreSQL error (psycopg), None for other drivers."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def _key(row: Any) -> ApiKeyRecord:
    scopes = frozenset(s for s in row.scopes.split(",") if s)
    return ApiKeyRecord(row.id, row.name, scopes, row.created_at, row.last_used_at, row.revoked_at)


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    """``items`` in slices of at most ``size`` (bounded IN lists)."""
    return [items[i : i + size] for i in range(0, len(items), size)]
