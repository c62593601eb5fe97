"""Sentry: exceptions raised inside tracked predictions, through sentry-sdk (extra ``sentry``).

Attach a :class:`SentryReporter` to a Monitor (``mon.add_sink(SentryReporter(dsn))``):
when a tracked call (or an ``observe`` block, or ``log_prediction(error=exc)``) raises,
the Monitor hands the exception object to :meth:`SentryReporter.on_exception` — a dict
insert under a lock, on the error path only — and the sender thread later captures it
with its stack trace, tagged with ``vigil.model``, ``vigil.version`` and
``vigil.prediction_id``. Frames carry no local variables (they hold the raw inputs);
inputs are attached only when ``send_inputs`` is on, and then
only after PII redaction (:func:`vigil.audit.pii.redact_pii` on every string; strings
are blanked when that module is not available). At most ``max_events_per_minute`` events
are sent; the rest are counted.

With a DSN the reporter uses a Sentry client of its own, so the application's Sentry
setup is untouched; without one it reports through the application's initialised SDK.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from vigil.errors import ConfigurationError

log = logging.getLogger("vigil.integrations")

_MAX_DEPTH = 4


def redact(value: Any, depth: int = 0) -> Any:
    """``value`` with PII masked in every string (nested lists and mappings included).

    Examples:
        >>> redact({"note": "mail jane.doe@example.com", "age": 41})
        {'note': 'mail <EMAIL>', 'age': 41}
    """
    if isinstance(value, str):
        try:
            from vigil.audit.pii import redact_pii
        except ImportError:  # without the audit module, send no free text at all
            return "[redacted]"
        return redact_pii(value)
    if depth >= _MAX_DEPTH:
        return "[...]"
    if isinstance(value, dict):
        return {str(k): redact(v, depth + 1) for k, v in list(value.items())[:100]}
    if isinstance(value, list | tuple):
        return [redact(v, depth + 1) for v in value[:100]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return f"<{type(value).__name__}>"


class SentryReporter:
    """Reports exceptions of tracked predictions to Sentry (a Monitor sink).

    Args:
        dsn: the project's DSN; None to use the application's initialised sentry-sdk.
        environment: Sentry ``environment`` of the events (own client only).
        send_inputs: attach the inputs, PII-redacted, as ``contexts.vigil.inputs``.
        max_events_per_minute: events beyond this rate are dropped and counted.
        max_pending: most exceptions kept while waiting for their records.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        environment: str | None = None,
        send_inputs: bool = False,
        max_events_per_minute: int = 60,
        max_pending: int = 1000,
    ) -> None:
        try:
            import sentry_sdk
        except ImportError:
            raise ConfigurationError(
                "Sentry reporting needs sentry-sdk: pip install 'vigil[sentry]'."
            ) from None
        self._sdk = sentry_sdk
        if dsn:
            self.client: sentry_sdk.client.BaseClient = sentry_sdk.Client(
                dsn=dsn, environment=environment, default_integrations=False
            )
            self._own = True
        else:
            self.client = sentry_sdk.get_client()
            self._own = False
            if not self.client.is_active():
                raise ConfigurationError(
                    "SentryReporter needs a DSN (VIGIL_SENTRY_DSN) or sentry_sdk.init() "
                    "called before it."
                )
        self.send_inputs = send_inputs
        self.max_events_per_minute = max_events_per_minute
        self.max_pending = max_pending
        self._pending: OrderedDict[float, BaseException] = OrderedDict()
        self._lock = threading.Lock()
        self._window = (0, 0)  # (minute, events sent in it)
        self.stats = dict.fromkeys(
            ("captured", "rate_limited", "without_traceback", "internal_errors"), 0
        )

    def on_exception(self, exc: BaseException, ts: float) -> None:
        """Keep the exception until its record reaches :meth:`emit` (error path only)."""
        with self._lock:
            self._pending[ts] = exc
            while len(self._pending) > self.max_pending:
                self._pending.popitem(last=False)

    def emit(self, model: str, kind: str, records: list[dict[str, Any]]) -> None:
        if kind != "predictions":
            return
        for record in records:
            if record.get("error"):
                try:
                    self._capture(model, record)
                except Exception:
                    self.stats["internal_errors"] += 1
                    log.exception("vigil: could not report an exception to Sentry")

    def _capture(self, model: str, record: dict[str, Any]) -> None:
        with self._lock:
            exc = self._pending.pop(record["ts"], None) if "ts" in record else None
        minute = int(time.time() // 60)
        sent_minute, sent = self._window
        sent = sent if sent_minute == minute else 0
        if sent >= self.max_events_per_minute:
            self.stats["rate_limited"] += 1
            return
        self._window = (minute, sent + 1)
        if exc is not None:
            from sentry_sdk.utils import event_from_exception

            event, hint = event_from_exception(
                exc,
                client_options=self.client.options,
                mechanism={"type": "vigil", "handled": False},
            )
            for value in event.get("exception", {}).get("values", []):
                for frame in (value.get("stacktrace") or {}).get("frames", []):
                    frame.pop("vars", None)  # local variables hold the raw inputs
        else:  # e.g. log_prediction(error="...") with a string
            self.stats["without_traceback"] += 1
            event, hint = {"message": str(record["error"]), "level": "error"}, {}
        version = str(record.get("version") or "")
        event["logger"] = "vigil.sdk"
        event.setdefault("tags", {}).update(
            {
                "vigil.model": model,
                "vigil.version": version,
                "vigil.prediction_id": str(record.get("id")),
            }
        )
        context: dict[str, Any] = {"latency_s": record.get("latency_s"), "ts": record.get("ts")}
        if self.send_inputs:
            context["inputs"] = redact(record.get("inputs"))
        event.setdefault("contexts", {})["vigil"] = context
        if self._own:
            self.client.capture_event(event, hint=hint, scope=self._sdk.Scope())
        else:
            self._sdk.capture_event(event, hint=hint)
        self.stats["captured"] += 1

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (bounded by ``timeout_s``); close an own client."""
        self.client.flush(timeout=timeout_s)
        if self._own:
            self.client.close(timeout=timeout_s)
