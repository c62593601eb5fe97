"""Partitioned predictions on PostgreSQL: daily range partitions on ``ts``.

PostgreSQL only (SQLite keeps its one table; the same code runs with no partitions):

- ``predictions`` becomes ``PARTITION BY RANGE (ts)`` with one partition per UTC day that
  holds data (the newest 1,000), today and the next 7 days, and a DEFAULT partition for
  everything else. Its key becomes (model_id, id, ts): a unique key on a partitioned table
  must contain the partition key.
- ``prediction_ids`` (model_id, id, ts), key (model_id, id), unpartitioned and narrow,
  keeps ids unique per model across partitions: ingest inserts into it first (ON CONFLICT
  DO NOTHING) in the same statement that appends the predictions. A trigger removes an id
  when its prediction is deleted, so an erased or expired id can be sent again.

Existing rows are copied into the new layout (create partitioned, copy, swap); downgrade
copies them back into one table.

Revision ID: 0015_partitions
Revises: 0009_data_path
"""

from __future__ import annotations

import time

from alembic import op

revision = "0015_partitions"
down_revision = "0009_data_path"
branch_labels = ("partitions",)
depends_on = None

_DAY = 86400
_AHEAD_DAYS = 7
_MAX_DAYS = 1000
_COLS = (
    "model_id, id, version, ts, latency_s, error, error_type, subject_id, inputs, "
    "outputs, proba, received_at, batch"
)
_COLUMNS_DDL = """
    model_id integer NOT NULL
        CONSTRAINT predictions_model_id_fkey REFERENCES models (id) ON DELETE CASCADE,
    id varchar(64) NOT NULL,
    version varchar(100) NOT NULL,
    ts double precision NOT NULL,
    latency_s double precision,
    error text,
    error_type varchar(100),
    subject_id varchar(200),
    inputs jsonb NOT NULL,
    outputs jsonb,
    proba jsonb,
    received_at double precision NOT NULL,
    batch bigint
"""
_INDEXES = (
    "CREATE INDEX ix_predictions_model_ts ON {t} (model_id, ts)",
    "CREATE INDEX ix_predictions_model_batch ON {t} (model_id, batch)",
    "CREATE INDEX ix_predictions_subject ON {t} (subject_id) WHERE subject_id IS NOT NULL",
)
_OLD_INDEXES = ("ix_predictions_model_ts", "ix_predictions_model_batch", "ix_predictions_subject")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE predictions RENAME TO predictions_0017")
    op.execute("ALTER TABLE predictions_0017 DROP CONSTRAINT predictions_pkey")
    for name in _OLD_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute(
        f"CREATE TABLE predictions ({_COLUMNS_DDL}, "
        "CONSTRAINT predictions_pkey PRIMARY KEY (model_id, id, ts)) "
        "PARTITION BY RANGE (ts)"
    )
    for ddl in _INDEXES:
        op.execute(ddl.format(t="predictions"))
    op.execute("CREATE TABLE predictions_default PARTITION OF predictions DEFAULT")
    today = int(time.time() // _DAY)
    days = set(range(today - 1, today + _AHEAD_DAYS + 1))
    rows = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT DISTINCT floor(ts / 86400)::bigint AS day FROM predictions_0017 "
            f"ORDER BY day DESC LIMIT {_MAX_DAYS}"
        )
        .all()
    )
    days.update(int(r[0]) for r in rows if 0 <= r[0] < 10**7)
    for day in sorted(days):
        op.execute(
            f"CREATE TABLE predictions_p{time.strftime('%Y%m%d', time.gmtime(day * _DAY))}"
            f" PARTITION OF predictions FOR VALUES FROM ({day * _DAY}) "
            f"TO ({(day + 1) * _DAY})"
        )
    op.execute(f"INSERT INTO predictions ({_COLS}) SELECT {_COLS} FROM predictions_0017")
    op.execute("""
        CREATE TABLE prediction_ids (
            model_id integer NOT NULL REFERENCES models (id) ON DELETE CASCADE,
            id varchar(64) NOT NULL,
            ts double precision NOT NULL,
            CONSTRAINT prediction_ids_pkey PRIMARY KEY (model_id, id))""")
    op.execute(
        "INSERT INTO prediction_ids (model_id, id, ts) "
        "SELECT model_id, id, ts FROM predictions_0017"
    )
    op.execute("DROP TABLE predictions_0017")
    # The deleted rows are few next to the id table (one model's old rows, one subject's):
    # probe its key per row. Left to itself the planner hashes them and reads the whole
    # id table once per statement (seconds at 10M ids, per model in a retention run).
    op.execute("""
        CREATE FUNCTION vigil_forget_prediction_ids() RETURNS trigger LANGUAGE plpgsql
        SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
        AS $$
        BEGIN
            DELETE FROM prediction_ids i USING gone g
            WHERE i.model_id = g.model_id AND i.id = g.id AND i.ts = g.ts;
            RETURN NULL;
        END $$""")
    op.execute(
        "CREATE TRIGGER predictions_forget_ids AFTER DELETE ON predictions "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
        "EXECUTE FUNCTION vigil_forget_prediction_ids()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE TABLE predictions_0017 ({_COLUMNS_DDL})")
    op.execute(f"INSERT INTO predictions_0017 ({_COLS}) SELECT {_COLS} FROM predictions")
    op.execute("DROP TABLE predictions")  # its partitions and trigger go with it
    op.execute("DROP FUNCTION vigil_forget_prediction_ids()")
    op.execute("DROP TABLE prediction_ids")
    op.execute("ALTER TABLE predictions_0017 RENAME TO predictions")
    op.execute("ALTER TABLE predictions ADD CONSTRAINT predictions_pkey PRIMARY KEY (model_id, id)")
    for ddl in _INDEXES:
        op.execute(ddl.format(t="predictions"))
