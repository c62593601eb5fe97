"""Tables of resource samples (CPU, memory, GPU, network) and scheduled endpoint probes.

One row per sample a monitored process sent: the process and its host at one instant,
plus what the SDK saw of the network since the sample before. Probe definitions and
their results live beside them. Migration: ``0005_resources``.
"""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store.tables import Json, metadata

#: The numeric fields of a resource sample, in column order (all optional).
SAMPLE_FIELDS: tuple[str, ...] = (
    "process_cpu_percent",  # % of one core, up to 100 x host_cpu_count
    "process_cpu_seconds",  # user + system CPU seconds since the process started
    "process_rss_bytes",
    "process_threads",
    "process_open_files",  # open file descriptors (handles on Windows)
    "host_cpu_percent",  # % of the whole host, 0-100
    "host_cpu_count",
    "host_memory_used_bytes",
    "host_memory_total_bytes",
    "host_load1",
    "gpu_utilization_percent",  # mean over devices
    "gpu_memory_used_bytes",  # sum over devices
    "gpu_memory_total_bytes",
    "net_sends",  # SDK deliveries since the last sample
    "net_rtt_p50_ms",  # their round trip
    "net_rtt_p95_ms",
    "net_server_p50_ms",  # the server's own handling time (Server-Timing)
    "net_network_p50_ms",  # round trip minus handling: the network's share
    "net_network_p95_ms",
    "request_count",  # tracked calls with CPU time measured since the last sample
    "request_cpu_ms_mean",
    "request_cpu_ms_p95",
    "client_latency_count",  # end-to-end latencies reported by callers
    "client_latency_p50_ms",
    "client_latency_p95_ms",
)

resource_samples = sa.Table(
    "resource_samples",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("host", sa.String(200), primary_key=True),
    sa.Column("pid", sa.Integer, primary_key=True),
    sa.Column("ts", sa.Double, primary_key=True),
    sa.Column("minute", sa.BigInteger, nullable=False),  # unix seconds of the minute's start
    sa.Column("interval_s", sa.Double, nullable=True),  # the sender's sampling interval
    *(sa.Column(name, sa.Double, nullable=True) for name in SAMPLE_FIELDS),
    sa.Column("gpus", Json, nullable=True),  # per-device detail
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Index("ix_resource_samples_model_minute", "model_id", "minute"),
)

probes = sa.Table(
    "probes",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("body", Json, nullable=True),
    sa.Column("interval_s", sa.Double, nullable=False),
    sa.Column("timeout_s", sa.Double, nullable=False),
    sa.Column("expect_status", sa.Integer, nullable=True),  # None: any 2xx or 3xx
    sa.Column("created_at", sa.Double, nullable=False),
    sa.UniqueConstraint("model_id", "name", name="uq_probes_model_name"),
)

probe_results = sa.Table(
    "probe_results",
    metadata,
    sa.Column(
        "probe_id",
        sa.String(32),
        sa.ForeignKey("probes.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("ts", sa.Double, primary_key=True),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Double, nullable=True),  # request sent to body read
    sa.Column("ttfb_ms", sa.Double, nullable=True),  # request sent to response headers
    sa.Column("error", sa.Text, nullable=True),
)
