"""Registry versions get a lifecycle status (active, deprecated, archived) and a history of
their edits (notes, tags, status changes): who changed what, when and why.

Revision ID: 0013_registry_edits
Revises: 0012_canary
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013_registry_edits"
down_revision = "0012_canary"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("registry_versions") as batch:
        batch.add_column(
            sa.Column("status", sa.String(20), nullable=False, server_default="active")
        )
    op.create_table(
        "registry_version_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("changes", Json, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("ts", sa.Double, nullable=False),
    )
    op.create_index(
        "ix_registry_version_history", "registry_version_history", ["model_id", "version", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_registry_version_history", table_name="registry_version_history")
    op.drop_table("registry_version_history")
    with op.batch_alter_table("registry_versions") as batch:
        batch.drop_column("status")
