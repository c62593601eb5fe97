"""Data path: ids per model, append-only ingest with pending batches, error kinds,
schema history, rejection counts, strict schemas.

- predictions key (model_id, id), labels key (model_id, prediction_id), feedback key
  (model_id, id): existing rows are kept (SQLite rebuilds the tables, PostgreSQL swaps
  the primary keys in place).
- predictions.batch and pending_batches: ingest appends, an aggregator folds batches into
  the rollups off the request path. predictions.error_type and rollups.error_types.
- models.strict, schema_changes, rejections.

Revision ID: 0009_data_path
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_data_path"
down_revision = "0001"
branch_labels = ("data_path",)
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def _model_fk(primary_key: bool) -> sa.Column:
    return sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("models.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


# Frozen copies of the event tables' columns as of this revision (old key -> new key).
def _prediction_columns(new: bool) -> list[sa.Column]:
    cols = [
        _model_fk(new),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("latency_s", sa.Double),
        sa.Column("error", sa.Text),
        sa.Column("subject_id", sa.String(200)),
        sa.Column("inputs", Json, nullable=False),
        sa.Column("outputs", Json),
        sa.Column("proba", Json),
        sa.Column("received_at", sa.Double, nullable=False),
    ]
    if new:
        cols += [sa.Column("error_type", sa.String(100)), sa.Column("batch", sa.BigInteger)]
    return cols


def _label_columns(new: bool) -> list[sa.Column]:
    return [
        _model_fk(new),
        sa.Column("prediction_id", sa.String(64), primary_key=True),
        sa.Column("actual", Json),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("received_at", sa.Double, nullable=False),
    ]


def _feedback_columns(new: bool) -> list[sa.Column]:
    return [
        _model_fk(new),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("prediction_id", sa.String(64), nullable=False),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("received_at", sa.Double, nullable=False),
    ]


_INDEXES = {
    "predictions": [("ix_predictions_model_ts", ["model_id", "ts"], None)],
    "labels": [("ix_labels_model_ts", ["model_id", "ts"], None)],
    "feedback": [("ix_feedback_prediction", ["prediction_id"], None)],
}


def _rebuild_sqlite(name: str, columns: list[sa.Column], keep: list[str]) -> None:
    """SQLite cannot change a primary key in place: copy into a new table, swap names."""
    tmp = f"{name}_0009"
    op.create_table(tmp, *columns)
    cols = ", ".join(keep)
    op.execute(f"INSERT INTO {tmp} ({cols}) SELECT {cols} FROM {name}")
    op.drop_table(name)
    op.rename_table(tmp, name)
    for ix, cols_, _ in _INDEXES[name]:
        op.create_index(ix, name, cols_)
    if name == "predictions":
        op.create_index(
            "ix_predictions_subject",
            name,
            ["subject_id"],
            sqlite_where=sa.text("subject_id IS NOT NULL"),
        )


def _swap_pk_postgres(name: str, columns: list[str]) -> None:
    op.drop_constraint(f"{name}_pkey", name, type_="primary")
    op.create_primary_key(f"{name}_pkey", name, columns)


_OLD = {
    "predictions": [
        "id",
        "model_id",
        "version",
        "ts",
        "latency_s",
        "error",
        "subject_id",
        "inputs",
        "outputs",
        "proba",
        "received_at",
    ],
    "labels": ["prediction_id", "model_id", "actual", "ts", "received_at"],
    "feedback": ["id", "prediction_id", "model_id", "score", "comment", "ts", "received_at"],
}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _rebuild_sqlite("predictions", _prediction_columns(True), _OLD["predictions"])
        _rebuild_sqlite("labels", _label_columns(True), _OLD["labels"])
        _rebuild_sqlite("feedback", _feedback_columns(True), _OLD["feedback"])
    else:
        op.add_column("predictions", sa.Column("error_type", sa.String(100)))
        op.add_column("predictions", sa.Column("batch", sa.BigInteger))
        _swap_pk_postgres("predictions", ["model_id", "id"])
        _swap_pk_postgres("labels", ["model_id", "prediction_id"])
        _swap_pk_postgres("feedback", ["model_id", "id"])
    op.create_index("ix_predictions_model_batch", "predictions", ["model_id", "batch"])
    op.add_column("rollups", sa.Column("error_types", Json))
    op.add_column(
        "models", sa.Column("strict", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.create_table(
        "pending_batches",
        sa.Column(
            "batch",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        _model_fk(False),
        sa.Column("created_at", sa.Double, nullable=False),
        sqlite_autoincrement=True,  # batch numbers are never reused (rows point at them)
    )
    op.create_index("ix_pending_batches_model", "pending_batches", ["model_id", "batch"])
    op.create_table(
        "rejections",
        _model_fk(True),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("reason", sa.String(40), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "schema_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("version", sa.String(100)),
        sa.Column("feature", sa.String(200), nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20)),
    )
    op.create_index("ix_schema_changes_model", "schema_changes", ["model_id", "ts"])


def downgrade() -> None:
    """Back to global ids: where two models share an id, the lowest model id keeps it."""
    op.drop_index("ix_schema_changes_model", table_name="schema_changes")
    op.drop_table("schema_changes")
    op.drop_table("rejections")
    op.drop_index("ix_pending_batches_model", table_name="pending_batches")
    op.drop_table("pending_batches")
    # plain DROP COLUMN (SQLite >= 3.35): a batch rebuild of models would drop the table
    # and, with foreign keys on, cascade the delete to every event row
    op.execute("ALTER TABLE models DROP COLUMN strict")
    op.execute("ALTER TABLE rollups DROP COLUMN error_types")
    op.drop_index("ix_predictions_model_batch", table_name="predictions")
    for name, key in (("predictions", "id"), ("labels", "prediction_id"), ("feedback", "id")):
        op.execute(
            f"DELETE FROM {name} WHERE EXISTS (SELECT 1 FROM {name} o WHERE "
            f"o.{key} = {name}.{key} AND o.model_id < {name}.model_id)"
        )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite("predictions", _prediction_columns(False), _OLD["predictions"])
        _rebuild_sqlite("labels", _label_columns(False), _OLD["labels"])
        _rebuild_sqlite("feedback", _feedback_columns(False), _OLD["feedback"])
    else:
        _swap_pk_postgres("predictions", ["id"])
        _swap_pk_postgres("labels", ["prediction_id"])
        _swap_pk_postgres("feedback", ["id"])
        op.drop_column("predictions", "batch")
        op.drop_column("predictions", "error_type")
