"""Milliseconds per rule round for a fleet: 100 rules over 50 models with traffic.

    python bench/alerts/bench_rules_fleet.py [--db URL] [--models 50] [--rules 100]
        [--hours 25] [--rounds 7]

Builds ``models`` models with a few predictions per minute over ``hours`` (one error in
seven minutes, latencies that vary), folds them into the rollups, then stores ``rules``
rules spread over the models (two per model by default), cycling through the kinds an
operator sets up: error rate on 5 min and 1 h, latency p99, throughput, error rate against
the day before, no data, a timeout-error rate. The built-in ``rejected-records`` rule runs
too, on every model, as in a server. Each round is one ``AlertEngine.evaluate``; the
figure is ms per round (best and median of ``rounds``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.engine.ingest.ingestor import Ingestor
from vigil.store import open_store
from vigil.store.alerts.queries import AlertStore

TEMPLATES: list[dict[str, Any]] = [
    {"metric": "error_rate", "threshold": 0.2, "window": "5m", "for": "2m"},
    {"metric": "error_rate", "threshold": 0.2, "window": "1h"},
    {"metric": "latency_p99", "threshold": 0.5, "window": "15m"},
    {"metric": "throughput", "op": "<", "threshold": 0.01, "window": "1h"},
    {"kind": "change", "metric": "error_rate", "baseline": "1d", "threshold": 3, "window": "1h"},
    {"kind": "no_data", "window": "15m"},
    {"metric": "error_rate:TimeoutError", "threshold": 0.1, "window": "15m"},
]


def build(store: Any, models: int, hours: int, per_minute: int) -> None:
    ingestor = Ingestor(store)
    now = time.time()
    for m in range(models):
        name = f"model{m}"
        ingestor.register_model({"name": name, "schema": {"features": []}})
        records = [
            {
                "id": f"{i}-{j}",
                "ts": now - i * 60 - j,
                "latency_s": 0.01 * (1 + j + i % 5),
                "inputs": {"x": float(j + i % 11)},
                "outputs": j % 2,
                **({"error": "TimeoutError: slow"} if j == 0 and i % 7 == 0 else {}),
            }
            for i in range(hours * 60)
            for j in range(per_minute)
        ]
        for k in range(0, len(records), 5000):
            ingestor.ingest_predictions(name, records[k : k + 5000])
        store.fold_pending()


def rules(models: int, count: int) -> list[dict[str, Any]]:
    out = []
    for r in range(count):
        spec = dict(TEMPLATES[r % len(TEMPLATES)])
        spec.update(name=f"rule{r}", model=f"model{r % models}")
        out.append(spec)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--hours", type=int, default=25)
    parser.add_argument("--per-minute", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    store = open_store(url)
    t0 = time.perf_counter()
    build(store, args.models, args.hours, args.per_minute)
    print(
        f"setup: {args.models} models x {args.hours * 60} minutes x {args.per_minute} "
        f"predictions ({time.perf_counter() - t0:.1f} s)"
    )
    alerts = AlertStore(store)
    for spec in rules(args.models, args.rules):
        alerts.put_rule(Rule.from_dict(spec).to_dict())
    engine = AlertEngine(store)
    times = []
    now = time.time()
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        engine.evaluate(now)
        times.append(time.perf_counter() - t0)
    best, median = min(times), sorted(times)[len(times) // 2]
    print(
        f"backend={store.backend} models={args.models} rules={args.rules} "
        f"(+ the built-in rejected-records rule on every model)"
    )
    print(
        f"round: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms "
        f"({best / (args.rules + args.models) * 1000:.2f} ms per rule evaluation)"
    )
    store.close()


if __name__ == "__main__":
    main()
