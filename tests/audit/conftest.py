"""A server on SQLite only, for the audit tests about HTTP behaviour (not storage)."""

from __future__ import annotations

import httpx
import pytest
from support.servers import thread_server

from vigil.config import load_settings
from vigil.store import open_store


@pytest.fixture
def sqlite_server(tmp_path):
    """Start servers (settings as keyword arguments) on one fresh SQLite store; yields
    ``(start, store)``."""
    store = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    stack = []

    def start(**settings) -> httpx.Client:
        ctx = thread_server(load_settings(home=tmp_path, **settings), store)
        client = httpx.Client(base_url=ctx.__enter__(), timeout=30)
        stack.append((ctx, client))
        return client

    yield start, store
    for ctx, client in reversed(stack):
        client.close()
        ctx.__exit__(None, None, None)
    store.close()
