"""A real server (uvicorn over HTTP) on each backend, and a client for it."""

from __future__ import annotations

import httpx
import pytest
from support.records import SCHEMA


@pytest.fixture
def api(server_factory) -> httpx.Client:
    """A client of an open server (auth off) with model 'churn' registered."""
    client = server_factory(auth="off")
    r = client.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA})
    assert r.status_code == 201, r.text
    return client
