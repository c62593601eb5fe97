"""Append at ingest, aggregate off the request path.

Ingest appends prediction rows tagged with a batch number and one ``pending_batches``
row per batch, in one transaction, and touches no rollup row. :func:`fold` claims
pending batches, builds per-(version, minute) deltas from their rows, merges them into
the rollups in sorted (model, version, minute) order, marks the hours it changed for the
hour builder (:mod:`vigil.store.ingest.hourly`) and deletes the claimed batches, all in one
transaction: a batch is folded exactly once, whichever replica folds it.

On PostgreSQL claims take row locks: the background loop skips batches another replica
holds (``FOR UPDATE SKIP LOCKED``); a read that must be current waits for them. Locks are
always taken in one order (pending batches by number, then rollups by key, then hour
marks by key), so folders
never deadlock each other, and ingest never locks a rollup row at all.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import sqlalchemy as sa

from vigil.schema import ModelSchema
from vigil.store import tables as t
from vigil.store.ingest.hourly import mark_hours
from vigil.store.ingest.rollups import BatchColumns, RollupDelta, build_deltas, merge_row
from vigil.store.ingest.rows import ROW_FIELDS, JsonObjects, PredictionRows

if TYPE_CHECKING:
    from vigil.store.store import Store

CLAIM_BATCHES = 16  # batches folded per transaction (bounded memory and lock time)
_STAGE = "vigil_stage_predictions"
# the predictions columns ingest writes (SQLite insert, PostgreSQL COPY)
APPEND_COLUMNS = ("model_id", *ROW_FIELDS, "received_at", "batch")


class RecentBatches:
    """The columns of the batches this process appended, by batch number, until folded.

    The aggregator of the process that appended a batch folds it from these columns
    instead of reading its rows back (the common case with one server); batches appended
    elsewhere, or evicted here, are read from the database. Only committed batches are put
    here, and the columns are exactly the rows inserted, so either source gives the same
    rollups. It is off (``max_rows`` 0) unless an aggregator loop runs in the process: the
    SDK's local mode, inside someone else's service, holds nothing. ``on_pressure`` is
    called (on the appending thread) each time a batch is put while the batches kept fill
    half of ``max_rows`` or more: the aggregator loop folds them then, before the oldest
    are evicted and would have to be read back.
    """

    def __init__(self, max_rows: int = 0) -> None:
        self.max_rows = max_rows
        self.on_pressure: Callable[[], None] | None = None
        self._rows: OrderedDict[int, BatchColumns] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def wants(self, n: int) -> bool:
        """Whether a batch of ``n`` rows would be kept (build its columns only then)."""
        return 0 < n <= self.max_rows

    def put(self, batch: int, columns: BatchColumns) -> None:
        if not self.wants(columns.n):  # off (0) unless an aggregator loop runs here
            return
        with self._lock:
            self._rows[batch] = columns
            self._size += columns.n
            while self._size > self.max_rows and self._rows:
                _, old = self._rows.popitem(last=False)
                self._size -= old.n
            pressed = 2 * self._size >= self.max_rows
        if pressed and self.on_pressure is not None:
            self.on_pressure()

    def clear(self) -> None:
        """Drop every batch kept (folded by another process: none is pending any more)."""
        with self._lock:
            self._rows.clear()
            self._size = 0

    def take(self, batch: int) -> BatchColumns | None:
        with self._lock:
            columns = self._rows.pop(batch, None)
            if columns is not None:
                self._size -= columns.n
            return columns


def copy_predictions(
    conn: sa.Connection,
    model_id: int,
    rows: PredictionRows,
    batch: int,
    partitioned: bool = False,
) -> set[str]:
    """PostgreSQL: COPY ``rows`` into a session staging table, then insert those not
    stored yet (ON CONFLICT DO NOTHING) in id order, so concurrent writers take the index
    locks in one global order; return the ids inserted. ``partitioned``: the id is claimed
    in ``prediction_ids`` first (migration 0017)."""
    import psycopg

    try:
        return _copy(conn, model_id, rows, batch, partitioned)
    except psycopg.Error as exc:  # the raw driver: give the store's error mapping its type
        kind = (
            sa.exc.DataError if (exc.sqlstate or "").startswith("22") else sa.exc.OperationalError
        )
        raise kind("COPY predictions", None, exc) from exc


def _copy(
    conn: sa.Connection,
    model_id: int,
    rows: PredictionRows,
    batch: int,
    partitioned: bool,
) -> set[str]:
    raw = conn.connection.driver_connection
    cols = ", ".join(APPEND_COLUMNS)
    data = copy_text(rows, model_id, batch)
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} "
            "(LIKE predictions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY {_STAGE} ({cols}) FROM STDIN") as copy:
            copy.write(data)
        if partitioned:
            # ids are unique per model through prediction_ids (a key on the partitioned
            # table must include ts); the rows whose id it took are appended
            staged = ", ".join(f"s.{c}" for c in APPEND_COLUMNS)
            cur.execute(
                "WITH fresh AS (INSERT INTO prediction_ids (model_id, id, ts) "
                f"SELECT DISTINCT ON (id) model_id, id, ts FROM {_STAGE} ORDER BY id "
                "ON CONFLICT (model_id, id) DO NOTHING RETURNING id, ts) "
                f"INSERT INTO predictions ({cols}) SELECT DISTINCT ON (s.id) {staged} "
                f"FROM {_STAGE} s JOIN fresh f ON f.id = s.id AND f.ts = s.ts "
                "ORDER BY s.id RETURNING id"
            )
        else:
            cur.execute(
                f"INSERT INTO predictions ({cols}) SELECT {cols} FROM {_STAGE} "
                "ORDER BY id ON CONFLICT (model_id, id) DO NOTHING RETURNING id"
            )
        inserted = {row[0] for row in cur.fetchall()}
        cur.execute(f"DELETE FROM {_STAGE}")
    return inserted


_NULL = "\\N"  # COPY text format: a null field
_SCALARS = frozenset({int, float, bool, type(None)})
_STR_ONLY = frozenset({str})
_COPY_SPECIAL = ("\\", "\n", "\r", "\t")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def copy_text(rows: PredictionRows, model_id: int, batch: int) -> str:
    """The rows as PostgreSQL COPY text (columns :data:`APPEND_COLUMNS`, tab-separated,
    one line per row, in the batch's order: the staging table is this session's own, and
    the insert from it orders by id), built a column at a time.

    One string per batch instead of a ``write_row`` per row: numbers are written as
    the shortest text that reads back as the same double (what psycopg writes too), JSON
    as orjson's text, and only a column holding a backslash, tab or line break is
    escaped value by value.
    """
    n = len(rows)
    if not n:
        return ""
    ids = rows.column("id")
    received = rows.column("received_at") if not rows.uniform("received_at") else None
    columns: list[list[str] | None] = [
        None,  # model_id, the same on every line
        _copy_strings(ids),
        _copy_strings(rows.column("version")),
        _copy_floats(rows.column("ts")),
        _copy_floats(rows.column("latency_s")),
        _copy_strings(rows.column("error")),
        _copy_strings(rows.column("error_type")),
        _copy_strings(rows.column("subject_id")),
        _copy_json(rows.column("inputs")),
        _copy_json(rows.column("outputs")),
        _copy_json(rows.column("proba")),
        _copy_floats(received) if received is not None else None,
        None,  # batch
    ]
    constant = [
        str(int(model_id)),
        *([""] * 10),
        _copy_floats([rows.received_at])[0] if received is None else "",
        str(int(batch)),
    ]
    filled = [c if c is not None else [constant[k]] * n for k, c in enumerate(columns)]
    return "\n".join(map("\t".join, zip(*filled, strict=True))) + "\n"


def _copy_strings(values: list[Any]) -> list[str]:
    """Text or null fields, escaped only when the column holds a special character."""
    if values.count(None) == len(values):
        return [_NULL] * len(values)
    if _STR_ONLY.issuperset(map(type, values)):
        texts = values  # ids, versions: strings already
    else:
        texts = [_NULL if v is None else str(v) for v in values]
    blob = "".join(texts)
    if any(c in blob for c in _COPY_SPECIAL):
        texts = [
            t if values[i] is None else t.translate(_COPY_ESCAPES) for i, t in enumerate(texts)
        ]
    return texts


def _copy_floats(values: list[Any]) -> list[str]:
    """Double precision fields: the shortest round-trip text of each value, or null.
    A column of finite numbers is written by orjson in one pass (its float64 array);
    others value by value with ``repr``."""
    nulls = values.count(None)
    if nulls == len(values):
        return [_NULL] * len(values)
    if not nulls:
        try:
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            array = None
        if array is not None and array.ndim == 1 and np.isfinite(array).all():
            return orjson.dumps(array, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")
    float_ = float
    return [
        _NULL if v is None else repr(v) if type(v) is float_ else repr(float_(v)) for v in values
    ]


def _copy_json(values: Sequence[Any]) -> list[str]:
    """JSON fields (orjson's text; it escapes control characters, so only backslashes
    need escaping for COPY), or null; texts that came as such are used as they are."""
    if isinstance(values, JsonObjects) and values.texts is not None:
        texts = values.texts  # objects: never null
    else:
        if values.count(None) == len(values):
            return [_NULL] * len(values)
        if _SCALARS.issuperset(map(type, values)):  # plain numbers: no comma in any text
            try:
                texts = orjson.dumps(values).decode()[1:-1].split(",")
            except orjson.JSONEncodeError:  # an integer beyond 64 bits: one by one
                pass
            else:
                return [_NULL if v is None else t for v, t in zip(values, texts, strict=True)]
        dumps, option = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
        texts = [_NULL if v is None else dumps(v, option=option).decode() for v in values]
    if "\\" in "".join(texts):  # a JSON text is never the null marker's \N
        texts = [t if t is _NULL else t.replace("\\", "\\\\") for t in texts]
    return texts


def fold(store: Store, model_id: int | None = None, *, wait: bool = True) -> int:
    """Fold pending batches (of one model, or all) into the rollups; return how many."""
    p = t.pending_batches
    probe = sa.select(p.c.batch).limit(1)
    if model_id is not None:
        probe = probe.where(p.c.model_id == model_id)
    with store.read() as conn:  # the common case, nothing pending, costs one indexed read
        if conn.execute(probe).first() is None:
            if model_id is None:  # what is kept was folded elsewhere (another replica)
                store.recent_batches.clear()
            return 0
    total = 0
    while True:
        done = store.write_retrying(lambda conn: _fold_once(store, conn, model_id, wait))
        total += done
        if done < CLAIM_BATCHES:
            return total


def _fold_once(store: Store, conn: sa.Connection, model_id: int | None, wait: bool) -> int:
    p = t.pending_batches
    claim = (
        sa.select(p.c.batch, p.c.model_id, p.c.ts_min, p.c.ts_max)
        .order_by(p.c.batch)
        .limit(CLAIM_BATCHES)
    )
    if model_id is not None:
        claim = claim.where(p.c.model_id == model_id)
    if store.backend == "postgresql":
        claim = claim.with_for_update(skip_locked=not wait)
    claimed = conn.execute(claim).all()
    if not claimed:
        return 0
    per_model: dict[int, list[int]] = defaultdict(list)
    spans: dict[int, tuple[float | None, float | None]] = {}
    for batch, mid, lo, hi in claimed:
        per_model[mid].append(batch)
        spans[batch] = (lo, hi)
    work: list[tuple[int, RollupDelta]] = []
    for mid in sorted(per_model):
        schema_json = conn.execute(
            sa.select(t.models.c.schema).where(t.models.c.id == mid)
        ).scalar()
        schema = ModelSchema.from_dict(schema_json) if schema_json is not None else ModelSchema()
        parts: list[BatchColumns | Sequence[Mapping[str, Any]]] = []
        unread = []
        for batch in per_model[mid]:
            cached = store.recent_batches.take(batch)
            if cached is None:
                unread.append(batch)
            else:
                parts.append(cached)
        if unread:
            parts.append(_read_rows(store, conn, mid, unread, [spans[b] for b in unread]))
        work.extend((mid, delta) for delta in build_deltas(parts, schema))
    _merge(store, conn, work)  # sorted by (model, version, minute): one global lock order
    conn.execute(p.delete().where(p.c.batch.in_([b for b, *_ in claimed])))
    return len(claimed)


def _read_rows(
    store: Store,
    conn: sa.Connection,
    model_id: int,
    batches: list[int],
    spans: Sequence[tuple[float | None, float | None]] = (),
) -> list[Mapping[Any, Any]]:
    """The rows of ``batches`` as the aggregator needs them (inputs parsed).

    ``spans``: each batch's (ts_min, ts_max); when all are known the read is bounded by
    them, so PostgreSQL reads only the partitions of those days."""
    pr = t.predictions
    lows = [lo for lo, _ in spans if lo is not None]
    highs = [hi for _, hi in spans if hi is not None]
    bounded = bool(spans) and len(lows) == len(highs) == len(spans)
    if store.backend == "sqlite":  # the driver's text and orjson: no per-row type processing
        marks = ",".join("?" * len(batches))
        cursor = conn.exec_driver_sql(
            "SELECT version, ts, latency_s, error, error_type, inputs FROM predictions "
            f"WHERE model_id = ? AND batch IN ({marks})",
            (model_id, *batches),
        )
        loads = orjson.loads
        return [
            {
                "version": v,
                "ts": ts,
                "latency_s": lat,
                "error": err,
                "error_type": kind,
                "inputs": loads(inputs) if isinstance(inputs, str | bytes) else {},
            }
            for v, ts, lat, err, kind, inputs in cursor
        ]
    return list(
        conn.execute(
            sa.select(
                pr.c.version, pr.c.ts, pr.c.latency_s, pr.c.error, pr.c.error_type, pr.c.inputs
            )
            .where(pr.c.model_id == model_id, pr.c.batch.in_(batches))
            .where(pr.c.ts.between(min(lows), max(highs)) if bounded else sa.true())
        )
        .mappings()
        .all()
    )


def _merge(store: Store, conn: sa.Connection, work: list[tuple[int, RollupDelta]]) -> None:
    r = t.rollups
    pg = store.backend == "postgresql"
    for model_id, delta in work:
        key = (
            (r.c.model_id == model_id)
            & (r.c.version == delta.version)
            & (r.c.minute == delta.minute)
        )
        query = sa.select(r).where(key)
        if pg:
            conn.execute(
                store._insert(r)
                .values(
                    model_id=model_id,
                    version=delta.version,
                    minute=delta.minute,
                    count=0,
                    errors=0,
                    latency_count=0,
                    latency_sum=0.0,
                )
                .on_conflict_do_nothing()
            )
            query = query.with_for_update()
        existing = conn.execute(query).mappings().first()
        merged = merge_row(existing, delta)
        if existing is None:
            conn.execute(r.insert().values(model_id=model_id, **merged))
        else:
            conn.execute(r.update().where(key).values(**merged))
    mark_hours(store, conn, {(mid, delta.minute // 3600 * 3600) for mid, delta in work})


def pending_count(store: Store, model_id: int | None = None) -> int:
    """Batches waiting to be folded (for /readyz-style checks and tests)."""
    p = t.pending_batches
    query = sa.select(sa.func.count()).select_from(p)
    if model_id is not None:
        query = query.where(p.c.model_id == model_id)
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())


def oldest_pending_age_s(store: Store) -> float | None:
    """Seconds since the oldest pending batch was appended (None when none is pending)."""
    p = t.pending_batches
    with store.read() as conn:
        oldest = conn.execute(sa.select(sa.func.min(p.c.created_at))).scalar()
    return None if oldest is None else max(0.0, time.time() - oldest)
