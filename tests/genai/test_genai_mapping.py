"""Span → prediction mapping (pure functions) and the two OTLP decoders."""

from __future__ import annotations

import contextlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.engine.genai.otlp import BadSpan, Span, SpanEvent, decode_json, decode_protobuf
from vigil.engine.genai.spans import (
    Price,
    SpanRejectedError,
    error_text,
    is_llm_span,
    model_name,
    time_to_first_token,
    to_call,
)
from vigil.engine.genai.text import completion_text, prompt_text
from vigil.errors import InvalidParameterError

S = 1_000_000_000
T0 = 1_750_000_000 * S


def span(
    attrs: dict | None = None,
    *,
    events: tuple = (),
    resource: dict | None = None,
    status: int = 0,
    message: str = "",
    start: int = T0,
    end: int = T0 + 2 * S,
) -> Span:
    return Span(
        "spans[0]",
        "ab" * 16,
        "cd" * 8,
        "chat",
        start,
        end,
        status,
        message,
        attrs or {},
        events,
        resource or {},
    )


def test_openllmetry_indexed_attributes():
    s = span(
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be brief.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "First question",
            "gen_ai.prompt.2.role": "assistant",
            "gen_ai.prompt.2.content": "First answer",
            "gen_ai.prompt.3.role": "user",
            "gen_ai.prompt.3.content": "Follow-up question",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Reply",
            "gen_ai.completion.0.finish_reason": "length",
            "gen_ai.usage.prompt_tokens": 30,
            "gen_ai.usage.completion_tokens": 12,
            "llm.usage.total_tokens": 42,
        }
    )
    assert is_llm_span(s)
    call = to_call(s)
    assert call.model == "gpt-4o"
    assert call.record["version"] == "gpt-4o-2024-08-06"
    assert call.record["inputs"] == {
        "prompt": "Follow-up question",
        "provider": "OpenAI",
        "operation": "chat",
    }
    assert call.record["outputs"] == {
        "output": "Reply",
        "input_tokens": 30,
        "output_tokens": 12,
        "finish_reason": "length",
    }


def test_semantic_convention_messages_structured_and_in_events():
    structured = span(
        {
            "gen_ai.request.model": "m",
            "gen_ai.input.messages": [
                {
                    "role": "user",
                    "parts": [
                        {"type": "text", "content": "part one"},
                        {"type": "image", "uri": "x"},
                        {"type": "text", "content": "part two"},
                    ],
                }
            ],
            "gen_ai.output.messages": [
                {
                    "role": "assistant",
                    "parts": [
                        {"type": "tool_call", "name": "lookup"},
                        {"type": "text", "content": "done"},
                    ],
                }
            ],
        }
    )
    assert prompt_text(structured) == "part one\npart two"
    capitalised = span(
        {
            "gen_ai.input.messages": '[{"role": "Human", "parts": [{"content": '
            '"hello world", "type": "text"}]}, {"role": "AI", "parts": '
            '[{"content": "earlier answer", "type": "text"}]}]'
        }
    )
    assert prompt_text(capitalised) == "hello world"
    assert completion_text(structured) == "done"
    evented = span(
        {"gen_ai.request.model": "m"},
        events=(
            SpanEvent("gen_ai.system.message", T0, {"content": "sys"}),
            SpanEvent("gen_ai.user.message", T0, {"content": "asked in an event"}),
            SpanEvent(
                "gen_ai.choice",
                T0 + S,
                {
                    "index": 0,
                    "message": orjson.dumps(
                        {"role": "assistant", "content": "answered in an event"}
                    ).decode(),
                },
            ),
        ),
    )
    assert prompt_text(evented) == "asked in an event"
    assert completion_text(evented) == "answered in an event"
    details = span(
        {"gen_ai.request.model": "m"},
        events=(
            SpanEvent(
                "gen_ai.client.inference.operation.details",
                T0 + S,
                {
                    "gen_ai.input.messages": '[{"role": "user", "content": "openai style"}]',
                    "gen_ai.output.messages": '[{"role": "assistant", "content": [{"type": "text", '
                    '"text": "list content"}]}]',
                },
            ),
        ),
    )
    assert prompt_text(details) == "openai style"
    assert completion_text(details) == "list content"
    old = span(
        {"gen_ai.request.model": "m"},
        events=(
            SpanEvent("gen_ai.content.prompt", T0, {"gen_ai.prompt": "old prompt"}),
            SpanEvent("gen_ai.content.completion", T0, {"gen_ai.completion": "old answer"}),
        ),
    )
    assert (prompt_text(old), completion_text(old)) == ("old prompt", "old answer")
    assert prompt_text(span({"gen_ai.request.model": "m"})) is None


