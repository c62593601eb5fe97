"""Tables of the quality concern: golden data sets, evaluation runs and schedules,
concept-drift detector state and events, CBPE reference calibrations."""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store.tables import Blob, Json, metadata


def _model_fk() -> sa.Column:
    return sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    )


golden_datasets = sa.Table(
    "golden_datasets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _model_fk(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("columns", Json, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("data", Blob, nullable=False),  # Parquet bytes
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("model_id", "name", name="uq_golden_datasets_model_name"),
)

evaluation_runs = sa.Table(
    "evaluation_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _model_fk(),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("dataset_sha256", sa.String(64), nullable=True),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("alias", sa.String(100), nullable=True),
    sa.Column("mode", sa.String(20), nullable=False),  # in_process | endpoint
    sa.Column("endpoint", sa.Text, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),  # succeeded | failed
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("finished_at", sa.Double, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("metrics", Json, nullable=True),
    sa.Column("latency", Json, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("schedule_id", sa.Integer, nullable=True),
    sa.Index("ix_evaluation_runs_model_started", "model_id", "started_at"),
)

evaluation_schedules = sa.Table(
    "evaluation_schedules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _model_fk(),
    sa.Column("dataset", sa.String(200), nullable=False),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("version", sa.String(100), nullable=True),
    sa.Column("alias", sa.String(100), nullable=True),  # a registry alias, resolved per run
    sa.Column("interval_s", sa.Double, nullable=True),
    sa.Column("cron", sa.String(100), nullable=True),
    sa.Column("next_run_at", sa.Double, nullable=False),
    sa.Column("last_run_at", sa.Double, nullable=True),
    sa.Column("created_at", sa.Double, nullable=False),
)

concept_drift_state = sa.Table(
    "concept_drift_state",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("detector", sa.String(50), nullable=False),
    sa.Column("state", Blob, nullable=True),
    sa.Column("cursor", sa.Double, nullable=False),  # joined-at time of the last row fed
    sa.Column("n_seen", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)

concept_drift_events = sa.Table(
    "concept_drift_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _model_fk(),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("ts", sa.Double, nullable=False),  # time of the prediction that tipped it
    sa.Column("detected_at", sa.Double, nullable=False),
    sa.Column("detector", sa.String(50), nullable=False),
    sa.Column("n_seen", sa.BigInteger, nullable=False),
    sa.Column("details", Json, nullable=True),
    sa.Index("ix_concept_drift_events_model_ts", "model_id", "ts"),
)

cbpe_references = sa.Table(
    "cbpe_references",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("state", Json, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)
