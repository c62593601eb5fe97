"""Quality: golden data sets, evaluation runs and schedules, concept drift, CBPE references.

Revision ID: 0002_quality
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_quality"
down_revision = "0001"
branch_labels = ("quality",)
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def _model_fk(primary_key: bool = False) -> sa.Column:
    return sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("models.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "golden_datasets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("columns", Json, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("model_id", "name", name="uq_golden_datasets_model_name"),
    )
    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("dataset_sha256", sa.String(64)),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("alias", sa.String(100)),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("endpoint", sa.Text),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("metrics", Json),
        sa.Column("latency", Json),
        sa.Column("error", sa.Text),
        sa.Column("schedule_id", sa.Integer),
    )
    op.create_index(
        "ix_evaluation_runs_model_started", "evaluation_runs", ["model_id", "started_at"]
    )
    op.create_table(
        "evaluation_schedules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("version", sa.String(100)),
        sa.Column("interval_s", sa.Double),
        sa.Column("cron", sa.String(100)),
        sa.Column("next_run_at", sa.Double, nullable=False),
        sa.Column("last_run_at", sa.Double),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "concept_drift_state",
        _model_fk(primary_key=True),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("detector", sa.String(50), nullable=False),
        sa.Column("state", sa.LargeBinary),
        sa.Column("cursor", sa.Double, nullable=False),
        sa.Column("n_seen", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "concept_drift_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("detected_at", sa.Double, nullable=False),
        sa.Column("detector", sa.String(50), nullable=False),
        sa.Column("n_seen", sa.BigInteger, nullable=False),
        sa.Column("details", Json),
    )
    op.create_index("ix_concept_drift_events_model_ts", "concept_drift_events", ["model_id", "ts"])
    op.create_table(
        "cbpe_references",
        _model_fk(primary_key=True),
        sa.Column("state", Json, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "cbpe_references",
        "concept_drift_events",
        "concept_drift_state",
        "evaluation_schedules",
        "evaluation_runs",
        "golden_datasets",
    ):
        op.drop_table(table)
