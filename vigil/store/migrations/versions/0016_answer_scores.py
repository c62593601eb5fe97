"""Answer scores: per-answer quality of text models, written by the background job.

Revision ID: 0016_answer_scores
Revises: 0008_input_scores
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_answer_scores"
down_revision = "0008_input_scores"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_scores",
        sa.Column("prediction_id", sa.String(64), primary_key=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("relevance", sa.Double),
        sa.Column("consistency", sa.Double),
        sa.Column("refusal", sa.Boolean),
        sa.Column("tokens", sa.Integer),
        sa.Column("unknown_tokens", sa.Integer),
        sa.Column("similarity", sa.String(40)),
    )
    op.create_index("ix_answer_scores_model_ts", "answer_scores", ["model_id", "ts"])


def downgrade() -> None:
    op.drop_index("ix_answer_scores_model_ts", table_name="answer_scores")
    op.drop_table("answer_scores")
