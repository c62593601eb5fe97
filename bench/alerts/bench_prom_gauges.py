"""Cost of the store gauges on /metrics (vigil.server.prom.StoreGauges).

N models x M predictions over the last hour (two versions, labels on half), a drift
reference each and 10 stored rules on store metrics. Measures one full computation of the
gauges and, as the reference in the same run, one evaluation of the same rules by vigil's
alert engine (AlertEngine.evaluate_rule); prints the ratio, and what a scrape pays once the
cache is filled.

    PYTHONPATH=$PWD python bench/alerts/bench_prom_gauges.py --models 5 --predictions 20000
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd

from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.windows.drift import set_reference
from vigil.server.prom import StoreGauges
from vigil.store import open_store
from vigil.store.alerts.queries import AlertStore

RULES = [
    ("accuracy", "1h"),
    ("f1", "1h"),
    ("roc_auc", "1h"),
    ("cpu_percent", "5m"),
    ("drift_share", "15m"),
    ("ood_rate", "1h"),
    ("probe_failure_rate", "15m"),
    ("memory_rss_bytes", "5m"),
    ("negative_feedback_rate", "1h"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=5)
    ap.add_argument("--predictions", type=int, default=20_000)
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    store = open_store(args.db or f"sqlite:///{tempfile.mkdtemp()}/bench.db")
    ingest = Ingestor(store, max_batch=50_000)
    rng = np.random.default_rng(0)
    now, n = time.time(), args.predictions
    columns = [f"f{j}" for j in range(10)]
    schema = {
        "task": "binary_classification",
        "features": [{"name": c, "kind": "numeric"} for c in columns],
    }
    for m in range(args.models):
        name = f"m{m}"
        ingest.register_model({"name": name, "schema": schema})
        x = rng.normal(size=(n, 10))
        recs = [
            {
                "id": str(i),
                "version": str(1 + i % 2),
                "ts": now - 3500 + i * 3500 / n,
                "latency_s": 0.01,
                "inputs": dict(zip(columns, map(float, x[i]), strict=True)),
                "outputs": int(x[i, 0] > 0),
                "proba": float(1 / (1 + np.exp(-x[i, 0]))),
            }
            for i in range(n)
        ]
        for k in range(0, n, 5000):
            ingest.ingest_predictions(name, recs[k : k + 5000])
        ingest.ingest_labels(
            name, [{"prediction_id": str(i), "actual": int(x[i, 0] > 0.1)} for i in range(0, n, 2)]
        )
        set_reference(
            store,
            store.get_model(name),
            pd.DataFrame(rng.normal(size=(2000, 10)), columns=columns),
            "bench",
        )
        store.fold_pending(store.get_model(name).id)
    rules = [
        Rule.from_dict(
            {"name": f"r{i}", "model": "*", "metric": metric, "threshold": 0.5, "window": window}
        )
        for i, (metric, window) in enumerate(RULES)
    ]
    rules.append(Rule.from_dict({"name": "silent", "kind": "no_data", "window": "15m"}))
    for rule in rules:
        AlertStore(store).put_rule(rule.to_dict())
    gauges, engine = StoreGauges(store), AlertEngine(store)
    for _ in range(args.rounds):
        t = time.perf_counter()
        families = gauges.families(time.time())
        full = time.perf_counter() - t
        t = time.perf_counter()
        for rule in rules:
            engine.evaluate_rule(rule, time.time())
        reference = time.perf_counter() - t
        print(f"gauges {full:.2f} s, engine round {reference:.2f} s, ratio {full / reference:.2f}")
    series = sum(len(f.samples) for f in families)
    gauges._refresh()  # fill the cache as the background thread does
    t = time.perf_counter()
    for _ in range(1000):
        list(gauges.collect())
    print(
        f"{args.models} models x {n} predictions, {len(rules)} rules: {series} series; "
        f"a scrape with the cache filled: {(time.perf_counter() - t) * 1e3:.1f} us"
    )


if __name__ == "__main__":
    main()
