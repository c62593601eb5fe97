"""A server on SQLite only, for the audit tests about HTTP behaviour (not storage).

Each test module wraps :func:`sqlite_servers` in its own fixture (a conftest.py in
tests/audit would clash with tests/conftest.py under --doctest-modules)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from support.servers import thread_server
from vigil.config import load_settings
from vigil.store import Store, open_store


def sqlite_servers(tmp_path: Path) -> Iterator[tuple[Callable[..., httpx.Client], Store]]:
    """Start servers (settings as keyword arguments) on one fresh SQLite store; yields
    ``(start, store)`` and stops them afterwards."""
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
