"""Scheduled probes run by a real server against a real HTTP endpoint: latency, time to
first byte, failures; and the probe API's validation."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from support.aio import run_async
from support.servers import free_port

from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.leader import Leadership
from vigil.engine.resources.probe import ProbeScheduler, probe_stats, run_probe, validate_probe
from vigil.errors import ValidationFailedError
from vigil.store.resources import queries as rq

# these tests send to receivers on loopback, which vigil refuses by default
pytestmark = pytest.mark.usefixtures("allow_private_targets")


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, bytes]]] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        _Handler.seen.append((self.command, self.path, self.rfile.read(length)))
        if self.path == "/broken":
            self.send_response(500)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.flush()
        time.sleep(0.15)  # the body comes well after the headers
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_run_probe_measures_ttfb_latency_and_failures(endpoint):
    async def go():
        async with httpx.AsyncClient() as client:
            spec = validate_probe(
                {"url": f"{endpoint}/predict", "method": "POST", "body": {"x": 1}, "timeout_s": 2}
            )
            ok = await run_probe(client, spec)
            broken = await run_probe(client, validate_probe({"url": f"{endpoint}/broken"}))
            expected = await run_probe(
                client, validate_probe({"url": f"{endpoint}/broken", "expect_status": 500})
            )
            refused = await run_probe(
                client, validate_probe({"url": f"http://127.0.0.1:{free_port()}/", "timeout_s": 1})
            )
            return ok, broken, expected, refused

    ok, broken, expected, refused = run_async(go())
    assert ok["ok"] and ok["status"] == 200 and ok["error"] is None
    assert ok["latency_ms"] >= ok["ttfb_ms"] + 100  # headers first, body 150 ms later
    assert ("POST", "/predict", b'{"x":1}') in _Handler.seen
    assert not broken["ok"] and broken["status"] == 500
    assert broken["error"] == "unexpected status 500"
    assert expected["ok"]
    assert not refused["ok"] and refused["status"] is None
    assert refused["error"].startswith("ConnectError")
    assert refused["latency_ms"] is None
    stats = probe_stats([ok, broken, expected, refused])
    assert stats["count"] == 4 and stats["failures"] == 2 and stats["failure_rate"] == 0.5


def test_probe_spec_validation_names_fields():
    with pytest.raises(ValidationFailedError) as info:
        validate_probe(
            {
                "url": "ftp://x",
                "method": "PUT",
                "interval_s": 0.1,
                "timeout_s": -1,
                "expect_status": 99,
                "extra": 1,
            }
        )
    fields = {d["field"] for d in info.value.details}
    assert fields == {"body", "url", "method", "interval_s", "timeout_s", "expect_status"}
    with pytest.raises(ValidationFailedError, match="invalid") as info:
        validate_probe({"url": "http://h/", "interval_s": 2, "timeout_s": 5})
    assert info.value.details[0]["field"] == "timeout_s"


@pytest.mark.integration
def test_server_runs_probes_on_schedule(server_factory, endpoint):
    api = server_factory(auth="off")
    assert (
        api.post("/api/v1/models", json={"name": "m", "schema": {"features": []}}).status_code
        == 201
    )
    r = api.post("/api/v1/models/m/probes", json={"url": "ftp://nope"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "url"
    assert api.post("/api/v1/models/nope/probes", json={"url": f"{endpoint}/"}).status_code == 404
    good = api.post(
        "/api/v1/models/m/probes",
        json={"name": "predict", "url": f"{endpoint}/predict", "interval_s": 1, "timeout_s": 1},
    )
    bad = api.post(
        "/api/v1/models/m/probes",
        json={
            "name": "down",
            "url": f"http://127.0.0.1:{free_port()}/",
            "interval_s": 1,
            "timeout_s": 0.5,
        },
    )
    assert good.status_code == bad.status_code == 201, good.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        probes = {p["name"]: p for p in api.get("/api/v1/models/m/probes").json()["probes"]}
        if all(p["stats"]["count"] >= 2 for p in probes.values()):
            break
        time.sleep(0.2)
    ok, down = probes["predict"], probes["down"]
    assert ok["stats"]["count"] >= 2 and ok["stats"]["failures"] == 0
    assert ok["stats"]["latency_p50_ms"] > ok["stats"]["ttfb_p50_ms"]
    assert ok["recent"][0]["status"] == 200
    assert down["stats"]["failure_rate"] == 1.0
    assert down["recent"][0]["error"].startswith("ConnectError")
    text = api.get("/metrics").text
    assert 'vigil_probe_up{model_name="m",probe="predict"} 1.0' in text
    assert 'vigil_probe_up{model_name="m",probe="down"} 0.0' in text
    assert 'vigil_probe_ttfb_seconds{model_name="m",probe="predict"}' in text
    # the probes appear with the model's resources, and as rule metrics
    res = api.get("/api/v1/models/m/resources").json()
    assert {p["name"] for p in res["probes"]} == {"predict", "down"}
    # deleting stops the probe and removes its results
    r = api.delete(f"/api/v1/models/m/probes/{down['id']}")
    assert r.status_code == 200
    assert api.delete(f"/api/v1/models/m/probes/{down['id']}").status_code == 404
    names = [p["name"] for p in api.get("/api/v1/models/m/probes").json()["probes"]]
    assert names == ["predict"]


def test_probe_rule_metrics(store):
    from vigil.engine.metric_sources import get_metric

    Ingestor(store).register_model({"name": "m", "schema": {"features": []}})
    model = store.get_model("m")
    probe = rq.create_probe(store, model.id, validate_probe({"url": "http://h/"}))
    now = time.time()
    for i, (ok, ms) in enumerate([(True, 10.0), (True, 30.0), (False, None), (True, 20.0)]):
        rq.insert_probe_result(
            store,
            probe["id"],
            {
                "ts": now - 10 + i,
                "ok": ok,
                "status": 200 if ok else None,
                "latency_ms": ms,
                "ttfb_ms": ms,
                "error": None if ok else "ConnectError",
            },
        )
    rate = get_metric("probe_failure_rate").compute(store, model, None, now - 60, now)
    assert rate == 0.25
    p95 = get_metric("probe_latency_p95").compute(store, model, None, now - 60, now)
    assert p95 == pytest.approx(0.030)
    assert get_metric("probe_latency_p95").compute(store, model, None, now - 600, now - 60) is None


def test_a_run_scheduled_by_a_deposed_leader_is_not_sent(store, endpoint):
    """Leadership is checked when a run is scheduled, but the run starts later: by then
    another replica may lead. The run's fenced claim refuses it, and the new leader
    resumes one interval after the deposed leader's last claimed run."""
    Ingestor(store).register_model({"name": "m", "schema": {"features": []}})
    model = store.get_model("m")
    probe = rq.create_probe(store, model.id, validate_probe({"url": f"{endpoint}/up"}))
    probe["interval_s"] = 30.0
    leader = Leadership(store, jobs=["probes"], ttl_s=60.0).start()
    try:
        scheduler = ProbeScheduler(store, leadership=leader)

        async def one_run() -> None:
            async with httpx.AsyncClient() as client:
                await scheduler._run_one(client, probe)

        run_async(one_run())
        assert len(_Handler.seen) == 1  # the leader's run went out, with its result
        assert len(rq.probe_results(store, probe["id"], 0, time.time() + 60)) == 1
        claimed = leader.leases.last_position(f"probes:{probe['id']}")
        assert claimed is not None
        # another replica takes the lease (this one's renewals stalled past the expiry)
        new = leader.leases.acquire("probes", "other", 60.0, now=time.time() + 120)
        assert new is not None and leader.leads("probes")  # still trusts its lease locally
        run_async(one_run())  # ... but the run is refused at its claim
        assert len(_Handler.seen) == 1
        assert len(rq.probe_results(store, probe["id"], 0, time.time() + 60)) == 1
        # the new leader is due one interval after the last claimed run
        other = ProbeScheduler(store, leadership=leader)
        due = other._resume([probe])[probe["id"]]
        assert due - time.monotonic() == pytest.approx(claimed + 30.0 - time.time(), abs=1.0)
    finally:
        leader.stop()
