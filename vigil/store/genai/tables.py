"""Per-answer quality of text models, scored in the background (migration
0016_answer_scores): one row per prediction the answer-quality job has looked at."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store.tables import metadata

answer_scores = sa.Table(
    "answer_scores",
    metadata,
    sa.Column("prediction_id", sa.String(64), primary_key=True),
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("ts", sa.Double, nullable=False),
    # all None for a prediction without both a prompt and a text answer (looked at, skipped)
    sa.Column("relevance", sa.Double, nullable=True),
    sa.Column("consistency", sa.Double, nullable=True),  # None outside repeated prompts
    sa.Column("refusal", sa.Boolean, nullable=True),
    sa.Column("tokens", sa.Integer, nullable=True),
    sa.Column("unknown_tokens", sa.Integer, nullable=True),
    sa.Column("similarity", sa.String(40), nullable=True),  # the backend that scored it
    sa.Index("ix_answer_scores_model_ts", "model_id", "ts"),
)
