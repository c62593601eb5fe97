"""Elastic Common Schema: prediction and error logs for Filebeat, Logstash or Elasticsearch.

:func:`ecs_document` turns one record (prediction, label or feedback) into an ECS
document: ``@timestamp``, ``event.*`` (``dataset: vigil.predictions``, ``outcome``,
``duration`` in nanoseconds), ``error.type``/``error.message``, ``service.name``,
``labels.model``/``labels.model_version`` and vigil's own fields under ``vigil.*``
(prediction id, output, latency). Inputs are left out unless asked for (they may hold
personal data).

:class:`EcsLogSink` writes those documents as JSON lines in ecs-logging's layout to a
file or standard output, ready for a shipper; :func:`configure_ecs_logging` switches
vigil's own (and uvicorn's) logs to ECS JSON through ecs-logging (extra ``ecs``).
:mod:`vigil.integrations.elasticsearch` sends the same documents to ``_bulk``.

Examples:
    >>> doc = ecs_document("churn", "predictions", {"id": "p1", "version": "2",
    ...     "ts": 1700000000.0, "latency_s": 0.0125, "error": "ValueError: bad input",
    ...     "inputs": {"age": 3}, "outputs": None, "proba": None, "subject_id": None})
    >>> doc["event"]["outcome"], doc["event"]["duration"], doc["error"]["type"]
    ('failure', 12500000, 'ValueError')
    >>> doc["labels"], "inputs" in doc["vigil"]
    ({'model': 'churn', 'model_version': '2'}, False)
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import orjson

from vigil.errors import ConfigurationError
from vigil.integrations.base import iso_ts

log = logging.getLogger("vigil.integrations")

_ACTIONS = {"predictions": "prediction", "labels": "label", "feedback": "feedback"}


def ecs_document(
    model: str,
    kind: str,
    record: dict[str, Any],
    *,
    service: str = "vigil",
    include_inputs: bool = False,
) -> dict[str, Any]:
    """The ECS document of one record of ``kind`` (predictions, labels or feedback)."""
    action = _ACTIONS.get(kind, kind)
    ts = float(record.get("ts") or 0.0)
    vigil: dict[str, Any] = {"model": model, "kind": action}
    event: dict[str, Any] = {
        "kind": "event",
        "category": ["process"],
        "type": ["info"],
        "action": action,
        "dataset": f"vigil.{kind}",
        "module": "vigil",
    }
    doc: dict[str, Any] = {
        "@timestamp": iso_ts(ts),
        "log": {"level": "info", "logger": "vigil.predictions"},
        "service": {"name": service},
        "event": event,
        "vigil": vigil,
    }
    if kind == "predictions":
        error = record.get("error")
        version = str(record.get("version") or "")
        vigil.update(
            version=version,
            prediction_id=record.get("id"),
            output=record.get("outputs"),
            latency_s=record.get("latency_s"),
        )
        if record.get("proba") is not None:
            vigil["proba"] = record["proba"]
        if record.get("subject_id") is not None:
            vigil["subject_id"] = record["subject_id"]
        if include_inputs:
            vigil["inputs"] = record.get("inputs")
        event["id"] = record.get("id")
        event["outcome"] = "failure" if error else "success"
        if record.get("latency_s") is not None:
            event["duration"] = round(float(record["latency_s"]) * 1e9)
        doc["labels"] = {"model": model, "model_version": version}
        if error:
            kind_name, _, message = str(error).partition(": ")
            doc["error"] = {"type": kind_name, "message": message or str(error)}
            doc["log"]["level"] = "error"
            event["type"] = ["error"]
        doc["message"] = f"{model} v{version} prediction {record.get('id')} " + (
            f"failed: {error}" if error else "ok"
        )
    elif kind == "labels":
        vigil.update(prediction_id=record.get("prediction_id"), actual=record.get("actual"))
        doc["labels"] = {"model": model}
        doc["message"] = f"{model} label for prediction {record.get('prediction_id')}"
    else:
        vigil.update(
            feedback_id=record.get("id"),
            prediction_id=record.get("prediction_id"),
            score=record.get("score"),
            comment=record.get("comment"),
        )
        event["id"] = record.get("id")
        doc["labels"] = {"model": model}
        doc["message"] = f"{model} feedback on prediction {record.get('prediction_id')}"
    return doc


ECS_VERSION = "1.6.0"  # the version ecs-logging 2.x writes


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    return value


def ecs_line(doc: dict[str, Any]) -> bytes:
    """One JSON line in ecs-logging's layout: ``@timestamp``, ``log.level`` and
    ``message`` first, then the other fields sorted, ``None`` values left out.

    Examples:
        >>> ecs_line({"@timestamp": "2023-11-14T22:13:20.000Z", "log": {"level": "info",
        ...           "logger": "x"}, "message": "ok", "vigil": {"a": 1, "b": None}})
        b'{"@timestamp":"2023-11-14T22:13:20.000Z","log.level":"info","message":"ok","ecs.version":"1.6.0","log":{"logger":"x"},"vigil":{"a":1}}'
    """
    doc = _strip(doc)
    log_fields = dict(doc.pop("log", {}))
    head = {
        "@timestamp": doc.pop("@timestamp"),
        "log.level": log_fields.pop("level", "info"),
        "message": doc.pop("message", ""),
    }
    rest = {"ecs.version": ECS_VERSION, **doc}
    if log_fields:
        rest["log"] = log_fields
    body = orjson.dumps(rest, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return orjson.dumps(head)[:-1] + b"," + body[1:]


def _formatter(service: str, exclude: tuple[str, ...] = ()) -> logging.Formatter:
    try:
        import ecs_logging
    except ImportError:
        raise ConfigurationError("ECS logs need ecs-logging: pip install 'vigil[ecs]'.") from None
    return ecs_logging.StdlibFormatter(extra={"service.name": service}, exclude_fields=exclude)


class EcsLogSink:
    """A record sink writing one ECS JSON line per record, in ecs-logging's layout.

    The lines are built with orjson (ecs-logging's ``StdlibFormatter`` costs about 100x
    more CPU per record in the sender thread); the tests check both agree.

    Args:
        path: a file to append to, or ``"-"`` (default) for standard output.
        service: ``service.name`` of the documents.
        include_inputs: also log the model inputs (mind personal data).
        kinds: which record kinds to log.
    """

    def __init__(
        self,
        path: str = "-",
        *,
        service: str = "vigil",
        include_inputs: bool = False,
        kinds: tuple[str, ...] = ("predictions", "labels", "feedback"),
    ) -> None:
        self.service = service
        self.include_inputs = include_inputs
        self.kinds = kinds
        self._own_stream = path != "-"
        # Standard output without a byte buffer (a notebook's) gets text.
        self.stream = (
            open(path, "ab")  # noqa: SIM115
            if path != "-"
            else getattr(sys.stdout, "buffer", None) or _TextOut(sys.stdout)
        )
        self._lock = threading.Lock()
        self.stats = {"written": 0, "internal_errors": 0}

    def emit(self, model: str, kind: str, records: list[dict[str, Any]]) -> None:
        if kind not in self.kinds:
            return
        lines = []
        for record in records:
            try:
                lines.append(
                    ecs_line(
                        ecs_document(
                            model,
                            kind,
                            record,
                            service=self.service,
                            include_inputs=self.include_inputs,
                        )
                    )
                )
            except Exception:
                self.stats["internal_errors"] += 1
                log.exception("vigil: could not format an ECS log line")
        try:
            with self._lock:
                self.stream.write(b"\n".join(lines) + b"\n")
                self.stream.flush()
        except OSError as exc:
            self.stats["internal_errors"] += len(lines)
            log.error("vigil: could not write ECS logs (%s)", exc)
            return
        self.stats["written"] += len(lines)

    def close(self) -> None:
        if self._own_stream:
            self.stream.close()


class _TextOut:
    """Bytes written to a text stream."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode("utf-8"))

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        """Flush only: the wrapped standard output is not ours to close."""
        self.stream.flush()


def configure_ecs_logging(
    service: str = "vigil",
    loggers: tuple[str, ...] = ("vigil", "uvicorn", "uvicorn.error", "uvicorn.access"),
) -> None:
    """Format the server's logs as ECS JSON on standard error (idempotent)."""
    formatter = _formatter(service)
    for name in loggers:
        logger = logging.getLogger(name)
        handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
        if not handlers:
            handler = logging.StreamHandler(sys.stderr)
            logger.addHandler(handler)
            handlers = [handler]
        for handler in handlers:
            handler.setFormatter(formatter)
