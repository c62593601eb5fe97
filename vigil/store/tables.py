"""SQLAlchemy Core tables: the one place that knows vigil's relational layout.

Times are unix seconds (double precision); ids made by the SDK are strings. JSON columns
are JSONB on PostgreSQL and TEXT on SQLite (serialised with orjson by the engine).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

Json = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
Blob = sa.LargeBinary()

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("task", sa.String(50), nullable=False),
    sa.Column("schema", Json, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    # strict: unknown inputs and missing required ones are rejected instead of evolving
    sa.Column("strict", sa.Boolean, nullable=False, server_default=sa.false()),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("created_at", sa.Double, nullable=False),
)

# Ids are scoped per model: the key is (model_id, id), so one request id can be logged
# to several models, and labels and feedback join within their model.
predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("latency_s", sa.Double, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("error_type", sa.String(100), nullable=True),  # exception class or named kind
    sa.Column("subject_id", sa.String(200), nullable=True),
    sa.Column("inputs", Json, nullable=False),
    sa.Column("outputs", Json, nullable=True),
    sa.Column("proba", Json, nullable=True),
    sa.Column("received_at", sa.Double, nullable=False),
    # the ingest batch that appended the row (see pending_batches); null before 0009
    sa.Column("batch", sa.BigInteger, nullable=True),
    sa.Index("ix_predictions_model_ts", "model_id", "ts"),
    sa.Index("ix_predictions_model_batch", "model_id", "batch"),
    # partial: most predictions have no subject, and erasure looks up by a given subject
    sa.Index(
        "ix_predictions_subject",
        "subject_id",
        sqlite_where=sa.text("subject_id IS NOT NULL"),
        postgresql_where=sa.text("subject_id IS NOT NULL"),
    ),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("prediction_id", sa.String(64), primary_key=True),
    sa.Column("actual", Json, nullable=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Index("ix_labels_model_ts", "model_id", "ts"),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("prediction_id", sa.String(64), nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Index("ix_feedback_prediction", "prediction_id"),
)

rollups = sa.Table(
    "rollups",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("minute", sa.BigInteger, primary_key=True),  # unix seconds of the minute's start
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("errors", sa.BigInteger, nullable=False),
    sa.Column("latency_count", sa.BigInteger, nullable=False),
    sa.Column("latency_sum", sa.Double, nullable=False),
    sa.Column("latency_sketch", Blob, nullable=True),  # KLL sketch of latency seconds
    sa.Column("profile", Blob, nullable=True),  # vigil.Profile of the inputs
    # errors per kind: {"TimeoutError": 3, ...}, the top kinds plus "other" (bounded)
    sa.Column("error_types", Json, nullable=True),
)

# The merge of each hour's minute rollups, one row per (model, version, hour): reads over
# 6 h and longer take whole hours from here (vigil.store.ingest.hourly).
hourly_rollups = sa.Table(
    "hourly_rollups",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("hour", sa.BigInteger, primary_key=True),  # unix seconds of the hour's start
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("errors", sa.BigInteger, nullable=False),
    sa.Column("latency_count", sa.BigInteger, nullable=False),
    sa.Column("latency_sum", sa.Double, nullable=False),
    sa.Column("latency_sketch", Blob, nullable=True),
    sa.Column("profile", Blob, nullable=True),
    sa.Column("error_types", Json, nullable=True),
)

# Hours whose minutes changed since their hourly rows were built: the aggregator marks an
# hour in the transaction that changes its minutes, the hour builder clears the mark in
# the one that rebuilds it. Reads take an hour from hourly_rollups only when unmarked.
rollup_hours_pending = sa.Table(
    "rollup_hours_pending",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("hour", sa.BigInteger, primary_key=True),
    sa.Column("marked_at", sa.Double, nullable=False),
)

# One row per ingest batch whose predictions are not folded into the rollups yet. Ingest
# appends it in the same transaction as the rows; the aggregator claims it, merges the
# rows into the rollups and deletes it in one transaction (idempotent and complete).
pending_batches = sa.Table(
    "pending_batches",
    metadata,
    sa.Column(
        "batch",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", sa.Double, nullable=False),
    # the time range of the batch's rows: its read-back reads only those days' partitions
    # (0019; null for batches appended before)
    sa.Column("ts_min", sa.Double, nullable=True),
    sa.Column("ts_max", sa.Double, nullable=True),
    sa.Index("ix_pending_batches_model", "model_id", "batch"),
    sqlite_autoincrement=True,  # batch numbers are never reused (rows point at them)
)

# Records rejected at ingest, per model, version, minute and reason (a bounded set).
rejections = sa.Table(
    "rejections",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("minute", sa.BigInteger, primary_key=True),
    sa.Column("reason", sa.String(40), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

# How a model's schema changed: inputs that appeared (kind inferred), with time and version.
schema_changes = sa.Table(
    "schema_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("version", sa.String(100), nullable=True),
    sa.Column("feature", sa.String(200), nullable=False),
    sa.Column("change", sa.String(20), nullable=False),  # "added"
    sa.Column("kind", sa.String(20), nullable=True),
    sa.Index("ix_schema_changes_model", "model_id", "ts"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("last_used_at", sa.Double, nullable=True),
    sa.Column("revoked_at", sa.Double, nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("target", sa.String(400), nullable=True),
    sa.Column("details", Json, nullable=True),
    sa.Index("ix_audit_log_ts", "ts"),
)
