"""Signing in to the dashboard with an API key: cookie, scopes, CSRF, no key in URLs."""

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
    return client.post("/ui/login", data={"key": key, "next": next_path,
                                          "csrf": _csrf(form.text)})


def test_pages_ask_for_a_key_once_and_keep_it_in_an_httponly_cookie(server_factory, keys):
    client = server_factory(auth="required")
    r = client.get("/ui/models/churn?range=6h")
    assert r.status_code == 401 and 'type="password"' in r.text
    assert 'name="next" value="/ui/models/churn?range=6h"' in r.text
    r = _sign_in(client, keys["read"], "/?range=24h")
    assert r.status_code == 303 and r.headers["location"] == "/?range=24h"
    cookie = next(v for k, v in r.headers.multi_items()
                  if k == "set-cookie" and v.startswith("vigil_key="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age" not in cookie
    assert keys["read"] not in r.headers["location"]
    page = client.get("/?range=24h")
    assert page.status_code == 200 and "Sign out" in page.text
    assert keys["read"] not in page.text
    out = client.post("/ui/logout", data={"csrf": _csrf(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/").status_code == 401


def test_wrong_keys_and_scopes_are_refused_with_a_reason(server_factory, keys, store):
    client = server_factory(auth="required")
    r = _sign_in(client, "vgl_nope")
    assert r.status_code == 401 and "unknown or revoked" in r.text
    r = _sign_in(client, keys["ingest"])
    assert r.status_code == 403 and "cannot read dashboards" in r.text
    assert "vigil_key" not in client.cookies
    assert _sign_in(client, "").status_code == 401
    # an ingest key sent as a header is refused by the pages with 403, not 401
    r = client.get("/", headers={"Authorization": f"Bearer {keys['ingest']}"})
    assert r.status_code == 403 and "read scope" in r.text
    # the cookie is checked like a header on every request: a revoked key is refused
    record, secret = store.create_api_key("revoked", ["read"])
    store.revoke_api_key(record.id)
    client.cookies.set("vigil_key", secret)
    r = client.get("/")
    assert r.status_code == 401 and "unknown or revoked" in r.text


def test_forms_need_this_browsers_csrf_token(server_factory, keys):
    client = server_factory(auth="required")
    client.get("/ui/login")  # sets the CSRF cookie
    r = client.post("/ui/login", data={"key": keys["read"], "csrf": "forged"})
    assert r.status_code == 403 and "security token" in r.text
    r = client.post("/ui/login", content=b'{"key": 1}',
                    headers={"Content-Type": "application/json"})
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
