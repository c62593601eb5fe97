"""Prometheus metrics of one server process, on a registry of its own (no globals)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABELS = ("model_name", "model_version")
MAX_ERROR_TYPES = 20  # error_type label values per model; later kinds count as "other"


class ServerMetrics:
    """Counters and histograms fed by ingest; exposed at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.predictions = Counter(
            "vigil_predictions", "Predictions ingested.", LABELS, registry=self.registry)
        self.errors = Counter(
            "vigil_prediction_errors", "Predictions that ended in an error, by kind "
            "(error_type: the exception class or the kind the caller named; at most "
            f"{MAX_ERROR_TYPES} per model, then 'other').", (*LABELS, "error_type"),
            registry=self.registry)
        self._error_types: dict[str, set[str]] = {}
        self.latency = Histogram(
            "vigil_prediction_latency_seconds", "Model latency reported with each prediction.",
            LABELS, buckets=LATENCY_BUCKETS, registry=self.registry)
        self.labels = Counter(
            "vigil_labels", "Ground-truth labels ingested.", ("model_name",),
            registry=self.registry)
        self.feedback = Counter(
            "vigil_feedback", "Feedback events ingested.", ("model_name",), registry=self.registry)
        self.rejected = Counter(
            "vigil_ingest_rejected_records", "Records rejected at ingest.",
            ("model_name", "kind"), registry=self.registry)

    def observe_predictions(self, model: str, rows: Sequence[dict[str, Any]]) -> None:
        """Count inserted rows per version (errors per kind) and observe their latencies."""
        per_version: dict[str, list[Any]] = {}
        for row in rows:
            acc = per_version.get(row["version"])
            if acc is None:
                acc = per_version[row["version"]] = [0, {}, []]
            acc[0] += 1
            if row["error"] is not None:
                kind = self._error_label(model, row.get("error_type") or "unknown")
                acc[1][kind] = acc[1].get(kind, 0) + 1
            if row["latency_s"] is not None:
                acc[2].append(row["latency_s"])
        for version, (count, errors, latencies) in per_version.items():
            self.predictions.labels(model, version).inc(count)
            for kind, n in errors.items():
                self.errors.labels(model, version, kind).inc(n)
            observe = self.latency.labels(model, version).observe
            for latency in latencies:
                observe(latency)

    def _error_label(self, model: str, kind: str) -> str:
        seen = self._error_types.setdefault(model, set())
        if kind in seen:
            return kind
        if len(seen) < MAX_ERROR_TYPES:
            seen.add(kind)
            return kind
        return "other"

    def render(self) -> bytes:
        return generate_latest(self.registry)
