"""Tables of rules, notifiers, actions, alerts, their history, silences and the engine lease."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store.tables import Json, metadata

alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("spec", Json, nullable=False),  # the validated rule (vigil.engine.alerts.rules.Rule)
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

# notifiers and actions share one shape: a named, typed configuration
alert_receivers = sa.Table(
    "alert_receivers",
    metadata,
    sa.Column("category", sa.String(20), primary_key=True),  # "notifier" or "action"
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("config", Json, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),  # rule + labels
    sa.Column("rule", sa.String(200), nullable=False),
    sa.Column("labels", Json, nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # pending firing resolved inactive
    sa.Column("active", sa.Boolean, nullable=False),  # pending or firing
    sa.Column("value", sa.Double, nullable=True),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("fired_at", sa.Double, nullable=True),
    sa.Column("resolved_at", sa.Double, nullable=True),
    sa.Column("updated_at", sa.Double, nullable=False),
    sa.Column("notified_at", sa.Double, nullable=True),
    sa.Column("acked_by", sa.String(200), nullable=True),
    sa.Column("acked_at", sa.Double, nullable=True),
    sa.Column("ack_until", sa.Double, nullable=True),
    # the status of a change whose notifications are not queued yet (see the outbox)
    sa.Column("dispatch_pending", sa.String(20), nullable=True),
    sa.Index("ix_alerts_fingerprint_active", "fingerprint", "active"),
    sa.Index("ix_alerts_state", "state"),
)

alert_events = sa.Table(
    "alert_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("details", Json, nullable=True),
    sa.Index("ix_alert_events_alert", "alert_id", "ts"),
)

# what notifiers, grouping routes and actions still owe an alert's change (0021)
notification_outbox = sa.Table(
    "notification_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.String(10), nullable=False),  # notify, group or action
    sa.Column("target", sa.String(200), nullable=False),  # notifier or action name
    sa.Column("payload", Json, nullable=False),  # the notification (and a group's route)
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("done_at", sa.Double, nullable=True),  # delivered, or failed after retries
    sa.Index("ix_notification_outbox_done", "done_at"),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("matchers", Json, nullable=False),  # {label: value}, all must match
    sa.Column("starts_at", sa.Double, nullable=False),
    sa.Column("ends_at", sa.Double, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
)
