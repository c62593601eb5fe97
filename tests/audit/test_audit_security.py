"""The service under attack: rate limit per key, and the whole OpenAPI fuzzed with
schemathesis against a real server (no 5xx, no hang)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from support.audit_server import sqlite_servers
from support.records import SCHEMA


@pytest.fixture
def sqlite_server(tmp_path):
    yield from sqlite_servers(tmp_path)


def test_rate_limit_per_key(sqlite_server):
    start, store = sqlite_server
    _, first = store.create_api_key("a", ["admin"])
    _, second = store.create_api_key("b", ["admin"])
    api = start(auth="required", rate_limit_per_minute=3)
    one = {"Authorization": f"Bearer {first}"}
    codes = [api.get("/api/v1/models", headers=one).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = api.get("/api/v1/models", headers=one)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert "VIGIL_RATE_LIMIT_PER_MINUTE" in limited.json()["error"]["message"]
    assert int(limited.headers["retry-after"]) >= 1
    assert (
        api.get("/api/v1/models", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    )
    assert all(api.get("/healthz").status_code == 200 for _ in range(5))


@pytest.fixture
def fuzzed_api(sqlite_server):
    """A real server on SQLite (the fuzz is about HTTP handling, one backend suffices)."""
    client = sqlite_server[0](auth="off")
    assert (
        client.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code == 201
    )
    return schemathesis.openapi.from_url(f"{client.base_url}/openapi.json")


fuzz = schemathesis.pytest.from_fixture("fuzzed_api")


@pytest.mark.integration
@pytest.mark.slow  # about 12 s on a loaded 2-core machine
@fuzz.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
def test_openapi_fuzz_finds_no_server_errors(case):
    response = case.call(timeout=10)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
