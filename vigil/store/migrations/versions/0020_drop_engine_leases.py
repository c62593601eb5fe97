"""Drop ``engine_leases``: the alert engine's first lease table, unused since job leases
moved to ``job_leases`` (0014_leases) and nothing reads or writes it.

It sits on the alerts branch, after the migration that created it; downgrading creates
it again, empty (a lease lives seconds, so there is nothing worth keeping).

Revision ID: 0020_drop_engine_leases
Revises: 0003_alerts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_drop_engine_leases"
down_revision = "0003_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("engine_leases")


def downgrade() -> None:
    op.create_table(
        "engine_leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
