"""Input scores: OOD and prompt-injection scores per prediction.

Revision ID: 0008_input_scores
Revises: 0006_privacy
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008_input_scores"
down_revision = "0006_privacy"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "prediction_scores",
        sa.Column("prediction_id", sa.String(64), primary_key=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("ood_score", sa.Double),
        sa.Column("ood", sa.Boolean),
        sa.Column("injection_score", sa.Double),
        sa.Column("flags", Json),
    )
    op.create_index("ix_prediction_scores_model_ts", "prediction_scores", ["model_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_prediction_scores_model_ts", table_name="prediction_scores")
    op.drop_table("prediction_scores")
