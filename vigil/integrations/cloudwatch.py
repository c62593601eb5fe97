"""Amazon CloudWatch: publish window metrics with PutMetricData (extra ``aws``, boto3).

Per model, version and finished minute the server publishes ``Predictions`` and
``Errors`` (Count), ``Latency`` (Seconds, as statistic values: sample count, sum, min,
max) and ``LatencyP50``/``P95``/``P99`` (Seconds), with dimensions ``Model`` and
``Version`` (plus ``Model`` alone, so a model's versions can be graphed together) and any
static dimensions configured. CloudWatch accepts at most 1,000 metrics per call and 30
dimensions per metric; vigil splits and checks that itself (moto and LocalStack do not),
and retries throttling (``Throttling``, 429, 5xx) with exponential backoff and jitter.

For CloudWatch without API calls from the inference service, see
:mod:`vigil.integrations.emf` (Embedded Metric Format log lines).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from vigil.errors import ConfigurationError
from vigil.integrations.windows import MinuteStats

log = logging.getLogger("vigil.integrations")

MAX_METRICS_PER_CALL = 1000  # PutMetricData: MetricData has at most 1,000 items
MAX_DIMENSIONS = 30  # per metric
MAX_DIMENSION_NAME = 255
MAX_DIMENSION_VALUE = 1024
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    }
)


def check_dimensions(dimensions: list[dict[str, str]]) -> None:
    """Raise :class:`ConfigurationError` unless CloudWatch would accept ``dimensions``.

    Examples:
        >>> check_dimensions([{"Name": "Model", "Value": "churn"}])
        >>> many = [{"Name": f"d{i}", "Value": "x"} for i in range(31)]
        >>> check_dimensions(many)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vigil.errors.ConfigurationError: A CloudWatch metric has at most 30 dimensions. ...
    """
    if len(dimensions) > MAX_DIMENSIONS:
        raise ConfigurationError(
            f"A CloudWatch metric has at most {MAX_DIMENSIONS} dimensions. "
            f"Got {len(dimensions)}: remove some of VIGIL_CLOUDWATCH_DIMENSIONS."
        )
    names = [d["Name"] for d in dimensions]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"CloudWatch dimension names must be unique. Got {names}.")
    for d in dimensions:
        if not 1 <= len(d["Name"]) <= MAX_DIMENSION_NAME or d["Name"].startswith(":"):
            raise ConfigurationError(f"Invalid CloudWatch dimension name {d['Name']!r}.")
        if not 1 <= len(d["Value"]) <= MAX_DIMENSION_VALUE:
            raise ConfigurationError(
                f"CloudWatch dimension values have 1 to {MAX_DIMENSION_VALUE} characters. "
                f"Got {len(d['Value'])} for {d['Name']!r}."
            )


def chunks(
    data: list[dict[str, Any]], size: int = MAX_METRICS_PER_CALL
) -> Iterator[list[dict[str, Any]]]:
    """``data`` in consecutive pieces of at most ``size`` metrics.

    Examples:
        >>> [len(c) for c in chunks([{}] * 2001)]
        [1000, 1000, 1]
    """
    for i in range(0, len(data), size):
        yield data[i : i + size]


def metric_data(
    stats: list[MinuteStats],
    extra_dimensions: Mapping[str, str] | None = None,
    *,
    per_model: bool = True,
) -> list[dict[str, Any]]:
    """The ``MetricData`` items for some minutes, dimensions checked."""
    extra = [{"Name": k, "Value": str(v)} for k, v in (extra_dimensions or {}).items()]
    out: list[dict[str, Any]] = []
    by_model: dict[tuple[str, int], list[MinuteStats]] = {}
    for s in stats:
        by_model.setdefault((s.model, s.minute), []).append(s)
        dims = [
            {"Name": "Model", "Value": s.model},
            {"Name": "Version", "Value": s.version or "-"},
            *extra,
        ]
        out.extend(_datums(dims, s.minute, s.count, s.errors, s.latency_count, s.latency_sum, [s]))
    if per_model:
        for (model, minute), group in by_model.items():
            dims = [{"Name": "Model", "Value": model}, *extra]
            out.extend(
                _datums(
                    dims,
                    minute,
                    sum(s.count for s in group),
                    sum(s.errors for s in group),
                    sum(s.latency_count for s in group),
                    sum(s.latency_sum for s in group),
                    group,
                )
            )
    for datum in out:
        check_dimensions(datum["Dimensions"])
    return out


def _datums(
    dims: list[dict[str, str]],
    minute: int,
    count: int,
    errors: int,
    latency_count: int,
    latency_sum: float,
    group: list[MinuteStats],
) -> list[dict[str, Any]]:
    ts = datetime.fromtimestamp(minute, UTC)
    base = {"Dimensions": dims, "Timestamp": ts, "StorageResolution": 60}
    items = [
        {**base, "MetricName": "Predictions", "Value": float(count), "Unit": "Count"},
        {**base, "MetricName": "Errors", "Value": float(errors), "Unit": "Count"},
    ]
    sketches = [s.sketch for s in group if s.sketch is not None and not s.sketch.is_empty()]
    if latency_count and sketches:
        sketch = sketches[0]
        if len(sketches) > 1:
            from datasketches import kll_doubles_sketch

            sketch = kll_doubles_sketch.deserialize(sketches[0].serialize())
            for other in sketches[1:]:
                sketch.merge(other)
        items.append(
            {
                **base,
                "MetricName": "Latency",
                "Unit": "Seconds",
                "StatisticValues": {
                    "SampleCount": float(latency_count),
                    "Sum": float(latency_sum),
                    "Minimum": float(sketch.get_min_value()),
                    "Maximum": float(sketch.get_max_value()),
                },
            }
        )
        for q in (50, 95, 99):
            items.append(
                {
                    **base,
                    "MetricName": f"LatencyP{q}",
                    "Unit": "Seconds",
                    "Value": float(sketch.get_quantile(q / 100)),
                }
            )
    return items


class CloudWatchExporter:
    """Publishes finished minutes to CloudWatch (an exporter of :class:`ExportLoop`).

    Args:
        namespace: the CloudWatch namespace, e.g. ``"vigil"``.
        region: the AWS region; default boto3's.
        endpoint_url: a custom endpoint (LocalStack, moto, a VPC endpoint).
        dimensions: static dimensions added to every metric (e.g. ``{"Env": "prod"}``).
        client: a boto3 CloudWatch client to use instead of building one.
        max_retries: retries of a throttled call before the range is left for later.
        backoff_s: first retry delay, doubled each retry (with jitter).
    """

    name = "cloudwatch"

    def __init__(
        self,
        namespace: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        dimensions: Mapping[str, str] | None = None,
        client: Any = None,
        max_retries: int = 5,
        backoff_s: float = 0.2,
        max_backoff_s: float = 10.0,
    ) -> None:
        if not namespace or namespace.startswith("AWS/") or len(namespace) > 255:
            raise ConfigurationError(
                f"VIGIL_CLOUDWATCH_NAMESPACE must be 1-255 characters and not start with "
                f"'AWS/'. Got {namespace!r}."
            )
        self.namespace = namespace
        self.dimensions = dict(dimensions or {})
        check_dimensions(
            [
                {"Name": "Model", "Value": "m"},
                {"Name": "Version", "Value": "v"},
                *({"Name": k, "Value": str(v)} for k, v in self.dimensions.items()),
            ]
        )
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise ConfigurationError(
                    "CloudWatch needs boto3: pip install 'vigil[aws]'."
                ) from None
            # vigil retries throttling itself (below), so botocore makes one attempt.
            config = Config(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=5,
                read_timeout=10,
            )
            client = boto3.client(
                "cloudwatch", region_name=region, endpoint_url=endpoint_url, config=config
            )
        self.client = client
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.stats = dict.fromkeys(("calls", "metrics", "throttled", "failed_calls"), 0)

    def export(self, stats: list[MinuteStats], start: int, end: int) -> None:
        data = metric_data(stats, self.dimensions)
        for chunk in chunks(data):
            self.put(chunk)

    def put(self, chunk: list[dict[str, Any]]) -> None:
        """One PutMetricData call, retried while throttled; raises when it failed."""
        if len(chunk) > MAX_METRICS_PER_CALL:
            raise ValueError(f"PutMetricData takes at most {MAX_METRICS_PER_CALL} metrics.")
        attempt = 0
        while True:
            try:
                self.client.put_metric_data(Namespace=self.namespace, MetricData=chunk)
            except Exception as exc:
                if not _retryable(exc) or attempt >= self.max_retries:
                    self.stats["failed_calls"] += 1
                    raise
                self.stats["throttled"] += 1
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                time.sleep(delay / 2 + random.random() * delay / 2)
                attempt += 1
                continue
            self.stats["calls"] += 1
            self.stats["metrics"] += len(chunk)
            return

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def _retryable(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = response.get("Error", {}).get("Code", "")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in THROTTLING_CODES or status == 429 or status >= 500
