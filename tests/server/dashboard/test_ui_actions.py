"""Dashboard actions over HTTP: write scope, CSRF, confirmation, stale revisions, errors."""

from __future__ import annotations

import re

import pytest

from vigil.registry import Registry

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(tmp_path):
    """SQLite only: Actions touches no SQL of its own (the page tests run on PostgreSQL too)."""
    return f"sqlite:///{tmp_path / 'vigil.db'}"


@pytest.fixture
def setup(store, tmp_path, server_factory):
    registry = Registry(store, tmp_path)
    for version in ("1", "2", "3"):
        registry.register("churn", version)
    registry.promote("churn", "production", "1")
    registry.promote("churn", "production", "2")
    keys = {s: store.create_api_key(f"ui-{s}", [s])[1] for s in ("read", "write")}
    return server_factory(auth="required"), keys, registry


def _signed_in(client, key):
    form = client.get("/ui/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    assert client.post("/ui/login", data={"key": key, "csrf": csrf}).status_code == 303
    return csrf


def test_promote_after_confirmation_with_a_write_key(setup):
    client, keys, registry = setup
    csrf = _signed_in(client, keys["write"])
    page = client.get(
        "/ui/models/churn/aliases/production/change", params={"action": "promote", "version": "3"}
    )
    assert page.status_code == 200
    assert "points at version\n  <strong>2</strong>" in page.text
    assert 'name="revision" value="2"' in page.text
    r = client.post(
        "/ui/models/churn/aliases/production/change",
        data={
            "csrf": csrf,
            "action": "promote",
            "version": "3",
            "revision": "2",
            "reason": "canary looked fine",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/models/churn?changed=production"
    alias = registry.alias("churn", "production")
    assert alias["resolved_version"] == "3" and alias["revision"] == 3
    (last,) = registry.history("churn", "production", 1)
    assert last["reason"] == "canary looked fine" and last["actor"].startswith("key:")
    # the same confirmation submitted again is stale: 409, nothing moves
    r = client.post(
        "/ui/models/churn/aliases/production/change",
        data={"csrf": csrf, "action": "rollback", "version": "1", "revision": "2"},
    )
    assert r.status_code == 409 and "Changed meanwhile" in r.text
    assert registry.alias("churn", "production")["resolved_version"] == "3"


def test_actions_need_write_scope_and_this_browsers_token(setup):
    client, keys, registry = setup
    csrf = _signed_in(client, keys["read"])
    page = client.get("/ui/models/churn/aliases/production/change")
    assert page.status_code == 403 and "write scope" in page.text
    r = client.post(
        "/ui/models/churn/aliases/production/change",
        data={"csrf": csrf, "action": "rollback", "version": "1", "revision": "2"},
    )
    assert r.status_code == 403
    assert client.post("/ui/alerts/1/ack", data={"csrf": csrf}).status_code == 403
    writer = setup[0]
    writer.cookies.clear()
    csrf = _signed_in(writer, keys["write"])
    r = writer.post(
        "/ui/models/churn/aliases/production/change",
        data={"csrf": "forged", "action": "rollback", "version": "1", "revision": "2"},
    )
    assert r.status_code == 403 and "security token" in r.text
    assert registry.alias("churn", "production")["resolved_version"] == "2"


def test_bad_action_input_is_a_clear_4xx_page(setup):
    client, keys, _ = setup
    csrf = _signed_in(client, keys["write"])
    cases = [
        ("get", "/ui/models/churn/aliases/staging/change", {}, 404, "no alias"),
        (
            "get",
            "/ui/models/churn/aliases/production/change?action=promote&version=9",
            {},
            404,
            "has no version &#39;9&#39;",
        ),
        (
            "get",
            "/ui/models/churn/aliases/production/change?action=delete",
            {},
            400,
            "Unknown action",
        ),
        (
            "get",
            "/ui/models/churn/aliases/production/change?action=promote",
            {},
            400,
            "Choose the version",
        ),
        (
            "post",
            "/ui/models/churn/aliases/production/change",
            {"action": "rollback"},
            400,
            "lacks the alias revision",
        ),
        ("post", "/ui/alerts/abc/ack", {}, 404, "No alert with id"),
        ("post", "/ui/alerts/999/ack", {}, 404, "No alert with id 999"),
        ("post", "/ui/alerts/999/silence", {"for": "1h"}, 404, "No alert with id 999"),
        ("get", "/ui/alerts?state=sleeping", None, 400, "must be one of active, resolved, all"),
    ]
    for method, path, form, status, message in cases:
        r = client.get(path) if method == "get" else client.post(path, data={"csrf": csrf, **form})
        assert r.status_code == status, (path, r.status_code, r.text[-400:])
        assert "text/html" in r.headers["content-type"] and message in r.text, path


def test_audit_log_page_needs_admin_and_shows_dashboard_actions(setup, store):
    client, keys, _ = setup
    csrf = _signed_in(client, keys["write"])
    assert client.get("/ui/audit").status_code == 403
    client.post(
        "/ui/models/churn/aliases/production/change",
        data={"csrf": csrf, "action": "rollback", "version": "1", "revision": "2"},
    )
    _, admin = store.create_api_key("ui-admin", ["admin"])
    page = client.get(
        "/ui/audit",
        params={"action": "registry.rollback"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert page.status_code == 200
    rows = page.text.split("<tbody>")[1].count("<tr>")
    assert rows == 1 and "registry.rollback" in page.text and "churn@production" in page.text
