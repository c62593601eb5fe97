"""A durable outbox for notifications and actions, so that a rules leader killed between
an alert's change and its delivery loses nothing.

- ``alerts.dispatch_pending``: the status (``firing`` / ``resolved``) of a state change
  whose notifications are not yet queued; written in the same transaction as the change,
  cleared in the one that queues them (or records that a silence or inhibition held them).
- ``notification_outbox``: one row per notifier, grouping route notifier or action that
  must hear of a change; ``done_at`` is set when the delivery ended (sent, or failed after
  its retries). Another leader re-sends what a dead one left queued.

Revision ID: 0021_notification_outbox
Revises: 0020_drop_engine_leases
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0021_notification_outbox"
down_revision = "0020_drop_engine_leases"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("alerts", sa.Column("dispatch_pending", sa.String(20), nullable=True))
    op.create_table(
        "notification_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "alert_id",
            sa.Integer,
            sa.ForeignKey("alerts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(10), nullable=False),  # notify, group or action
        sa.Column("target", sa.String(200), nullable=False),  # notifier or action name
        sa.Column("payload", Json, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("done_at", sa.Double, nullable=True),
    )
    op.create_index("ix_notification_outbox_done", "notification_outbox", ["done_at"])


def downgrade() -> None:
    op.drop_index("ix_notification_outbox_done", table_name="notification_outbox")
    op.drop_table("notification_outbox")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("dispatch_pending")
