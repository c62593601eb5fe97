"""Integrations' cost: the tracked call with sinks attached, and each sink's background work.

1. Hot path: a tracked call's overhead (wrapped minus bare, median of many timed loops)
   with no sink, then with the ECS, EMF, Loki and Elasticsearch sinks attached (writing to
   /dev/null and to a local HTTP receiver that answers 204/200). Sinks run in the sender
   thread, so the two numbers should be the same.
2. Background: records per second each sink converts and encodes (no network), next to
   the SDK's own encoding of the same records (``vigil.sdk.encode``) as the reference.

Run: ``python bench/integrations/bench_sinks.py [--loops 100] [--calls 2000] [--records 20000]``
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from vigil.integrations.ecs import EcsLogSink, ecs_document
from vigil.integrations.elasticsearch import ElasticsearchSink, bulk_body
from vigil.integrations.emf import EmfSink, emf_lines
from vigil.integrations.loki import LokiSink, push_body
from vigil.sdk import MemoryTransport, Monitor
from vigil.sdk.encode import encode


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"errors": false, "items": []}' if "_bulk" in self.path else b""
        self.send_response(200 if body else 204)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def overhead_ns(mon: Monitor, calls: int, loops: int) -> float:
    def bare(features: dict) -> int:
        return 1

    tracked = mon.track(bare)
    row = {"age": 41, "plan": "pro", "note": "hello"}
    samples = []
    for _ in range(loops):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            bare(row)
        t1 = time.perf_counter_ns()
        for _ in range(calls):
            tracked(row)
        t2 = time.perf_counter_ns()
        samples.append(((t2 - t1) - (t1 - t0)) / calls)
        mon.flush()
    return statistics.median(samples)


def records(n: int) -> list[dict]:
    return [
        {
            "id": f"0192{i:032d}",
            "version": "3",
            "ts": 1_700_000_000 + i * 0.001,
            "latency_s": 0.002 + (i % 50) / 1000,
            "error": "ValueError: x" if i % 97 == 0 else None,
            "subject_id": None,
            "inputs": {"age": i % 90, "plan": "pro"},
            "outputs": i % 2,
            "proba": None,
        }
        for i in range(n)
    ]


def rate(fn, recs: list[dict]) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn(recs)
        best = min(best, time.perf_counter() - t0)
    return len(recs) / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loops", type=int, default=100)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--records", type=int, default=20_000)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        plain = Monitor(
            "bench", transport=MemoryTransport(keep=False), spool_dir=tmp, queue_size=10_000_000
        )
        base = overhead_ns(plain, args.calls, args.loops)
        plain.close()
        with_sinks = Monitor(
            "bench", transport=MemoryTransport(keep=False), spool_dir=tmp, queue_size=10_000_000
        )
        sinks = [
            EcsLogSink("/dev/null"),
            EmfSink("vigil", "/dev/null"),
            LokiSink(url),
            ElasticsearchSink(url),
        ]
        for sink in sinks:
            with_sinks.add_sink(sink)
        attached = overhead_ns(with_sinks, args.calls, args.loops)
        with_sinks.close()
    print(
        f"tracked-call overhead: no sink {base:.0f} ns, 4 sinks {attached:.0f} ns "
        f"(ratio {attached / base:.2f}x)"
    )
    loki_errors = sinks[2].stats["failures"] + sinks[3].stats["failures"]
    print(
        f"delivered: loki {sinks[2].stats['delivered']}, elasticsearch "
        f"{sinks[3].stats['delivered']}, failures {loki_errors}"
    )

    recs = records(args.records)
    ref = rate(lambda r: gzip.compress(encode("records", r)[0], 1), recs)
    ecs = EcsLogSink("/dev/null")
    loki = LokiSink(url)
    cases = {
        "sdk encode+gzip (reference)": ref,
        "ecs_document": rate(lambda r: [ecs_document("m", "predictions", x) for x in r], recs),
        "ECS lines": rate(lambda r: ecs.emit("m", "predictions", r), recs),
        "Loki push body+gzip": rate(
            lambda r: gzip.compress(orjson.dumps(push_body(loki.items("m", "predictions", r))), 1),
            recs,
        ),
        "ES _bulk NDJSON+gzip": rate(
            lambda r: gzip.compress(
                bulk_body([("i", x["id"], ecs_document("m", "predictions", x)) for x in r]), 1
            ),
            recs,
        ),
        "EMF lines": rate(lambda r: [orjson.dumps(x) for x in emf_lines("v", "m", r)], recs),
    }
    for name, value in cases.items():
        print(f"{name:30s} {value:>10,.0f} records/s  ({ref / value:.1f}x the reference's time)")
    server.shutdown()


if __name__ == "__main__":
    main()
