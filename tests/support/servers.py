"""Real vigil servers for tests: in a thread (uvicorn, real HTTP) or as a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from vigil.config import Settings
from vigil.server.app import create_app, proxy_options
from vigil.store import Store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout_s: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"server at {url} not ready in {timeout_s} s")


@contextmanager
def thread_server(settings: Settings, store: Store, app: Any = None) -> Iterator[str]:
    """Serve ``app`` (default ``create_app(settings, store)``) over real HTTP on a free
    port; yield its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app or create_app(settings, store),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            **proxy_options(settings),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def start_server_process(
    db_url: str, port: int, *extra: str, home: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """``vigil server`` as a child process (not waited for)."""
    cmd = [
        sys.executable,
        "-m",
        "vigil.cli.main",
        "server",
        "--db",
        db_url,
        "--port",
        str(port),
        *extra,
    ]
    if home is not None:
        cmd += ["--home", str(home)]
    return subprocess.Popen(
        cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


@contextmanager
def model_server(predict: Callable[[dict[str, Any]], dict[str, Any]]) -> Iterator[str]:
    """A model served over real HTTP, as evaluations call one: ``POST {"inputs": {...}}``
    answers ``predict(inputs)`` as JSON, or 500 "model crashed" when ``predict`` raises.
    Yields the URL to post to."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                out, status = json.dumps(predict(body["inputs"])).encode(), 200
            except Exception:
                out, status = b"model crashed", 500
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/predict"
    finally:
        server.shutdown()
        server.server_close()
