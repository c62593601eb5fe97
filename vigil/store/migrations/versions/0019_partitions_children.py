"""Labels, feedback and scores partitioned by day like predictions; batch time bounds.

Both backends: ``pending_batches`` gets ``ts_min`` and ``ts_max``, the time range of the
batch's rows, so the aggregator reads a batch back from the partitions of those days
only (null for batches appended before).

PostgreSQL only (SQLite keeps its tables; the same code runs without partitions):

- ``labels``, ``feedback``, ``prediction_scores`` and ``answer_scores`` become
  ``PARTITION BY RANGE (ts)`` with the same days as ``predictions`` (and every day they
  hold data on, the newest 1,000), plus a DEFAULT partition each. Their keys gain ``ts``
  (a key of a partitioned table must contain it); the writers keep one row per key
  without it (:func:`vigil.store.partitions.lock_model_rows`). Retention then drops
  whole days of every table instead of deleting rows keyed to expired predictions.
- ``prediction_ids`` gets a BRIN index on ``ts``: dropping a day of predictions releases
  that day's ids by one range delete (cheap to keep up at ingest: rows arrive in time
  order).

Existing rows are copied into the new layout (create partitioned, copy, swap); downgrade
copies them back (one row per old key, the newest label, the first feedback).

Revision ID: 0019_partitions_children
Revises: 0015_partitions, 0018_scores_per_model
"""

from __future__ import annotations

import time
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision = "0019_partitions_children"
down_revision = ("0015_partitions", "0018_scores_per_model")
branch_labels = None
depends_on = None

_DAY = 86400
_AHEAD_DAYS = 7
_MAX_DAYS = 1000


class _Spec(NamedTuple):  # (a dataclass fails: alembic loads this file outside sys.modules)
    table: str
    key: tuple[str, ...]  # the key before this migration (ts is added to it)
    indexes: tuple[tuple[str, str], ...]  # (name, columns)
    keep: str  # downgrade: which row of a key stays ("ts DESC": the newest)


_SPECS = (
    _Spec(
        "labels",
        ("model_id", "prediction_id"),
        (("ix_labels_model_ts", "model_id, ts"),),
        "ts DESC",
    ),
    _Spec("feedback", ("model_id", "id"), (("ix_feedback_prediction", "prediction_id"),), "ts"),
    _Spec(
        "prediction_scores",
        ("prediction_id", "model_id"),
        (("ix_prediction_scores_model_ts", "model_id, ts"),),
        "ts",
    ),
    _Spec(
        "answer_scores",
        ("prediction_id", "model_id"),
        (("ix_answer_scores_model_ts", "model_id, ts"),),
        "ts DESC",
    ),
)


def _name(table: str, day: int) -> str:
    return f"{table}_p{time.strftime('%Y%m%d', time.gmtime(day * _DAY))}"


def _primary_key(conn: sa.Connection, table: str) -> str | None:
    return conn.exec_driver_sql(
        f"SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid = '{table}'::regclass"
    ).scalar()


def _predictions_days(conn: sa.Connection) -> set[int]:
    """The days ``predictions`` has partitions for (bounds are day starts)."""
    bounds = conn.exec_driver_sql(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'predictions'::regclass"
    ).scalars()
    days = set()
    for bound in bounds:
        if bound and "FROM (" in bound:
            start = bound.split("FROM (")[1].split(")")[0].strip("'")
            days.add(int(float(start) // _DAY))
    return days


def _partition(conn: sa.Connection, spec: _Spec, days: set[int]) -> None:
    t = spec.table
    old = f"{t}_0019"
    op.execute(f"ALTER TABLE {t} RENAME TO {old}")
    pkey = _primary_key(conn, old)
    if pkey is not None:
        op.execute(f'ALTER TABLE {old} DROP CONSTRAINT "{pkey}"')
    for name, _cols in spec.indexes:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute(f"CREATE TABLE {t} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (ts)")
    op.execute(f"ALTER TABLE {t} ADD CONSTRAINT {t}_pkey PRIMARY KEY ({', '.join(spec.key)}, ts)")
    op.execute(
        f"ALTER TABLE {t} ADD CONSTRAINT {t}_model_id_fkey FOREIGN KEY (model_id) "
        "REFERENCES models (id) ON DELETE CASCADE"
    )
    for name, cols in spec.indexes:
        op.execute(f"CREATE INDEX {name} ON {t} ({cols})")
    op.execute(f"CREATE TABLE {t}_default PARTITION OF {t} DEFAULT")
    own = conn.exec_driver_sql(
        f"SELECT DISTINCT floor(ts / {_DAY})::bigint AS day FROM {old} "
        f"ORDER BY day DESC LIMIT {_MAX_DAYS}"
    ).scalars()
    for day in sorted(days | {int(d) for d in own if 0 <= d < 10**7}):
        op.execute(
            f"CREATE TABLE {_name(t, day)} PARTITION OF {t} "
            f"FOR VALUES FROM ({day * _DAY}) TO ({(day + 1) * _DAY})"
        )
    op.execute(f"INSERT INTO {t} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")


def _unpartition(spec: _Spec) -> None:
    t = spec.table
    old = f"{t}_0019"
    key = ", ".join(spec.key)
    op.execute(f"CREATE TABLE {old} (LIKE {t} INCLUDING DEFAULTS)")
    op.execute(
        f"INSERT INTO {old} SELECT DISTINCT ON ({key}) * FROM {t} ORDER BY {key}, {spec.keep}"
    )
    op.execute(f"DROP TABLE {t}")  # its partitions go with it
    op.execute(f"ALTER TABLE {old} RENAME TO {t}")
    op.execute(f"ALTER TABLE {t} ADD CONSTRAINT {t}_pkey PRIMARY KEY ({key})")
    op.execute(
        f"ALTER TABLE {t} ADD CONSTRAINT {t}_model_id_fkey FOREIGN KEY (model_id) "
        "REFERENCES models (id) ON DELETE CASCADE"
    )
    for name, cols in spec.indexes:
        op.execute(f"CREATE INDEX {name} ON {t} ({cols})")


def upgrade() -> None:
    with op.batch_alter_table("pending_batches") as batch:
        batch.add_column(sa.Column("ts_min", sa.Double, nullable=True))
        batch.add_column(sa.Column("ts_max", sa.Double, nullable=True))
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    today = int(time.time() // _DAY)
    days = _predictions_days(conn) | set(range(today - 1, today + _AHEAD_DAYS + 1))
    for spec in _SPECS:
        _partition(conn, spec, days)
    op.execute(
        "CREATE INDEX ix_prediction_ids_ts ON prediction_ids USING brin (ts) "
        "WITH (autosummarize = on)"
    )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("DROP INDEX ix_prediction_ids_ts")
        for spec in _SPECS:
            _unpartition(spec)
    with op.batch_alter_table("pending_batches") as batch:
        batch.drop_column("ts_max")
        batch.drop_column("ts_min")
