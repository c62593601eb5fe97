"""HttpTransport on an httpx MockTransport: headers, gzip, status mapping."""

from __future__ import annotations

import gzip

import httpx
import orjson
import pytest

from vigil.sdk import HttpTransport, SendError
from vigil.sdk.transport import GZIP_MIN_BYTES


class Recorder:
    def __init__(self, status: int = 200, payload: object = None) -> None:
        self.status = status
        self.payload = (
            {"accepted": 1, "duplicates": 0, "rejected": []} if payload is None else payload
        )
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, content=orjson.dumps(self.payload))


def transport(handler, **kwargs) -> HttpTransport:
    return HttpTransport(
        "http://vigil.test:8765/", transport=httpx.MockTransport(handler), **kwargs
    )


def test_sends_to_the_contract_paths_with_the_api_key():
    rec = Recorder()
    t = transport(rec, api_key="s3cret")
    result = t.send("my model", "predictions", b'{"records":[{"id":"a"}]}')
    assert result == {"accepted": 1, "duplicates": 0, "rejected": []}
    req = rec.requests[0]
    assert req.method == "POST"
    assert str(req.url) == "http://vigil.test:8765/api/v1/models/my%20model/predictions"
    assert req.headers["Authorization"] == "Bearer s3cret"
    assert req.headers["Content-Type"] == "application/json"
    assert "Content-Encoding" not in req.headers
    t.register_model({"name": "m", "task": "other", "schema": {"features": []}})
    assert str(rec.requests[1].url).endswith("/api/v1/models")
    t.close()


def test_no_authorization_header_without_a_key():
    rec = Recorder()
    transport(rec).send("m", "labels", b'{"labels":[]}')
    assert "Authorization" not in rec.requests[0].headers


def test_large_bodies_are_gzipped():
    rec = Recorder()
    body = orjson.dumps({"records": [{"id": str(i), "inputs": {"x": i}} for i in range(5000)]})
    assert len(body) > GZIP_MIN_BYTES
    transport(rec).send("m", "predictions", body)
    req = rec.requests[0]
    assert req.headers["Content-Encoding"] == "gzip"
    assert len(req.content) < len(body) / 4
    assert gzip.decompress(req.content) == body


@pytest.mark.parametrize(
    "endpoint",
    ["http://127.0.0.1:8765", "http://localhost:8765/", "http://[::1]:8765", "http://127.0.1.1"],
)
def test_large_bodies_go_uncompressed_to_a_loopback_server(endpoint):
    rec = Recorder()
    body = orjson.dumps({"records": [{"id": str(i), "inputs": {"x": i}} for i in range(5000)]})
    t = HttpTransport(endpoint, transport=httpx.MockTransport(rec))
    assert t.compress is False
    t.send("m", "predictions", body)
    assert "Content-Encoding" not in rec.requests[0].headers
    assert rec.requests[0].content == body
    forced = HttpTransport(endpoint, transport=httpx.MockTransport(rec), compress=True)
    forced.send("m", "predictions", body)
    assert rec.requests[1].headers["Content-Encoding"] == "gzip"


def test_get_model_maps_model_not_found_to_none():
    not_found = {"error": {"code": "model_not_found", "message": "no", "details": None}}
    assert transport(Recorder(404, not_found)).get_model("m") is None
    assert transport(Recorder(200, {"name": "m"})).get_model("m") == {"name": "m"}


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
    ],
)
def test_error_statuses_raise_with_their_classification(status, retryable):
    error = {"error": {"code": "x_code", "message": "went wrong", "details": {"a": 1}}}
    with pytest.raises(SendError, match="went wrong") as info:
        transport(Recorder(status, error)).send("m", "predictions", b'{"records":[]}')
    assert info.value.status == status
    assert info.value.retryable is retryable
    assert info.value.error_code == "x_code"
    assert info.value.details == {"a": 1}


def test_all_rejected_422_returns_the_result_in_details():
    result = {"accepted": 0, "duplicates": 0, "rejected": [{"index": 0, "id": "a", "errors": []}]}
    error = {"error": {"code": "validation_failed", "message": "all bad", "details": result}}
    assert transport(Recorder(422, error)).send("m", "predictions", b"{}") == result


def test_connection_errors_are_retryable_with_no_status():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(SendError, match="ConnectError") as info:
        transport(refuse).send("m", "predictions", b"{}")
    assert info.value.status is None
    assert info.value.retryable


def test_a_real_refused_connection_is_retryable():
    t = HttpTransport("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(SendError) as info:
        t.get_model("m")
    assert info.value.retryable
    t.close()


def test_non_json_success_is_a_retryable_error():
    def html(request):
        return httpx.Response(200, content=b"<html>proxy</html>")

    with pytest.raises(SendError, match="not JSON") as info:
        transport(html).send("m", "predictions", b"{}")
    assert info.value.retryable
