"""Alerts: rules, notifiers and actions, alerts with history, silences, the engine lease.

Revision ID: 0003_alerts
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_alerts"
down_revision = "0001"
branch_labels = ("alerts",)
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("spec", Json, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "alert_receivers",
        sa.Column("category", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("config", Json, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("summary", sa.Text),
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("fired_at", sa.Double),
        sa.Column("resolved_at", sa.Double),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.Column("notified_at", sa.Double),
        sa.Column("acked_by", sa.String(200)),
        sa.Column("acked_at", sa.Double),
        sa.Column("ack_until", sa.Double),
    )
    op.create_index("ix_alerts_fingerprint_active", "alerts", ["fingerprint", "active"])
    op.create_index("ix_alerts_state", "alerts", ["state"])
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("details", Json),
    )
    op.create_index("ix_alert_events_alert", "alert_events", ["alert_id", "ts"])
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("matchers", Json, nullable=False),
        sa.Column("starts_at", sa.Double, nullable=False),
        sa.Column("ends_at", sa.Double, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "engine_leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_alert_events_alert", table_name="alert_events")
    op.drop_index("ix_alerts_state", table_name="alerts")
    op.drop_index("ix_alerts_fingerprint_active", table_name="alerts")
    for table in (
        "engine_leases",
        "silences",
        "alert_events",
        "alerts",
        "alert_receivers",
        "alert_rules",
    ):
        op.drop_table(table)
