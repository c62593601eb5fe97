"""The loopback poster: batches to a server on this machine over http.client, reused
connections, one reconnect when the server dropped an idle kept-alive connection."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from vigil.sdk import HttpTransport, SendError
from vigil.sdk.loopback import LoopbackPoster


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    drop_after_answer = False
    connections: list[int] = []  # noqa: RUF012 - one list per test server, set below
    bodies: list[bytes] = []  # noqa: RUF012

    def setup(self) -> None:
        super().setup()
        self.connections.append(id(self.connection))

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append(body)
        answer = orjson.dumps(
            {"accepted": len(orjson.loads(body)["records"]), "duplicates": 0, "rejected": []}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Server-Timing", "vigil;dur=1.5")
        self.end_headers()
        self.wfile.write(answer)
        # Like a server whose keep-alive timer ran out: closes without saying so.
        self.close_connection = self.drop_after_answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[False, True], ids=["kept-alive", "dropped-when-idle"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, type[Handler]]]:
    handler = type(
        "H", (Handler,), {"drop_after_answer": request.param, "connections": [], "bodies": []}
    )
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", handler
    finally:
        srv.shutdown()
        srv.server_close()


def test_batches_go_through_the_poster_and_survive_dropped_connections(server):
    url, handler = server
    t = HttpTransport(url, api_key="k")
    assert t._poster is not None and t.compress is False
    t.timing_sink = sink = deque()
    for i in range(3):
        body = orjson.dumps({"records": [{"id": str(i)}] * 700})  # > 64 KiB: not gzipped
        assert t.send("m", "predictions", body) == {
            "accepted": 700,
            "duplicates": 0,
            "rejected": [],
        }
    assert [orjson.loads(b)["records"][0]["id"] for b in handler.bodies] == ["0", "1", "2"]
    expected_connections = 3 if handler.drop_after_answer else 1
    assert len(handler.connections) == expected_connections
    assert [timing for _, timing in sink] == ["vigil;dur=1.5"] * 3
    t.close()


def test_an_unreachable_loopback_server_is_a_retryable_send_error():
    poster_url = "http://127.0.0.1:9"  # discard port: nothing listens
    t = HttpTransport(poster_url, timeout_s=2)
    with pytest.raises(SendError) as info:
        t.send("m", "predictions", b'{"records":[]}')
    assert info.value.retryable and info.value.status is None
    t.close()


def test_the_poster_keeps_the_endpoint_prefix():
    poster = LoopbackPoster("http://localhost:8765/base/api/v1", {}, 1.0)
    assert (poster.host, poster.port, poster.prefix) == ("localhost", 8765, "/base/api/v1")


def test_remote_and_tls_endpoints_keep_httpx():
    assert HttpTransport("https://127.0.0.1:8443")._poster is None
    assert HttpTransport("http://vigil.example.com")._poster is None
