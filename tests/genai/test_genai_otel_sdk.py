"""The real OpenTelemetry SDK and its OTLP/HTTP protobuf exporter send GenAI spans to a real
vigil server; the stored predictions, the window summary and the rule metrics are checked
against the numbers the spans were built with."""

from __future__ import annotations

import statistics
import time

import orjson
import pytest
from genai_helpers import stored

pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
    reason="needs the 'otel' extra (opentelemetry-proto)",
)
otlp_http = pytest.importorskip(
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    reason="needs opentelemetry-exporter-otlp-proto-http",
)

from opentelemetry.exporter.otlp.proto.http import Compression  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult  # noqa: E402
from opentelemetry.trace import Status, StatusCode  # noqa: E402

from vigil.engine.metric_sources import get_metric  # noqa: E402

S = 1_000_000_000  # nanoseconds per second


class RateLimitError(Exception):
    """The kind of exception an LLM client raises (its class name becomes error.type)."""


def _provider(url: str, *, gzip: bool = False) -> tuple[TracerProvider, list]:
    """A tracer provider exporting every span at once to vigil; results are collected."""
    exporter = otlp_http.OTLPSpanExporter(
        endpoint=f"{url}/v1/traces",
        timeout=30,
        compression=Compression.Gzip if gzip else Compression.NoCompression,
    )
    results: list = []
    export = exporter.export

    def recording(spans):  # keep the exporter's verdict: SUCCESS or FAILURE
        results.append(export(spans))
        return results[-1]

    exporter.export = recording  # type: ignore[method-assign]
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-bot", "service.version": "2.3.0"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, results


def _chat(
    tracer,
    t0: int,
    *,
    latency_s: float,
    ttft_s: float | None,
    tokens: tuple[int, int],
    prompt: str,
    answer: str,
    model: str = "gpt-4o",
    fail: bool = False,
) -> str:
    """One chat call as GenAI instrumentations record it; returns its span id (hex)."""
    span = tracer.start_span(
        f"chat {model}",
        start_time=t0,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": model,
            "gen_ai.input.messages": orjson.dumps(
                [
                    {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                    {"role": "user", "parts": [{"type": "text", "content": prompt}]},
                ]
            ).decode(),
        },
    )
    if fail:
        span.record_exception(RateLimitError("quota exceeded"), timestamp=t0 + S // 10)
        span.set_attribute("error.type", "RateLimitError")
        span.set_status(Status(StatusCode.ERROR, "quota exceeded"))
    else:
        span.set_attributes(
            {
                "gen_ai.response.model": f"{model}-2024-08-06",
                "gen_ai.usage.input_tokens": tokens[0],
                "gen_ai.usage.output_tokens": tokens[1],
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.output.messages": orjson.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": answer}],
                            "finish_reason": "stop",
                        }
                    ]
                ).decode(),
            }
        )
        if ttft_s is not None:
            span.add_event("gen_ai.first_token", timestamp=t0 + int(ttft_s * S))
    span.end(end_time=t0 + int(latency_s * S))
    return format(span.get_span_context().span_id, "016x")


@pytest.mark.integration
def test_sdk_exporter_spans_become_predictions(genai_api, store):
    url = str(genai_api.base_url).rstrip("/")
    provider, results = _provider(url)
    tracer = provider.get_tracer("test")
    t0 = (int(time.time()) - 600) * S
    ok = _chat(
        tracer,
        t0,
        latency_s=1.25,
        ttft_s=0.3,
        tokens=(1200, 300),
        prompt="How do I reset my password?",
        answer="Use 'Forgot password'.",
    )
    failed = _chat(
        tracer, t0 + S, latency_s=0.5, ttft_s=None, tokens=(0, 0), prompt="Hi", answer="", fail=True
    )
    with tracer.start_as_current_span("GET /healthz"):  # not a model call: ignored
        pass
    provider.shutdown()
    assert results == [SpanExportResult.SUCCESS] * 3

    rows = stored(store, "gpt-4o")
    assert set(rows) == {ok, failed}
    good = rows[ok]
    assert good["version"] == "gpt-4o-2024-08-06"
    assert good["ts"] == pytest.approx(t0 / S)
    assert good["latency_s"] == pytest.approx(1.25)
    assert good["error"] is None
    assert good["inputs"] == {
        "prompt": "How do I reset my password?",
        "provider": "openai",
        "operation": "chat",
    }
    assert good["outputs"]["output"] == "Use 'Forgot password'."
    assert good["outputs"]["input_tokens"] == 1200
    assert good["outputs"]["output_tokens"] == 300
    assert good["outputs"]["ttft_s"] == pytest.approx(0.3)
    assert good["outputs"]["finish_reason"] == "stop"
    # priced by the request model (the response model has no entry): 1200·2.5 + 300·10 per 1M
    assert good["outputs"]["cost"] == pytest.approx((1200 * 2.5 + 300 * 10.0) / 1e6)
    bad = rows[failed]
    assert bad["error"] == "RateLimitError: quota exceeded"
    assert bad["version"] == "2.3.0"  # no response model: the service's version
    assert bad["latency_s"] == pytest.approx(0.5)
    model = genai_api.get("/api/v1/models/gpt-4o").json()
    assert model["task"] == "text_generation"
    assert {f["name"] for f in model["schema"]["features"]} >= {"prompt", "provider"}
    prom = genai_api.get("/metrics").text
    assert 'vigil_otlp_spans_total{outcome="accepted"} 2.0' in prom
    assert 'vigil_otlp_spans_total{outcome="ignored"} 1.0' in prom


