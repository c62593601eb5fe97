"""The built-in `rejected-records` rule: on by default in the server, fires when records
are rejected at ingest, and users switch it off by setting or by a stored rule."""

from __future__ import annotations

import pytest
from support.records import SCHEMA, record


def _rejecting_traffic(api) -> None:
    assert (
        api.post(
            "/api/v1/models", json={"name": "churn", "schema": SCHEMA, "strict": True}
        ).status_code
        == 201
    )
    recs = [record(0), record(1), record(2, inputs={"age": 1, "plan": "pro", "colour": "red"})]
    r = api.post("/api/v1/models/churn/predictions", json={"records": recs})
    assert r.status_code == 207, r.text


def _fired(api) -> list[tuple[str, str]]:
    notes = api.post("/api/v1/rules/evaluate").json()["notifications"]
    return [(n["rule"], n["labels"]["model"]) for n in notes if n["status"] == "firing"]


def _active(api) -> list[str]:
    return [
        a["rule"] for a in api.get("/api/v1/alerts", params={"state": "active"}).json()["alerts"]
    ]


@pytest.mark.integration
def test_rejections_fire_the_builtin_rule_and_a_stored_rule_switches_it_off(server_factory):
    api = server_factory(auth="off", rules_interval_s=0)
    _rejecting_traffic(api)
    assert _fired(api) == [("rejected-records", "churn")]
    assert _active(api) == ["rejected-records"]
    off = {
        "name": "rejected-records",
        "model": "*",
        "metric": "rejected_rate",
        "threshold": 0,
        "window": "5m",
        "enabled": False,
    }
    assert api.post("/api/v1/rules", json=off).status_code in (200, 201)
    assert _fired(api) == []
    assert _active(api) == []  # the switched-off rule's alert ends


@pytest.mark.integration
def test_the_setting_switches_builtin_rules_off(server_factory):
    api = server_factory(auth="off", rules_interval_s=0, builtin_rules=False)
    _rejecting_traffic(api)
    assert _fired(api) == [] and _active(api) == []
