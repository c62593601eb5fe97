"""Bad OTLP requests: a 4xx naming the reason, or a partial success naming each rejected
span; never a 500, and the valid spans of a request are stored."""

from __future__ import annotations

import sys
import time

import orjson
import pytest
from genai_helpers import stored

pb = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
    reason="needs the 'otel' extra (opentelemetry-proto)",
)
status_pb2 = pytest.importorskip(
    "google.rpc.status_pb2", reason="needs googleapis-common-protos to read the Status"
)

S = 1_000_000_000
NOW = int(time.time()) * S
JSON = {"Content-Type": "application/json"}
PROTO = {"Content-Type": "application/x-protobuf"}


def _span(span_id: str, **over) -> dict:
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": span_id,
        "name": "chat",
        "startTimeUnixNano": str(NOW - 5 * S),
        "endTimeUnixNano": str(NOW - 4 * S),
        "attributes": [
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "7"}},
        ],
    }
    span.update(over)
    return span


def _export(*spans: dict) -> bytes:
    return orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]})


def _rpc_status(resp) -> status_pb2.Status:
    assert resp.headers["content-type"] == "application/x-protobuf"
    status = status_pb2.Status()
    status.ParseFromString(resp.content)
    return status


@pytest.mark.integration
def test_whole_request_errors(genai_api):
    r = genai_api.post("/v1/traces", content=b"not a protobuf", headers=PROTO)
    assert r.status_code == 400
    status = _rpc_status(r)
    assert status.code == 3  # INVALID_ARGUMENT
    assert "not a protobuf ExportTraceServiceRequest" in status.message

    for ctype in ("application/xml", "text/plain", None):  # (text/plain: maybe refused
        # earlier by a guard against browser-simple bodies, with its own 415 message)
        r = genai_api.post(
            "/v1/traces",
            content=_export(_span("1" * 16)),
            headers={"Content-Type": ctype} if ctype else {},
        )
        assert r.status_code == 415, (ctype, r.text)
        assert "application/json" in r.json()["error"]["message"]
    r = genai_api.post(
        "/v1/traces", content=_export(_span("1" * 16)), headers={"Content-Type": "application/xml"}
    )
    assert "send application/x-protobuf or application/json" in r.json()["error"]["message"]

    for body, needle in [
        (b"{nope", "not valid JSON"),
        (b"[1, 2]", "resourceSpans"),
        (b'{"spans": []}', "resourceSpans"),
        (b'{"resourceSpans": {}}', "resourceSpans must be a list"),
        (b"", "empty"),
    ]:
        r = genai_api.post("/v1/traces", content=body, headers=JSON)
        assert r.status_code == 400, (body, r.text)
        assert needle in r.json()["error"]["message"], (body, r.text)

    r = genai_api.post(
        "/v1/traces", content=b"\x1f\x8b broken", headers={**PROTO, "Content-Encoding": "gzip"}
    )
    assert r.status_code == 400 and "gzip" in _rpc_status(r).message
    r = genai_api.post("/v1/traces?model=bad%20name!", content=_export(), headers=JSON)
    assert r.status_code == 400 and "model name" in r.json()["error"]["message"]
    assert genai_api.post("/v1/traces", content=b"{}", headers=JSON).status_code == 200


