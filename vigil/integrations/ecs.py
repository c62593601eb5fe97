"""Elastic Common Schema: prediction and error logs for Filebeat, Logstash or Elasticsearch.

:func:`ecs_document` turns one record (prediction, label or feedback) into an ECS
document: ``@timestamp``, ``event.*`` (``dataset: vigil.predictions``, ``outcome``,
``duration`` in nanoseconds), ``error.type``/``error.message``, ``service.name``,
``labels.model``/``labels.model_version`` and vigil's own fields under ``vigil.*``
(prediction id, output, latency). Inputs are left out unless asked for (they may hold
personal data).

:class:`EcsLogSink` writes those documents as JSON lines through ecs-logging's
``StdlibFormatter`` (extra ``ecs``) to a file or standard output, ready for a shipper;
:func:`configure_ecs_logging` switches vigil's own (and uvicorn's) logs to ECS JSON too.
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

from vigil.errors import ConfigurationError
from vigil.integrations.base import iso_ts

log = logging.getLogger("vigil.integrations")

_ACTIONS = {"predictions": "prediction", "labels": "label", "feedback": "feedback"}


def ecs_document(model: str, kind: str, record: dict[str, Any], *, service: str = "vigil",
                 include_inputs: bool = False) -> dict[str, Any]:
    """The ECS document of one record of ``kind`` (predictions, labels or feedback)."""
    action = _ACTIONS.get(kind, kind)
    ts = float(record.get("ts") or 0.0)
    vigil: dict[str, Any] = {"model": model, "kind": action}
    event: dict[str, Any] = {"kind": "event", "category": ["process"], "type": ["info"],
                             "action": action, "dataset": f"vigil.{kind}", "module": "vigil"}
    doc: dict[str, Any] = {"@timestamp": iso_ts(ts), "log": {"level": "info",
                                                             "logger": "vigil.predictions"},
                           "service": {"name": service}, "event": event, "vigil": vigil}
    if kind == "predictions":
        error = record.get("error")
        version = str(record.get("version") or "")
        vigil.update(version=version, prediction_id=record.get("id"),
                     output=record.get("outputs"), latency_s=record.get("latency_s"))
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
        doc["message"] = (f"{model} v{version} prediction {record.get('id')} "
                          + (f"failed: {error}" if error else "ok"))
    elif kind == "labels":
        vigil.update(prediction_id=record.get("prediction_id"), actual=record.get("actual"))
        doc["labels"] = {"model": model}
        doc["message"] = f"{model} label for prediction {record.get('prediction_id')}"
    else:
        vigil.update(feedback_id=record.get("id"), prediction_id=record.get("prediction_id"),
                     score=record.get("score"), comment=record.get("comment"))
        event["id"] = record.get("id")
        doc["labels"] = {"model": model}
        doc["message"] = f"{model} feedback on prediction {record.get('prediction_id')}"
    return doc


def _formatter(service: str, exclude: tuple[str, ...] = ()) -> logging.Formatter:
    try:
        import ecs_logging
    except ImportError:
        raise ConfigurationError("ECS logs need ecs-logging: pip install 'vigil[ecs]'.") from None
    return ecs_logging.StdlibFormatter(extra={"service.name": service}, exclude_fields=exclude)


class EcsLogSink:
    """A record sink writing one ECS JSON line per record (through ecs-logging).

    Args:
        path: a file to append to, or ``"-"`` (default) for standard output.
        service: ``service.name`` of the documents.
        include_inputs: also log the model inputs (mind personal data).
        kinds: which record kinds to log.
    """

    def __init__(self, path: str = "-", *, service: str = "vigil", include_inputs: bool = False,
                 kinds: tuple[str, ...] = ("predictions", "labels", "feedback")) -> None:
        self.service = service
        self.include_inputs = include_inputs
        self.kinds = kinds
        # The line is written by the sender thread, not where the prediction was made.
        self.formatter = _formatter(service, ("log.origin", "log.original", "process.thread"))
        self._own_stream = path != "-"
        self.stream = open(path, "a", encoding="utf-8") if path != "-" else sys.stdout  # noqa: SIM115
        self._lock = threading.Lock()
        self.stats = {"written": 0, "internal_errors": 0}

    def emit(self, model: str, kind: str, records: list[dict[str, Any]]) -> None:
        if kind not in self.kinds:
            return
        lines = []
        for record in records:
            try:
                doc = ecs_document(model, kind, record, service=self.service,
                                   include_inputs=self.include_inputs)
                lines.append(self.formatter.format(_log_record(doc)))
            except Exception:
                self.stats["internal_errors"] += 1
                log.exception("vigil: could not format an ECS log line")
        try:
            with self._lock:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
        except OSError as exc:
            self.stats["internal_errors"] += len(lines)
            log.error("vigil: could not write ECS logs (%s)", exc)
            return
        self.stats["written"] += len(lines)

    def close(self) -> None:
        if self._own_stream:
            self.stream.close()


def _log_record(doc: dict[str, Any]) -> logging.LogRecord:
    level = logging.ERROR if doc["log"]["level"] == "error" else logging.INFO
    record = logging.LogRecord("vigil.predictions", level, __file__, 0, doc["message"], None,
                               None)
    record.created = _epoch(doc)
    record.msecs = (record.created * 1000) % 1000
    for key in ("event", "vigil", "labels", "error"):
        if key in doc:
            setattr(record, key, doc[key])
    return record


def _epoch(doc: dict[str, Any]) -> float:
    import calendar
    import time

    stamp = doc["@timestamp"]
    secs = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    return secs + int(stamp[20:23]) / 1000


def configure_ecs_logging(service: str = "vigil",
                          loggers: tuple[str, ...] = ("vigil", "uvicorn", "uvicorn.error",
                                                      "uvicorn.access")) -> None:
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
