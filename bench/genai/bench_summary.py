"""Cost of the GenAI window reads: ``GET /models/{m}/genai`` and the rule metrics read the
stored predictions (token counts, cost and TTFT extracted from ``outputs`` by SQLite).

Stores ``--calls`` LLM-call predictions spread over one hour (prompt and answer of ~40
words each, as ``POST /v1/traces`` stores them) in a fresh SQLite store, then times the
one-hour summary (60 windows) and one evaluation of ``cost_total`` and ``ttft_p95``.

    python bench/genai/bench_summary.py [--calls 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from vigil.engine.genai.metrics import genai_summary
from vigil.engine.genai.spans import GENAI_SCHEMA
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.metric_sources import get_metric
from vigil.store import open_store

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        store = open_store(f"sqlite:///{home}/vigil.db")
        ingestor = Ingestor(store)
        ingestor.register_model(
            {"name": "bot", **{"task": "text_generation", "schema": GENAI_SCHEMA}}
        )
        end = float(int(time.time()) // 60 * 60)
        start = end - 3600
        t = time.perf_counter()
        for first in range(0, args.calls, 10_000):
            batch = []
            for i in range(first, min(first + 10_000, args.calls)):
                text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(40))
                batch.append(
                    {
                        "id": f"{i:016x}",
                        "version": "gpt-4o-2024-08-06",
                        "ts": start + 3600 * i / args.calls,
                        "latency_s": 0.5 + (i % 100) / 100,
                        "inputs": {"prompt": text, "provider": "openai", "operation": "chat"},
                        "outputs": {
                            "output": text,
                            "input_tokens": 50 + i % 30,
                            "output_tokens": 60,
                            "ttft_s": 0.1 + (i % 50) / 100,
                            "cost": (50 + i % 30) * 2.5e-6 + 60 * 1e-5,
                        },
                    }
                )
            ingestor.ingest_predictions("bot", batch)
        load_s = time.perf_counter() - t
        model = store.get_model("bot")
        timings = {}
        for name, fn in (
            (
                "summary, 1 h in 60 windows",
                lambda: genai_summary(store, model, start=start, end=end, step=60),
            ),
            (
                "rule metric cost_total, 1 h",
                lambda: get_metric("cost_total").compute(store, model, None, start, end),
            ),
            (
                "rule metric ttft_p95, 5 min",
                lambda: get_metric("ttft_p95").compute(store, model, None, end - 300, end),
            ),
        ):
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t)
            timings[name] = best
        store.close()
    print(f"{args.calls} calls over 1 h stored in {load_s:.1f} s (SQLite)")
    for name, seconds in timings.items():
        print(f"  {name:32s} {seconds * 1000:8.0f} ms (best of 3)")


if __name__ == "__main__":
    main()
