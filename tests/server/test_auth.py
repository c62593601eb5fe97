"""API keys and scopes on every route, and the auto/required/off modes."""

from __future__ import annotations

import time

import pytest
from support.aio import run_async
from support.records import SCHEMA, record

from vigil.config import load_settings
from vigil.server.app import create_app
from vigil.server.auth import Authenticator

OPEN = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# scopes that may call each route (method, path) — anything not listed needs admin
ALLOWED = {
    ("POST", "/api/v1/models"): {"ingest", "write", "admin"},
    ("GET", "/api/v1/models"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}"): {"read", "ingest", "write", "admin"},
    ("GET", "/api/v1/models/{name}/versions"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/versions"): {"write", "admin"},
    ("GET", "/api/v1/models/{name}/versions/compare"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/versions/{version}"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/versions/{version}/verify"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/versions/{version}/artifact"): {"write", "admin"},
    ("PATCH", "/api/v1/models/{name}/versions/{version}"): {"write", "admin"},
    ("GET", "/api/v1/models/{name}/versions/{version}/history"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/versions/{version}/archive"): {"write", "admin"},
    ("POST", "/api/v1/models/{name}/versions/{version}/deprecate"): {"write", "admin"},
    ("POST", "/api/v1/models/{name}/versions/{version}/restore"): {"write", "admin"},
    ("GET", "/api/v1/registry/versions"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/aliases"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/aliases/{alias}"): {"read", "ingest", "write", "admin"},
    ("PUT", "/api/v1/models/{name}/aliases/{alias}"): {"write", "admin"},
    ("POST", "/api/v1/models/{name}/aliases/{alias}/rollback"): {"write", "admin"},
    ("GET", "/api/v1/models/{name}/aliases/{alias}/history"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/aliases/{alias}/policy"): {"read", "write", "admin"},
    ("PUT", "/api/v1/models/{name}/aliases/{alias}/policy"): {"write", "admin"},
    ("DELETE", "/api/v1/models/{name}/aliases/{alias}/policy"): {"write", "admin"},
    ("PUT", "/api/v1/models/{name}/aliases/{alias}/canary"): {"write", "admin"},
    ("DELETE", "/api/v1/models/{name}/aliases/{alias}/canary"): {"write", "admin"},
    ("GET", "/api/v1/models/{name}/quality"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/quality/reference"): {"write", "admin"},
    ("POST", "/api/v1/models/{name}/quality/concept-drift"): {"write", "admin"},
    ("GET", "/api/v1/models/{name}/golden-datasets"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/golden-datasets"): {"write", "admin"},
    ("GET", "/api/v1/models/{name}/evaluations"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/evaluations"): {"write", "admin"},
    ("GET", "/api/v1/models/{name}/evaluation-schedules"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/evaluation-schedules"): {"write", "admin"},
    ("DELETE", "/api/v1/models/{name}/evaluation-schedules/{schedule_id}"): {"write", "admin"},
    ("POST", "/api/v1/models/{name}/predictions"): {"ingest", "write", "admin"},
    ("POST", "/api/v1/models/{name}/labels"): {"ingest", "write", "admin"},
    ("POST", "/api/v1/models/{name}/feedback"): {"ingest", "write", "admin"},
    ("GET", "/api/v1/models/{name}/metrics"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/schema"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/resources"): {"ingest", "write", "admin"},
    ("GET", "/api/v1/models/{name}/resources"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/probes"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/probes"): {"write", "admin"},
    ("DELETE", "/api/v1/models/{name}/probes/{probe_id}"): {"write", "admin"},
    ("POST", "/api/v1/models/{name}/reference"): {"write", "admin"},
    ("GET", "/api/v1/models/{name}/reference"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/drift"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/drift/history"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/drift/distributions"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/drift/profile"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/forecast"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/explain"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/suggestions"): {"read", "write", "admin"},
    ("POST", "/api/v1/models/{name}/suggestions/{suggestion_id}/dismiss"): {"write", "admin"},
    ("POST", "/v1/traces"): {"ingest", "write", "admin"},
    ("GET", "/api/v1/models/{name}/genai"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/answers"): {"read", "write", "admin"},
    ("GET", "/metrics"): {"read", "write", "admin"},
    ("GET", "/"): {"read", "write", "admin"},
    ("GET", "/ui/models/{name}"): {"read", "write", "admin"},
    ("GET", "/ui/models/{name}/aliases/{alias}/change"): {"write", "admin"},
    ("POST", "/ui/models/{name}/aliases/{alias}/change"): {"write", "admin"},
    ("GET", "/ui/alerts"): {"read", "write", "admin"},
    ("POST", "/ui/alerts/{alert_id}/ack"): {"write", "admin"},
    ("POST", "/ui/alerts/{alert_id}/silence"): {"write", "admin"},
    ("GET", "/ui/models/{name}/drift"): {"read", "write", "admin"},
    ("GET", "/ui/models/{name}/answers"): {"read", "write", "admin"},
    ("GET", "/ui/alerts/{alert_id}"): {"read", "write", "admin"},
    ("GET", "/api/v1/models/{name}/privacy"): {"read", "write", "admin"},
    ("PUT", "/api/v1/models/{name}/privacy/policies/{field}"): {"write", "admin"},
    ("DELETE", "/api/v1/models/{name}/privacy/policies/{field}"): {"write", "admin"},
    ("PUT", "/api/v1/models/{name}/retention"): {"write", "admin"},
    ("DELETE", "/api/v1/models/{name}/retention"): {"write", "admin"},
    ("GET", "/api/v1/exports/{name}"): {"read", "write", "admin"},
    ("GET", "/api/v1/rules"): {"read", "write", "admin"},
    ("POST", "/api/v1/rules"): {"write", "admin"},
    ("POST", "/api/v1/rules/evaluate"): {"write", "admin"},
    ("GET", "/api/v1/rules/{name}"): {"read", "write", "admin"},
    ("PUT", "/api/v1/rules/{name}"): {"write", "admin"},
    ("DELETE", "/api/v1/rules/{name}"): {"write", "admin"},
    ("GET", "/api/v1/metric-sources"): {"read", "write", "admin"},
    ("GET", "/api/v1/alerts"): {"read", "write", "admin"},
    ("GET", "/api/v1/alerts/{alert_id}"): {"read", "write", "admin"},
    ("POST", "/api/v1/alerts/{alert_id}/ack"): {"write", "admin"},
    ("POST", "/api/v1/alerts/{alert_id}/silence"): {"write", "admin"},
    ("GET", "/api/v1/silences"): {"read", "write", "admin"},
    ("POST", "/api/v1/silences"): {"write", "admin"},
    ("DELETE", "/api/v1/silences/{silence_id}"): {"write", "admin"},
}


def _routes(app):
    """Every (method, path) the app serves, from its OpenAPI description."""
    for path, operations in app.openapi()["paths"].items():
        if path not in OPEN:
            for method in operations:
                yield method.upper(), path


@pytest.fixture
def keys(store):
    out = {}
    for scope in ("ingest", "read", "write", "admin"):
        _, out[scope] = store.create_api_key(f"test-{scope}", [scope])
    revoked, out["revoked"] = store.create_api_key("old", ["admin"])
    store.revoke_api_key(revoked.id)
    return out


def test_every_route_checks_key_and_scope(server_factory, store, keys, tmp_path):
    client = server_factory(auth="required")
    app = create_app(load_settings(home=tmp_path, auth="required"), store)
    routes = sorted(set(_routes(app)))
    assert len(routes) >= 13
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    assert (
        client.post(
            "/api/v1/models", json={"name": "churn", "schema": SCHEMA}, headers=admin
        ).status_code
        == 201
    )
    for method, path in routes:
        url = path.replace("{name}", "churn").replace("{key_id}", "nokey")
        assert client.request(method, url).status_code == 401, (method, path)
        bad = {"Authorization": f"Bearer {keys['revoked']}"}
        assert client.request(method, url, headers=bad).status_code == 401, (method, path)
        assert (
            client.request(method, url, headers={"Authorization": "Basic abc"}).status_code == 401
        )
        allowed = ALLOWED.get((method, path), {"admin"})
        for scope in ("ingest", "read", "write", "admin"):
            headers = {"Authorization": f"Bearer {keys[scope]}"}
            status = client.request(method, url, headers=headers, json={}).status_code
            if scope in allowed:
                assert status not in (401, 403), (method, path, scope, status)
            else:
                assert status == 403, (method, path, scope, status)
    for path in ("/healthz", "/readyz"):
        assert client.get(path).status_code == 200


def test_ingest_key_creates_but_cannot_change_a_model(server_factory, keys):
    client = server_factory(auth="required")
    ingest = {"Authorization": f"Bearer {keys['ingest']}"}
    body = {"name": "churn", "schema": SCHEMA}
    assert client.post("/api/v1/models", json=body, headers=ingest).status_code == 201
    r = client.post("/api/v1/models", json=body, headers=ingest)
    assert r.status_code == 403
    assert "write scope" in r.json()["error"]["message"]
    ok = client.post(
        "/api/v1/models/churn/predictions", json={"records": [record(0)]}, headers=ingest
    )
    assert ok.json()["accepted"] == 1


def test_keys_api_creates_lists_and_revokes(server_factory, keys, store):
    client = server_factory(auth="required")
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    made = client.post("/api/v1/keys", json={"name": "etl", "scopes": ["ingest"]}, headers=admin)
    assert made.status_code == 201
    secret, key_id = made.json()["key"], made.json()["id"]
    listed = client.get("/api/v1/keys", headers=admin).json()["keys"]
    assert key_id in {k["id"] for k in listed}
    assert all("key" not in k and "key_hash" not in k for k in listed)
    bad = client.post("/api/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert bad.status_code == 400
    assert "ingest, read, write, admin" in bad.json()["error"]["message"]
    assert client.delete(f"/api/v1/keys/{key_id}", headers=admin).status_code == 200
    assert client.delete(f"/api/v1/keys/{key_id}", headers=admin).status_code == 404
    assert store.find_api_key(secret).revoked_at is not None
    actions = [
        e["action"] for e in client.get("/api/v1/audit-log", headers=admin).json()["entries"]
    ]
    assert actions[:2] == ["key.revoke", "key.create"]


def test_revoked_key_stops_working_after_the_cache_ttl(store, keys):
    auth = Authenticator(store, required=True, cache_ttl_s=0.0)
    record_ = auth._lookup(keys["read"])
    assert record_ is not None
    store.revoke_api_key(record_.id)
    assert auth._lookup(keys["read"]).revoked_at is not None


def test_a_cached_key_is_answered_on_the_loop_and_a_revoked_one_refused_after_the_ttl(
    store, keys, monkeypatch
):
    """Within the TTL a key is answered from the cache without a thread hand-off or a
    store read; once it is revoked, it is refused as soon as the TTL has passed."""
    import asyncio

    from starlette.requests import Request

    import vigil.server.auth as auth_module
    from vigil.errors import AuthenticationError

    auth = Authenticator(store, required=True, cache_ttl_s=0.5)
    lookups, hops = [], []
    find = store.find_api_key
    monkeypatch.setattr(store, "find_api_key", lambda secret: lookups.append(1) or find(secret))
    hop = auth_module.run_in_threadpool

    async def counted(*args):
        hops.append(1)
        return await hop(*args)

    monkeypatch.setattr(auth_module, "run_in_threadpool", counted)
    header = [(b"authorization", f"Bearer {keys['read']}".encode())]
    request = Request({"type": "http", "headers": header})

    async def scenario() -> float:
        first = await auth.principal(request)
        again = await auth.principal(request)
        assert first == again and first.has("read")
        assert (len(lookups), len(hops)) == (1, 1)  # the second answer came from the cache
        store.revoke_api_key(first.key_id)
        revoked_at = time.monotonic()
        while True:  # refused once the cached answer is older than the TTL
            try:
                await auth.principal(request)
            except AuthenticationError:
                return time.monotonic() - revoked_at
            assert time.monotonic() - revoked_at < 30, "the revoked key was never refused"
            await asyncio.sleep(0.02)

    run_async(scenario())
    assert len(lookups) >= 2  # the store was read again after the TTL


@pytest.mark.parametrize(
    ("host", "mode", "required"),
    [
        ("127.0.0.1", "auto", False),
        ("localhost", "auto", False),
        ("::1", "auto", False),
        ("0.0.0.0", "auto", True),
        ("10.1.2.3", "auto", True),
        ("127.0.0.1", "required", True),
        ("0.0.0.0", "off", False),
    ],
)
def test_auth_modes(host, mode, required):
    assert load_settings(host=host, auth=mode).auth_required is required
