"""Canary releases over real HTTP and from the command line."""

from __future__ import annotations

import pytest
from support.records import SCHEMA

from vigil.cli.main import main
from vigil.registry import Registry

BASE = "/api/v1/models/churn/aliases/production"


@pytest.fixture
def api(server_factory, store, tmp_path):
    """An open server (the registry loop off: decisions are not under test here) with churn
    v1 serving production and v2 registered."""
    client = server_factory(auth="off", registry_check_interval_s=0)
    assert (
        client.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code == 201
    )
    reg = Registry(store, tmp_path, actor="ci")
    for v in ("1", "2"):
        reg.register("churn", v)
    reg.promote("churn", "production", "1")
    return client


def _error(resp, status, field):
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert field in error["message"], error
    return error


def test_start_show_and_abort_a_canary(api):
    before = api.get(BASE).headers["etag"]
    r = api.put(
        f"{BASE}/canary",
        json={"version": "2", "share": 0.1, "reason": "try v2", "tolerance": {"error_rate": 0.02}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["canary"]["version"] == "2" and r.headers["etag"] != before
    shown = api.get(BASE)
    assert shown.json()["canary"]["share"] == 0.1
    assert shown.json()["canary"]["tolerance"] == {"error_rate": 0.02}
    assert shown.json()["resolved_version"] == "1"  # stable still serves the alias
    assert api.get(BASE, headers={"If-None-Match": before}).status_code == 200  # moved
    _error(api.put(f"{BASE}/canary", json={"version": "2"}), 400, "runs a canary")
    r = api.delete(f"{BASE}/canary", params={"reason": "enough"})
    assert r.status_code == 200 and r.json()["canary"] is None
    history = api.get(f"{BASE}/history").json()["history"]
    assert [(h["action"], h["version"], h["reason"]) for h in history[-2:]] == [
        ("canary_start", "2", "try v2"),
        ("canary_abort", "2", "enough"),
    ]
    _error(api.delete(f"{BASE}/canary"), 400, "runs no canary")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "2", "share": 2}, "'share'"),
        ({"version": "2", "mode": "dark"}, "'mode'"),
        ({"version": "2", "metrics": ["auc"]}, "'metrics'"),
        ({"version": "2", "on_timeout": "wait"}, "'on_timeout'"),
        ({"version": "9"}, "'9'"),
    ],
)
def test_bad_canaries_are_4xx_naming_the_field(api, body, field):
    r = api.put(f"{BASE}/canary", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert field in r.json()["error"]["message"]


def test_a_stale_revision_is_a_conflict(api):
    rev = api.get(BASE).json()["revision"]
    r = api.put(f"{BASE}/canary", json={"version": "2", "expected_revision": rev + 5})
    assert r.status_code == 409, r.text
    r = api.put(f"{BASE}/canary", json={"version": "2"}, headers={"If-Match": f'"{rev}:1"'})
    assert r.status_code == 200, r.text


def test_canary_from_the_command_line(tmp_path, capsys):
    home = tmp_path / "home"
    common = ["--db", f"sqlite:///{home / 'vigil.db'}", "--home", str(home)]

    def run(*args: str) -> tuple[int, str]:
        try:
            main(["registry", *args, *common])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out + err

    for v in ("1", "4"):
        assert run("register", "churn", v)[0] == 0
    assert run("promote", "churn", "production", "1")[0] == 0
    code, out = run(
        "canary",
        "churn",
        "production",
        "4",
        "--share",
        "0.1",
        "--tolerance",
        "error_rate=0.02",
        "--reason",
        "new features",
    )
    assert code == 0 and "canary of 4 on 10% beside 1" in out, out
    code, out = run("canary", "churn", "production")
    assert code == 0 and '"log_e_rollback"' in out and '"share": 0.1' in out
    code, out = run("canary", "churn", "production", "4", "--share", "3")
    assert code != 0 and "'share' of a canary" in out and "Traceback" not in out
    code, out = run("canary", "churn", "production", "--abort")
    assert code == 0 and "canary aborted, serving 1" in out
    code, out = run("history", "churn", "production")
    assert "canary_start" in out and "canary_abort" in out


def test_the_model_page_shows_the_canary_beside_stable(api, store):
    from vigil.engine.ingest.ingestor import Ingestor

    assert api.put(f"{BASE}/canary", json={"version": "2", "share": 0.25}).status_code == 200
    started = api.get(BASE).json()["canary"]["started_at"]
    records = [
        {
            "id": f"{v}-{i}",
            "version": v,
            "ts": started + i * 1e-4,
            "latency_s": 0.01,
            "inputs": {"age": 30, "plan": "pro"},
            "outputs": 1,
            **({"error": "boom"} if i < errors else {}),
        }
        for v, n, errors in (("1", 30, 3), ("2", 10, 2))
        for i in range(n)
    ]
    assert Ingestor(store).ingest_predictions("churn", records).accepted == 40
    page = api.get("/ui/models/churn")
    assert page.status_code == 200, page.text[:500]
    assert 'data-canary="2"' in page.text and "Canary of 2 on 25.0 %" in page.text
    assert "3 / 30" in page.text and "2 / 10" in page.text
    assert "collecting evidence" in page.text


def test_the_model_page_shows_a_running_canary_beside_stable(api):
    """The dashboard's model page shows the canary's evidence next to stable's: the same
    failure counts the sequential test reads, per version."""
    import re

    from support.records import record

    r = api.put(f"{BASE}/canary", json={"version": "2", "share": 0.3, "reason": "try v2"})
    assert r.status_code == 200, r.text
    records = [record(i, version="1", **({"error": "boom"} if i < 2 else {})) for i in range(40)]
    records += [
        record(100 + i, version="2", **({"error": "boom"} if i < 5 else {})) for i in range(20)
    ]
    sent = api.post("/api/v1/models/churn/predictions", json={"records": records})
    assert sent.status_code == 200 and sent.json()["accepted"] == 60, sent.text
    page = api.get("/ui/models/churn")
    assert page.status_code == 200
    table = re.search(r'<table class="data canary" data-canary="2">(.*?)</table>', page.text, re.S)
    assert table, "no canary table on the model page"
    assert "Stable 1" in table.group(1) and "Canary 2" in table.group(1)
    row = re.search(
        r'<th scope="row">error_rate</th>\s*<td>(\d+) / (\d+)</td>\s*'
        r"<td>(\d+) / (\d+)</td>",
        table.group(1),
    )
    assert row, table.group(1)
    assert tuple(int(x) for x in row.groups()) == (2, 40, 5, 20)
