"""Three `vigil server` replicas on one PostgreSQL under mixed traffic; the leader of
every job is killed with -9.

Real processes, a real HTTP receiver for webhook notifications, OTLP metrics and probe
requests. Another replica must lead each job within the stated takeover time, and across
the kill: every prediction stored exactly once (clients resend to a survivor what the
dead replica did not answer), one firing notification, each rule round claimed once,
exported ranges that tile time without overlap or gap (each minute published once), and
probe requests never closer together than half their interval.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from support.servers import free_port, wait_ready

from vigil.store import open_store
from vigil.store.leases import Leases

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.postgres]

SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
TTL_S = 3.0
TAKEOVER_S = TTL_S * 4 / 3  # what /readyz states
SLACK_S = 4.0  # polling and a loaded 2-core machine
PROBE_INTERVAL_S = 2.0


class Receiver:
    """Records webhook bodies, OTLP metric requests and probe hits (with arrival time)."""

    def __init__(self) -> None:
        self.hooks: list[dict] = []
        self.otlp: list[dict] = []
        self.probes: list[float] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def do_GET(self) -> None:
                with outer.lock:
                    outer.probes.append(time.time())
                self._answer()

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    (outer.otlp if self.path.endswith("/v1/metrics") else outer.hooks).append(body)
                self._answer()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _wait(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _ready(url: str) -> dict | None:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None


def test_killing_the_leader_of_every_job_loses_and_repeats_nothing(pg_url, tmp_path):
    store = open_store(pg_url)  # migrated once, before the replicas start
    receiver = Receiver()
    env = {
        **os.environ,
        "VIGIL_LEASE_TTL_S": str(TTL_S),
        "VIGIL_RULES_INTERVAL_S": "1",
        "VIGIL_AGGREGATE_INTERVAL_S": "0.5",
        "VIGIL_REGISTRY_CHECK_INTERVAL_S": "1",
        "VIGIL_OTLP_ENDPOINT": receiver.url,
        "VIGIL_OTLP_INTERVAL_S": "1",
        "VIGIL_EXPORT_LAG_S": "0",
        "VIGIL_EXPORT_BACKFILL_S": "900",
        "VIGIL_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8",
        "VIGIL_AUTH": "off",
    }
    procs: list[subprocess.Popen] = []
    urls: list[str] = []
    logs = []
    stop_traffic = threading.Event()
    try:
        for i in range(3):
            port = free_port()
            log = open(tmp_path / f"replica{i}.log", "wb")  # noqa: SIM115
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "vigil.cli.main",
                        "server",
                        "--db",
                        pg_url,
                        "--port",
                        str(port),
                        "--home",
                        str(tmp_path),
                        "--no-upgrade",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
            wait_ready(urls[-1], timeout_s=120, proc=procs[-1])  # the first leads all
        first = _ready(urls[0])
        assert first is not None and sorted(first["leads"]) == sorted(
            ["rules", "exports", "retention", "quality", "registry", "probes"]
        )
        assert first["takeover_s"] == pytest.approx(TAKEOVER_S)
        assert all(_ready(u)["leads"] == [] for u in urls[1:])

        api = httpx.Client(base_url=urls[1], timeout=60)
        assert api.post("/api/v1/models", json={"name": "m", "schema": SCHEMA}).status_code == 201
        assert (
            api.put(
                "/api/v1/notifiers/hook",
                json={"type": "webhook", "url": f"{receiver.url}/hook", "retries": 0},
            ).status_code
            == 201
        )
        assert (
            api.post(
                "/api/v1/rules",
                json={
                    "name": "traffic",
                    "model": "m",
                    "metric": "count",
                    "op": ">",
                    "threshold": 0,
                    "window": "15m",
                    "notifiers": ["hook"],
                },
            ).status_code
            == 201
        )
        assert (
            api.post(
                "/api/v1/models/m/probes",
                json={
                    "name": "up",
                    "url": f"{receiver.url}/probe",
                    "interval_s": PROBE_INTERVAL_S,
                    "timeout_s": 1,
                },
            ).status_code
            == 201
        )

        # mixed traffic: 3 clients, batches to the replicas in turn, reads in between;
        # a batch the dead replica did not answer goes to the next one (ids dedupe)
        sent: set[str] = set()
        errors: list[str] = []
        lock = threading.Lock()
        counter = itertools.count()

        def client(c: int) -> None:
            with httpx.Client(timeout=60) as http:
                for b in itertools.count():
                    if stop_traffic.is_set():
                        return
                    now = time.time()
                    batch = [
                        {
                            "id": f"c{c}-{b}-{k}",
                            "ts": now - (k * 37 % 600),
                            "inputs": {"x": float(k)},
                            "outputs": 1.0,
                        }
                        for k in range(50)
                    ]
                    for _attempt in range(12):
                        base = urls[next(counter) % 3]
                        try:
                            r = http.post(
                                f"{base}/api/v1/models/m/predictions", json={"records": batch}
                            )
                        except httpx.HTTPError:
                            continue  # the killed replica: resend elsewhere
                        if r.status_code == 200:
                            break
                        with lock:
                            errors.append(f"{r.status_code} {r.text[:200]}")
                    else:
                        with lock:
                            errors.append(f"batch c{c}-{b} never stored")
                    with lock:
                        sent.update(rec["id"] for rec in batch)
                    if b % 3 == 0:
                        with contextlib.suppress(httpx.HTTPError):
                            http.get(
                                f"{base}/api/v1/models/m/metrics",
                                params={"start": now - 900, "end": now + 60},
                            )

        clients = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(3)]
        for t in clients:
            t.start()

        _wait(lambda: receiver.hooks, 90, "the firing notification")
        _wait(lambda: len(receiver.probes) >= 3, 90, "three probe runs")
        _wait(lambda: receiver.otlp, 90, "the backfill export")
        leases = Leases(store)
        _wait(lambda: len(leases.rounds("rules")) >= 3, 90, "three rule rounds")

        procs[0].send_signal(signal.SIGKILL)  # the leader of every job
        killed = time.monotonic()
        procs[0].wait(30)
        took: dict[str, float] = {}

        def all_led() -> bool:
            for u in urls[1:]:
                ready = _ready(u) or {"leads": []}
                for job in ready["leads"]:
                    took.setdefault(job, time.monotonic() - killed)
            return len(took) == 6

        _wait(all_led, 120, "a new leader of every job")
        assert max(took.values()) <= TAKEOVER_S + SLACK_S, took
        leaders = [set((_ready(u) or {"leads": []})["leads"]) for u in urls[1:]]
        assert not leaders[0] & leaders[1]  # one leader per job

        # after the takeover: rule rounds by the new leader, probes, a new export range
        _wait(
            lambda: sum(r["token"] == 2 for r in leases.rounds("rules")) >= 3,
            90,
            "rule rounds by the new leader",
        )
        probes_at_kill = len(receiver.probes)
        _wait(lambda: len(receiver.probes) >= probes_at_kill + 3, 90, "probes after the kill")
        _wait(
            lambda: any(
                r["token"] == 2 and r["state"] == "done" for r in leases.rounds("exports:otlp")
            ),
            150,
            "an export range by the new leader (at the next minute)",
        )
        stop_traffic.set()
        for t in clients:
            t.join(120)

        # predictions: each id stored once, none lost
        assert not errors, errors[:3]
        model = store.get_model("m")
        assert store.count("predictions", model.id) == len(sent)

        # one firing notification, in spite of three replicas and a new leader
        firing = [h for h in receiver.hooks if h.get("status") == "firing"]
        assert len(firing) == 1, receiver.hooks

        # each rule round once: distinct keys, each done by one holder (the dead leader
        # may have left its last round started)
        rounds = leases.rounds("rules")
        assert len({r["round_key"] for r in rounds}) == len(rounds)
        # (oldest first: the new leader's newest round may still be running)
        assert all(r["state"] == "done" for r in [r for r in rounds if r["token"] == 2][:-1])
        assert {r["token"] for r in rounds} == {1, 2}

        # exports: the ranges tile time, and each (version, minute) point was sent once
        ranges = sorted(
            (int(r["round_key"]), int(r["position"]))
            for r in leases.rounds("exports:otlp")
            if r["state"] == "done"
        )
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges)), ranges
        points = [
            (p["startTimeUnixNano"], json.dumps(p["attributes"], sort_keys=True))
            for body in receiver.otlp
            for rm in body["resourceMetrics"]
            for sm in rm["scopeMetrics"]
            for m in sm["metrics"]
            if m["name"] == "vigil.model.requests"
            for p in m["sum"]["dataPoints"]
        ]
        assert points and len(points) == len(set(points))

        # probes: never twice within an interval (three replicas, one leader at a time)
        hits = sorted(receiver.probes)
        gaps = [b - a for a, b in itertools.pairwise(hits)]
        assert min(gaps) >= PROBE_INTERVAL_S / 2, gaps
        print(
            f"\ntakeover per job (s): { {k: round(v, 2) for k, v in took.items()} }; "
            f"stated {TAKEOVER_S:.1f}; predictions {len(sent)}; rule rounds {len(rounds)}; "
            f"export ranges {len(ranges)}; probe gaps min {min(gaps):.2f} "
            f"max {max(gaps):.2f}"
        )
    finally:
        stop_traffic.set()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
        receiver.server.shutdown()
        store.close()
        for i in range(3):
            path = Path(tmp_path / f"replica{i}.log")
            if path.exists():
                tail = path.read_text(errors="replace")[-3000:]
                print(f"--- replica{i} log tail ---\n{tail}")
