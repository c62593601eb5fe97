"""Signing in to the dashboard with an API key: server-side sessions, scopes, CSRF, no key
in URLs or cookies."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(tmp_path):
    """SQLite only: Sign-in touches no SQL of its own (the page tests run on PostgreSQL too)."""
    return f"sqlite:///{tmp_path / 'vigil.db'}"


@pytest.fixture
def keys(store):
    out = {}
    for scope in ("ingest", "read", "write"):
        _, out[scope] = store.create_api_key(f"ui-{scope}", [scope])
    return out


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _sign_in(client, key: str, next_path: str = "/"):
    form = client.get("/ui/login", params={"next": next_path})
    assert form.status_code == 200
    return client.post("/ui/login", data={"key": key, "next": next_path, "csrf": _csrf(form.text)})


def _session_cookie(response) -> str:
    return next(
        v
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and v.startswith("vigil_session=")
    )


def test_pages_ask_for_a_key_once_and_keep_only_a_session_id(server_factory, keys, tmp_path):
    client = server_factory(auth="required")
    r = client.get("/ui/models/churn?range=6h")
    assert r.status_code == 401 and 'type="password"' in r.text
    assert 'name="next" value="/ui/models/churn?range=6h"' in r.text
    r = _sign_in(client, keys["read"], "/?range=24h")
    assert r.status_code == 303 and r.headers["location"] == "/?range=24h"
    cookie = _session_cookie(r)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age" not in cookie
    assert "Secure" not in cookie  # plain http on loopback
    session_id = client.cookies["vigil_session"]
    assert len(session_id) >= 43 and keys["read"] not in cookie
    assert all(keys["read"] not in v for k, v in r.headers.multi_items())
    assert keys["read"] not in r.headers["location"]
    # the store keeps the id's hash, not the id: a database reader cannot take the session
    assert session_id.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("vigil.db*"))
    page = client.get("/?range=24h")
    assert page.status_code == 200 and "Sign out" in page.text
    assert keys["read"] not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    out = client.post("/ui/logout", data={"csrf": _csrf(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/").status_code == 401
    # logout ended the session on the server: the old cookie, replayed, is refused
    client.cookies.set("vigil_session", session_id)
    r = client.get("/")
    assert r.status_code == 401 and "session ended" in r.text


def test_revoking_the_key_ends_its_sessions(server_factory, store):
    client = server_factory(auth="required")
    record, secret = store.create_api_key("temp", ["read"])
    assert _sign_in(client, secret).status_code == 303
    assert client.get("/").status_code == 200
    store.revoke_api_key(record.id)
    assert client.get("/").status_code == 401


def test_cookies_are_secure_behind_a_trusted_tls_proxy(server_factory, keys):
    proxied = {"X-Forwarded-Proto": "https"}
    untrusting = server_factory(auth="required")
    form = untrusting.get("/ui/login", headers=proxied)
    r = untrusting.post(
        "/ui/login",
        headers=proxied,
        data={"key": keys["read"], "next": "/", "csrf": _csrf(form.text)},
    )
    assert "Secure" not in _session_cookie(r)  # anyone can send the header: not trusted
    trusting = server_factory(auth="required", trust_forwarded_proto=True)
    form = trusting.get("/ui/login", headers=proxied)
    assert "Secure" in form.headers["set-cookie"]  # the CSRF cookie too
    token = _csrf(form.text)  # the client keeps Secure cookies for https: send it by hand
    r = trusting.post(
        "/ui/login",
        headers={**proxied, "Cookie": f"vigil_csrf={token}"},
        data={"key": keys["read"], "next": "/", "csrf": token},
    )
    assert r.status_code == 303 and "Secure" in _session_cookie(r)


def test_wrong_keys_and_scopes_are_refused_with_a_reason(server_factory, keys, store):
    client = server_factory(auth="required")
    r = _sign_in(client, "vgl_nope")
    assert r.status_code == 401 and "unknown or revoked" in r.text
    r = _sign_in(client, keys["ingest"])
    assert r.status_code == 403 and "cannot read dashboards" in r.text
    assert "vigil_session" not in client.cookies
    assert _sign_in(client, "").status_code == 401
    # an ingest key sent as a header is refused by the pages with 403, not 401
    r = client.get("/", headers={"Authorization": f"Bearer {keys['ingest']}"})
    assert r.status_code == 403 and "read scope" in r.text
    # a key in a cookie is no way in (the old cookie held the raw key)
    client.cookies.set("vigil_key", keys["read"])
    assert client.get("/").status_code == 401
    client.cookies.set("vigil_session", keys["read"])
    assert client.get("/").status_code == 401


def test_forms_need_this_browsers_csrf_token(server_factory, keys):
    client = server_factory(auth="required")
    client.get("/ui/login")  # sets the CSRF cookie
    r = client.post("/ui/login", data={"key": keys["read"], "csrf": "forged"})
    assert r.status_code == 403 and "security token" in r.text
    r = client.post(
        "/ui/login", content=b'{"key": 1}', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "HTML form" in r.text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_sign_in_never_redirects_off_the_server(server_factory, keys, target):
    client = server_factory(auth="required")
    r = _sign_in(client, keys["read"], target)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_without_auth_pages_are_open_and_sign_in_is_skipped(server_factory):
    client = server_factory(auth="off")
    assert client.get("/").status_code == 200
    r = client.get("/ui/login", params={"next": "/ui/models/x"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/models/x"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_sessions_branch_downgrades_alone_and_upgrades_again(backend, tmp_path, request):
    """Migration 0010_sessions: its table comes and goes with its branch, others stay."""
    import sqlalchemy as sa

    from vigil.store import migrate, open_store

    url = (
        f"sqlite:///{tmp_path / 'm.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    store = open_store(url)
    try:
        tables = set(sa.inspect(store.engine).get_table_names())
        assert "ui_sessions" in tables
        migrate.downgrade(store.engine, "sessions@-1")
        after = set(sa.inspect(store.engine).get_table_names())
        assert after == tables - {"ui_sessions"}
        migrate.upgrade(store.engine)
        assert set(sa.inspect(store.engine).get_table_names()) == tables
        store.check_schema()
    finally:
        store.close()
