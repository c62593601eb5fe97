"""Windowed answer quality as the server's background job runs it (issue 18, "Speed").

Stores ``--answers`` prompt/answer predictions of a text model spread over ``--windows``
five-minute windows (each prompt asked about three times, so consistency groups exist) in
a fresh SQLite store, then times:

- the background job (:func:`vigil.engine.genai.quality.score_pending`) scoring every
  window from cold (no cached embeddings; the model already loaded, as the job loads it
  once per process): answers/s and ms per window;
- a pass after new answers arrive in one window (that window re-scored, cached
  embeddings reused);
- the reads that pages use: ``quality_report`` of the last hour without live text
  measures (what the dashboard's model page asks for) and the rule metric
  ``answers_relevance_mean`` of one window.

The backend is MiniLM when the ``text`` extra is installed (on the GPU when torch sees
one), else TF-IDF; the script says which, with the device, precision and torch threads.
Each timing gives wall seconds and this process's CPU seconds (``time.process_time``):
on a shared machine the wall time moves with the load, the CPU time much less.

    python bench/genai/bench_answer_windows.py [--answers 2000] [--windows 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from vigil.engine.genai.quality import SCORE_STEP, score_pending
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.metric_sources import get_metric
from vigil.engine.quality.windows import quality_report
from vigil.quality.text import TEXT_MODEL, encoder
from vigil.store import open_store

W = [
    "order",
    "refund",
    "password",
    "parcel",
    "invoice",
    "address",
    "delivery",
    "account",
    "tomorrow",
    "support",
    "reset",
    "shipping",
]


def _pairs(n: int, offset: int = 0) -> list[tuple[str, str]]:
    out = []
    for j in range(offset, offset + n):
        i = j // 3  # each prompt about three times
        out.append(
            (
                f"How do I handle my {W[i % 12]} number {i} for {W[(i * 5) % 12]}?",
                f"Open the {W[i % 12]} page and follow step {i + j % 2} for your "
                f"{W[(i * 7) % 12]}.",
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=2000)
    ap.add_argument("--windows", type=int, default=10)
    args = ap.parse_args()
    name, encode = encoder("auto")
    encode(["warm up", "the model"])  # the one model load per process, off the clock
    about = TEXT_MODEL.describe() if name != "tfidf" else {}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        ingestor = Ingestor(store)
        ingestor.register_model(
            {
                "name": "bot",
                "task": "text_generation",
                "schema": {"features": [{"name": "prompt", "kind": "text"}]},
            }
        )
        end = (time.time() // SCORE_STEP) * SCORE_STEP
        start = end - args.windows * SCORE_STEP
        per = args.answers // args.windows
        pairs = _pairs(args.answers)
        ingestor.ingest_predictions(
            "bot",
            [
                {
                    "id": f"p{i}",
                    "ts": start + (i // per) * SCORE_STEP + (i % per) * SCORE_STEP / per,
                    "inputs": {"prompt": q},
                    "outputs": a,
                }
                for i, (q, a) in enumerate(pairs)
            ],
        )
        load = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        done = score_pending(store, now=end + 1, wait=True)
        cold, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert done == {"bot": args.answers}, done
        print(
            f"backend {name} {about}; {args.answers} answers in {args.windows} windows of "
            f"{SCORE_STEP // 60} min; load average {load:.1f} -> {os.getloadavg()[0]:.1f}"
        )
        print(
            f"  job, cold cache   {cold:8.3f} s  {args.answers / cold:10,.0f} answers/s  "
            f"{1000 * cold / args.windows:8.1f} ms/window  (CPU {cpu:.3f} s: "
            f"{args.answers / cpu:,.0f} answers per CPU second)"
        )
        more = _pairs(20, offset=args.answers)
        ingestor.ingest_predictions(
            "bot",
            [
                {"id": f"n{i}", "ts": end - 10 - i * 0.1, "inputs": {"prompt": q}, "outputs": a}
                for i, (q, a) in enumerate(more)
            ],
        )
        t0, c0 = time.perf_counter(), time.process_time()
        score_pending(store, now=end + 1, wait=True)
        again, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"  job, 20 new answers in one window ({per + 20} re-scored)  {1000 * again:8.1f} ms"
            f"  (CPU {1000 * cpu:.1f} ms)"
        )
        model = store.get_model("bot")
        for label, call in (
            (
                "quality_report, 1 h, stored (model page)",
                lambda: quality_report(store, model, start=end - 3600, end=end, live_text=False),
            ),
            (
                "rule metric answers_relevance_mean, 1 window",
                lambda: get_metric("answers_relevance_mean").compute(
                    store, model, None, end - SCORE_STEP, end
                ),
            ),
        ):
            call()
            t0 = time.perf_counter()
            for _ in range(5):
                call()
            print(f"  {label:48s} {1000 * (time.perf_counter() - t0) / 5:8.1f} ms")


if __name__ == "__main__":
    main()
