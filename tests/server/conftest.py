"""A real server (uvicorn over HTTP) on each backend, and a client for it."""

from __future__ import annotations

import httpx
import pytest
from support.records import SCHEMA
from support.servers import thread_server

from vigil.config import load_settings


@pytest.fixture
def server_factory(store, tmp_path):
    """Start servers on the test's store with settings overrides; stop them afterwards."""
    stack = []

    def start(**settings) -> httpx.Client:
        ctx = thread_server(load_settings(home=tmp_path, **settings), store)
        url = ctx.__enter__()
        client = httpx.Client(base_url=url, timeout=30)
        stack.append((ctx, client))
        return client

    yield start
    for ctx, client in reversed(stack):
        client.close()
        ctx.__exit__(None, None, None)


@pytest.fixture
def api(server_factory) -> httpx.Client:
    """A client of an open server (auth off) with model 'churn' registered."""
    client = server_factory(auth="off")
    r = client.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    assert r.status_code == 201, r.text
    return client
