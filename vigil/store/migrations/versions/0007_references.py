"""Reference data per model (profile + bounded Parquet sample) for drift.

Revision ID: 0007_references
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_references"
down_revision = "0001"
branch_labels = ("references",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_data",
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("n_rows", sa.BigInteger, nullable=False),
        sa.Column("sample_rows", sa.BigInteger, nullable=False),
        sa.Column("columns", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("profile", sa.LargeBinary, nullable=False),
        sa.Column("sample", sa.LargeBinary, nullable=False),
        sa.Column("source", sa.String(400)),
        sa.Column("created_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reference_data")
