"""Spans go through the same privacy machinery as other predictions: redaction policies
rewrite prompts and answers before they are stored, and ``enduser.id`` makes a call
erasable with its data subject."""

from __future__ import annotations

import time

import orjson
import pytest
from genai_helpers import stored

S = 1_000_000_000
JSON = {"Content-Type": "application/json"}


def _export(span_id: str, prompt: str, answer: str, user: str) -> bytes:
    def s(key, value):
        return {"key": key, "value": {"stringValue": value}}

    start = (int(time.time()) - 60) * S
    span = {
        "traceId": "5" * 32,
        "spanId": span_id,
        "name": "chat",
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + S),
        "attributes": [
            s("gen_ai.request.model", "helpdesk"),
            s("enduser.id", user),
            s("gen_ai.prompt.0.role", "user"),
            s("gen_ai.prompt.0.content", prompt),
            s("gen_ai.completion.0.content", answer),
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
        ],
    }
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


@pytest.mark.integration
def test_policies_and_erasure_apply_to_spans(genai_api, store):
    first = _export("1" * 16, "hello", "hi", "customer-1")
    assert genai_api.post("/v1/traces", content=first, headers=JSON).status_code == 200
    for field, body in (
        ("prompt", {"action": "mask"}),
        ("outputs", {"action": "mask", "kinds": ["email"]}),
    ):
        r = genai_api.put(f"/api/v1/models/helpdesk/privacy/policies/{field}", json=body)
        assert r.status_code == 200, r.text
    second = _export(
        "2" * 16,
        "My e-mail is jane.doe@example.com, call +1 202 555 0143",
        "We wrote to jane.doe@example.com.",
        "customer-2",
    )
    r = genai_api.post("/v1/traces", content=second, headers=JSON)
    assert r.status_code == 200 and r.headers["X-Vigil-Accepted"] == "1"
    row = stored(store, "helpdesk")["2" * 16]
    assert "jane.doe@example.com" not in row["inputs"]["prompt"]
    assert "<EMAIL>" in row["inputs"]["prompt"]
    assert row["outputs"]["output"] == "We wrote to <EMAIL>."
    assert row["outputs"]["input_tokens"] == 12  # masking keeps the numbers

    erased = genai_api.delete("/api/v1/subjects/customer-1")
    assert erased.status_code == 200, erased.text
    assert set(stored(store, "helpdesk")) == {"2" * 16}
