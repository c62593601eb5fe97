"""Tables of privacy and compliance: redaction policies, retention, erasure receipts,
and the input scores of each prediction.

The audit log's hash chain adds two columns to ``audit_log`` (migration 0006_privacy);
:mod:`vigil.store.audit_chain` reads and writes them through its own lightweight view so
the core table definition stays as it is.
"""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store.tables import Json, metadata


def _model_fk(primary_key: bool) -> sa.Column:
    return sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("models.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


privacy_policies = sa.Table(
    "privacy_policies",
    metadata,
    _model_fk(True),
    sa.Column("field", sa.String(200), primary_key=True),  # input feature, "outputs" or "*"
    sa.Column("action", sa.String(10), nullable=False),  # mask | hash | drop
    sa.Column("kinds", Json, nullable=True),  # PII kinds to mask (null: all)
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

retention_policies = sa.Table(
    "retention_policies",
    metadata,
    _model_fk(True),
    sa.Column("days", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("last_run_at", sa.Double, nullable=True),
    sa.Column("last_deleted", sa.BigInteger, nullable=True),
)

erasure_receipts = sa.Table(
    "erasure_receipts",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("subject_hash", sa.String(64), nullable=False),  # SHA-256 of the subject id
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", sa.Double, nullable=False),
    sa.Column("completed_at", sa.Double, nullable=False),
    sa.Column("deleted", Json, nullable=False),  # {table: rows}
    sa.Column("models", Json, nullable=False),  # names of the models that held events
    sa.Index("ix_erasure_receipts_subject", "subject_hash"),
)

privacy_secrets = sa.Table(
    "privacy_secrets",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

# Out-of-distribution and prompt-injection scores of each prediction's inputs, computed at
# ingest (migration 0008_input_scores); erased and expired with the prediction.
prediction_scores = sa.Table(
    "prediction_scores",
    metadata,
    sa.Column("prediction_id", sa.String(64), primary_key=True),
    sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("models.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=True,  # ids are unique per model (0018_scores_per_model)
    ),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("ood_score", sa.Double, nullable=True),  # chi-squared CDF of the distance
    sa.Column("ood", sa.Boolean, nullable=True),
    sa.Column("injection_score", sa.Double, nullable=True),
    sa.Column("flags", Json, nullable=True),
    sa.Index("ix_prediction_scores_model_ts", "model_id", "ts"),
)
