"""Job leases with fencing tokens, and the rounds each leader claimed.

Revision ID: 0014_leases
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_leases"
down_revision = "0001"
branch_labels = ("leases",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_leases",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("acquired_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_table(
        "job_rounds",
        sa.Column("job", sa.String(100), primary_key=True),
        sa.Column("round_key", sa.String(100), primary_key=True),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("position", sa.Double, nullable=True),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double, nullable=True),
    )
    op.create_index("ix_job_rounds_started_at", "job_rounds", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_job_rounds_started_at", table_name="job_rounds")
    op.drop_table("job_rounds")
    op.drop_table("job_leases")
