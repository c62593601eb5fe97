"""CloudWatch Embedded Metric Format: metrics as log lines, no API call from the service.

A record sink for the SDK: per batch, version and minute it writes one JSON line that
CloudWatch Logs turns into metrics (Lambda, ECS with the awslogs driver, or the
CloudWatch agent tailing a file): ``Predictions`` and ``Errors`` (Count) and
``Latency`` (Milliseconds, the individual values so CloudWatch computes percentiles),
with dimension sets ``[Model, Version]`` and ``[Model]``. EMF takes at most 100 values
per metric in a line, so longer latency lists continue on lines of their own.

Examples:
    >>> lines = emf_lines("vigil", "churn", [{"version": "1", "ts": 1700000000.0,
    ...     "latency_s": 0.012, "error": None}, {"version": "1", "ts": 1700000001.0,
    ...     "latency_s": 0.020, "error": "ValueError: x"}])
    >>> line = lines[0]
    >>> line["Predictions"], line["Errors"], line["Latency"], line["_aws"]["Timestamp"]
    (2, 1, [12.0, 20.0], 1700000001000)
    >>> line["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    [['Model', 'Version'], ['Model']]
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from typing import Any

import orjson

from vigil.errors import ConfigurationError

log = logging.getLogger("vigil.integrations")

MAX_VALUES = 100  # values of one metric in one EMF line
MAX_DIMENSIONS = 30  # dimensions in one dimension set


def emf_lines(
    namespace: str,
    model: str,
    records: list[dict[str, Any]],
    dimensions: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The EMF documents for a batch of prediction records."""
    extra = dict(dimensions or {})
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in records:
        ts = float(r.get("ts") or 0.0)
        groups.setdefault((str(r.get("version") or "-"), int(ts // 60)), []).append(r)
    keys = ["Model", "Version", *extra]
    if len(keys) > MAX_DIMENSIONS:
        raise ConfigurationError(
            f"An EMF dimension set has at most {MAX_DIMENSIONS} dimensions. Got {len(keys)}."
        )
    sets = [keys, ["Model", *extra]]
    out = []
    for (version, _), group in groups.items():
        ts_ms = int(max(float(r.get("ts") or 0.0) for r in group) * 1000)
        latencies = [
            round(float(r["latency_s"]) * 1000, 3) for r in group if r.get("latency_s") is not None
        ]
        base = {"Model": model, "Version": version, **extra}
        metrics = [{"Name": "Predictions", "Unit": "Count"}, {"Name": "Errors", "Unit": "Count"}]
        first = {
            **base,
            "Predictions": len(group),
            "Errors": sum(1 for r in group if r.get("error")),
        }
        if latencies:
            metrics.append({"Name": "Latency", "Unit": "Milliseconds"})
            first["Latency"] = latencies[:MAX_VALUES]
        out.append({"_aws": _directive(namespace, ts_ms, sets, metrics), **first})
        for i in range(MAX_VALUES, len(latencies), MAX_VALUES):
            out.append(
                {
                    "_aws": _directive(
                        namespace, ts_ms, sets, [{"Name": "Latency", "Unit": "Milliseconds"}]
                    ),
                    **base,
                    "Latency": latencies[i : i + MAX_VALUES],
                }
            )
    return out


def _directive(
    namespace: str, ts_ms: int, sets: list[list[str]], metrics: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "Timestamp": ts_ms,
        "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": sets, "Metrics": metrics}],
    }


class EmfSink:
    """A record sink writing EMF lines to standard output or a file.

    Args:
        namespace: the CloudWatch namespace.
        path: a file the CloudWatch agent tails; default standard output.
        dimensions: static dimensions added to each line (e.g. ``{"Env": "prod"}``).
    """

    def __init__(
        self, namespace: str, path: str | None = None, dimensions: Mapping[str, str] | None = None
    ) -> None:
        if not namespace or namespace.startswith("AWS/"):
            raise ConfigurationError(
                f"VIGIL_EMF_NAMESPACE must be set and not start with 'AWS/'. Got {namespace!r}."
            )
        self.namespace = namespace
        self.dimensions = dict(dimensions or {})
        self._own = path is not None
        self.stream = open(path, "a", encoding="utf-8") if path else sys.stdout  # noqa: SIM115
        self._lock = threading.Lock()
        self.stats = {"lines": 0, "internal_errors": 0}

    def emit(self, model: str, kind: str, records: list[dict[str, Any]]) -> None:
        if kind != "predictions":
            return
        try:
            lines = emf_lines(self.namespace, model, records, self.dimensions)
            text = b"".join(orjson.dumps(line) + b"\n" for line in lines).decode()
            with self._lock:
                self.stream.write(text)
                self.stream.flush()
        except Exception as exc:
            self.stats["internal_errors"] += 1
            log.error("vigil: could not write EMF lines (%s)", exc)
            return
        self.stats["lines"] += len(lines)

    def close(self) -> None:
        if self._own:
            self.stream.close()
