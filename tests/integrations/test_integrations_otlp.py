"""OTLP/HTTP metrics to a local receiver that parses them as ExportMetricsServiceRequest."""

from __future__ import annotations

import pytest

pb = pytest.importorskip(
    "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
    reason="needs the 'otel' extra (opentelemetry-proto)",
)

from google.protobuf.json_format import MessageToDict, Parse  # noqa: E402

from vigil.integrations.otlp import DURATION_BOUNDS, OtlpExporter  # noqa: E402
from vigil.integrations.windows import ExportLoop  # noqa: E402


def _collector(receiver, answers=()):
    """An OTLP/HTTP receiver: strict parsing of JSON or protobuf, then 200 (or a given status)."""
    pending = list(answers)
    parsed = []

    def respond(req):
        if pending:
            return pending.pop(0), {}, b""
        assert req.path == "/v1/metrics"
        kind = req.headers["content-type"]
        if kind == "application/json":
            msg = Parse(req.body, pb.ExportMetricsServiceRequest())  # unknown fields fail
        else:
            assert kind == "application/x-protobuf"
            msg = pb.ExportMetricsServiceRequest.FromString(req.body)
        parsed.append(MessageToDict(msg))
        return 200, {"Content-Type": kind}, (b"{}" if kind == "application/json" else b"")

    r = receiver(respond)
    r.parsed = parsed
    return r


def _points(request, name):
    metrics = request["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    metric = next(m for m in metrics if m["name"] == name)
    data = metric.get("histogram") or metric.get("sum")
    return metric, data["dataPoints"]


def _attrs(point):
    return {a["key"]: next(iter(a["value"].values())) for a in point["attributes"]}


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_window_metrics_reach_an_otlp_receiver(rollup_store, receiver, encoding):
    collector = _collector(receiver, answers=[503])  # one retryable failure first
    exporter = OtlpExporter(
        collector.url, encoding=encoding, backoff_s=0.01, headers={"Authorization": "Bearer t"}
    )
    base = rollup_store.base_minute
    loop = ExportLoop(rollup_store, [exporter], lag_s=0)
    loop.cursor["otlp"] = base
    loop.tick(now=base + 120)
    assert exporter.stats["retries"] == 1 and loop.cursor["otlp"] == base + 120
    assert exporter.stats["data_points"] == 6  # 2 versions x (histogram, requests, errors)
    assert collector.requests[-1].headers["authorization"] == "Bearer t"
    (request,) = collector.parsed
    resource = {
        a["key"]: a["value"]["stringValue"]
        for a in request["resourceMetrics"][0]["resource"]["attributes"]
    }
    assert resource == {"service.name": "vigil"}
    metric, points = _points(request, "gen_ai.server.request.duration")
    assert metric["unit"] == "s"
    assert metric["histogram"]["aggregationTemporality"] == "AGGREGATION_TEMPORALITY_DELTA"
    v1 = next(p for p in points if _attrs(p)["vigil.model.version"] == "1")
    assert _attrs(v1) == {
        "gen_ai.operation.name": "predict",
        "gen_ai.request.model": "churn",
        "vigil.model.version": "1",
    }
    assert v1["count"] == "100" and v1["sum"] == pytest.approx(
        sum(0.001 * (i + 1) for i in range(100))
    )
    assert v1["explicitBounds"] == list(DURATION_BOUNDS)
    counts = [int(c) for c in v1["bucketCounts"]]
    assert sum(counts) == 100 and len(counts) == len(DURATION_BOUNDS) + 1
    assert counts[0] == pytest.approx(10, abs=2)  # latencies 1..100 ms: 10 are <= 10 ms
    assert v1["startTimeUnixNano"] == str(base * 10**9)
    assert v1["timeUnixNano"] == str((base + 60) * 10**9)
    _, requests = _points(request, "vigil.model.requests")
    _, errors = _points(request, "vigil.model.errors")
    assert sorted(int(p["asInt"]) for p in requests) == [10, 100]
    assert sorted(int(p["asInt"]) for p in errors) == [0, 10]
    exporter.close()


def test_an_unreachable_collector_leaves_the_range_for_later(rollup_store):
    from support.servers import free_port

    exporter = OtlpExporter(f"http://127.0.0.1:{free_port()}", timeout_s=0.5)
    base = rollup_store.base_minute
    loop = ExportLoop(rollup_store, [exporter], lag_s=0)
    loop.cursor["otlp"] = base
    loop.tick(now=base + 120)  # never raises
    assert loop.stats["otlp"]["failures"] == 1 and loop.cursor["otlp"] == base
    exporter.close()
