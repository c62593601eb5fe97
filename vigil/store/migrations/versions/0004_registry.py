"""Model registry: version records, aliases with revisions, alias history, rollback policies.

Revision ID: 0004_registry
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_registry"
down_revision = "0001"
branch_labels = ("registry",)
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def _model_fk(primary_key: bool) -> sa.Column:
    return sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("models.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "registry_versions",
        _model_fk(True),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("artifact_kind", sa.String(10)),
        sa.Column("artifact_digest", sa.String(64)),
        sa.Column("artifact_size", sa.BigInteger),
        sa.Column("manifest", Json),
        sa.Column("signature", Json),
        sa.Column("framework", sa.String(100)),
        sa.Column("meta", Json),
        sa.Column("notes", sa.Text),
        sa.Column("metrics", Json),
        sa.Column("tags", Json),
        sa.Column("lineage", Json),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "registry_aliases",
        _model_fk(True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("version", sa.String(100)),
        sa.Column("target_alias", sa.String(100)),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "registry_alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _model_fk(False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("version", sa.String(100)),
        sa.Column("target_alias", sa.String(100)),
        sa.Column("previous_version", sa.String(100)),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("ts", sa.Double, nullable=False),
    )
    op.create_index(
        "ix_registry_alias_history", "registry_alias_history", ["model_id", "alias", "id"]
    )
    op.create_table(
        "registry_policies",
        _model_fk(True),
        sa.Column("alias", sa.String(100), primary_key=True),
        sa.Column("policy", Json, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_registry_alias_history", table_name="registry_alias_history")
    for table in (
        "registry_policies",
        "registry_alias_history",
        "registry_aliases",
        "registry_versions",
    ):
        op.drop_table(table)
