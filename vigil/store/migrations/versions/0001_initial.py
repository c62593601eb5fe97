"""Initial schema: models, versions, predictions, labels, feedback, rollups, keys, audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def _model_fk() -> sa.Column:
    return sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("task", sa.String(50), nullable=False),
        sa.Column("schema", Json, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(64), primary_key=True),
        _model_fk(),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("latency_s", sa.Double),
        sa.Column("error", sa.Text),
        sa.Column("subject_id", sa.String(200)),
        sa.Column("inputs", Json, nullable=False),
        sa.Column("outputs", Json),
        sa.Column("proba", Json),
        sa.Column("received_at", sa.Double, nullable=False),
    )
    op.create_index("ix_predictions_model_ts", "predictions", ["model_id", "ts"])
    op.create_index(
        "ix_predictions_subject",
        "predictions",
        ["subject_id"],
        sqlite_where=sa.text("subject_id IS NOT NULL"),
        postgresql_where=sa.text("subject_id IS NOT NULL"),
    )
    op.create_table(
        "labels",
        sa.Column("prediction_id", sa.String(64), primary_key=True),
        _model_fk(),
        sa.Column("actual", Json),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("received_at", sa.Double, nullable=False),
    )
    op.create_index("ix_labels_model_ts", "labels", ["model_id", "ts"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("prediction_id", sa.String(64), nullable=False),
        _model_fk(),
        sa.Column("score", sa.Double, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("received_at", sa.Double, nullable=False),
    )
    op.create_index("ix_feedback_prediction", "feedback", ["prediction_id"])
    op.create_table(
        "rollups",
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("latency_count", sa.BigInteger, nullable=False),
        sa.Column("latency_sum", sa.Double, nullable=False),
        sa.Column("latency_sketch", sa.LargeBinary),
        sa.Column("profile", sa.LargeBinary),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("last_used_at", sa.Double),
        sa.Column("revoked_at", sa.Double),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(400)),
        sa.Column("details", Json),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "api_keys",
        "rollups",
        "feedback",
        "labels",
        "predictions",
        "model_versions",
        "models",
    ):
        op.drop_table(table)
