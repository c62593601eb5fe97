"""A recorded OpenInference-style OTLP JSON export, posted as JSON (plain and gzip).

The payload below was written for this test by hand, in the shape OpenInference's OpenAI
instrumentation exports (attribute names from the OpenInference semantic conventions:
``openinference.span.kind``, ``llm.model_name``, ``llm.input_messages.N.message.*``,
``llm.token_count.*``, ``input.value``/``output.value``, ``user.id``, its "First Token
Stream Event"), encoded with the OTLP JSON mapping (hex ids, int64 as strings or numbers).
It is not a capture of a real service.
"""

from __future__ import annotations

import gzip
import time

import orjson
import pytest
from genai_helpers import stored

S = 1_000_000_000
T0 = (int(time.time()) - 900) * S  # a quarter of an hour ago, whole seconds
MODEL = "gpt-4o-mini-2024-07-18"


def _s(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def _i(key: str, value: int, *, as_string: bool = True) -> dict:
    return {"key": key, "value": {"intValue": str(value) if as_string else value}}


def _span(span_id: str, kind: str, start_s: float, end_s: float, attrs: list, **extra) -> dict:
    return {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": span_id,
        "parentSpanId": "00f067aa0ba902b7",
        "name": extra.pop("name", kind.lower()),
        "kind": 1,
        "startTimeUnixNano": str(T0 + int(start_s * S)),
        "endTimeUnixNano": str(T0 + int(end_s * S)),
        "attributes": [_s("openinference.span.kind", kind), *attrs],
        "status": extra.pop("status", {"code": 1}),
        **extra,
    }


PAYLOAD = {
    "resourceSpans": [
        {
            "resource": {
                "attributes": [
                    _s("service.name", "support-bot"),
                    _s("service.version", "1.4.2"),
                    _s("telemetry.sdk.language", "python"),
                ]
            },
            "scopeSpans": [
                {
                    "scope": {"name": "openinference.instrumentation.openai", "version": "0.1.18"},
                    "spans": [
                        _span(
                            "00f067aa0ba902b7",
                            "CHAIN",
                            0.0,
                            2.0,
                            [
                                _s("input.value", "Where is my order #1234?"),
                                _s("output.value", "It ships tomorrow."),
                            ],
                            name="answer_question",
                        ),
                        _span(
                            "a1b2c3d4e5f60718",
                            "RETRIEVER",
                            0.05,
                            0.2,
                            [_s("input.value", "order 1234 status")],
                            name="retrieve",
                        ),
                        _span(
                            "b7ad6b7169203331",
                            "LLM",
                            0.25,
                            1.9,
                            [
                                _s("llm.model_name", MODEL),
                                _s("llm.provider", "openai"),
                                _s("llm.system", "openai"),
                                _s("llm.invocation_parameters", '{"temperature": 0.2}'),
                                _s("llm.input_messages.0.message.role", "system"),
                                _s(
                                    "llm.input_messages.0.message.content",
                                    "You answer customers briefly.",
                                ),
                                _s("llm.input_messages.1.message.role", "user"),
                                _s(
                                    "llm.input_messages.1.message.content",
                                    "Where is my order #1234?",
                                ),
                                _s("llm.output_messages.0.message.role", "assistant"),
                                _s(
                                    "llm.output_messages.0.message.content",
                                    "Order #1234 ships tomorrow.",
                                ),
                                _i("llm.token_count.prompt", 52),
                                _i("llm.token_count.completion", 18, as_string=False),
                                _i("llm.token_count.total", 70),
                                _s("input.mime_type", "application/json"),
                                _s(
                                    "input.value",
                                    '{"model": "gpt-4o-mini", "messages": [{"role": "user", '
                                    '"content": "Where is my order #1234?"}]}',
                                ),
                                _s("user.id", "customer-42"),
                            ],
                            name="ChatCompletion",
                            events=[
                                {
                                    "timeUnixNano": str(T0 + int(0.67 * S)),
                                    "name": "First Token Stream Event",
                                }
                            ],
                        ),
                        _span(
                            "c3d4e5f607182930",
                            "LLM",
                            2.5,
                            32.5,
                            [
                                _s("llm.model_name", MODEL),
                                _s("input.value", "Can I change the delivery address?"),
                                _s("input.mime_type", "text/plain"),
                            ],
                            name="ChatCompletion",
                            status={"code": 2, "message": "Request timed out."},
                            events=[
                                {
                                    "timeUnixNano": str(T0 + int(32.5 * S)),
                                    "name": "exception",
                                    "attributes": [
                                        _s("exception.type", "openai.APITimeoutError"),
                                        _s("exception.message", "Request timed out."),
                                        _s("exception.escaped", "False"),
                                    ],
                                }
                            ],
                        ),
                        _span(
                            "d5e6f70819203a4b",
                            "LLM",
                            40.0,
                            41.0,
                            [
                                _s("llm.model_name", MODEL),
                                _s("output.mime_type", "application/json"),
                                _s("input.value", "What are your opening hours?"),
                                _s(
                                    "output.value",
                                    '{"id": "chatcmpl-1", "choices": [{"index": 0, "message": '
                                    '{"role": "assistant", "content": "9 to 5, Monday to '
                                    'Friday."}}]}',
                                ),
                                {"key": "llm.token_count.prompt", "value": {"doubleValue": 9.0}},
                            ],
                            name="ChatCompletion",
                        ),
                    ],
                }
            ],
        }
    ]
}


def _renumbered(payload: dict) -> bytes:
    """The payload with other span ids (first two hex digits ``ee``)."""
    text = orjson.dumps(payload).decode()
    for span_id in (
        "00f067aa0ba902b7",
        "a1b2c3d4e5f60718",
        "b7ad6b7169203331",
        "c3d4e5f607182930",
        "d5e6f70819203a4b",
    ):
        text = text.replace(f'"spanId":"{span_id}"', f'"spanId":"ee{span_id[2:]}"')
    return text.encode()


LLM_SPANS = {"b7ad6b7169203331", "c3d4e5f607182930", "d5e6f70819203a4b"}


@pytest.mark.integration
def test_recorded_openinference_payload(genai_api, store):
    r = genai_api.post(
        "/v1/traces", content=orjson.dumps(PAYLOAD), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {}  # everything accepted: no partialSuccess
    assert r.headers["X-Vigil-Accepted"] == "3"
    assert r.headers["X-Vigil-Ignored"] == "2"  # the CHAIN and RETRIEVER spans
    rows = stored(store, MODEL)
    assert set(rows) == LLM_SPANS
    assert stored(store, "support-bot") == {}

    chat = rows["b7ad6b7169203331"]
    assert chat["version"] == "1.4.2"  # the service's version: no response model recorded
    assert chat["ts"] == pytest.approx(T0 / S + 0.25)
    assert chat["latency_s"] == pytest.approx(1.65)
    assert chat["inputs"] == {"prompt": "Where is my order #1234?", "provider": "openai"}
    assert chat["outputs"] == {
        "output": "Order #1234 ships tomorrow.",
        "input_tokens": 52,
        "output_tokens": 18,
        "ttft_s": pytest.approx(0.42),
    }
    assert chat["error"] is None

    timeout = rows["c3d4e5f607182930"]
    assert timeout["error"] == "openai.APITimeoutError: Request timed out."
    assert timeout["latency_s"] == pytest.approx(30.0)
    assert timeout["inputs"] == {"prompt": "Can I change the delivery address?"}
    assert timeout["outputs"] is None or timeout["outputs"] == {}

    hours = rows["d5e6f70819203a4b"]
    assert hours["inputs"] == {"prompt": "What are your opening hours?"}
    assert hours["outputs"] == {"output": "9 to 5, Monday to Friday.", "input_tokens": 9}

    # the same export again, gzip-compressed: every span is a duplicate
    again = genai_api.post(
        "/v1/traces",
        content=gzip.compress(orjson.dumps(PAYLOAD)),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert again.status_code == 200, again.text
    assert (again.headers["X-Vigil-Accepted"], again.headers["X-Vigil-Duplicates"]) == ("0", "3")
    assert len(stored(store, MODEL)) == 3

    # filed under the application with ?model=: the LLM becomes the version (other span
    # ids: an id already stored is a duplicate whatever the model)
    app = genai_api.post(
        "/v1/traces?model=support-bot",
        content=_renumbered(PAYLOAD),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert app.status_code == 200 and app.headers["X-Vigil-Accepted"] == "3"
    assert {r["version"] for r in stored(store, "support-bot").values()} == {MODEL}

    # the stored layout is what vigil's text quality reads (prompt in, output out)
    quality = genai_api.get(
        f"/api/v1/models/{MODEL}/quality", params={"start": T0 / S - 60, "end": T0 / S + 120}
    ).json()
    assert quality["task"] == "text_generation"
    assert quality["text"]["n"] == 2  # the timed-out call has no answer
