"""Local counterparts of the integrations' backends: HTTP receivers and a store with data."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes  # after gzip decoding
    raw: bytes


@dataclass
class Receiver:
    """A real HTTP server on loopback that records requests; ``respond`` decides answers."""

    respond: Callable[[Request], tuple[int, dict[str, str], bytes]]
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
                req = Request(self.command, self.path, headers, body, raw)
                receiver.requests.append(req)
                status, out_headers, payload = receiver.respond(req)
                self.send_response(status)
                for k, v in out_headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(respond: Callable[[Request], tuple[int, dict[str, str], bytes]]) -> Receiver:
        r = Receiver(respond).start()
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}


@pytest.fixture
def rollup_store(tmp_path):
    """A SQLite store with model 'churn' v1 and v2 traffic in two known minutes."""
    from vigil.engine.ingest.ingestor import Ingestor
    from vigil.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'vigil.db'}")
    ing = Ingestor(store)
    ing.register_model({"name": "churn", "task": "regression", "schema": SCHEMA})
    base = 1_700_000_040.0  # a minute boundary
    records = []
    for i in range(100):
        records.append(
            {
                "id": f"a{i}",
                "version": "1",
                "ts": base + i * 0.5,
                "latency_s": 0.001 * (i + 1),
                "inputs": {"x": float(i)},
                "outputs": 1.0,
                "error": "ValueError: bad" if i % 10 == 0 else None,
            }
        )
    for i in range(10):
        records.append(
            {
                "id": f"b{i}",
                "version": "2",
                "ts": base + 60 + i,
                "latency_s": 0.5,
                "inputs": {"x": 1.0},
                "outputs": 2.0,
            }
        )
    result = ing.ingest_predictions("churn", records)
    assert result.to_dict()["accepted"] == 110
    store.base_minute = int(base)  # type: ignore[attr-defined]
    yield store
    store.close()
