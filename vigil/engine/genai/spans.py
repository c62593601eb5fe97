"""OpenTelemetry GenAI spans as vigil predictions (pure functions, no I/O).

Which spans are language-model calls (:func:`is_llm_span`) and how one becomes a
prediction record (:func:`to_call`). Three ways of recording a call are read: the
OpenTelemetry GenAI semantic conventions (``gen_ai.*``), OpenLLMetry's indexed
``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` and OpenInference (``llm.*``,
``input.value``, ``output.value``). The record layout (docs/genai.md):

* ``id``: the span id (16 hex digits), so a re-sent span is a duplicate;
* ``ts``: the start time; ``latency_s``: end − start;
* ``error``: ``"Type: message"`` when the span's status is ERROR (``error.type`` or the
  exception event's ``exception.type``; the exception message or the status message);
* ``subject_id``: ``enduser.id`` or ``user.id`` (what ``DELETE /subjects`` erases);
* ``inputs``: ``prompt`` (the last user message, see :mod:`vigil.engine.genai.text`),
  ``provider``, ``operation``; prompt and completion are cut to 32,000 characters;
* ``outputs``: ``output`` (the completion text; the key vigil's text quality reads),
  ``input_tokens``, ``output_tokens``, ``ttft_s``, ``finish_reason`` and ``cost``
  (priced with the table in force when the span arrived). Absent values are left out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from vigil.engine.genai.otlp import STATUS_ERROR, Span
from vigil.engine.genai.text import clip, completion_text, prompt_text

# A schema for models registered on first sight of their spans (all inputs optional).
GENAI_SCHEMA: dict[str, Any] = {
    "task": "text_generation",
    "features": [
        {"name": "prompt", "kind": "text", "required": False},
        {"name": "provider", "kind": "categorical", "required": False},
        {"name": "operation", "kind": "categorical", "required": False},
    ],
}

REQUEST_MODEL = ("gen_ai.request.model", "llm.model_name", "llm.request.model")
RESPONSE_MODEL = ("gen_ai.response.model", "llm.response.model")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
OPERATION = ("gen_ai.operation.name", "llm.request.type")
INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
TTFT = (
    "gen_ai.response.time_to_first_chunk",
    "gen_ai.response.time_to_first_token",
    "gen_ai.server.time_to_first_token",
    "llm.time_to_first_token",
)
SUBJECT = ("enduser.id", "user.id")
# gen_ai spans that are not one model call: tools and agents wrap the calls they make
NOT_CALLS = frozenset({"execute_tool", "invoke_agent", "create_agent"})
_FIRST_TOKEN = re.compile(r"first[ _.-]?(token|chunk)", re.IGNORECASE)
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")
_NAME_MAX, _VERSION_MAX, _SUBJECT_MAX = 200, 100, 200


class Price(NamedTuple):
    """Price of a model's tokens, per million input and output tokens."""

    input: float
    output: float


