"""Resource metrics for rules: CPU, memory, GPU, network and probe latency of a model.

Registered in :mod:`vigil.engine.metric_sources` when imported (it is listed in
``PROVIDER_MODULES``). Each aggregates the samples of ``[start, end)`` over every host of
the model (and version); a window without samples gives None, never 0, so a host that
stopped reporting neither fires nor resolves a rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.engine.metric_sources import register_metric
from vigil.store import ModelRecord, Store
from vigil.store.resources import queries as rq

# metric name -> (sample field, aggregate, factor to the unit, unit, description)
_FIELD_METRICS: dict[str, tuple[str, str, float, str, str]] = {
    "cpu_percent": (
        "process_cpu_percent",
        "mean",
        1.0,
        "percent",
        "Mean process CPU over the window, % of one core (hosts averaged).",
    ),
    "cpu_percent_max": (
        "process_cpu_percent",
        "max",
        1.0,
        "percent",
        "Highest process CPU of any sample, % of one core.",
    ),
    "host_cpu_percent": (
        "host_cpu_percent",
        "mean",
        1.0,
        "percent",
        "Mean host CPU busy, % of all cores.",
    ),
    "memory_rss_bytes": (
        "process_rss_bytes",
        "max",
        1.0,
        "bytes",
        "Largest resident memory of the model's process in the window.",
    ),
    "host_memory_used_bytes": (
        "host_memory_used_bytes",
        "max",
        1.0,
        "bytes",
        "Largest host memory in use.",
    ),
    "open_files": (
        "process_open_files",
        "max",
        1.0,
        "files",
        "Most open file descriptors of the process.",
    ),
    "threads": ("process_threads", "max", 1.0, "threads", "Most threads of the process."),
    "gpu_utilization": (
        "gpu_utilization_percent",
        "mean",
        1.0,
        "percent",
        "Mean GPU utilisation (devices averaged).",
    ),
    "gpu_memory_used_bytes": (
        "gpu_memory_used_bytes",
        "max",
        1.0,
        "bytes",
        "Largest GPU memory in use (devices summed).",
    ),
    "network_latency_p95": (
        "net_network_p95_ms",
        "max",
        1e-3,
        "seconds",
        "p95 network share of the SDK's deliveries (round trip minus "
        "server handling), worst sample.",
    ),
    "network_rtt_p95": (
        "net_rtt_p95_ms",
        "max",
        1e-3,
        "seconds",
        "p95 round trip of the SDK's deliveries, worst sample.",
    ),
    "client_latency_p95": (
        "client_latency_p95_ms",
        "max",
        1e-3,
        "seconds",
        "p95 end-to-end latency reported by callers, worst sample.",
    ),
    "request_cpu_seconds_mean": (
        "request_cpu_ms_mean",
        "mean",
        1e-3,
        "seconds",
        "Mean CPU time of a tracked call (cpu_time=True).",
    ),
}


def _field_metric(field: str, agg: str, factor: float) -> Callable[..., float | None]:
    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        value = rq.field_aggregate(store, model.id, field, agg, start, end, version)
        return None if value is None else value * factor

    return metric


def _probe_metric(kind: str) -> Callable[..., float | None]:
    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        from vigil.engine.resources.probe import probe_stats

        del version  # probes watch the endpoint, whatever version serves it
        results: list[dict[str, Any]] = []
        for spec in rq.list_probes(store, model.id):
            results += rq.probe_results(store, spec["id"], start, end)
        stats = probe_stats(results)
        if kind == "failure_rate":
            return stats["failure_rate"]
        value = stats["latency_p95_ms"]
        return None if value is None else value / 1000.0

    return metric


for _name, (_field, _agg, _factor, _unit, _text) in _FIELD_METRICS.items():
    register_metric(_name, _field_metric(_field, _agg, _factor), _text, unit=_unit, replace=True)
register_metric(
    "probe_failure_rate",
    _probe_metric("failure_rate"),
    "Share of the model's endpoint probes that failed in the window.",
    unit="ratio",
    replace=True,
)
register_metric(
    "probe_latency_p95",
    _probe_metric("latency"),
    "p95 latency of the model's endpoint probes (request to full body).",
    unit="seconds",
    replace=True,
)
