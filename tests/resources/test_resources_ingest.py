"""Resource samples over real HTTP on SQLite and PostgreSQL: validation, windows, staleness,
the metrics section, Prometheus series, Server-Timing and rule metrics."""

from __future__ import annotations

import time

import pytest

from vigil.engine.metric_sources import get_metric
from vigil.engine.resources.samples import stale_after_s
from vigil.store import migrate

GiB = float(1 << 30)


def sample(host: str = "web-1", **over):
    out = {
        "host": host,
        "pid": 42,
        "ts": time.time(),
        "interval_s": 10.0,
        "process_cpu_percent": 150.0,
        "process_cpu_seconds": 12.5,
        "process_rss_bytes": 2 * GiB,
        "process_threads": 9.0,
        "process_open_files": 17.0,
        "host_cpu_percent": 40.0,
        "host_cpu_count": 4.0,
        "host_memory_used_bytes": 6 * GiB,
        "host_memory_total_bytes": 16 * GiB,
        "host_load1": 1.5,
    }
    out.update(over)
    return out


@pytest.fixture
def api(server_factory):
    client = server_factory(auth="off")
    r = client.post("/api/v1/models", json={"name": "churn", "schema": {"features": []}})
    assert r.status_code == 201, r.text
    return client


def post(api, samples, **params):
    return api.post("/api/v1/models/churn/resources", json={"samples": samples}, params=params)


def test_impossible_samples_are_rejected_with_field_and_reason(api):
    good = sample()
    bad = [
        sample(process_rss_bytes=-1.0),
        sample(process_cpu_percent=401.0),  # 4 cores
        sample(host_cpu_percent=101.0),
        sample(host_memory_used_bytes=17 * GiB),
        sample(gpus=[{"index": 0, "utilization_percent": 120.0}]),
        sample(host=""),
        sample(process_threads="many"),
        sample(bogus=1),
        sample(host_cpu_count=0.5),
        sample(interval_s=0),
    ]
    r = post(api, [good, *bad])
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["accepted"] == 1
    reasons = {
        e["field"].split(".", 1)[1] if "." in e["field"] else e["field"]: e["reason"]
        for rej in body["rejected"]
        for e in rej["errors"]
    }
    assert [rej["index"] for rej in body["rejected"]] == list(range(1, len(bad) + 1))
    assert reasons["process_rss_bytes"] == "must be >= 0, got -1.0"
    assert "exceeds 100 % x 4 cores = 400 %" in reasons["process_cpu_percent"]
    assert "[0, 100]" in reasons["host_cpu_percent"]
    assert "exceeds host_memory_total_bytes" in reasons["host_memory_used_bytes"]
    assert "[0, 100], got 120.0" in reasons["gpus[0].utilization_percent"]
    assert "host name" in reasons["host"]
    assert "expected a number" in reasons["process_threads"]
    assert "unknown fields ['bogus']" in reasons["samples[8]"]
    assert "whole number" in reasons["host_cpu_count"]
    assert "> 0" in reasons["interval_s"]


