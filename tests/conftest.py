"""Fixtures shared by every test: a clean environment, stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from pytest_postgresql.janitor import DatabaseJanitor
from support.pg import pg_bindir, start_postgres
from support.servers import thread_server


@pytest.fixture(autouse=True)
def _clean_vigil_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """Clear VIGIL_* variables and run in a fresh folder so no test sees another's state."""
    for name in list(os.environ):
        if name.startswith("VIGIL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session; in CI a missing server fails the run."""
    if pg_bindir() is None:
        message = "PostgreSQL server binaries not found (install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: the PostgreSQL tests must run in CI")
        pytest.skip(message)
    executor, base = start_postgres()
    yield executor
    executor.stop()
    shutil.rmtree(base, ignore_errors=True)


def _pg_database(executor) -> Iterator[str]:
    name = f"vigil_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(
        user=executor.user, host=executor.host, port=executor.port, dbname=name, password=None
    )
    janitor.init()
    try:
        yield f"postgresql+psycopg://{executor.user}@{executor.host}:{executor.port}/{name}"
    finally:
        janitor.drop()


@pytest.fixture
def pg_url(pg_server) -> Iterator[str]:
    """A fresh, empty PostgreSQL database."""
    yield from _pg_database(pg_server)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vigil.db'}"
    else:
        yield from _pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def store(db_url: str):
    """An upgraded store on each backend."""
    from vigil.store import open_store

    s = open_store(db_url)
    yield s
    s.close()


@pytest.fixture
def server_factory(store, tmp_path):
    """Start real HTTP servers on the test's store with settings overrides (an httpx
    client is returned per server); stop them afterwards."""
    import httpx

    from vigil.config import load_settings

    stack = []

    def start(**settings):
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
def allow_private_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let probes and notifiers reach the test's own receivers on loopback (refused by
    default: see vigil.egress)."""
    monkeypatch.setenv("VIGIL_ALLOW_PRIVATE_TARGETS", "127.0.0.0/8,::1")
