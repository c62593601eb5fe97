"""Queries of the quality concern: labelled predictions, feedback, golden data sets,
evaluation runs and schedules, concept-drift state and events, CBPE references."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from vigil.errors import ConflictError, NotFoundError
from vigil.store import Store
from vigil.store import tables as t
from vigil.store.engine import inserted_id
from vigil.store.quality import tables as q


class _ScalarSafeJson(sa.types.TypeDecorator):
    """Reads a SQLite JSON column whose scalar values the column's NUMERIC affinity
    turned into numbers (``1`` stored from the JSON text ``"1"``)."""

    impl = sa.Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None or isinstance(value, int | float):
            return value
        return orjson.loads(value)


_SAFE = _ScalarSafeJson()


def _row(row: Any, drop: str | None = None) -> dict[str, Any]:
    """A result row as a plain dict with plain ``str`` keys (SQLAlchemy's column names are
    a ``str`` subclass that orjson refuses as keys)."""
    return {str(k): v for k, v in row.items() if k != drop}


def _rows(result: Any) -> list[dict[str, Any]]:
    """Every row of ``result`` as a plain dict (keys converted once, not per row)."""
    names = result.keys()  # a Result, not a dict: its column names
    keys = [str(k) for k in names]
    return [dict(zip(keys, row, strict=True)) for row in result]


def _json(store: Store, column: sa.Column) -> Any:
    if store.backend != "sqlite":
        return column
    return sa.type_coerce(column, _SAFE).label(column.name)


def _event_columns(store: Store) -> tuple[Any, ...]:
    p = t.predictions
    return (
        p.c.id,
        p.c.version,
        p.c.ts,
        _json(store, p.c.inputs),
        _json(store, p.c.outputs),
        _json(store, p.c.proba),
        _json(store, t.labels.c.actual),
    )


def _window(
    query: Any, model_id: int, start: float | None, end: float | None, version: str | None
) -> Any:
    p = t.predictions
    query = query.where(p.c.model_id == model_id)
    if start is not None:
        query = query.where(p.c.ts >= start)
    if end is not None:
        query = query.where(p.c.ts < end)
    if version is not None:
        query = query.where(p.c.version == version)
    return query


def labelled_predictions(
    store: Store, model_id: int, start: float | None, end: float | None, version: str | None = None
) -> list[dict[str, Any]]:
    """Predictions in ``[start, end)`` (by prediction time) joined to their labels by id,
    whichever arrived first; oldest first."""
    p, lab = t.predictions, t.labels
    query = sa.select(*_event_columns(store), lab.c.received_at.label("label_at")).join(
        lab, (lab.c.prediction_id == p.c.id) & (lab.c.model_id == p.c.model_id)
    )
    query = _window(query, model_id, start, end, version).order_by(p.c.ts, p.c.id)
    with store.read() as conn:
        return _rows(conn.execute(query))


def predictions(
    store: Store,
    model_id: int,
    start: float | None,
    end: float | None,
    version: str | None = None,
    limit: int | None = None,
    newest: bool = False,
) -> list[dict[str, Any]]:
    """Predictions in ``[start, end)`` with their label when one exists (else None), oldest
    first; with ``limit`` and ``newest``, the ``limit`` newest of them (still oldest first),
    so a change late in a long window is not crowded out by its early rows."""
    p, lab = t.predictions, t.labels
    query = sa.select(*_event_columns(store), p.c.latency_s, p.c.error, p.c.error_type).outerjoin(
        lab, (lab.c.prediction_id == p.c.id) & (lab.c.model_id == p.c.model_id)
    )
    query = _window(query, model_id, start, end, version)
    query = (
        query.order_by(p.c.ts.desc(), p.c.id.desc()) if newest else query.order_by(p.c.ts, p.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    with store.read() as conn:
        rows = _rows(conn.execute(query))
    return rows[::-1] if newest else rows


def feedback(
    store: Store,
    model_id: int,
    start: float | None,
    end: float | None,
    prediction_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Feedback events (by feedback time), with the version of their prediction if known."""
    f, p = t.feedback, t.predictions
    query = (
        sa.select(f.c.id, f.c.prediction_id, f.c.score, f.c.comment, f.c.ts, p.c.version)
        .outerjoin(p, (p.c.id == f.c.prediction_id) & (p.c.model_id == f.c.model_id))
        .where(f.c.model_id == model_id)
    )
    if start is not None:
        query = query.where(f.c.ts >= start)
    if end is not None:
        query = query.where(f.c.ts < end)
    if prediction_ids is not None:
        query = query.where(f.c.prediction_id.in_(list(prediction_ids)))
    with store.read() as conn:
        return _rows(conn.execute(query.order_by(f.c.ts, f.c.id)))


