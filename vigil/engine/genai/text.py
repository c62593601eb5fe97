"""The text of a language-model call as instrumentations record it: the prompt (last user
message) and the completion (first answer) of a span.

Read in order, first found wins: the GenAI conventions' ``gen_ai.input.messages`` /
``gen_ai.output.messages`` (JSON text or structured values; text ``parts``), OpenLLMetry's
indexed ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*``, OpenInference's
``llm.input_messages.N.message.*`` (with multimodal text ``contents``), the deprecated
``gen_ai.prompt`` / ``gen_ai.completion``, OpenInference's ``input.value`` /
``output.value`` (a JSON request or answer body is searched for its messages), then the
content events (``gen_ai.user.message``, ``gen_ai.choice``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from vigil.engine.genai.otlp import Span

TEXT_MAX = 32_000  # characters of a prompt or completion kept (128 KB at most in UTF-8)
CLIPPED = " […]"
HIDDEN = "__REDACTED__"  # what OpenInference records for inputs and outputs it hides
_CONTENT_PART = re.compile(r"^\.message\.contents\.(\d+)\.message_content\.text$")


@dataclass(frozen=True, slots=True)
class _Side:
    """Where instrumentations record one side of a call: ``io`` names it in the
    ``gen_ai.{io}.messages``, ``llm.{io}_messages.*`` and ``{io}.value`` attributes,
    ``what`` in ``gen_ai.{what}*`` and ``gen_ai.content.{what}``; the prompt is the last
    user message, the completion the first answer."""

    io: str
    what: str
    last_user: bool
    message_event: str  # the per-message event of the older conventions
    message_text: Callable[[Mapping[str, Any]], str | None]


_PROMPT = _Side(
    "input",
    "prompt",
    True,
    "gen_ai.user.message",
    lambda ev: _message_text(ev.get("content")) or _str(ev.get("gen_ai.prompt")),
)
_COMPLETION = _Side(
    "output",
    "completion",
    False,
    "gen_ai.choice",
    lambda ev: _message_text(_parsed(ev.get("message"))) or _str(ev.get("content")),
)


def prompt_text(span: Span) -> str | None:
    """The last user message of the call's input, as the instrumentation recorded it."""
    return _text(span, _PROMPT)


def completion_text(span: Span) -> str | None:
    """The first answer of the call, as the instrumentation recorded it."""
    return _text(span, _COMPLETION)


def _text(span: Span, side: _Side) -> str | None:
    """The first convention that has ``side``'s text: attributes first, then events."""
    attrs, io, what, last = span.attributes, side.io, side.what, side.last_user
    for source in (
        lambda: _pick(_messages(attrs.get(f"gen_ai.{io}.messages")), last_user=last),
        lambda: _pick(_indexed(attrs, f"gen_ai.{what}.", ".role", ".content"), last_user=last),
        lambda: _pick(
            _indexed(attrs, f"llm.{io}_messages.", ".message.role", ".message.content"),
            last_user=last,
        ),
        lambda: _str(attrs.get(f"gen_ai.{what}")),
        lambda: _from_value(attrs.get(f"{io}.value"), attrs.get(f"{io}.mime_type"), prompt=last),
    ):
        found = source()
        if found:
            return found
    for event in span.events:
        ev = event.attributes
        if event.name == side.message_event:
            found = side.message_text(ev)
        elif event.name == f"gen_ai.content.{what}":
            found = _str(ev.get(f"gen_ai.{what}"))
        elif event.name == "gen_ai.client.inference.operation.details":
            found = _pick(_messages(ev.get(f"gen_ai.{io}.messages")), last_user=last)
        else:
            continue
        if found:
            return found
    return None


def clip(text: str | None) -> str | None:
    """At most :data:`TEXT_MAX` characters: a long context is cut (marked ``[…]``) rather
    than costing the call its record (the ingest refuses over-long fields). A text the
    instrumentation hid (OpenInference writes ``__REDACTED__``) is absent."""
    if text == HIDDEN:
        return None
    if text is None or len(text) <= TEXT_MAX:
        return text
    return text[: TEXT_MAX - len(CLIPPED)] + CLIPPED


def _parsed(value: Any) -> Any:
    """A JSON string parsed (instrumentations serialise structured values); else as is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _messages(value: Any) -> list[tuple[str | None, str | None]]:
    """``[(role, text)]`` of a messages value (semantic conventions or OpenAI style)."""
    value = _parsed(value)
    if isinstance(value, str):
        return [(None, value or None)]
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        return []
    return [
        (_str(m.get("role")) if isinstance(m, Mapping) else None, _message_text(m)) for m in value
    ]


def _message_text(message: Any) -> str | None:
    """The text of one message: its text ``parts``, or its ``content`` (a string or a
    list of parts); a bare list of parts is read the same way."""
    if isinstance(message, str):
        return message or None
    if isinstance(message, list):
        message = {"content": message}
    if not isinstance(message, Mapping):
        return None
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = [
            p["content"]
            for p in parts
            if isinstance(p, Mapping)
            and p.get("type", "text") == "text"
            and isinstance(p.get("content"), str)
        ]
        if texts:
            return "\n".join(texts)
    content = message.get("content")
    if isinstance(content, list):
        texts = [
            c if isinstance(c, str) else c.get("text") or c.get("content")
            for c in content
            if isinstance(c, str | Mapping)
        ]
        content = "\n".join(t for t in texts if isinstance(t, str)) or None
    if isinstance(content, str) and content:
        return content
    if "message" in message:
        return _message_text(message["message"])
    return _str(message.get("text"))


def _indexed(
    attrs: Mapping[str, Any], prefix: str, role: str, content: str
) -> list[tuple[str | None, str | None]]:
    """``[(role, text)]`` of flattened messages such as ``gen_ai.prompt.0.content``; for
    OpenInference, text parts ``...N.message.contents.K.message_content.text`` too."""
    found: dict[int, list[Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if not index.isdigit():
            continue
        slot = found.setdefault(int(index), [None, None, {}])
        rest = "." + rest
        if rest == role:
            slot[0] = _str(value)
        elif rest == content:
            slot[1] = _message_text(_parsed(value))
        elif (part := _CONTENT_PART.match(rest)) and _str(value):
            slot[2][int(part.group(1))] = value
    return [
        (r, c or ("\n".join(p[k] for k in sorted(p)) if p else None))
        for _, (r, c, p) in sorted(found.items())
    ]


def _pick(messages: list[tuple[str | None, str | None]], *, last_user: bool) -> str | None:
    """The last user message (input) or the first assistant one (output) with text."""
    texts = [((role or "").lower(), text) for role, text in messages if text]
    if not texts:
        return None
    if last_user:
        users = [t for r, t in texts if r in ("user", "human")]
        return users[-1] if users else texts[-1][1]
    answers = [t for r, t in texts if r in ("assistant", "model", "ai")]
    return answers[0] if answers else texts[0][1]


def _from_value(value: Any, mime: Any, *, prompt: bool) -> str | None:
    """Text of OpenInference ``input.value`` / ``output.value`` (JSON request or answer
    bodies are searched for their messages; other values are kept as they are)."""
    text = _str(value)
    if text is None:
        return None
    data = _parsed(text) if mime in (None, "application/json") else text
    if not isinstance(data, Mapping):
        return text
    if prompt:
        found = _pick(_messages(data.get("messages")), last_user=True)
        keys = ("prompt", "input", "query", "question")
    else:
        choices = data.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        found = _message_text(first) if isinstance(first, Mapping) else None
        keys = ("output", "content", "text", "answer")
    return found or next((data[k] for k in keys if _str(data.get(k))), None) or text


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
