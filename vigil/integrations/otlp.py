"""OpenTelemetry: export window metrics over OTLP/HTTP (JSON, or protobuf with extra ``otel``).

Per model, version and finished minute the server sends delta data points:

* ``gen_ai.server.request.duration`` (histogram, seconds) — the OpenTelemetry GenAI
  semantic convention's name for model-server request latency, with its recommended
  bucket boundaries; buckets come from the minute's KLL sketch (rank error about 1.65 %),
  count and sum are exact. Attributes ``gen_ai.operation.name`` and
  ``gen_ai.request.model`` (the vigil model name) follow the convention; the version is
  ``vigil.model.version``.
* ``vigil.model.requests`` and ``vigil.model.errors`` (monotonic delta sums) — no
  semantic convention covers prediction counts, so they carry vigil's namespace.

The resource carries ``service.name`` (default ``vigil``). 429, 502, 503 and 504 are
retried with backoff as the OTLP specification asks; a ``partialSuccess`` answer is
logged and counted.

Examples:
    >>> bucket_counts([0.1, 1.0], [0.5, 0.9, 1.0], 10)
    [5, 4, 1]
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import orjson

from vigil._version import __version__
from vigil.errors import ConfigurationError
from vigil.integrations.windows import MinuteStats

log = logging.getLogger("vigil.integrations")

#: Bucket boundaries the GenAI conventions recommend for gen_ai.server.request.duration.
DURATION_BOUNDS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
DELTA = 1  # AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def bucket_counts(
    bounds: list[float] | tuple[float, ...], cdf: list[float], count: int
) -> list[int]:
    """Histogram bucket counts from cumulative fractions at ``bounds`` (plus the last 1.0),
    rounded so they are never negative and sum to ``count``."""
    cumulative = [round(f * count) for f in cdf[: len(bounds)]] + [count]
    out, previous = [], 0
    for c in cumulative:
        c = min(max(c, previous), count)
        out.append(c - previous)
        previous = c
    return out


def _attrs(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in values.items():
        if isinstance(value, bool):
            v: dict[str, Any] = {"boolValue": value}
        elif isinstance(value, int):
            v = {"intValue": str(value)}
        elif isinstance(value, float):
            v = {"doubleValue": value}
        else:
            v = {"stringValue": str(value)}
        out.append({"key": key, "value": v})
    return out


def metrics_request(
    stats: list[MinuteStats],
    *,
    service: str = "vigil",
    operation: str = "predict",
    resource: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ExportMetricsServiceRequest (OTLP JSON mapping) for some finished minutes."""
    durations, requests, errors = [], [], []
    for s in stats:
        attrs = _attrs(
            {
                "gen_ai.operation.name": operation,
                "gen_ai.request.model": s.model,
                "vigil.model.version": s.version,
            }
        )
        span = {
            "startTimeUnixNano": str(s.minute * 10**9),
            "timeUnixNano": str((s.minute + 60) * 10**9),
        }
        requests.append({"attributes": attrs, **span, "asInt": str(s.count)})
        errors.append({"attributes": attrs, **span, "asInt": str(s.errors)})
        if s.latency_count and s.sketch is not None and not s.sketch.is_empty():
            cdf = list(s.sketch.get_cdf(list(DURATION_BOUNDS)))
            durations.append(
                {
                    "attributes": attrs,
                    **span,
                    "count": str(s.latency_count),
                    "sum": s.latency_sum,
                    "bucketCounts": [
                        str(c) for c in bucket_counts(DURATION_BOUNDS, cdf, s.latency_count)
                    ],
                    "explicitBounds": list(DURATION_BOUNDS),
                    "min": float(s.sketch.get_min_value()),
                    "max": float(s.sketch.get_max_value()),
                }
            )
    metrics: list[dict[str, Any]] = [
        {
            "name": "vigil.model.requests",
            "unit": "{request}",
            "description": "Predictions recorded by vigil.",
            "sum": {"aggregationTemporality": DELTA, "isMonotonic": True, "dataPoints": requests},
        },
        {
            "name": "vigil.model.errors",
            "unit": "{request}",
            "description": "Predictions that ended in an error.",
            "sum": {"aggregationTemporality": DELTA, "isMonotonic": True, "dataPoints": errors},
        },
    ]
    if durations:
        metrics.insert(
            0,
            {
                "name": "gen_ai.server.request.duration",
                "unit": "s",
                "description": "Model inference latency (vigil rollups).",
                "histogram": {"aggregationTemporality": DELTA, "dataPoints": durations},
            },
        )
    attributes = _attrs({"service.name": service, **(resource or {})})
    return {
        "resourceMetrics": [
            {
                "resource": {"attributes": attributes},
                "scopeMetrics": [
                    {"scope": {"name": "vigil", "version": __version__}, "metrics": metrics}
                ],
            }
        ]
    }


