"""The insight routes under schemathesis: odd parameters give 4xx, never a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from support.audit_server import sqlite_servers
from support.records import SCHEMA


@pytest.fixture
def insight_api(tmp_path):
    servers = sqlite_servers(tmp_path)
    start, _store = next(servers)
    client = start(auth="off")
    assert (
        client.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code == 201
    )
    schema = schemathesis.openapi.from_url(f"{client.base_url}/openapi.json")
    yield schema.include(path_regex="/(forecast|explain|suggestions)")
    next(servers, None)  # stops the servers


fuzz = schemathesis.pytest.from_fixture("insight_api")


@pytest.mark.integration
@fuzz.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
def test_insight_routes_answer_odd_input_without_server_errors(case):
    response = case.call(timeout=30)
    assert response.status_code < 500, (
        case.method,
        case.formatted_path,
        case.query,
        response.text[:300],
    )
