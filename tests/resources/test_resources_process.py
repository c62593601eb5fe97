"""Real processes: a child that burns CPU and allocates memory is seen in its samples, which
travel over real HTTP to a real server (with the network's share measured)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time

import pytest

from vigil.engine.metric_sources import get_metric

MiB = 1 << 20

CHILD = textwrap.dedent("""
    import sys, time
    import vigil
    mon = vigil.Monitor("burner", version="2", endpoint=sys.argv[1], spool_dir=sys.argv[2],
                        resources=True, resource_interval_s=0.2, flush_interval_s=0.2)
    mon.log_prediction({"x": 1.0}, 1)
    time.sleep(0.5)                        # idle samples first
    hog = bytearray(300 * 1024 * 1024)     # then 300 MiB, touched page by page
    for i in range(0, len(hog), 4096):
        hog[i] = 1
    end = time.process_time() + 1.0
    while time.process_time() < end:       # and one core busy for 1 s of CPU time
        sum(range(10_000))
    mon.log_client_latency(0.03)
    time.sleep(0.3)
    print(len(hog), flush=True)
    assert mon.close(timeout_s=10)
""")


@pytest.mark.integration
def test_a_child_burning_cpu_and_memory_is_seen(server_factory, store, tmp_path):
    api = server_factory(auth="off")
    assert (
        api.post(
            "/api/v1/models",
            json={
                "name": "burner",
                "schema": {"features": [{"name": "x", "kind": "numeric"}]},
            },
        ).status_code
        == 201
    )
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(api.base_url), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    body = api.get(
        "/api/v1/models/burner/resources", params={"start": started - 60, "step": 60}
    ).json()
    (host,) = body["hosts"]
    assert host["host"] == socket.gethostname() and host["version"] == "2"
    assert host["status"] == "ok"
    # idle, burning and after: how many of each a loaded (or a very fast) machine lets the
    # 0.2 s sampler take varies, so the proof is in what the samples saw, below
    samples = sum(p["samples"] for p in body["series"])
    assert samples >= 3
    peak_rss = max(p["process_rss_bytes_max"] for p in body["series"])
    assert peak_rss > 300 * MiB, peak_rss
    # the second of CPU burned shows in the counter (whatever share of a core the
    # shared test machine gave the child)
    assert host["latest"]["process_cpu_seconds"] >= 1.0
    # the SDK measured its deliveries and the server's Server-Timing: network share known
    assert host["latest"].get("net_sends", 0) >= 1 or any(
        p.get("net_sends") for p in body["series"]
    )
    net = [p for p in body["series"] if "net_network_p50_ms" in p]
    assert net and all(p["net_rtt_p95_ms"] >= p["net_network_p50_ms"] >= 0 for p in net)
    assert any(p.get("client_latency_p50_ms") == 30.0 for p in body["series"])
    # the idle part of the run is in the samples too: CPU was not high throughout
    rows = store.engine.connect()
    try:
        import sqlalchemy as sa

        cpu = [
            r[0]
            for r in rows.execute(
                sa.text("SELECT process_cpu_percent FROM resource_samples ORDER BY ts")
            ).all()
            if r[0] is not None
        ]
    finally:
        rows.close()
    assert max(cpu) > min(cpu) + 10.0 and max(cpu) > 3 * min(cpu), cpu
    model = store.get_model("burner")
    assert get_metric("cpu_percent_max").compute(
        store, model, "2", started - 60, time.time() + 1
    ) == pytest.approx(max(cpu))
    assert (
        get_metric("memory_rss_bytes").compute(store, model, None, started - 60, time.time() + 1)
        > 300 * MiB
    )
