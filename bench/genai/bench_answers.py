"""Per-answer quality cost (``GET /models/{m}/answers``): 200 distinct prompt/answer pairs
scored by :func:`vigil.engine.genai.quality.answer_scores`, the first time and again
(embeddings cached by text hash), with MiniLM (needs the ``text`` extra) and TF-IDF;
wall and CPU seconds (``time.process_time``) of this process.

    python bench/genai/bench_answers.py [--answers 200]
"""

from __future__ import annotations

import argparse
import time

from vigil.engine.genai.quality import answer_scores
from vigil.quality.text import embedding_available

W = ["order", "refund", "password", "parcel", "invoice", "address", "delivery", "account"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=200)
    n = ap.parse_args().answers
    queries = [f"How do I handle my {W[i % 8]} number {i} for {W[(i * 3) % 8]}?" for i in range(n)]
    answers = [
        f"Open the {W[i % 8]} page and follow step {i} for your {W[(i * 5) % 8]}." for i in range(n)
    ]
    runs = [("tfidf", "tfidf")]
    answer_scores(["warm"], ["up"], backend="tfidf")  # scikit-learn's import, off the clock
    if embedding_available():
        answer_scores(["warm"], ["up"], backend="embedding")  # the model load, off the clock
        runs = [("MiniLM, first time", "embedding"), ("MiniLM, again (cached)", "embedding"), *runs]
    else:
        print("the text extra is not installed: TF-IDF only")
    for label, backend in runs:
        start, cpu = time.perf_counter(), time.process_time()
        answer_scores(queries, answers, backend=backend)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"  {label:24s} {seconds:8.3f} s  {n / seconds:10,.0f} answers/s"
            f"  (CPU {cpu:.3f} s, {n / max(cpu, 1e-9):,.0f} answers per CPU second)"
        )


if __name__ == "__main__":
    main()
