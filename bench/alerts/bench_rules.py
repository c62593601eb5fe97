"""How long one rule-evaluation round takes on the rollups (SQLite or PostgreSQL).

    python bench/alerts/bench_rules.py [--db URL] [--models 20] [--hours 24]

Builds ``models`` models with one batch of predictions per minute over ``hours``, applies
six rules on every model (threshold on 5m and 1h windows, latency p99, change against the
previous day, no data), and times evaluation rounds. The reference point printed beside it
is the cost of reading the same rollup rows once per (rule, model) with no evaluation.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.engine.ingest.ingestor import Ingestor
from vigil.store import open_store
from vigil.store.alerts.queries import AlertStore

RULES = [
    {"name": "errors-5m", "metric": "error_rate", "threshold": 0.2, "window": "5m", "for": "2m"},
    {"name": "errors-1h", "metric": "error_rate", "threshold": 0.2, "window": "1h"},
    {"name": "slow", "metric": "latency_p99", "threshold": 0.5, "window": "15m"},
    {"name": "busy", "metric": "throughput", "op": "<", "threshold": 0.01, "window": "1h"},
    {
        "name": "spike",
        "kind": "change",
        "metric": "error_rate",
        "baseline": "1d",
        "threshold": 3,
        "window": "1h",
    },
    {"name": "silent", "kind": "no_data", "window": "15m"},
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    store = open_store(url)
    ingestor = Ingestor(store)
    now = time.time()
    start = time.perf_counter()
    for m in range(args.models):
        name = f"model{m}"
        ingestor.register_model({"name": name})
        records = [
            {
                "id": f"{name}-{i}-{j}",
                "ts": now - i * 60,
                "latency_s": 0.01 * (1 + j),
                "inputs": {"x": j},
                "outputs": 0,
                **({"error": "e"} if j == 0 and i % 7 == 0 else {}),
            }
            for i in range(args.hours * 60)
            for j in range(3)
        ]
        for k in range(0, len(records), 5000):
            ingestor.ingest_predictions(name, records[k : k + 5000])
    print(
        f"setup: {args.models} models x {args.hours * 60} minutes "
        f"({time.perf_counter() - start:.1f} s)"
    )
    for spec in RULES:
        AlertStore(store).put_rule(Rule.from_dict(spec).to_dict())
    engine = AlertEngine(store)
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        engine.evaluate(now)
        times.append(time.perf_counter() - t0)
    models = store.list_models()
    t0 = time.perf_counter()
    for spec in RULES:
        window = Rule.from_dict(spec).window_s
        for model in models:
            store.rollup_rows(model.id, now - window, now)
    floor = time.perf_counter() - t0
    evaluations = len(RULES) * args.models
    best = min(times)
    print(
        f"backend={store.backend} rules={len(RULES)} models={args.models} "
        f"evaluations/round={evaluations}"
    )
    print(
        f"round: best {best * 1000:.0f} ms, median {sorted(times)[len(times) // 2] * 1000:.0f}"
        f" ms ({best / evaluations * 1000:.2f} ms per rule x model)"
    )
    print(
        f"reference (read the rollup rows once per rule x model): {floor * 1000:.0f} ms; "
        f"ratio {best / floor:.1f}x"
    )
    store.close()


if __name__ == "__main__":
    main()
