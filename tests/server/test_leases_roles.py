"""`--role` and `/readyz`: an ingest replica leads no job and runs none; a worker beside
it leads every job; /readyz says what a replica leads and answers 503 when the store
cannot take writes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from support.servers import free_port

from vigil.config import load_settings
from vigil.engine.leader import JOBS
from vigil.server.app import create_app
from vigil.store.leases import Leases

SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}


def _wait(check, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.integration
def test_ingest_role_runs_no_job_while_the_worker_runs_them_all(server_factory, store):
    ingest = server_factory(auth="off", role="ingest", rules_interval_s=0.2, lease_ttl_s=2)
    worker = server_factory(auth="off", role="worker", rules_interval_s=0.2, lease_ttl_s=2)
    ready_i, ready_w = ingest.get("/readyz").json(), worker.get("/readyz").json()
    assert ready_i["role"] == "ingest" and ready_i["leads"] == []
    assert ready_w["role"] == "worker" and sorted(ready_w["leads"]) == sorted(JOBS)
    assert ready_w["store_writable"] is True
    assert ready_w["takeover_s"] == pytest.approx(2 * 4 / 3)
    # both serve the API: ingest through one, read through the other
    assert ingest.post("/api/v1/models", json={"name": "m", "schema": SCHEMA}).status_code == 201
    records = [
        {"id": f"p{i}", "ts": time.time() - 5, "inputs": {"x": i}, "outputs": 1.0}
        for i in range(20)
    ]
    assert (
        ingest.post("/api/v1/models/m/predictions", json={"records": records}).json()["accepted"]
        == 20
    )
    assert worker.get("/api/v1/models/m").status_code == 200
    leases = Leases(store)
    rounds = _wait(lambda: len(r := leases.rounds("rules")) >= 3 and r)
    holders = {i.holder for i in leases.all()}
    assert holders == {ready_w["holder"]}  # the ingest replica never took a lease
    assert {r["holder"] for r in rounds} == {ready_w["holder"]}
    assert len({r["round_key"] for r in rounds}) == len(rounds)


@pytest.mark.integration
def test_readyz_is_503_naming_the_cause_when_the_store_cannot_write(store, tmp_path):
    """SQLite: too little free space; PostgreSQL: the database turned read-only."""
    if store.backend == "postgresql":
        with store.engine.connect() as conn:
            conn.execute(
                sa.text(
                    f'ALTER DATABASE "{store.engine.url.database}" '
                    "SET default_transaction_read_only = on"
                )
            )
            conn.commit()
        store.engine.dispose()  # new connections see the setting
    settings = load_settings(home=tmp_path, auth="off", min_free_bytes=2**62, lease_ttl_s=2)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, store), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up)
        r = httpx.get(f"{url}/readyz", timeout=30)
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unavailable" and body["store_writable"] is False
        assert body["role"] == "all" and isinstance(body["leads"], list)
        if store.backend == "sqlite":  # the free-space check names the cause
            assert "free" in body["reason"]
        else:  # and a replica that cannot write its leases leads nothing
            assert "read-only" in body["reason"] and body["leads"] == []
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_cli_role_is_validated_and_shown_in_help(tmp_path):
    run = [sys.executable, "-m", "vigil.cli.main", "server", "--home", str(tmp_path)]
    bad = subprocess.run(
        [*run, "--role", "leader", "--port", "0"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode != 0
    assert "role" in (bad.stdout + bad.stderr)
    helptext = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=120)
    assert "--role" in helptext.stdout