def unmatched_labels(store: Store, model_id: int) -> dict[str, Any]:
    """Labels whose prediction is not stored (yet): how many, and the oldest's arrival."""
    lab, p = t.labels, t.predictions
    missing = ~sa.exists().where((p.c.id == lab.c.prediction_id) & (p.c.model_id == model_id))
    query = sa.select(sa.func.count(), sa.func.min(lab.c.received_at)).where(
        lab.c.model_id == model_id, missing
    )
    with store.read() as conn:
        count, oldest = conn.execute(query).one()
    return {"count": int(count), "oldest_received_at": oldest}


# -- golden data sets ------------------------------------------------------------------
def put_dataset(
    store: Store,
    model_id: int,
    name: str,
    target: str,
    columns: list[str],
    n_rows: int,
    data: bytes,
    sha256: str,
) -> tuple[dict[str, Any], bool]:
    """Store a golden data set (a new one, or replace the one of that name)."""
    g = q.golden_datasets
    values = {
        "target": target,
        "columns": columns,
        "n_rows": n_rows,
        "data": data,
        "sha256": sha256,
        "created_at": time.time(),
    }
    key = (g.c.model_id == model_id) & (g.c.name == name)
    with store.write() as conn:
        exists = conn.execute(sa.select(g.c.id).where(key)).scalar()
        if exists is None:
            conn.execute(g.insert().values(model_id=model_id, name=name, **values))
        else:
            conn.execute(g.update().where(key).values(**values))
    return get_dataset(store, model_id, name, with_data=False), exists is None


def get_dataset(
    store: Store, model_id: int, name: str, *, with_data: bool = True
) -> dict[str, Any]:
    """A golden data set by name (``data`` holds its Parquet bytes when ``with_data``)."""
    g = q.golden_datasets
    cols = [g.c.name, g.c.target, g.c.columns, g.c.n_rows, g.c.sha256, g.c.created_at]
    if with_data:
        cols.append(g.c.data)
    with store.read() as conn:
        row = (
            conn.execute(sa.select(*cols).where(g.c.model_id == model_id, g.c.name == name))
            .mappings()
            .first()
        )
    if row is None:
        raise NotFoundError(
            f"No golden data set {name!r} for this model; register it with POST "
            "/api/v1/models/{m}/golden-datasets or `vigil evaluate --dataset FILE`."
        )
    return _row(row)


def list_datasets(store: Store, model_id: int) -> list[dict[str, Any]]:
    g = q.golden_datasets
    with store.read() as conn:
        rows = conn.execute(
            sa.select(g.c.name, g.c.target, g.c.columns, g.c.n_rows, g.c.sha256, g.c.created_at)
            .where(g.c.model_id == model_id)
            .order_by(g.c.name)
        ).mappings()
        return [_row(r) for r in rows]


# -- evaluation runs and schedules -----------------------------------------------------
def insert_run(store: Store, model_id: int, run: dict[str, Any]) -> int:
    """Store one evaluation run; return its id."""
    with store.write() as conn:
        result = conn.execute(q.evaluation_runs.insert().values(model_id=model_id, **run))
        return inserted_id(result)