class OtlpExporter:
    """Sends finished minutes to an OTLP/HTTP endpoint (an exporter of ``ExportLoop``).

    Args:
        endpoint: the collector's base URL (``/v1/metrics`` is appended), e.g.
            ``http://otel-collector:4318``; a URL ending in ``/v1/metrics`` is used as is.
        headers: extra headers (e.g. authorization).
        encoding: ``json`` or ``protobuf`` (needs ``opentelemetry-proto``, extra ``otel``).
        service: the resource's ``service.name``.
        timeout_s: timeout of each request.
        max_retries: retries of a 429/502/503/504 before the range is left for later.
    """

    name = "otlp"

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        encoding: str = "json",
        service: str = "vigil",
        operation: str = "predict",
        timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        import httpx

        if encoding not in ("json", "protobuf"):
            raise ConfigurationError(
                f"VIGIL_OTLP_ENCODING must be json or protobuf. Got {encoding!r}."
            )
        if encoding == "protobuf":
            try:
                from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
            except ImportError:
                raise ConfigurationError(
                    "OTLP protobuf needs opentelemetry-proto: pip "
                    "install 'vigil[otel]' or use encoding json."
                ) from None
            self._pb = metrics_service_pb2
        base = endpoint.rstrip("/")
        self.url = base if base.endswith("/v1/metrics") else base + "/v1/metrics"
        self.encoding = encoding
        self.service = service
        self.operation = operation
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        content_type = "application/json" if encoding == "json" else "application/x-protobuf"
        self.client = httpx.Client(
            timeout=timeout_s, headers={"Content-Type": content_type, **(headers or {})}
        )
        self.stats = dict.fromkeys(
            ("requests", "data_points", "retries", "rejected_data_points"), 0
        )

    def encode(self, request: dict[str, Any]) -> bytes:
        if self.encoding == "json":
            return orjson.dumps(request)
        from google.protobuf.json_format import ParseDict

        return ParseDict(request, self._pb.ExportMetricsServiceRequest()).SerializeToString()

    def export(self, stats: list[MinuteStats], start: int, end: int) -> None:
        if not stats:
            return
        request = metrics_request(stats, service=self.service, operation=self.operation)
        body = self.encode(request)
        attempt = 0
        while True:
            response = self.client.post(self.url, content=body)
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                self.stats["retries"] += 1
                delay = self.backoff_s * 2**attempt
                time.sleep(delay / 2 + random.random() * delay / 2)
                attempt += 1
                continue
            response.raise_for_status()
            break
        self.stats["requests"] += 1
        self.stats["data_points"] += sum(
            len(m.get("sum", m.get("histogram", {})).get("dataPoints", []))
            for m in request["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        )
        self._partial(response)

    def _partial(self, response: Any) -> None:
        if not response.content:
            return
        rejected, message = 0, ""
        if self.encoding == "json" and "json" in response.headers.get("content-type", ""):
            partial = response.json().get("partialSuccess") or {}
            rejected = int(partial.get("rejectedDataPoints") or 0)
            message = partial.get("errorMessage", "")
        elif self.encoding == "protobuf":
            answer = self._pb.ExportMetricsServiceResponse.FromString(response.content)
            rejected = answer.partial_success.rejected_data_points
            message = answer.partial_success.error_message
        if rejected:
            self.stats["rejected_data_points"] += rejected
            log.warning("vigil: the OTLP endpoint rejected %d data points: %s", rejected, message)

    def close(self) -> None:
        self.client.close()
