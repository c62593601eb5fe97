"""Prometheus series of the monitored processes' resources, from the samples they send.

The newest sample of each ``(model_name, model_version, host)`` is kept in memory and
exposed at ``/metrics`` with the standard process-exporter names under a ``vigil_model_``
prefix (``vigil_model_process_cpu_seconds_total``,
``vigil_model_process_resident_memory_bytes``, ``vigil_model_process_open_fds``, ...).
A host whose last sample is stale (see :func:`vigil.engine.resources.samples.stale_after_s`)
disappears from the exposition rather than showing frozen values; Prometheus then marks
its series stale. Each replica exposes the samples it received.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.engine.resources.samples import stale_after_s

LABELS = ("model_name", "model_version", "host")
# sample field -> (series name, help, factor to the series' unit)
GAUGES: dict[str, tuple[str, str, float]] = {
    "process_cpu_percent": ("process_cpu_percent", "Process CPU, % of one core.", 1.0),
    "process_rss_bytes": ("process_resident_memory_bytes", "Resident memory size.", 1.0),
    "process_threads": ("process_threads", "Threads of the process.", 1.0),
    "process_open_files": ("process_open_fds", "Open file descriptors.", 1.0),
    "host_cpu_percent": ("host_cpu_percent", "Host CPU busy, % of all cores.", 1.0),
    "host_cpu_count": ("host_cpu_count", "Logical CPUs of the host.", 1.0),
    "host_memory_used_bytes": ("host_memory_used_bytes", "Host memory in use.", 1.0),
    "host_memory_total_bytes": ("host_memory_total_bytes", "Host memory in all.", 1.0),
    "host_load1": ("host_load1", "Host 1-minute load average.", 1.0),
    "gpu_utilization_percent": ("gpu_utilization_percent", "Mean GPU utilisation.", 1.0),
    "gpu_memory_used_bytes": ("gpu_memory_used_bytes", "GPU memory in use, all devices.", 1.0),
    "net_rtt_p95_ms": (
        "network_round_trip_p95_seconds",
        "p95 round trip of the SDK's deliveries.",
        1e-3,
    ),
    "net_network_p95_ms": (
        "network_latency_p95_seconds",
        "p95 network share of a delivery (round trip minus handling).",
        1e-3,
    ),
    "client_latency_p95_ms": (
        "client_latency_p95_seconds",
        "p95 end-to-end latency reported by callers.",
        1e-3,
    ),
    "request_cpu_ms_mean": ("request_cpu_mean_seconds", "Mean CPU time of a tracked call.", 1e-3),
}
_PREFIX = "vigil_model_"


class ResourceCollector(Collector):
    """A custom collector over the newest sample per model, version and host."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._probes: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def observe_probe(self, probe: dict[str, Any], result: dict[str, Any]) -> None:
        """Keep a probe's newest result (``probe`` as listed, with its ``model`` name)."""
        with self._lock:
            self._probes[(probe["model"], probe["name"])] = (probe["interval_s"], result)

    def observe(self, model: str, rows: Sequence[dict[str, Any]]) -> None:
        """Keep the newest of ``rows`` (validated samples) per version and host."""
        with self._lock:
            for row in rows:
                key = (model, row["version"], row["host"])
                old = self._latest.get(key)
                if old is None or row["ts"] >= old["ts"]:
                    self._latest[key] = row

    def describe(self) -> list[Metric]:
        return []  # the series depend on the samples received; nothing to check up front

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        with self._lock:
            for key, row in list(self._latest.items()):
                if now - row["ts"] > stale_after_s(row.get("interval_s")):
                    del self._latest[key]
            live = list(self._latest.items())
            for probe_key, (interval, result) in list(self._probes.items()):
                if now - result["ts"] > stale_after_s(interval):  # deleted or not running
                    del self._probes[probe_key]
            probes = list(self._probes.items())
        cpu = CounterMetricFamily(
            f"{_PREFIX}process_cpu_seconds",
            "User and system CPU seconds of the process.",
            labels=LABELS,
        )
        seen = GaugeMetricFamily(
            f"{_PREFIX}resource_last_sample_timestamp_seconds",
            "Unix time of the newest resource sample.",
            labels=LABELS,
        )
        gauges = {
            f: GaugeMetricFamily(_PREFIX + name, help_, labels=LABELS)
            for f, (name, help_, _) in GAUGES.items()
        }
        device = ("model_name", "model_version", "host", "gpu")
        gpu_util = GaugeMetricFamily(
            f"{_PREFIX}gpu_device_utilization_percent", "GPU utilisation per device.", labels=device
        )
        gpu_mem = GaugeMetricFamily(
            f"{_PREFIX}gpu_device_memory_used_bytes", "GPU memory in use per device.", labels=device
        )
        for key, row in live:
            labels = list(key)
            seen.add_metric(labels, row["ts"])
            if row.get("process_cpu_seconds") is not None:
                cpu.add_metric(labels, row["process_cpu_seconds"])
            for field, (_, _, factor) in GAUGES.items():
                if row.get(field) is not None:
                    gauges[field].add_metric(labels, row[field] * factor)
            for dev in row.get("gpus") or ():
                dev_labels = [*labels, str(dev.get("index"))]
                if dev.get("utilization_percent") is not None:
                    gpu_util.add_metric(dev_labels, dev["utilization_percent"])
                if dev.get("memory_used_bytes") is not None:
                    gpu_mem.add_metric(dev_labels, dev["memory_used_bytes"])
        yield cpu
        yield seen
        yield from gauges.values()
        yield gpu_util
        yield gpu_mem
        yield from _probe_families(probes)


def _probe_families(
    probes: list[tuple[tuple[str, str], tuple[float, dict[str, Any]]]],
) -> Iterator[Metric]:
    labels = ("model_name", "probe")
    up = GaugeMetricFamily(
        "vigil_probe_up", "1 when the last probe of the endpoint succeeded, else 0.", labels=labels
    )
    latency = GaugeMetricFamily(
        "vigil_probe_latency_seconds", "Request to full body of the last probe.", labels=labels
    )
    ttfb = GaugeMetricFamily(
        "vigil_probe_ttfb_seconds", "Request to response headers of the last probe.", labels=labels
    )
    last = GaugeMetricFamily(
        "vigil_probe_last_run_timestamp_seconds", "Unix time of the last probe.", labels=labels
    )
    for key, (_, result) in probes:
        values = list(key)
        up.add_metric(values, 1.0 if result["ok"] else 0.0)
        last.add_metric(values, result["ts"])
        if result["latency_ms"] is not None:
            latency.add_metric(values, result["latency_ms"] / 1000.0)
        if result["ttfb_ms"] is not None:
            ttfb.add_metric(values, result["ttfb_ms"] / 1000.0)
    yield from (up, latency, ttfb, last)
