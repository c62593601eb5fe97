"""Evaluation schedules may name a registry alias; runs go to the version it serves.

Revision ID: 0011_schedule_alias
Revises: 0002_quality
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_schedule_alias"
down_revision = "0002_quality"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluation_schedules") as batch:
        batch.add_column(sa.Column("alias", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluation_schedules") as batch:
        batch.drop_column("alias")