@pytest.mark.integration
def test_bad_spans_are_rejected_alone(genai_api, store):
    no_start = _span("2" * 16)
    del no_start["startTimeUnixNano"]
    spans = [
        _span("1" * 16),  # valid
        no_start,
        _span("3" * 16, endTimeUnixNano="0"),
        _span("4" * 16, endTimeUnixNano=str(NOW - 6 * S)),  # ends before it starts
        _span("zz" * 8),
        _span(
            "5" * 16,
            attributes=[
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"stringValue": "many"}},
            ],
        ),
        _span("6" * 16, startTimeUnixNano="yesterday"),
        _span(
            "7" * 16,
            attributes=[{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
        ),  # no model at all
        _span(
            "8" * 16,
            startTimeUnixNano=str(NOW + 3 * 86400 * S),
            endTimeUnixNano=str(NOW + 3 * 86400 * S + S),
        ),  # the ingestor refuses the future
        _span("9" * 16, attributes=[{"key": "gen_ai.request.model", "value": {"intValue": "x"}}]),
        _span("a" * 16),  # valid
    ]
    r = genai_api.post("/v1/traces", content=_export(*spans), headers=JSON)
    assert r.status_code == 200, r.text
    partial = r.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "9"
    message = partial["errorMessage"]
    path = "resourceSpans[0].scopeSpans[0].spans"
    for needle in [
        f"{path}[1] (span {'2' * 16}): startTimeUnixNano: missing",
        f"{path}[2] (span {'3' * 16}): endTimeUnixNano: missing",
        f"{path}[3] (span {'4' * 16}): endTimeUnixNano: {NOW - 6 * S} lies before",
        f"{path}[4]: spanId: expected 16 hex digits",
        f"{path}[5] (span {'5' * 16}): attributes.gen_ai.usage.output_tokens: expected a "
        "non-negative integer token count, got 'many'",
        f"{path}[6] (span {'6' * 16}): startTimeUnixNano: expected unix nanoseconds",
        f"{path}[7] (span {'7' * 16}): attributes.gen_ai.request.model: missing",
        f"{path}[8] (span {'8' * 16}): prediction of model 'gpt-4o' rejected: ts: lies more "
        "than a day in the future",
        f"{path}[9] (span {'9' * 16}): attributes[0].value: intValue holds 'x'",
    ]:
        assert needle in message, (needle, message)
    assert set(stored(store, "gpt-4o")) == {"1" * 16, "a" * 16}
    assert r.headers["X-Vigil-Accepted"] == "2" and r.headers["X-Vigil-Rejected"] == "9"


@pytest.mark.integration
def test_protobuf_partial_success(genai_api, store):
    from opentelemetry.proto.trace.v1 import trace_pb2

    request = pb.ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for span_id, start in ((b"\x01" * 8, NOW - 2 * S), (b"\x02" * 8, 0), (b"\x03" * 7, NOW)):
        span = scope.spans.add(
            trace_id=b"\x0a" * 16,
            span_id=span_id,
            name="chat",
            start_time_unix_nano=start,
            end_time_unix_nano=NOW - S,
        )
        span.attributes.add(key="gen_ai.request.model").value.string_value = "gpt-4o"
        span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
        span.status.message = "boom"
    r = genai_api.post("/v1/traces", content=request.SerializeToString(), headers=PROTO)
    assert r.status_code == 200, r.content
    answer = pb.ExportTraceServiceResponse()
    answer.ParseFromString(r.content)
    assert answer.partial_success.rejected_spans == 2
    assert (
        "spans[1] (span 0202020202020202): startTimeUnixNano: missing"
        in answer.partial_success.error_message
    )
    assert "spans[2]: spanId: expected 8 bytes, got 7" in answer.partial_success.error_message
    rows = stored(store, "gpt-4o")
    assert set(rows) == {"01" * 8}
    assert rows["01" * 8]["error"] == "boom"
    assert rows["01" * 8]["latency_s"] == pytest.approx(1.0)


@pytest.mark.integration
def test_protobuf_without_opentelemetry_proto_is_415(genai_api, monkeypatch):
    """The server's opentelemetry-proto is hidden: protobuf gets 415 with the fix, JSON works."""
    monkeypatch.setitem(
        sys.modules, "opentelemetry.proto.collector.trace.v1.trace_service_pb2", None
    )
    r = genai_api.post("/v1/traces", content=b"\x0a\x00", headers=PROTO)
    assert r.status_code == 415
    assert "pip install 'vigil[otel]'" in _rpc_status(r).message
    ok = genai_api.post("/v1/traces", content=_export(_span("b" * 16)), headers=JSON)
    assert ok.status_code == 200 and ok.headers["X-Vigil-Accepted"] == "1"


@pytest.mark.integration
def test_traces_need_the_ingest_scope(server_factory, store):
    api = server_factory(auth="required")
    assert api.post("/v1/traces", content=_export(), headers=JSON).status_code == 401
    keys = {scope: store.create_api_key(scope, [scope])[1] for scope in ("read", "ingest")}
    r = api.post(
        "/v1/traces",
        content=_export(_span("c" * 16)),
        headers={**JSON, "Authorization": f"Bearer {keys['read']}"},
    )
    assert r.status_code == 403
    r = api.post(
        "/v1/traces",
        content=_export(_span("c" * 16)),
        headers={**JSON, "Authorization": f"Bearer {keys['ingest']}"},
    )
    assert r.status_code == 200 and r.headers["X-Vigil-Accepted"] == "1"
    created = [e for e in store.audit_entries() if e["action"] == "model.create"]
    assert [e["target"] for e in created] == ["gpt-4o"]
    summary = api.get(
        "/api/v1/models/gpt-4o/genai", headers={"Authorization": f"Bearer {keys['read']}"}
    )
    assert summary.status_code == 200 and summary.json()["summary"]["input_tokens"] == 7