class SpanRejectedError(ValueError):
    """A span that looks like a model call but cannot become a prediction."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LlmCall:
    """One model call: the vigil model it belongs to and its prediction record."""

    model: str
    record: dict[str, Any]


def is_llm_span(span: Span) -> bool:
    """Whether ``span`` records a language-model call.

    OpenInference spans count when ``openinference.span.kind`` is ``LLM``; others when
    they carry a ``gen_ai.*`` or ``llm.*`` attribute and are not a tool or agent span
    (``gen_ai.operation.name`` ``execute_tool``, ``invoke_agent``, ``create_agent``).
    """
    attrs = span.attributes
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str):
        return kind.upper() == "LLM"
    if attrs.get("gen_ai.operation.name") in NOT_CALLS:
        return False
    return any(k.startswith(("gen_ai.", "llm.")) for k in attrs)


def model_name(value: Any) -> str | None:
    """``value`` as a vigil model name: characters other than letters, digits, ``_ . -``
    become ``_`` (``meta-llama/Llama-3`` → ``meta-llama_Llama-3``); None when empty."""
    if not isinstance(value, str):
        return None
    name = _BAD_NAME_CHARS.sub("_", value.strip())[:_NAME_MAX].lstrip("_.-")
    return name or None


def to_call(
    span: Span, *, model: str | None = None, prices: Mapping[str, Price] | None = None
) -> LlmCall:
    """The prediction record of an LLM span.

    Args:
        span: a span for which :func:`is_llm_span` holds.
        model: the vigil model to file it under (``?model=``); by default
            ``gen_ai.request.model``, else ``llm.model_name``, else
            ``gen_ai.response.model``, else the resource's ``service.name``.
        prices: price per model name, looked up by the response model, then the request
            model, then the vigil model name.

    Raises:
        SpanRejectedError: no start or end time, an end before the start, no model name,
            or a token count or time to first token that is not a non-negative number.

    Examples:
        >>> span = Span("spans[0]", "ab" * 16, "cd" * 8, "chat", 10**18, 10**18 + 5 * 10**8,
        ...             attributes={"gen_ai.request.model": "gpt-4o",
        ...                         "gen_ai.usage.input_tokens": 1000,
        ...                         "gen_ai.usage.output_tokens": 200})
        >>> call = to_call(span, prices={"gpt-4o": Price(2.5, 10.0)})
        >>> call.model, call.record["latency_s"], round(call.record["outputs"]["cost"], 6)
        ('gpt-4o', 0.5, 0.0045)
    """
    attrs = span.attributes
    if span.start_ns <= 0:
        raise SpanRejectedError("startTimeUnixNano", "missing: a span needs its start time")
    if span.end_ns <= 0:
        raise SpanRejectedError("endTimeUnixNano", "missing: only finished spans can be stored")
    if span.end_ns < span.start_ns:
        raise SpanRejectedError(
            "endTimeUnixNano", f"{span.end_ns} lies before startTimeUnixNano {span.start_ns}"
        )
    requested = _first_str(attrs, REQUEST_MODEL)
    responded = _first_str(attrs, RESPONSE_MODEL)
    name = (
        model
        or model_name(requested)
        or model_name(responded)
        or model_name(span.resource.get("service.name"))
    )
    if name is None:
        raise SpanRejectedError(
            "attributes.gen_ai.request.model",
            "missing: no model name in "
            "gen_ai.request.model, llm.model_name, gen_ai.response.model "
            "or the resource's service.name; or pass ?model=",
        )
    version = responded or (requested if requested and model_name(requested) != name else None)
    version = version or _str(span.resource.get("service.version"))
    in_tokens = _tokens(attrs, INPUT_TOKENS)
    out_tokens = _tokens(attrs, OUTPUT_TOKENS)
    outputs: dict[str, Any] = {
        "output": clip(completion_text(span)),
        "input_tokens": in_tokens,
        "output_tokens": out_tokens,
        "ttft_s": time_to_first_token(span),
        "finish_reason": _finish_reason(attrs),
        "cost": _cost(prices, (responded, requested, name), in_tokens, out_tokens),
    }
    inputs = {
        "prompt": clip(prompt_text(span)),
        "provider": _first_str(attrs, PROVIDER),
        "operation": _first_str(attrs, OPERATION),
    }
    subject = _first_str(attrs, SUBJECT)
    record: dict[str, Any] = {
        "id": span.span_id,
        "ts": span.start_ns / 1e9,
        "latency_s": (span.end_ns - span.start_ns) / 1e9,
        "error": error_text(span),
        "inputs": {k: v for k, v in inputs.items() if v is not None},
        "outputs": {k: v for k, v in outputs.items() if v is not None},
    }
    if version:
        record["version"] = version[:_VERSION_MAX]
    if subject:
        record["subject_id"] = subject[:_SUBJECT_MAX]
    return LlmCall(name, record)


def error_text(span: Span) -> str | None:
    """``"Type: message"`` for a span with status ERROR (None otherwise)."""
    if span.status_code != STATUS_ERROR:
        return None
    exc = next((e.attributes for e in span.events if e.name == "exception"), {})
    kind = _str(span.attributes.get("error.type")) or _str(exc.get("exception.type"))
    message = _str(exc.get("exception.message")) or _str(span.status_message)
    if kind and message and not message.startswith(kind):
        return f"{kind}: {message}"
    return message or kind or "error"


def time_to_first_token(span: Span) -> float | None:
    """Seconds to the first token: a TTFT attribute, else a first-token event's time."""
    for key in TTFT:
        value = span.attributes.get(key)
        if value is not None:
            if not _finite(value) or value < 0:
                raise SpanRejectedError(
                    f"attributes.{key}", f"expected non-negative seconds, got {value!r}"
                )
            return float(value)
    for event in span.events:
        if _FIRST_TOKEN.search(event.name) and event.time_ns >= span.start_ns > 0:
            return (event.time_ns - span.start_ns) / 1e9
    return None


# -- helpers -------------------------------------------------------------------------------


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_str(attrs: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = _str(attrs.get(key))
        if value is not None:
            return value
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _tokens(attrs: Mapping[str, Any], keys: Iterable[str]) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if value is None:
            continue
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if _finite(value) and value >= 0 and float(value).is_integer():
            return int(value)
        raise SpanRejectedError(
            f"attributes.{key}", f"expected a non-negative integer token count, got {value!r}"
        )
    return None


def _finish_reason(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(value, list) and value and isinstance(value[0], str):
        return value[0]
    return _str(value) or _str(attrs.get("gen_ai.completion.0.finish_reason"))


def _cost(
    prices: Mapping[str, Price] | None,
    names: Iterable[str | None],
    in_tokens: int | None,
    out_tokens: int | None,
) -> float | None:
    if not prices or (in_tokens is None and out_tokens is None):
        return None
    price = next((prices[n] for n in names if n is not None and n in prices), None)
    if price is None:
        return None
    return ((in_tokens or 0) * price.input + (out_tokens or 0) * price.output) / 1e6
