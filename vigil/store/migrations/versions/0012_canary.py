"""Canary and shadow releases: a second version and a traffic share on an alias; details
(the evidence of a decision) on each alias history entry.

Revision ID: 0012_canary
Revises: 0004_registry
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012_canary"
down_revision = "0004_registry"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("registry_aliases") as batch:
        batch.add_column(sa.Column("canary", Json, nullable=True))
    with op.batch_alter_table("registry_alias_history") as batch:
        batch.add_column(sa.Column("details", Json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registry_alias_history") as batch:
        batch.drop_column("details")
    with op.batch_alter_table("registry_aliases") as batch:
        batch.drop_column("canary")
