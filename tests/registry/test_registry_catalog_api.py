"""Editing, archiving and searching versions over real HTTP, in the API key's name; an
unsafe artifact upload is refused at register."""

from __future__ import annotations

import os
import pickle

import pytest

from vigil.registry import Registry

BASE = "/api/v1/models/churn"
SCHEMA = {"task": "binary_classification", "features": [{"name": "x", "kind": "numeric"}]}


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.fixture
def api(server_factory, store, tmp_path):
    """A server with auth required; ``alice`` writes, ``viewer`` reads."""
    client = server_factory(auth="required", registry_check_interval_s=0)
    _, alice = store.create_api_key("alice", ["write"])
    _, viewer = store.create_api_key("viewer", ["read"])
    client.headers["Authorization"] = f"Bearer {alice}"
    assert (
        client.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code == 201
    )
    client.viewer = {"Authorization": f"Bearer {viewer}"}  # type: ignore[attr-defined]
    return client


def _error(resp, status, code):
    assert resp.status_code == status, resp.text
    return resp.json()["error"]


def test_edits_and_status_changes_carry_the_keys_name(api, store, tmp_path):
    for v, acc in (("1", 0.8), ("2", 0.93)):
        assert (
            api.post(
                f"{BASE}/versions",
                json={"version": v, "metrics": {"accuracy": acc}, "tags": {"team": "risk"}},
            ).status_code
            == 201
        )
    resp = api.patch(
        f"{BASE}/versions/1",
        json={"notes": "baseline", "tags": {"stage": "old"}, "untag": ["team"], "reason": "tidy"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["tags"] == {"stage": "old"} and body["notes"] == "baseline"
    actor = body["history"][0]["actor"]
    assert actor.startswith("alice (key:")
    # the read key cannot edit; bad edits name the reason
    assert (
        api.patch(f"{BASE}/versions/1", json={"notes": "x"}, headers=api.viewer).status_code == 403
    )
    err = _error(
        api.patch(f"{BASE}/versions/1", json={"untag": ["nope"]}), 400, "invalid_parameter"
    )
    assert "has no tag 'nope'" in err["message"]
    _error(api.patch(f"{BASE}/versions/1", json={"colour": "red"}), 422, "validation_failed")

    assert api.put(f"{BASE}/aliases/production", json={"version": "2"}).status_code == 200
    err = _error(api.post(f"{BASE}/versions/2/archive"), 409, "version_archived")
    assert "production" in err["message"]
    resp = api.post(f"{BASE}/versions/1/archive", json={"reason": "superseded"})
    assert resp.status_code == 200 and resp.json()["status"] == "archived"
    err = _error(api.put(f"{BASE}/aliases/staging", json={"version": "1"}), 409, "version_archived")
    assert "'1' is archived" in err["message"]
    assert api.post(f"{BASE}/versions/2/deprecate").json()["status"] == "deprecated"

    history = api.get(f"{BASE}/versions/1/history", headers=api.viewer).json()["history"]
    assert [(h["action"], h["actor"]) for h in history] == [("edit", actor), ("archive", actor)]
    assert api.get(f"{BASE}/versions/1", headers=api.viewer).json()["history"] == history
    # the alias history and the audit log name the person too
    alias_history = api.get(f"{BASE}/aliases/production/history").json()["history"]
    assert alias_history[-1]["actor"] == actor
    assert {e["actor"] for e in store.audit_entries() if e["action"].startswith("registry.")} == {
        actor
    }

    def search(**params):
        resp = api.get("/api/v1/registry/versions", params=params, headers=api.viewer)
        assert resp.status_code == 200, resp.text
        return [(r["model"], r["version"], r["status"]) for r in resp.json()["versions"]]

    assert search(metric="accuracy>=0.9") == [("churn", "2", "deprecated")]
    assert search(tag="stage=old") == []
    assert search(tag="stage=old", all="true") == [("churn", "1", "archived")]
    assert search(tag=["team=risk"], metric=["accuracy>0.5"], model="churn") == [
        ("churn", "2", "deprecated")
    ]
    err = _error(
        api.get("/api/v1/registry/versions", params={"metric": "accuracy>>1"}),
        400,
        "invalid_parameter",
    )
    assert "NAME OP NUMBER" in err["message"]
    assert api.post(f"{BASE}/versions/1/restore").json()["status"] == "active"


def test_an_unsafe_upload_is_refused_at_register(api, store, tmp_path):
    evil = pickle.dumps(_Payload())
    err = _error(
        api.post(
            f"{BASE}/versions/1/artifact",
            params={"filename": "m.pkl"},
            content=evil,
            headers={"Content-Type": "application/octet-stream"},
        ),
        409,
        "unsafe_artifact",
    )
    assert "dangerous code" in err["message"]
    _error(api.get(f"{BASE}/versions/1"), 404, "version_not_found")
    refused = [e for e in store.audit_entries() if e["action"] == "registry.refused"]
    assert refused[-1]["details"]["stage"] == "register"
    assert refused[-1]["actor"].startswith("alice (key:")
    dangerous = err["details"]["dangerous"][0].split(": ")[1]
    resp = api.post(
        f"{BASE}/versions/1/artifact",
        params={"filename": "m.pkl", "allow": dangerous},
        content=evil,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["scan"]["allowed"] == [f"m.pkl: {dangerous}"]
    reg = Registry(store, tmp_path, actor="ci")
    assert [v["version"] for v in reg.versions("churn")] == ["1"]