def test_non_finite_numbers_rejected_and_resent_samples_are_duplicates(api):
    body = (
        '{"samples": [{"host": "a", "process_cpu_percent": NaN}, '
        '{"host": "b", "process_rss_bytes": Infinity}, {"host": "c"}]}'
    )
    r = api.post(
        "/api/v1/models/churn/resources", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 207, r.text
    errors = [rej["errors"][0] for rej in r.json()["rejected"]]
    assert [e["field"] for e in errors] == [
        "samples[0].process_cpu_percent",
        "samples[1].process_rss_bytes",
    ]
    assert all("finite" in e["reason"] for e in errors)
    # resending a sample (a replayed spool batch) stores nothing twice
    s = sample()
    assert post(api, [s, s]).json() == {"accepted": 1, "duplicates": 1, "rejected": []}
    assert post(api, [s]).json() == {"accepted": 0, "duplicates": 1, "rejected": []}


def test_error_answers_and_server_timing(api):
    r = post(api, [sample(process_rss_bytes=-5.0)])
    assert r.status_code == 422
    assert r.json()["error"]["details"]["rejected"][0]["errors"][0]["field"] == (
        "samples[0].process_rss_bytes"
    )
    r = api.post("/api/v1/models/nope/resources", json={"samples": [sample()]})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    r = api.post("/api/v1/models/churn/resources", json={"rows": []})
    assert r.status_code == 400
    assert "'samples'" in r.json()["error"]["message"]
    r = api.get("/api/v1/models/churn/resources", params={"step": 90})
    assert r.status_code == 400
    assert "'step'" in r.json()["error"]["message"]
    r = api.get("/api/v1/models/churn/resources", params={"start": 10, "end": 5})
    assert r.status_code == 400
    # every answer, error or not, says how long the server took: Server-Timing
    for r in (api.get("/healthz"), post(api, [sample()]), api.get("/api/v1/models/nope")):
        name, _, dur = r.headers["server-timing"].partition(";dur=")
        assert name == "vigil" and float(dur) >= 0


def test_windows_per_host_and_stale_hosts_shown_as_stale(api):
    now = time.time()
    # a minute whose two samples are both in the past (a read ends at now by default)
    minute = int((now - 5) // 60) * 60
    fresh = [
        sample("web-1", ts=minute + 1, process_cpu_percent=100.0, interval_s=60.0),
        sample(
            "web-1",
            ts=minute + 2,
            process_cpu_percent=200.0,
            interval_s=60.0,
            process_rss_bytes=3 * GiB,
        ),
    ]  # fresh for 3 minutes, one window
    # minute-aligned, so the three samples share one window whatever the clock says
    gone = [
        sample(
            "web-2",
            ts=minute - 900 + i,
            version="2",
            process_cpu_percent=50.0,
            gpus=[
                {
                    "index": 0,
                    "utilization_percent": 70.0,
                    "memory_used_bytes": 1.0,
                    "memory_total_bytes": 8.0,
                }
            ],
        )
        for i in range(3)
    ]
    assert post(api, fresh, version="1").json()["accepted"] == 2
    assert post(api, gone).json()["accepted"] == 3
    r = api.get("/api/v1/models/churn/resources", params={"start": now - 3600, "step": 60})
    assert r.status_code == 200, r.text
    body = r.json()
    hosts = {h["host"]: h for h in body["hosts"]}
    assert hosts["web-1"]["status"] == "ok" and hosts["web-1"]["version"] == "1"
    assert hosts["web-1"]["latest"]["process_cpu_percent"] == 200.0
    assert hosts["web-2"]["status"] == "stale"
    assert hosts["web-2"]["seconds_since"] > stale_after_s(10.0)
    assert hosts["web-2"]["latest"]["process_cpu_percent"] == 50.0  # last values, not 0
    assert body["stale_hosts"] == ["web-2"]
    points = [p for p in body["series"] if p["host"] == "web-1"]
    assert len(points) == 1 and points[0]["ts"] == minute
    assert points[0]["samples"] == 2
    assert points[0]["process_cpu_percent"] == pytest.approx(150.0)
    assert points[0]["process_cpu_percent_max"] == 200.0
    assert points[0]["process_rss_bytes_max"] == 3 * GiB
    assert "gpu_utilization_percent" not in points[0]  # absent, not zero
    # only windows with samples appear: web-2's one window, nothing after it went quiet
    assert [p["ts"] for p in body["series"] if p["host"] == "web-2"] == [minute - 900]
    # filters
    only = api.get(
        "/api/v1/models/churn/resources", params={"start": now - 3600, "version": "2"}
    ).json()
    assert {p["host"] for p in only["series"]} == {"web-2"}
    assert [h["host"] for h in only["hosts"]] == ["web-2"]
    assert only["hosts"][0]["gpus"][0]["utilization_percent"] == 70.0
    by_host = api.get("/api/v1/models/churn/resources", params={"host": "web-1"}).json()
    assert [h["host"] for h in by_host["hosts"]] == ["web-1"]
    # the metrics route carries a resources section for the same window
    metrics = api.get("/api/v1/models/churn/metrics", params={"start": now - 3600}).json()
    per_host = {h["host"]: h for h in metrics["resources"]["per_host"]}
    assert per_host["web-1"]["process_cpu_percent_max"] == 200.0
    assert per_host["web-2"]["gpu_utilization_percent"] == 70.0
    status = {h["host"]: h["status"] for h in metrics["resources"]["hosts"]}
    assert status == {"web-1": "ok", "web-2": "stale"}


def test_prometheus_series_follow_the_newest_sample_and_drop_stale_hosts(api):
    now = time.time()
    post(
        api,
        [
            sample("web-1", ts=now - 5, process_rss_bytes=1 * GiB),
            sample(
                "web-1",
                ts=now,
                process_rss_bytes=2 * GiB,
                net_rtt_p95_ms=12.0,
                gpus=[{"index": 1, "utilization_percent": 33.0}],
            ),
        ],
        version="3",
    )
    post(api, [sample("old", ts=now - 900)], version="3")
    text = api.get("/metrics").text
    labels = 'host="web-1",model_name="churn",model_version="3"'
    assert f"vigil_model_process_resident_memory_bytes{{{labels}}} 2.147483648e+09" in text
    assert f"vigil_model_process_cpu_seconds_total{{{labels}}} 12.5" in text
    assert f"vigil_model_process_open_fds{{{labels}}} 17.0" in text
    assert f"vigil_model_network_round_trip_p95_seconds{{{labels}}} 0.012" in text
    assert (
        'vigil_model_gpu_device_utilization_percent{gpu="1",host="web-1",'
        'model_name="churn",model_version="3"} 33.0'
    ) in text
    assert 'host="old"' not in text  # stale: gone from the exposition, not frozen or 0


def test_rule_metrics_over_samples(store, api):
    now = time.time()
    post(
        api,
        [
            sample("a", ts=now - 30, process_cpu_percent=100.0, net_network_p95_ms=8.0),
            sample(
                "b",
                ts=now - 20,
                process_cpu_percent=300.0,
                process_rss_bytes=3 * GiB,
                gpu_utilization_percent=50.0,
                gpu_memory_used_bytes=1.0,
                gpu_memory_total_bytes=2.0,
            ),
        ],
    )
    model = store.get_model("churn")

    def value(name, version=None, start=now - 600):
        return get_metric(name).compute(store, model, version, start, now + 1)

    assert value("cpu_percent") == pytest.approx(200.0)
    assert value("cpu_percent_max") == 300.0
    assert value("memory_rss_bytes") == 3 * GiB
    assert value("gpu_utilization") == 50.0
    assert value("network_latency_p95") == pytest.approx(0.008)
    # no samples in the window (or for the version): no value, never 0
    assert value("cpu_percent", start=now - 10) is None
    assert value("cpu_percent", version="9") is None
    assert value("probe_failure_rate") is None


def test_migration_downgrades_and_upgrades(store):
    import sqlalchemy as sa

    assert "0005_resources" in migrate.current_revisions(store.engine)
    migrate.downgrade(store.engine, "resources@0001")
    names = sa.inspect(store.engine).get_table_names()
    assert "resource_samples" not in names and "probes" not in names
    assert "models" in names
    migrate.upgrade(store.engine)
    assert {"resource_samples", "probes", "probe_results"} <= set(
        sa.inspect(store.engine).get_table_names()
    )
