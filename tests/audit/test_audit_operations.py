"""Operations under failure: /readyz tells a store that cannot write, and a data folder
that cannot be used stops startup with one line naming the path and the cause."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from support.servers import free_port

from vigil.config import load_settings
from vigil.server.app import create_app
from vigil.store import open_store


@pytest.fixture
def db_url(tmp_path):
    """SQLite: the checks are about the data folder's file and file system."""
    return f"sqlite:///{tmp_path / 'vigil.db'}"


@contextmanager
def _serving(settings, store) -> Iterator[httpx.Client]:
    """A real server that may never become ready: wait for /healthz, not /readyz."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, store), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield client
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=10)


def test_readyz_is_503_when_the_disk_is_full(store, tmp_path):
    with _serving(load_settings(home=tmp_path), store) as api:
        assert api.get("/readyz").json()["status"] == "ready"
    free = shutil.disk_usage(tmp_path).free
    with _serving(load_settings(home=tmp_path, min_free_bytes=free * 2), store) as full:
        r = full.get("/readyz")  # as if the disk were full
    assert r.status_code == 503, r.text
    reason = r.json()["reason"]
    assert str(tmp_path) in reason and "VIGIL_MIN_FREE_BYTES" in reason and "free" in reason


def test_readyz_is_503_when_the_database_is_read_only(store, tmp_path):
    path = tmp_path / "vigil.db"
    readonly = open_store(f"sqlite:///file:{path}?mode=ro&uri=true", upgrade=False)
    try:
        with _serving(load_settings(home=tmp_path), readonly) as api:
            assert api.get("/healthz").status_code == 200  # up, but not ready
            r = api.get("/readyz")
    finally:
        readonly.close()
    assert r.status_code == 503
    assert "readonly" in r.json()["reason"].replace("-", "").replace(" ", "")


def _start(home: str, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "server", "--home", home, "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_data_folder_under_a_file_is_one_line_naming_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = _start(str(blocker / "home"), tmp_path)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert str(blocker / "home") in lines[0] and "Not a directory" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_data_folder_that_cannot_be_written_is_one_line_naming_it(tmp_path):
    home = f"/sys/vigil-{uuid.uuid4().hex[:8]}"  # sysfs takes no new folders, even for root
    result = _start(home, tmp_path)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert home in lines[0] and "Cannot create the data folder" in lines[0]
