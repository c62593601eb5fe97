"""Grafana Loki push: prediction logs through ``POST /loki/api/v1/push`` (JSON).

Streams are keyed by a few low-cardinality labels — ``service_name``, ``model``,
``version``, ``kind`` (prediction, label, feedback) and ``level`` (info, error) plus any
static labels given — never by ids or values: the prediction id, output and latency go
in the line (the ECS document as JSON, so ``| json`` in LogQL reads it). Timestamps are
nanosecond strings; each stream's values are in time order. 429 and 5xx are retried with
backoff; 400 (e.g. too old, too far ahead) is counted and logged, not retried.

Examples:
    >>> body = push_body([({"model": "m", "level": "info"}, 1700000000.5, '{"a":1}')])
    >>> body["streams"][0]["values"]
    [['1700000000500000000', '{"a":1}']]
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from vigil.errors import ConfigurationError
from vigil.integrations.base import DeliveryError, NetworkSink
from vigil.integrations.ecs import ecs_document

log = logging.getLogger("vigil.integrations")

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_LABELS = 15  # Loki's default max_label_names_per_series
_KIND = {"predictions": "prediction", "labels": "label", "feedback": "feedback"}


def ns_string(ts: float) -> str:
    """Unix seconds as Loki's nanosecond string (exact to the microsecond).

    Examples:
        >>> ns_string(1.000001)
        '1000001000'
    """
    return str(round(ts * 1_000_000) * 1000)


def push_body(entries: Iterable[tuple[Mapping[str, str], float, str]]) -> dict[str, Any]:
    """The push request for ``(labels, ts, line)`` entries: one stream per label set."""
    streams: dict[tuple[tuple[str, str], ...], list[tuple[float, str]]] = {}
    for labels, ts, line in entries:
        streams.setdefault(tuple(sorted(labels.items())), []).append((ts, line))
    return {
        "streams": [
            {
                "stream": dict(key),
                "values": [
                    [ns_string(ts), line] for ts, line in sorted(values, key=lambda v: v[0])
                ],
            }
            for key, values in streams.items()
        ]
    }


class LokiSink(NetworkSink):
    """A record sink pushing log lines to Grafana Loki.

    Args:
        url: Loki's base URL, e.g. ``http://loki:3100``.
        labels: static stream labels (e.g. ``{"env": "prod"}``); keep them few and fixed.
        tenant: ``X-Scope-OrgID`` for a multi-tenant Loki.
        service: the ``service_name`` label and ECS ``service.name``.
        include_inputs: also put the model inputs in the lines (mind personal data).
        timeout_s: timeout of each request.
    """

    name = "loki"

    def __init__(
        self,
        url: str,
        *,
        labels: Mapping[str, str] | None = None,
        tenant: str | None = None,
        service: str = "vigil",
        include_inputs: bool = False,
        timeout_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        import httpx

        self.labels = {"service_name": service, **(labels or {})}
        bad = [k for k in self.labels if not LABEL_NAME.match(k)]
        if bad:
            raise ConfigurationError(
                f"Loki label names must match [a-zA-Z_][a-zA-Z0-9_]*. Got {bad}."
            )
        if len(self.labels) + 4 > MAX_LABELS:
            raise ConfigurationError(
                f"Loki allows {MAX_LABELS} labels per stream and vigil adds 4 (model, "
                f"version, kind, level). Got {len(self.labels)} static labels."
            )
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        if tenant:
            headers["X-Scope-OrgID"] = tenant
        self.url = url.rstrip("/") + "/loki/api/v1/push"
        self.service = service
        self.include_inputs = include_inputs
        self.client = httpx.Client(timeout=timeout_s, headers=headers)

    def items(
        self, model: str, kind: str, records: list[dict[str, Any]]
    ) -> Iterable[tuple[dict[str, str], float, str]]:
        if kind not in _KIND:
            return []
        out = []
        for r in records:
            doc = ecs_document(
                model, kind, r, service=self.service, include_inputs=self.include_inputs
            )
            labels = {
                **self.labels,
                "model": model,
                "kind": _KIND[kind],
                "level": doc["log"]["level"],
            }
            if kind == "predictions":
                labels["version"] = str(r.get("version") or "")
            line = orjson.dumps(doc, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()
            out.append((labels, float(r.get("ts") or 0.0), line))
        return out

    def deliver(self, items: list[Any]) -> int:
        import httpx

        body = gzip.compress(orjson.dumps(push_body(items)), 1)
        try:
            response = self.client.post(self.url, content=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise DeliveryError(f"Loki answered {status}")
        if status >= 400:
            log.error(
                "vigil: Loki refused %d lines (%d): %s", len(items), status, response.text[:500]
            )
            return len(items)
        return 0

    def close(self) -> None:
        super().close()
        self.client.close()