def test_which_spans_are_model_calls():
    assert not is_llm_span(span({"http.method": "GET"}))
    assert not is_llm_span(
        span({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"})
    )
    assert not is_llm_span(
        span({"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4o"})
    )
    assert not is_llm_span(span({"openinference.span.kind": "CHAIN", "llm.model_name": "m"}))
    assert is_llm_span(span({"openinference.span.kind": "llm"}))
    assert is_llm_span(span({"gen_ai.operation.name": "embeddings"}))
    assert is_llm_span(span({"llm.token_count.prompt": 3}))


def test_model_name_and_version_precedence():
    assert model_name("meta-llama/Llama-3.1-8B-Instruct") == "meta-llama_Llama-3.1-8B-Instruct"
    assert model_name("llama3:8b") == "llama3_8b"
    assert model_name("//") is None and model_name(3) is None
    res = {"service.name": "support-bot", "service.version": "1.2"}
    assert to_call(span({"gen_ai.response.model": "r-1"}, resource=res)).model == "r-1"
    by_service = to_call(span({"gen_ai.operation.name": "chat"}, resource=res))
    assert (by_service.model, by_service.record["version"]) == ("support-bot", "1.2")
    both = to_call(span({"gen_ai.request.model": "q", "llm.model_name": "oi"}, resource=res))
    assert (both.model, both.record["version"]) == ("q", "1.2")
    override = to_call(span({"gen_ai.request.model": "gpt-4o"}, resource=res), model="bot")
    assert (override.model, override.record["version"]) == ("bot", "gpt-4o")
    assert "version" not in to_call(span({"gen_ai.request.model": "gpt-4o"})).record
    with pytest.raises(SpanRejectedError, match="no model name"):
        to_call(span({"gen_ai.operation.name": "chat"}))


def test_error_text():
    assert error_text(span({}, status=1, message="fine")) is None
    assert error_text(span({}, status=2)) == "error"
    assert error_text(span({}, status=2, message="boom")) == "boom"
    assert error_text(span({"error.type": "timeout"}, status=2)) == "timeout"
    exc = SpanEvent(
        "exception", T0, {"exception.type": "ValueError", "exception.message": "bad value"}
    )
    assert error_text(span({}, status=2, message="x", events=(exc,))) == "ValueError: bad value"
    assert (
        error_text(
            span({"error.type": "RateLimitError"}, status=2, message="RateLimitError: slow down")
        )
        == "RateLimitError: slow down"
    )


def test_time_to_first_token():
    assert time_to_first_token(span({"gen_ai.response.time_to_first_chunk": 0.25})) == 0.25
    first = SpanEvent("First Token Stream Event", T0 + S // 2, {})
    assert time_to_first_token(span({}, events=(first,))) == 0.5
    assert time_to_first_token(span({}, events=(SpanEvent("other", T0 + S, {}),))) is None
    with pytest.raises(SpanRejectedError, match="non-negative seconds"):
        time_to_first_token(span({"gen_ai.response.time_to_first_chunk": -1.0}))
    with pytest.raises(SpanRejectedError, match="non-negative seconds"):
        time_to_first_token(span({"llm.time_to_first_token": "fast"}))


def test_cost_uses_the_most_specific_price():
    prices = {
        "gpt-4o": Price(2.5, 10.0),
        "gpt-4o-2024-08-06": Price(2.0, 8.0),
        "bot": Price(1.0, 1.0),
    }
    attrs = {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1_000_000,
        "gen_ai.usage.output_tokens": 500_000,
    }
    assert to_call(span(attrs), prices=prices).record["outputs"]["cost"] == pytest.approx(7.5)
    dated = {**attrs, "gen_ai.response.model": "gpt-4o-2024-08-06"}
    assert to_call(span(dated), prices=prices).record["outputs"]["cost"] == pytest.approx(6.0)
    other = {**attrs, "gen_ai.request.model": "mistral-large"}
    assert "cost" not in to_call(span(other), prices=prices).record["outputs"]
    assert to_call(span(other), model="bot", prices=prices).record["outputs"][
        "cost"
    ] == pytest.approx(1.5)
    untokened = {"gen_ai.request.model": "gpt-4o"}
    assert "cost" not in to_call(span(untokened), prices=prices).record["outputs"]
    embeddings = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 2_000_000}
    assert to_call(span(embeddings), prices=prices).record["outputs"]["cost"] == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({"gen_ai.usage.input_tokens": -1}, "attributes.gen_ai.usage.input_tokens"),
        ({"gen_ai.usage.input_tokens": 2.5}, "attributes.gen_ai.usage.input_tokens"),
        ({"gen_ai.usage.output_tokens": True}, "attributes.gen_ai.usage.output_tokens"),
        ({"llm.token_count.completion": "x"}, "attributes.llm.token_count.completion"),
    ],
)
def test_bad_token_counts_name_the_attribute(attrs, field):
    with pytest.raises(SpanRejectedError) as info:
        to_call(span({"gen_ai.request.model": "m", **attrs}))
    assert info.value.field == field


