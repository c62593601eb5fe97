"""Resource samples (CPU, memory, GPU, network) and scheduled endpoint probes.

Revision ID: 0005_resources
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_resources"
down_revision = "0001"
branch_labels = ("resources",)
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")

# Frozen copy of vigil.store.resources.tables.SAMPLE_FIELDS as of this revision.
_FIELDS = (
    "process_cpu_percent",
    "process_cpu_seconds",
    "process_rss_bytes",
    "process_threads",
    "process_open_files",
    "host_cpu_percent",
    "host_cpu_count",
    "host_memory_used_bytes",
    "host_memory_total_bytes",
    "host_load1",
    "gpu_utilization_percent",
    "gpu_memory_used_bytes",
    "gpu_memory_total_bytes",
    "net_sends",
    "net_rtt_p50_ms",
    "net_rtt_p95_ms",
    "net_server_p50_ms",
    "net_network_p50_ms",
    "net_network_p95_ms",
    "request_count",
    "request_cpu_ms_mean",
    "request_cpu_ms_p95",
    "client_latency_count",
    "client_latency_p50_ms",
    "client_latency_p95_ms",
)


def upgrade() -> None:
    op.create_table(
        "resource_samples",
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("host", sa.String(200), primary_key=True),
        sa.Column("pid", sa.Integer, primary_key=True),
        sa.Column("ts", sa.Double, primary_key=True),
        sa.Column("minute", sa.BigInteger, nullable=False),
        sa.Column("interval_s", sa.Double),
        *(sa.Column(name, sa.Double) for name in _FIELDS),
        sa.Column("gpus", Json),
        sa.Column("received_at", sa.Double, nullable=False),
    )
    op.create_index("ix_resource_samples_model_minute", "resource_samples", ["model_id", "minute"])
    op.create_table(
        "probes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("body", Json),
        sa.Column("interval_s", sa.Double, nullable=False),
        sa.Column("timeout_s", sa.Double, nullable=False),
        sa.Column("expect_status", sa.Integer),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("model_id", "name", name="uq_probes_model_name"),
    )
    op.create_table(
        "probe_results",
        sa.Column(
            "probe_id",
            sa.String(32),
            sa.ForeignKey("probes.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("ts", sa.Double, primary_key=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("latency_ms", sa.Double),
        sa.Column("ttfb_ms", sa.Double),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("probe_results")
    op.drop_table("probes")
    op.drop_index("ix_resource_samples_model_minute", table_name="resource_samples")
    op.drop_table("resource_samples")
