"""Elasticsearch ``_bulk`` sink: ECS documents for teams without Filebeat or Logstash.

Each record becomes an ECS document (:func:`vigil.integrations.ecs.ecs_document`) sent
with a ``create`` action and a deterministic ``_id`` (the prediction or feedback id), so
a resent batch never duplicates a document (Elasticsearch answers 409, counted as
delivered) and data streams are accepted. The bulk answer is read item by item: items
refused with 429 or 5xx are retried alone on the next attempt, items refused for good
(mapping errors, 400) are counted and logged, and the rest is delivered. A down cluster
keeps items in a bounded buffer (see :class:`~vigil.integrations.base.NetworkSink`).
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterable
from typing import Any

import orjson

from vigil.integrations.base import DeliveryError, NetworkSink
from vigil.integrations.ecs import ecs_document

log = logging.getLogger("vigil.integrations")


def _doc_id(kind: str, record: dict[str, Any]) -> str:
    if kind == "labels":
        return f"label:{record.get('prediction_id')}:{record.get('ts')}"
    return str(record.get("id"))


def bulk_body(items: list[tuple[str, str, dict[str, Any]]]) -> bytes:
    """NDJSON of ``create`` actions for ``(index, id, document)`` items, newline-ended.

    Examples:
        >>> bulk_body([("logs", "p1", {"a": 1})])
        b'{"create":{"_index":"logs","_id":"p1"}}\\n{"a":1}\\n'
    """
    lines = []
    for index, doc_id, doc in items:
        lines.append(orjson.dumps({"create": {"_index": index, "_id": doc_id}}))
        lines.append(orjson.dumps(doc, default=str, option=orjson.OPT_SERIALIZE_NUMPY))
    return b"\n".join(lines) + b"\n"


class ElasticsearchSink(NetworkSink):
    """A record sink that indexes ECS documents through ``POST {url}/_bulk``.

    Args:
        url: the cluster's base URL, e.g. ``https://es.internal:9200``.
        index: index or data stream name.
        api_key: sent as ``Authorization: ApiKey <api_key>``.
        service: ``service.name`` of the documents.
        include_inputs: also index the model inputs (mind personal data).
        timeout_s: timeout of each request.
    """

    name = "elasticsearch"

    def __init__(
        self,
        url: str,
        *,
        index: str = "vigil-predictions",
        api_key: str | None = None,
        service: str = "vigil",
        include_inputs: bool = False,
        timeout_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        import httpx

        headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        if api_key:
            headers["Authorization"] = f"ApiKey {api_key}"
        self.url = url.rstrip("/") + "/_bulk"
        self.index = index
        self.service = service
        self.include_inputs = include_inputs
        self.stats["duplicates"] = 0
        self.client = httpx.Client(timeout=timeout_s, headers=headers)

    def items(
        self, model: str, kind: str, records: list[dict[str, Any]]
    ) -> Iterable[tuple[str, str, dict[str, Any]]]:
        if kind not in ("predictions", "labels", "feedback"):
            return []
        return [
            (
                self.index,
                _doc_id(kind, r),
                ecs_document(
                    model, kind, r, service=self.service, include_inputs=self.include_inputs
                ),
            )
            for r in records
        ]

    def deliver(self, items: list[Any]) -> int:
        import httpx

        try:
            response = self.client.post(self.url, content=gzip.compress(bulk_body(items), 1))
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise DeliveryError(f"_bulk answered {status}")
        if status >= 400:  # the whole request is wrong: retrying it will not help
            log.error(
                "vigil: Elasticsearch refused a bulk request of %d items (%d): %s",
                len(items),
                status,
                response.text[:500],
            )
            return len(items)
        answer = response.json()
        if not answer.get("errors"):
            return 0
        retry, refused, first = [], 0, None
        for item, result in zip(items, answer.get("items", []), strict=False):
            outcome: dict[str, Any] = next(iter(result.values()), {})
            code = int(outcome.get("status", 500))
            if code < 300:
                continue
            if code == 409:  # already indexed by an earlier attempt
                self.stats["duplicates"] += 1
            elif code == 429 or code >= 500:
                retry.append(item)
            else:
                refused += 1
                first = first or outcome.get("error")
        if first is not None:
            log.error(
                "vigil: Elasticsearch refused %d documents for good; first: %s", refused, first
            )
        if retry:
            raise DeliveryError(
                f"{len(retry)} of {len(items)} bulk items were throttled or failed",
                retry=retry,
                refused=refused,
            )
        return refused

    def close(self) -> None:
        super().close()
        self.client.close()