@pytest.mark.integration
def test_window_summary_and_rule_metrics_match_the_spans(genai_api, store):
    url = str(genai_api.base_url).rstrip("/")
    provider, results = _provider(url, gzip=True)
    tracer = provider.get_tracer("test")
    base = (int(time.time()) // 60 - 30) * 60  # a minute boundary half an hour ago
    calls = []  # (start s, ttft, latency, in, out, model)
    for i in range(24):
        window = i // 8  # three one-minute windows of eight calls each
        calls.append(
            (
                base + window * 60 + i % 8,
                0.05 + 0.037 * ((i * 7) % 11),
                0.4 + 0.11 * ((i * 5) % 13),
                100 + 17 * i,
                20 + 3 * i,
                "gpt-4o" if i % 3 else "claude-sonnet-4-20250514",
            )
        )
    for start, ttft, latency, tin, tout, model in calls:
        _chat(
            tracer,
            start * S,
            latency_s=latency,
            ttft_s=ttft,
            tokens=(tin, tout),
            prompt=f"question {start}",
            answer="answer",
            model=model,
        )
    provider.shutdown()
    assert results and set(results) == {SpanExportResult.SUCCESS}

    r = genai_api.get(
        "/api/v1/models/gpt-4o/genai", params={"start": base, "end": base + 180, "step": 60}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    mine = [c for c in calls if c[5] == "gpt-4o"]
    summary = body["summary"]
    assert summary["calls"] == len(mine)
    assert summary["input_tokens"] == sum(c[3] for c in mine)
    assert summary["output_tokens"] == sum(c[4] for c in mine)
    assert summary["total_tokens"] == sum(c[3] + c[4] for c in mine)
    assert summary["cost"] == pytest.approx(sum(c[3] * 2.5 + c[4] * 10.0 for c in mine) / 1e6)
    # independent oracle: statistics.quantiles' inclusive method is the same linear
    # interpolation between order statistics
    ttfts = [c[1] for c in mine]
    assert summary["ttft_p50_s"] == pytest.approx(statistics.median(ttfts), abs=1e-6)
    assert summary["ttft_p95_s"] == pytest.approx(
        statistics.quantiles(ttfts, n=20, method="inclusive")[-1], abs=1e-6
    )
    assert [p["ts"] for p in body["series"]] == [base, base + 60, base + 120]
    for point in body["series"]:
        window = [c for c in mine if point["ts"] <= c[0] < point["ts"] + 60]
        assert point["calls"] == len(window)
        assert point["output_tokens"] == sum(c[4] for c in window)
        assert point["ttft_p95_s"] == pytest.approx(
            statistics.quantiles([c[1] for c in window], n=20, method="inclusive")[-1], abs=1e-6
        )
    assert set(body["versions"]) == {"gpt-4o-2024-08-06"}

    model = store.get_model("gpt-4o")
    window = [c for c in mine if base + 60 <= c[0] < base + 120]
    assert get_metric("tokens_total").compute(store, model, None, base + 60, base + 120) == sum(
        c[3] + c[4] for c in window
    )
    assert get_metric("cost_total").compute(
        store, model, None, base + 60, base + 120
    ) == pytest.approx(sum(c[3] * 2.5 + c[4] * 10.0 for c in window) / 1e6)
    assert get_metric("ttft_p95").compute(
        store, model, None, base + 60, base + 120
    ) == pytest.approx(
        statistics.quantiles([c[1] for c in window], n=20, method="inclusive")[-1], abs=1e-6
    )
    assert get_metric("ttft_p95").compute(store, model, None, base - 600, base - 60) is None
    names = {m["name"] for m in genai_api.get("/api/v1/metric-sources").json()["metrics"]}
    assert {"tokens_total", "cost_total", "ttft_p95"} <= names
    claude = stored(store, "claude-sonnet-4-20250514")
    assert len(claude) == len(calls) - len(mine)
    assert all(
        r["outputs"]["cost"]
        == pytest.approx(
            (r["outputs"]["input_tokens"] * 3.0 + r["outputs"]["output_tokens"] * 15.0) / 1e6
        )
        for r in claude.values()
    )


@pytest.mark.integration
def test_a_cost_rule_fires_on_spend(server_factory, store):
    api = server_factory(
        auth="off", genai_prices={"gpt-4o": {"input": 2.5, "output": 10.0}}, rules_interval_s=0
    )
    url = str(api.base_url).rstrip("/")
    provider, results = _provider(url)
    tracer = provider.get_tracer("test")
    now = int(time.time())
    _chat(
        tracer, (now - 120) * S, latency_s=2.0, ttft_s=0.9, tokens=(10, 10), prompt="q", answer="a"
    )
    provider.shutdown()
    for rule in (
        {
            "name": "spend",
            "model": "gpt-4o",
            "metric": "cost_total",
            "threshold": 0.001,
            "window": "10m",
        },
        {
            "name": "slow-first-token",
            "model": "gpt-4o",
            "metric": "ttft_p95",
            "threshold": 0.5,
            "window": "10m",
        },
    ):
        assert api.post("/api/v1/rules", json=rule).status_code == 201
    fired = {n["rule"] for n in api.post("/api/v1/rules/evaluate").json()["notifications"]}
    assert fired == {"slow-first-token"}  # 10·2.5 + 10·10 per 1M tokens is below 0.001
    provider, results = _provider(url)
    _chat(
        provider.get_tracer("test"),
        (now - 60) * S,
        latency_s=2.0,
        ttft_s=0.2,
        tokens=(200_000, 50_000),
        prompt="a long document",
        answer="a summary",
    )
    provider.shutdown()
    assert results == [SpanExportResult.SUCCESS]
    fired = {n["rule"] for n in api.post("/api/v1/rules/evaluate").json()["notifications"]}
    assert fired == {"spend"}  # 0.5 + 0.5 now; slow-first-token keeps firing (no new note)


@pytest.mark.integration
def test_resent_spans_are_stored_once(genai_api, store):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    t0 = (int(time.time()) - 300) * S
    ids = {
        _chat(
            tracer, t0 + i * S, latency_s=0.2, ttft_s=0.1, tokens=(5, 5), prompt=f"q{i}", answer="a"
        )
        for i in range(5)
    }
    spans = memory.get_finished_spans()
    url = str(genai_api.base_url).rstrip("/")
    exporter = otlp_http.OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=30)
    # an exporter retrying a batch whose answer it lost, then a batch overlapping it
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert exporter.export(spans[3:]) == SpanExportResult.SUCCESS
    exporter.shutdown()
    assert set(stored(store, "gpt-4o")) == ids
    summary = genai_api.get(
        "/api/v1/models/gpt-4o/genai", params={"start": t0 / S - 60, "end": t0 / S + 60}
    ).json()
    assert summary["summary"]["calls"] == 5 and summary["summary"]["input_tokens"] == 25
    prom = genai_api.get("/metrics").text
    assert 'vigil_otlp_spans_total{outcome="accepted"} 5.0' in prom
    assert 'vigil_otlp_spans_total{outcome="duplicate"} 7.0' in prom
    labels = 'model_name="gpt-4o",model_version="gpt-4o-2024-08-06"'
    assert f'vigil_genai_tokens_total{{{labels},type="input"}} 25.0' in prom  # once each
    assert f'vigil_genai_tokens_total{{{labels},type="output"}} 25.0' in prom
    assert f"vigil_genai_cost_total{{{labels}}} {5 * (5 * 2.5 + 5 * 10.0) / 1e6!r}" in prom
    assert f"vigil_predictions_total{{{labels}}} 5.0" in prom
