"""CloudWatch PutMetricData against moto's server mode (a real HTTP endpoint)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytest.importorskip("boto3", reason="CloudWatch needs the 'aws' extra (boto3)")
moto_server = pytest.importorskip("moto.server", reason="needs moto[server]")

from vigil.errors import ConfigurationError  # noqa: E402
from vigil.integrations.cloudwatch import (  # noqa: E402
    MAX_METRICS_PER_CALL,
    CloudWatchExporter,
    metric_data,
)
from vigil.integrations.windows import ExportLoop, MinuteStats, minute_stats  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto_url():
    from support.servers import free_port

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # botocore gzips large PutMetricData bodies (real CloudWatch accepts that); moto 5.2
    # fails to decode gzipped CBOR bodies, so the tests send them plain.
    monkeypatch.setenv("AWS_DISABLE_REQUEST_COMPRESSION", "true")


def _client(url):
    import boto3

    return boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=url)


def _stat(client, ns, name, dims, start, stat="Sum"):
    out = client.get_metric_statistics(
        Namespace=ns,
        MetricName=name,
        Dimensions=dims,
        Period=60,
        StartTime=datetime.fromtimestamp(start, UTC),
        EndTime=datetime.fromtimestamp(start + 120, UTC),
        Statistics=[stat],
    )
    return sorted((p["Timestamp"].timestamp(), p[stat]) for p in out["Datapoints"])


def test_window_metrics_read_back_from_cloudwatch(rollup_store, moto_url, aws_env):
    base = rollup_store.base_minute
    exporter = CloudWatchExporter(
        "vigil-test-1", region="us-east-1", endpoint_url=moto_url, dimensions={"Env": "test"}
    )
    loop = ExportLoop(rollup_store, [exporter], lag_s=0)
    loop.cursor["cloudwatch"] = base
    loop.tick(now=base + 180)
    assert loop.stats["cloudwatch"] == {"exports": 1, "failures": 0, "skipped_minutes": 0}
    assert loop.cursor["cloudwatch"] == base + 180
    cw = _client(moto_url)
    v1 = [
        {"Name": "Model", "Value": "churn"},
        {"Name": "Version", "Value": "1"},
        {"Name": "Env", "Value": "test"},
    ]
    assert _stat(cw, "vigil-test-1", "Predictions", v1, base) == [(base, 100.0)]
    assert _stat(cw, "vigil-test-1", "Errors", v1, base) == [(base, 10.0)]
    latency_max = _stat(cw, "vigil-test-1", "Latency", v1, base, "Maximum")
    assert latency_max == [(base, pytest.approx(0.1))]
    samples = _stat(cw, "vigil-test-1", "Latency", v1, base, "SampleCount")
    assert samples == [(base, 100.0)]
    p95 = _stat(cw, "vigil-test-1", "LatencyP95", v1, base, "Average")
    assert p95[0][1] == pytest.approx(0.095, abs=0.003)
    # Model alone (every version together) is its own metric; moto matches dimension
    # subsets in queries, so check it through list_metrics.
    listed = cw.list_metrics(Namespace="vigil-test-1", MetricName="Predictions")["Metrics"]
    dim_sets = {tuple((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in listed}
    assert dim_sets == {
        (("Model", "churn"), ("Env", "test")),
        (("Model", "churn"), ("Version", "1"), ("Env", "test")),
        (("Model", "churn"), ("Version", "2"), ("Env", "test")),
    }
    v2 = [{"Name": "Model", "Value": "churn"}, {"Name": "Version", "Value": "2"}]
    assert _stat(cw, "vigil-test-1", "LatencyP50", v2, base, "Average") == [
        (base + 60, pytest.approx(0.5))
    ]
    # Nothing new: the next tick publishes nothing more.
    loop.tick(now=base + 180)
    assert exporter.stats["calls"] == 1


def test_more_than_1000_metrics_are_split_into_calls(moto_url, aws_env):
    stats = [
        MinuteStats(f"m{i}", "1", 1_700_000_040, 5, 1, 0, 0.0, None) for i in range(700)
    ]  # 700 x (2 per version + 2 per model) = 2,800 metrics
    data = metric_data(stats)
    assert len(data) == 2800
    exporter = CloudWatchExporter("vigil-test-2", region="us-east-1", endpoint_url=moto_url)
    calls = []
    real_put = exporter.client.put_metric_data
    exporter.client.put_metric_data = lambda **kw: (
        calls.append(len(kw["MetricData"])),
        real_put(**kw),
    )[1]
    exporter.export(stats, 1_700_000_040, 1_700_000_100)
    assert calls == [1000, 1000, 800]
    assert max(calls) <= MAX_METRICS_PER_CALL
    listed = _client(moto_url).get_paginator("list_metrics").paginate(Namespace="vigil-test-2")
    names = {
        (m["MetricName"], tuple(d["Value"] for d in m["Dimensions"]))
        for page in listed
        for m in page["Metrics"]
    }
    assert ("Predictions", ("m699", "1")) in names and ("Errors", ("m0",)) in names


def test_dimension_limit_is_enforced_before_any_call():
    too_many = {f"D{i}": "x" for i in range(29)}  # + Model + Version = 31
    with pytest.raises(ConfigurationError, match="at most 30 dimensions"):
        CloudWatchExporter("ns", region="us-east-1", dimensions=too_many)
    ok = {f"D{i}": "x" for i in range(28)}
    stats = [MinuteStats("m", "1", 1_700_000_040, 1, 0, 0, 0.0, None)]
    assert max(len(d["Dimensions"]) for d in metric_data(stats, ok)) == 30
    with pytest.raises(ConfigurationError, match="not start with 'AWS/'"):
        CloudWatchExporter("AWS/EC2", region="us-east-1")


def _cbor_text(s: str) -> bytes:
    data = s.encode()
    assert len(data) < 256
    return (bytes([0x60 + len(data)]) if len(data) < 24 else bytes([0x78, len(data)])) + data


def test_throttling_is_retried_then_published(receiver, moto_url, aws_env):
    """A proxy answers CloudWatch's Throttling error twice, then forwards to moto."""
    import httpx

    throttled = {"left": 2}

    def respond(req):
        if throttled["left"] > 0:
            throttled["left"] -= 1
            kind = req.headers.get("content-type", "")
            if "cbor" in kind:  # the rpc-v2-cbor protocol
                body = (
                    b"\xa2"
                    + _cbor_text("__type")
                    + _cbor_text("com.amazonaws.cloudwatch#Throttling")
                    + _cbor_text("message")
                    + _cbor_text("Rate exceeded")
                )
                headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
            else:  # the JSON 1.0 protocol
                body = b'{"__type": "Throttling", "message": "Rate exceeded"}'
                headers = {"Content-Type": "application/x-amz-json-1.0"}
            return 400, {**headers, "x-amzn-query-error": "Throttling;Sender"}, body
        headers = {k: v for k, v in req.headers.items() if k not in ("host", "content-length")}
        r = httpx.post(moto_url + req.path, content=req.raw, headers=headers)
        return (
            r.status_code,
            {
                k: v
                for k, v in r.headers.items()
                if k.lower() in ("content-type", "smithy-protocol")
            },
            r.content,
        )

    proxy = receiver(respond)
    exporter = CloudWatchExporter(
        "vigil-test-3", region="us-east-1", endpoint_url=proxy.url, backoff_s=0.01
    )
    stats = [MinuteStats("m", "1", 1_700_000_040, 7, 0, 0, 0.0, None)]
    exporter.export(stats, 1_700_000_040, 1_700_000_100)
    assert exporter.stats["throttled"] == 2 and exporter.stats["calls"] == 1
    assert len(proxy.requests) == 3
    dims = [{"Name": "Model", "Value": "m"}, {"Name": "Version", "Value": "1"}]
    assert _stat(_client(moto_url), "vigil-test-3", "Predictions", dims, 1_700_000_040) == [
        (1_700_000_040, 7.0)
    ]


def test_a_down_endpoint_fails_soft_and_the_range_is_retried(rollup_store, aws_env):
    from support.servers import free_port

    exporter = CloudWatchExporter(
        "vigil-test-4",
        region="us-east-1",
        max_retries=1,
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        backoff_s=0.01,
    )
    base = rollup_store.base_minute
    loop = ExportLoop(rollup_store, [exporter], lag_s=0)
    loop.cursor["cloudwatch"] = base
    loop.tick(now=base + 180)  # does not raise
    assert loop.stats["cloudwatch"]["failures"] == 1
    assert loop.cursor["cloudwatch"] == base  # kept for the next tick
    assert len(minute_stats(rollup_store, base, base + 180)) == 2