def test_json_decoder_reads_both_key_styles_and_every_value_kind():
    body = {
        "resource_spans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"string_value": "svc"}}]
                },
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": "AB" * 16,
                                "span_id": "CD" * 8,
                                "name": "n",
                                "start_time_unix_nano": T0,
                                "end_time_unix_nano": float(T0 + S),
                                "status": {"code": "STATUS_CODE_ERROR", "message": "m"},
                                "attributes": [
                                    {"key": "i", "value": {"intValue": 5}},
                                    {"key": "d", "value": {"doubleValue": "NaN"}},
                                    {"key": "b", "value": {"boolValue": True}},
                                    {
                                        "key": "a",
                                        "value": {
                                            "arrayValue": {
                                                "values": [{"stringValue": "x"}, {"intValue": "-2"}]
                                            }
                                        },
                                    },
                                    {
                                        "key": "k",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [
                                                    {"key": "inner", "value": {"doubleValue": 1}}
                                                ]
                                            }
                                        },
                                    },
                                    {"key": "y", "value": {"bytesValue": "aGk="}},
                                    {"key": "empty", "value": {}},
                                ],
                                "events": [{"time_unix_nano": str(T0), "name": "e"}],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    (s,) = decode_json(body)
    assert isinstance(s, Span)
    assert (s.trace_id, s.span_id, s.status_code, s.status_message) == ("ab" * 16, "cd" * 8, 2, "m")
    assert s.resource == {"service.name": "svc"}
    assert s.attributes["i"] == 5 and s.attributes["d"] != s.attributes["d"]  # NaN
    assert s.attributes["a"] == ["x", -2] and s.attributes["k"] == {"inner": 1.0}
    assert s.attributes["y"] == b"hi" and s.attributes["empty"] is None
    assert s.events == (SpanEvent("e", T0, {}),)
    bad = decode_json(
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {"traceId": "0" * 32, "spanId": "1" * 16},
                                {"traceId": "1" * 32, "spanId": "1" * 16, "status": {"code": 7}},
                                {
                                    "traceId": "1" * 32,
                                    "spanId": "1" * 16,
                                    "attributes": [{"key": "x", "value": {"oops": 1}}],
                                },
                                "not a span",
                            ]
                        }
                    ]
                }
            ]
        }
    )
    assert [(b.field, b.reason.split(",")[0]) for b in bad if isinstance(b, BadSpan)] == [
        ("traceId", "an all-zero id is invalid"),
        ("status.code", "expected 0 (unset)"),
        ("attributes[0].value", "unknown AnyValue kind 'oops'"),
        ("", "expected a span object"),
    ]
    with pytest.raises(InvalidParameterError, match="resourceSpans"):
        decode_json({"resourceSpans": [{"scopeSpans": "x"}]})


