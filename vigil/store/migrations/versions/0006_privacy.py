"""Privacy: redaction policies, retention, erasure receipts; hash chain on the audit log.

Revision ID: 0006_privacy
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_privacy"
down_revision = "0001"
branch_labels = ("privacy",)
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")

_SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)
_PG_FUNCTION = (
    "CREATE OR REPLACE FUNCTION vigil_audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql"
)
_PG_TRIGGER = (
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION vigil_audit_log_append_only()"
)


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
        "privacy_policies",
        _model_fk(True),
        sa.Column("field", sa.String(200), primary_key=True),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("kinds", Json),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "retention_policies",
        _model_fk(True),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("last_run_at", sa.Double),
        sa.Column("last_deleted", sa.BigInteger),
    )
    op.create_table(
        "erasure_receipts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("subject_hash", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.Double, nullable=False),
        sa.Column("completed_at", sa.Double, nullable=False),
        sa.Column("deleted", Json, nullable=False),
        sa.Column("models", Json, nullable=False),
    )
    op.create_index("ix_erasure_receipts_subject", "erasure_receipts", ["subject_hash"])
    op.create_table(
        "privacy_secrets",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64)))
    op.add_column("audit_log", sa.Column("hash", sa.String(64)))
    _chain_existing_entries()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def _chain_existing_entries() -> None:
    from vigil.store.audit_chain import entry_hash

    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, ts, actor, action, target, details FROM audit_log ORDER BY id")
    ).all()
    prev = None
    for row in rows:
        details = row.details
        if isinstance(details, str):  # SQLite hands JSON back as text here
            import json

            details = json.loads(details)
        digest = entry_hash(prev, row.ts, row.actor, row.action, row.target, details)
        conn.execute(
            sa.text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :i"),
            {"p": prev, "h": digest, "i": row.id},
        )
        prev = digest


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS vigil_audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
    op.drop_table("privacy_secrets")
    op.drop_index("ix_erasure_receipts_subject", table_name="erasure_receipts")
    op.drop_table("erasure_receipts")
    op.drop_table("retention_policies")
    op.drop_table("privacy_policies")
