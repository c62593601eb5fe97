"""OTLP GenAI span ingest throughput: ``POST /v1/traces`` against the native prediction
ingest of the same records.

Starts a real ``vigil server`` process on SQLite, makes chat spans with the OpenTelemetry
SDK (GenAI attributes, a prompt and an answer of ~40 words, tokens, a first-token event),
encodes them as the SDK's OTLP/HTTP exporter does (protobuf) and as OTLP JSON, and
reports sustained spans/s for each encoding. The reference is the same calls, mapped
beforehand, sent to ``POST /api/v1/models/{m}/predictions`` as JSON records; the decode +
map cost alone (no HTTP, no database) is measured in-process.

    python bench/genai/bench_traces.py [--batches 20] [--batch 500]
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from support.servers import free_port, wait_ready

from vigil.engine.genai.otlp import decode_json, decode_protobuf
from vigil.engine.genai.spans import is_llm_span, to_call

S = 1_000_000_000
WORDS = [
    "order",
    "delivery",
    "refund",
    "password",
    "account",
    "invoice",
    "shipping",
    "address",
    "parcel",
    "support",
    "tomorrow",
    "reset",
]


def make_spans(n: int, tag: str) -> list:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    t0 = (int(time.time()) - 1800) * S
    for i in range(n):
        prompt = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(40))
        answer = " ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(40))
        start = t0 + i * S // 100
        span = tracer.start_span(
            "chat gpt-4o",
            start_time=start,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": f"bench-{tag}",
                "gen_ai.response.model": "gpt-4o-x",
                "gen_ai.usage.input_tokens": 50 + i % 30,
                "gen_ai.usage.output_tokens": 60,
                "gen_ai.input.messages": orjson.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
                ).decode(),
                "gen_ai.output.messages": orjson.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
                ).decode(),
            },
        )
        span.add_event("gen_ai.first_token", timestamp=start + S // 5)
        span.end(end_time=start + S)
    provider.shutdown()
    return list(memory.get_finished_spans())


def to_json(request) -> bytes:
    """The OTLP JSON mapping of a protobuf ExportTraceServiceRequest (hex ids)."""

    def value(v):
        kind = v.WhichOneof("value")
        if kind == "string_value":
            return {"stringValue": v.string_value}
        if kind == "int_value":
            return {"intValue": str(v.int_value)}
        if kind == "double_value":
            return {"doubleValue": v.double_value}
        return {"boolValue": v.bool_value}

    def attrs(items):
        return [{"key": kv.key, "value": value(kv.value)} for kv in items]

    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": attrs(rs.resource.attributes)},
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": sp.trace_id.hex(),
                                    "spanId": sp.span_id.hex(),
                                    "name": sp.name,
                                    "startTimeUnixNano": str(sp.start_time_unix_nano),
                                    "endTimeUnixNano": str(sp.end_time_unix_nano),
                                    "attributes": attrs(sp.attributes),
                                    "events": [
                                        {"name": e.name, "timeUnixNano": str(e.time_unix_nano)}
                                        for e in sp.events
                                    ],
                                }
                                for sp in ss.spans
                            ]
                        }
                        for ss in rs.scope_spans
                    ],
                }
                for rs in request.resource_spans
            ]
        }
    )


def timed_posts(client: httpx.Client, url: str, bodies: list[bytes], ctype: str) -> float:
    start = time.perf_counter()
    for body in bodies:
        r = client.post(url, content=body, headers={"Content-Type": ctype})
        assert r.status_code == 200, r.text[:300]
    return time.perf_counter() - start


def main() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args()
    n = args.batches * args.batch
    results = {}
    with tempfile.TemporaryDirectory() as home:
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil.cli.main",
                "server",
                "--db",
                f"sqlite:///{home}/vigil.db",
                "--port",
                str(port),
                "--home",
                home,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, proc=proc)
            with httpx.Client(base_url=url, timeout=120) as client:
                for tag, ctype in (
                    ("protobuf", "application/x-protobuf"),
                    ("json", "application/json"),
                ):
                    spans = make_spans(n, tag)
                    bodies = []
                    for b in range(args.batches):
                        req = encode_spans(spans[b * args.batch : (b + 1) * args.batch])
                        bodies.append(
                            req.SerializeToString() if tag == "protobuf" else to_json(req)
                        )
                    del spans, req
                    gc.collect()  # the SDK's span objects would make collections slow
                    t = time.perf_counter()
                    decoded = [
                        decode_protobuf(body)
                        if tag == "protobuf"
                        else decode_json(orjson.loads(body))
                        for body in bodies
                    ]
                    calls = [[to_call(s) for s in batch if is_llm_span(s)] for batch in decoded]
                    results[f"decode+map {tag}"] = n / (time.perf_counter() - t)
                    results[f"POST /v1/traces {tag}"] = n / timed_posts(
                        client, "/v1/traces", bodies, ctype
                    )
                    # the reference: the same calls as native records of another model
                    ref = f"bench-native-{tag}"
                    client.post(
                        "/api/v1/models",
                        json={
                            "name": ref,
                            "task": "text_generation",
                            "schema": {
                                "features": [{"name": "prompt", "kind": "text", "required": False}]
                            },
                        },
                    )
                    native = [
                        orjson.dumps(
                            {"records": [{**c.record, "id": "n" + c.record["id"]} for c in batch]}
                        )
                        for batch in calls
                    ]
                    results[f"POST /predictions (same records, {tag} run)"] = n / timed_posts(
                        client, f"/api/v1/models/{ref}/predictions", native, "application/json"
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"{n} spans in batches of {args.batch}, SQLite, one client")
    for name, rate in results.items():
        print(f"  {name:48s} {rate:10,.0f} spans/s")


if __name__ == "__main__":
    main()
