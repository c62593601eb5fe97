"""Hourly rollups built from the minute rollups, and the hours waiting to be (re)built.

- hourly_rollups: one row per (model, version, hour), the merge of that hour's minutes.
- rollup_hours_pending: (model, hour) whose minutes changed since its hourly rows were
  built; the aggregator marks them when it folds, the hour builder clears them. Hours
  that already have minute rows are marked here, so they are built after the upgrade.

Revision ID: 0017_hourly_rollups
Revises: 0001 (its own branch: it needs only the rollups table of 0001)
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0017_hourly_rollups"
down_revision = "0001"
branch_labels = ("hourly",)
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Blob = sa.LargeBinary


def _model_fk(primary_key: bool) -> sa.Column:
    return sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("models.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "hourly_rollups",
        _model_fk(True),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.BigInteger, nullable=False),
        sa.Column("latency_count", sa.BigInteger, nullable=False),
        sa.Column("latency_sum", sa.Double, nullable=False),
        sa.Column("latency_sketch", Blob, nullable=True),
        sa.Column("profile", Blob, nullable=True),
        sa.Column("error_types", Json, nullable=True),
    )
    op.create_table(
        "rollup_hours_pending",
        _model_fk(True),
        sa.Column("hour", sa.BigInteger, primary_key=True),
        sa.Column("marked_at", sa.Double, nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO rollup_hours_pending (model_id, hour, marked_at) "
            "SELECT DISTINCT model_id, (minute / 3600) * 3600, :now FROM rollups"
        ).bindparams(now=time.time())
    )


def downgrade() -> None:
    op.drop_table("rollup_hours_pending")
    op.drop_table("hourly_rollups")