def list_runs(
    store: Store,
    model_id: int,
    *,
    dataset: str | None = None,
    version: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Evaluation runs, newest first."""
    r = q.evaluation_runs
    query = sa.select(r).where(r.c.model_id == model_id)
    if dataset is not None:
        query = query.where(r.c.dataset == dataset)
    if version is not None:
        query = query.where(r.c.version == version)
    with store.read() as conn:
        rows = conn.execute(query.order_by(r.c.started_at.desc(), r.c.id.desc()).limit(limit))
        return [_row(row, drop="model_id") for row in rows.mappings()]


def create_schedule(store: Store, model_id: int, values: dict[str, Any]) -> dict[str, Any]:
    s = q.evaluation_schedules
    with store.write() as conn:
        sid = inserted_id(
            conn.execute(s.insert().values(model_id=model_id, created_at=time.time(), **values))
        )
        row = conn.execute(sa.select(s).where(s.c.id == sid)).mappings().one()
    return _row(row)


def list_schedules(store: Store, model_id: int | None = None) -> list[dict[str, Any]]:
    s = q.evaluation_schedules
    query = sa.select(s).order_by(s.c.id)
    if model_id is not None:
        query = query.where(s.c.model_id == model_id)
    with store.read() as conn:
        return _rows(conn.execute(query))


def delete_schedule(store: Store, model_id: int, schedule_id: int) -> None:
    s = q.evaluation_schedules
    with store.write() as conn:
        gone = conn.execute(s.delete().where(s.c.model_id == model_id, s.c.id == schedule_id))
    if gone.rowcount == 0:
        raise NotFoundError(f"No evaluation schedule {schedule_id} for this model.")


def claim_schedule(store: Store, schedule_id: int, due_at: float, next_run_at: float) -> bool:
    """Move a due schedule to its next time; True for the one caller that moved it (so
    several replicas never run the same due evaluation twice)."""
    s = q.evaluation_schedules
    with store.write() as conn:
        moved = conn.execute(
            s.update()
            .where(s.c.id == schedule_id, s.c.next_run_at == due_at)
            .values(next_run_at=next_run_at, last_run_at=time.time())
        )
    return moved.rowcount == 1


# -- concept drift ---------------------------------------------------------------------
def joined_since(
    store: Store, model_id: int, version: str, cursor: float, until: float
) -> list[dict[str, Any]]:
    """Labelled predictions of ``version`` whose join completed in ``(cursor, until]``
    (the later of the prediction's and the label's arrival), in that order."""
    p, lab = t.predictions, t.labels
    joined_at = sa.case(
        (lab.c.received_at > p.c.received_at, lab.c.received_at), else_=p.c.received_at
    ).label("joined_at")
    query = (
        sa.select(*_event_columns(store), joined_at)
        .join(lab, (lab.c.prediction_id == p.c.id) & (lab.c.model_id == p.c.model_id))
        .where(
            p.c.model_id == model_id, p.c.version == version, joined_at > cursor, joined_at <= until
        )
        .order_by(joined_at, p.c.ts, p.c.id)
    )
    with store.read() as conn:
        return _rows(conn.execute(query))


def labelled_versions(store: Store, model_id: int) -> list[str]:
    v = t.model_versions
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(v.c.version).where(v.c.model_id == model_id).order_by(v.c.version)
            ).scalars()
        )


def drift_state(store: Store, model_id: int, version: str) -> dict[str, Any] | None:
    s = q.concept_drift_state
    with store.read() as conn:
        row = (
            conn.execute(sa.select(s).where(s.c.model_id == model_id, s.c.version == version))
            .mappings()
            .first()
        )
    return _row(row) if row else None


def save_drift(
    store: Store,
    model_id: int,
    version: str,
    previous_cursor: float | None,
    state: dict[str, Any],
    events: Sequence[dict[str, Any]],
) -> None:
    """Save the detector state and its detections together, unless another process moved
    the cursor meanwhile (then :class:`ConflictError`, and nothing is written)."""
    s = q.concept_drift_state
    key = (s.c.model_id == model_id) & (s.c.version == version)
    with store.write() as conn:
        if previous_cursor is None:
            exists = conn.execute(sa.select(s.c.cursor).where(key)).first()
            if exists is not None:
                raise ConflictError("The concept-drift state changed meanwhile.")
            conn.execute(s.insert().values(model_id=model_id, version=version, **state))
        else:
            moved = conn.execute(
                s.update().where(key, s.c.cursor == previous_cursor).values(**state)
            )
            if moved.rowcount != 1:
                raise ConflictError("The concept-drift state changed meanwhile.")
        if events:
            conn.execute(
                q.concept_drift_events.insert(),
                [{"model_id": model_id, "version": version, **e} for e in events],
            )


def drift_events(
    store: Store,
    model_id: int,
    start: float | None = None,
    end: float | None = None,
    version: str | None = None,
) -> list[dict[str, Any]]:
    e = q.concept_drift_events
    query = sa.select(e).where(e.c.model_id == model_id)
    if start is not None:
        query = query.where(e.c.ts >= start)
    if end is not None:
        query = query.where(e.c.ts < end)
    if version is not None:
        query = query.where(e.c.version == version)
    with store.read() as conn:
        rows = conn.execute(query.order_by(e.c.ts, e.c.id)).mappings()
        return [_row(r, drop="model_id") for r in rows]


# -- CBPE references -------------------------------------------------------------------
def save_reference(store: Store, model_id: int, state: dict[str, Any], n_rows: int) -> None:
    c = q.cbpe_references
    stmt = store._insert(c).values(
        model_id=model_id, state=state, n_rows=n_rows, created_at=time.time()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.c.model_id],
        set_={
            "state": stmt.excluded.state,
            "n_rows": stmt.excluded.n_rows,
            "created_at": stmt.excluded.created_at,
        },
    )
    with store.write() as conn:
        conn.execute(stmt)


def load_reference(store: Store, model_id: int) -> dict[str, Any] | None:
    c = q.cbpe_references
    with store.read() as conn:
        row = conn.execute(sa.select(c).where(c.c.model_id == model_id)).mappings().first()
    return _row(row) if row else None
