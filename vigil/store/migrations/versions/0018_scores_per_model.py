"""Input scores keyed per model: ``prediction_scores`` gets the key (model_id, prediction_id).

Prediction ids are unique per model (0009_data_path), but the input scores kept the
prediction id alone as their key, so a second model logging an id that a first model used
lost its score. The table is rebuilt with the per-model key (every row is kept).

Revision ID: 0018_scores_per_model
Revises: 0016_answer_scores
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0018_scores_per_model"
down_revision = "0016_answer_scores"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
_COLUMNS = "prediction_id, model_id, version, ts, ood_score, ood, injection_score, flags"


def _create(name: str, per_model: bool) -> None:
    op.create_table(
        name,
        sa.Column("prediction_id", sa.String(64), primary_key=True),
        sa.Column(
            "model_id",
            sa.Integer,
            sa.ForeignKey("models.id", ondelete="CASCADE"),
            nullable=False,
            primary_key=per_model,
        ),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("ood_score", sa.Double),
        sa.Column("ood", sa.Boolean),
        sa.Column("injection_score", sa.Double),
        sa.Column("flags", Json),
    )


def _rebuild(per_model: bool, select: str) -> None:
    op.drop_index("ix_prediction_scores_model_ts", table_name="prediction_scores")
    _create("prediction_scores_rebuilt", per_model)
    op.execute(f"INSERT INTO prediction_scores_rebuilt ({_COLUMNS}) {select}")
    op.drop_table("prediction_scores")
    op.rename_table("prediction_scores_rebuilt", "prediction_scores")
    op.create_index("ix_prediction_scores_model_ts", "prediction_scores", ["model_id", "ts"])


def upgrade() -> None:
    _rebuild(True, f"SELECT {_COLUMNS} FROM prediction_scores")


def downgrade() -> None:
    # one row per id again: the lowest model's score of an id logged by several models
    _rebuild(
        False,
        f"SELECT {_COLUMNS} FROM prediction_scores s WHERE s.model_id = "
        "(SELECT min(o.model_id) FROM prediction_scores o WHERE o.prediction_id = s.prediction_id)",
    )
