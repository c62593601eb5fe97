"""The reference data set of each model: a profile plus a bounded raw sample."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store.tables import Json, metadata

reference_data = sa.Table(
    "reference_data",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("n_rows", sa.BigInteger, nullable=False),
    sa.Column("sample_rows", sa.BigInteger, nullable=False),
    sa.Column("columns", Json, nullable=False),
    sa.Column("profile", sa.LargeBinary, nullable=False),  # vigil.Profile of every row
    sa.Column("sample", sa.LargeBinary, nullable=False),  # Parquet, at most SAMPLE_ROWS rows
    sa.Column("source", sa.String(400), nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
)
