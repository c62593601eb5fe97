"""Hot-path overhead of a tracked call, next to prometheus_client's Histogram.observe.

Overhead = (wrapped call - bare call), each the median of many timed loops. In the same
run: ``Histogram.labels(model_name, model_version).observe(x)`` on its own registry. The
Monitor sends to a MemoryTransport that keeps nothing, so the background thread does its
real work (ids, dicts, JSON) but no network; its queue is big enough never to drop.

Run: ``python bench/sdk/hot_path.py [--loops 200] [--calls 2000]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from prometheus_client import CollectorRegistry, Histogram

from vigil.sdk import MemoryTransport, Monitor


def per_call_ns(fn, arg, calls: int) -> float:
    """Nanoseconds per call of ``fn(arg)`` over one loop of ``calls`` calls."""
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        fn(arg)
    return (time.perf_counter_ns() - t0) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=300, help="timed loops per variant")
    parser.add_argument("--calls", type=int, default=2000, help="calls per loop")
    args = parser.parse_args()

    features = {f"f{i}": float(i) for i in range(25)}

    def bare(x):
        return 1

    with tempfile.TemporaryDirectory() as spool:
        mon = Monitor(
            "bench",
            version="1",
            transport=MemoryTransport(keep=False),
            spool_dir=spool,
            queue_size=10_000_000,
            flush_interval_s=0.2,
        )
        tracked = mon.track(bare)
        registry = CollectorRegistry()
        hist = Histogram(
            "bench_latency_seconds", "latency", ["model_name", "model_version"], registry=registry
        )

        def prom(x):
            hist.labels("bench", "1").observe(0.001)

        def prom_observe_only(x, child=hist.labels("bench", "1")):
            child.observe(0.001)

        variants = {"bare": bare, "tracked": tracked, "prom": prom, "prom_child": prom_observe_only}
        for fn in variants.values():  # warm up
            per_call_ns(fn, features, args.calls)
        samples: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.loops):  # interleave so drift in machine load hits all alike
            for name, fn in variants.items():
                samples[name].append(per_call_ns(fn, features, args.calls))
        mon.close()
        stats = mon.stats

    med = {k: statistics.median(v) for k, v in samples.items()}
    overhead = med["tracked"] - med["bare"]
    prom_cost = med["prom"] - med["bare"]
    child_cost = med["prom_child"] - med["bare"]
    print(f"bare call                                  {med['bare']:8.0f} ns")
    print(f"tracked call                               {med['tracked']:8.0f} ns")
    print(f"vigil hot-path overhead (tracked - bare)   {overhead:8.0f} ns")
    print(f"prometheus Histogram.labels(..).observe()  {prom_cost:8.0f} ns")
    print(f"prometheus child.observe() (labels cached) {child_cost:8.0f} ns")
    print(
        f"ratio vigil / labels().observe()           {overhead / prom_cost:8.2f}  (target <= 0.5)"
    )
    print(f"ratio vigil / child.observe()              {overhead / child_cost:8.2f}")
    print(f"records sent {stats['sent']}, dropped {stats['dropped_queue_full']}")


if __name__ == "__main__":
    main()
