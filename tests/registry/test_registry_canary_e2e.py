"""Canary releases end to end: a `vigil server` process judges the canary while an
application following the alias with the SDK routes real traffic to it.

A bad canary (5x stable's error rate, 10 % of traffic) must be rolled back before it has
served 500 predictions; one at parity must be promoted; the failed requests that reached
users are compared with a plain promotion guarded by a rollback policy (printed, and
recorded in bench/README.md).
"""

from __future__ import annotations

import random
import time
from collections import Counter

import httpx
import pytest
from support.records import SCHEMA
from support.servers import free_port, start_server_process, wait_ready

import vigil
from vigil.registry import Registry

STABLE_FAIL = 0.02
RATE = 250.0  # requests per second the application serves


@pytest.fixture
def server(store, tmp_path, db_url):
    """A `vigil server` process on the test's database, checking canaries twice a second."""
    port = free_port()
    proc = start_server_process(
        db_url,
        port,
        home=tmp_path / "home",
        env={"VIGIL_REGISTRY_CHECK_INTERVAL_S": "0.5", "VIGIL_AGGREGATE_INTERVAL_S": "0.5"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc=proc)
        r = httpx.post(f"{url}/api/v1/models", json={"name": "churn", "schema": SCHEMA})
        assert r.status_code in (200, 201), r.text
        reg = Registry(store, tmp_path / "home", actor="tester")
        for v in ("1", "2"):
            reg.register("churn", v)
        reg.promote("churn", "production", "1")
        yield url, reg
    finally:
        proc.terminate()
        proc.wait(30)


def _traffic(mon, fail, done, limit_s=120.0, seed=7):
    """Serve requests at RATE per second through ``mon.serve`` until ``done()``; return the
    predictions served and failed per version."""
    rng = random.Random(seed)
    served: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    t0 = time.monotonic()
    i = 0
    while not done():
        assert time.monotonic() - t0 < limit_s, f"undecided after {dict(served)}"
        version = None
        try:
            with mon.serve({"age": 30 + i % 40, "plan": "pro"}, subject_id=f"u{i}") as obs:
                version = obs.version
                served[version] += 1
                if rng.random() < fail[version]:
                    raise RuntimeError("model failed")
                obs.output = 1
        except RuntimeError:
            failed[version] += 1
        i += 1
        delay = t0 + i / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return served, failed


def _monitor(url, tmp_path, loaded):
    return vigil.Monitor(
        "churn",
        endpoint=url,
        version_from="churn@production",
        on_version_change=loaded.append,
        on_canary_change=loaded.append,
        follow_interval_s=0.2,
        flush_interval_s=0.2,
        spool_dir=tmp_path / "spool",
    )


def _wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.integration
def test_a_bad_canary_is_rolled_back_before_500_predictions(server, tmp_path, capsys):
    url, reg = server
    fail = {"1": STABLE_FAIL, "2": 5 * STABLE_FAIL}
    loaded: list = []
    mon = _monitor(url, tmp_path, loaded)
    try:
        r = httpx.put(
            f"{url}/api/v1/models/churn/aliases/production/canary",
            json={"version": "2", "share": 0.1, "reason": "e2e"},
        )
        assert r.status_code == 200, r.text
        _wait(lambda: mon.canary is not None)
        assert mon.canary == {"version": "2", "share": 0.1, "mode": "canary"}
        served, failed = _traffic(mon, fail, lambda: mon.canary is None)
        assert mon.flush()
    finally:
        mon.close()
    alias = reg.alias("churn", "production")
    assert alias["version"] == "1" and alias["canary"] is None
    entry = reg.history("churn", "production")[-1]
    assert entry["action"] == "canary_rollback"
    assert served["2"] < 500, served
    assert loaded[-1] is None  # the application was told the canary ended
    # the server saw the canary's predictions tagged with the version that served them
    ev = entry["details"]["metrics"]["error_rate"]
    assert 0 < ev["canary"]["n"] <= served["2"]
    with capsys.disabled():
        print(
            f"\ncanary at 10 %, 5x errors: rolled back after {served['2']} canary "
            f"predictions ({served['1']} stable); failed requests that reached users "
            f"from the canary: {failed['2']}"
        )
    (tmp_path / "canary.txt").write_text(f"{served['2']} {failed['2']}")


@pytest.mark.integration
def test_a_canary_at_parity_is_promoted(server, tmp_path):
    url, reg = server
    fail = {"1": STABLE_FAIL, "2": STABLE_FAIL}
    loaded: list = []
    mon = _monitor(url, tmp_path, loaded)
    try:
        r = httpx.put(
            f"{url}/api/v1/models/churn/aliases/production/canary",
            json={"version": "2", "share": 0.5, "tolerance": 0.04},
        )
        assert r.status_code == 200, r.text
        _wait(lambda: mon.canary is not None)
        served, _ = _traffic(mon, fail, lambda: mon.version == "2" and mon.canary is None)
    finally:
        mon.close()
    assert reg.alias("churn", "production")["version"] == "2"
    entry = reg.history("churn", "production")[-1]
    assert entry["action"] == "canary_promote" and entry["actor"] == "vigil:canary"
    assert mon.serving_version("anyone") == "2"
    assert served["2"] > 0 and loaded[-2:] == ["2", None]


@pytest.mark.integration
def test_plain_promotion_for_comparison(server, tmp_path, capsys):
    """The same bad version promoted outright, guarded by a rollback policy."""
    url, reg = server
    fail = {"1": STABLE_FAIL, "2": 5 * STABLE_FAIL}
    r = httpx.put(
        f"{url}/api/v1/models/churn/aliases/production/policy",
        json={"max": {"error_rate": 0.05}, "min_count": 20, "window_s": 60},
    )
    assert r.status_code == 200, r.text
    loaded: list = []
    mon = _monitor(url, tmp_path, loaded)
    try:
        reg.promote("churn", "production", "2")
        _wait(lambda: mon.version == "2")
        served, failed = _traffic(mon, fail, lambda: mon.version == "1")
    finally:
        mon.close()
    assert reg.history("churn", "production")[-1]["action"] == "auto_rollback"
    with capsys.disabled():
        print(
            f"\nplain promotion, 5x errors: rolled back after {served['2']} predictions; "
            f"failed requests that reached users from the new version: {failed['2']}"
        )