def test_protobuf_and_json_decode_to_the_same_span():
    pb = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    request = pb.ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "svc"
    sp = rs.scope_spans.add().spans.add(
        trace_id=bytes.fromhex("ab" * 16),
        span_id=bytes.fromhex("cd" * 8),
        name="chat",
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + S,
    )
    sp.status.code = 2
    sp.status.message = "m"
    sp.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = 12
    array = sp.attributes.add(key="gen_ai.response.finish_reasons").value.array_value
    array.values.add().string_value = "stop"
    sp.attributes.add(key="t").value.double_value = 0.5
    ev = sp.events.add(time_unix_nano=T0 + 1, name="exception")
    ev.attributes.add(key="exception.type").value.string_value = "E"
    json_body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "ab" * 16,
                                "spanId": "cd" * 8,
                                "name": "chat",
                                "startTimeUnixNano": str(T0),
                                "endTimeUnixNano": str(T0 + S),
                                "status": {"code": 2, "message": "m"},
                                "attributes": [
                                    {
                                        "key": "gen_ai.usage.input_tokens",
                                        "value": {"intValue": "12"},
                                    },
                                    {
                                        "key": "gen_ai.response.finish_reasons",
                                        "value": {
                                            "arrayValue": {"values": [{"stringValue": "stop"}]}
                                        },
                                    },
                                    {"key": "t", "value": {"doubleValue": 0.5}},
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": str(T0 + 1),
                                        "name": "exception",
                                        "attributes": [
                                            {"key": "exception.type", "value": {"stringValue": "E"}}
                                        ],
                                    }
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    assert decode_protobuf(request.SerializeToString()) == decode_json(json_body)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "stringValue",
                    "intValue",
                    "doubleValue",
                    "boolValue",
                    "arrayValue",
                    "kvlistValue",
                    "bytesValue",
                    "values",
                    "key",
                    "value",
                    "spanId",
                    "traceId",
                    "code",
                    "startTimeUnixNano",
                    "attributes",
                    "events",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=_json, where=st.sampled_from(["span", "attr", "event", "resource", "top"]))
def test_any_json_is_a_clean_answer(value, where):
    """Whatever JSON arrives, decoding and mapping end in spans, per-span rejections or one
    InvalidParameterError, never another exception."""
    sp = {
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
        "startTimeUnixNano": "1",
        "endTimeUnixNano": "2",
        "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "m"}}],
    }
    resource: object = {"attributes": []}
    if where == "span":
        sp = value
    elif where == "attr":
        sp["attributes"].append({"key": "gen_ai.usage.input_tokens", "value": value})
    elif where == "event":
        sp["events"] = [{"name": "First token", "timeUnixNano": "1", "attributes": value}]
    else:
        resource = value
    body = (
        value
        if where == "top"
        else {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [sp]}]}]}
    )
    try:
        spans = decode_json(body)
    except InvalidParameterError:
        return
    for s in spans:
        if isinstance(s, Span) and is_llm_span(s):
            with contextlib.suppress(SpanRejectedError):
                to_call(s, prices={"m": Price(1.0, 1.0)})


def test_multimodal_and_list_contents():
    openinference = span(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.1.message_content.type": "image",
            "llm.input_messages.0.message.contents.2.message_content.text": "second part",
            "llm.input_messages.0.message.contents.0.message_content.text": "first part",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "answer",
        }
    )
    assert prompt_text(openinference) == "first part\nsecond part"
    assert completion_text(openinference) == "answer"
    listed = span(
        {
            "gen_ai.request.model": "m",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": orjson.dumps(
                [
                    {"type": "text", "text": "look at this"},
                    {"type": "image_url", "image_url": {"url": "x"}},
                ]
            ).decode(),
        }
    )
    assert prompt_text(listed) == "look at this"


def test_long_texts_are_cut_not_rejected():
    from vigil.engine.genai.text import CLIPPED, TEXT_MAX

    long = "context " * 20_000
    call = to_call(
        span({"gen_ai.request.model": "m", "gen_ai.prompt": long, "gen_ai.completion": "short"})
    )
    prompt = call.record["inputs"]["prompt"]
    assert len(prompt) == TEXT_MAX and prompt.endswith(CLIPPED)
    assert prompt.startswith("context context")
    assert call.record["outputs"]["output"] == "short"


def test_texts_hidden_by_the_instrumentation_are_absent():
    hidden = span(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "m",
            "input.value": "__REDACTED__",
            "output.value": "__REDACTED__",
            "llm.token_count.prompt": 4,
        }
    )
    call = to_call(hidden)
    assert call.record["inputs"] == {} and call.record["outputs"] == {"input_tokens": 4}
