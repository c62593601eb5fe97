"""Long-range reads before and after the hourly rollups are built: overview, model page,
drift in sketch mode, a rule round.

Minute rollups are written directly as ``bench/ui/bench_overview.py`` writes them (real KLL
sketches and real input profiles of the demo model, cycled; the hours are marked as the
aggregator marks them), then each read is timed twice in the same run: with only minutes
(every read merges minutes) and after :meth:`Store.build_hours` (reads of 6 h and longer
take whole hours). Drift is the sketch-mode path (``_sketch``: merge the window's profiles,
test against the reference); the raw-row count that picks the mode is left out, as the
rollups stand for predictions that are not stored here.

    python bench/ingest/bench_long_reads.py                     # 10 M predictions, 10 models
    python bench/ingest/bench_long_reads.py --db postgresql+psycopg://user@host/db
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _fill():
    path = Path(__file__).parents[1] / "ui" / "bench_overview.py"
    spec = importlib.util.spec_from_file_location("bench_overview", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="store URL (default: SQLite in a temp folder)")
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--predictions", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from vigil.cli.demo_model import make_applicants
    from vigil.engine.metric_sources import get_metric
    from vigil.engine.windows.drift import _sketch, set_reference
    from vigil.server.dashboard import views
    from vigil.store import open_store
    from vigil.store.references.queries import get_reference

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = open_store(url)
        t0 = time.perf_counter()
        total = _fill()(store, args.models, 1, 1, args.predictions)
        print(
            f"rollups for {total:,} predictions, {args.models} models x 1 day of minutes "
            f"({time.perf_counter() - t0:.1f} s, {url.split(':')[0]})"
        )
        models = store.list_models()
        first = models[0]
        frame = pd.DataFrame(make_applicants(5000, np.random.default_rng(1)))
        set_reference(store, first, frame, "bench")
        reference = get_reference(store, first.id)
        window = views.resolve_range("24h")
        end, start = window.end, window.end - 86400
        count, p95 = get_metric("count"), get_metric("latency_p95")
        reads = {
            "overview 24h (10 models)": lambda: views.overview(store, window),
            "model page windows 24h": lambda: views.window_metrics(
                store, first, start=window.start, end=window.end, step=window.step
            ),
            "drift sketch mode 24h": lambda: _sketch(
                reference, store, first, start, end, None, "auto"
            ),
            "rule round: count+p95 over 24h, all models": lambda: [
                (count.compute(store, m, None, start, end), p95.compute(store, m, None, start, end))
                for m in models
            ],
        }
        results: dict[str, dict[str, float]] = {k: {} for k in reads}
        for phase in ("minutes", "hours"):
            if phase == "hours":
                t0 = time.perf_counter()
                built = store.build_hours()
                print(f"built {built} hours in {time.perf_counter() - t0:.1f} s")
            for name, fn in reads.items():
                results[name][phase] = _median_ms(fn, args.repeat)
        print(f"{'read':45} {'minutes':>10} {'hours':>10} {'ratio':>6}")
        for name, r in results.items():
            print(
                f"{name:45} {r['minutes']:8.0f}ms {r['hours']:8.0f}ms "
                f"{r['minutes'] / r['hours']:5.1f}x"
            )
        store.close()


if __name__ == "__main__":
    main()
