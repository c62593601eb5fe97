"""Time the dashboard's overview page over rollups that stand for 10 M stored predictions.

Rollups are written directly (the ingest benchmark times the way in): ``--models`` models
with ``--versions`` versions each, one row per minute over ``--days`` days, with counts
that add up to ``--predictions``. Every row carries a real KLL latency sketch and a real
input profile of the demo model's records (a pool of distinct ones, cycled), so reads cost
what they cost in production. Then the page is requested through the real app
(in-process ASGI client) and its server time read from the ``Server-Timing`` header; the
engine part (``vigil.server.dashboard.views.overview``) is timed alone too.

    python bench/ui/bench_overview.py                      # SQLite in a temp folder
    python bench/ui/bench_overview.py --db postgresql+psycopg://user@host/db
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from datasketches import kll_doubles_sketch

from vigil.cli.demo_model import make_applicants
from vigil.profile import Profile
from vigil.store import open_store
from vigil.store import tables as t
from vigil.store.ingest.hourly import mark_hours
from vigil.store.ingest.rollups import KLL_K

POOL = 64  # distinct sketches and profiles, cycled over the rows


def fill(store, models: int, versions: int, days: int, predictions: int) -> int:
    """Write the rollups; return the number of predictions they stand for."""
    rng = np.random.default_rng(0)
    minutes = days * 1440
    per_row = max(1, predictions // (models * versions * minutes))
    sketches, profiles = [], []
    for _ in range(POOL):
        sketch = kll_doubles_sketch(KLL_K)
        sketch.update(rng.gamma(2.0, 0.01, per_row))
        sketches.append(sketch.serialize())
        profiles.append(Profile.from_records(make_applicants(min(per_row, 200), rng)).to_bytes())
    now_minute = int(time.time()) // 60 * 60
    first = now_minute - (minutes - 1) * 60
    total = 0
    for m in range(models):
        model, _ = store.upsert_model(
            f"model-{m:03d}",
            "binary_classification",
            {"features": [], "task": "binary_classification"},
        )
        for v in range(versions):
            rows = []
            for i in range(minutes):
                errors = int(rng.binomial(per_row, 0.01))
                rows.append(
                    {
                        "model_id": model.id,
                        "version": str(v + 1),
                        "minute": first + i * 60,
                        "count": per_row,
                        "errors": errors,
                        "latency_count": per_row,
                        "latency_sum": per_row * 0.02,
                        "latency_sketch": sketches[i % POOL],
                        "profile": profiles[i % POOL],
                    }
                )
                total += per_row
            for chunk in range(0, len(rows), 5000):
                with store.write() as conn:
                    conn.execute(t.rollups.insert(), rows[chunk : chunk + 5000])
                    # written beside the aggregator: mark the hours, as its fold does
                    mark_hours(
                        store,
                        conn,
                        {
                            (model.id, r["minute"] // 3600 * 3600)
                            for r in rows[chunk : chunk + 5000]
                        },
                    )
            with store.write() as conn:
                conn.execute(
                    t.model_versions.insert().values(
                        model_id=model.id, version=str(v + 1), created_at=time.time()
                    )
                )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="store URL (default: SQLite in a temp folder)")
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--versions", type=int, default=1)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--predictions", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--ranges", default="15m,1h,6h,24h")
    parser.add_argument(
        "--phases",
        default="minutes,hours",
        help="minutes: before the hourly rollups are built (every read "
        "merges minutes); hours: after store.build_hours()",
    )
    args = parser.parse_args()

    from starlette.testclient import TestClient

    from vigil.config import load_settings
    from vigil.server.app import create_app
    from vigil.server.dashboard import views

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = open_store(url)
        started = time.perf_counter()
        total = fill(store, args.models, args.versions, args.days, args.predictions)
        rows = store.count("predictions")  # raw events are not needed for the page
        print(
            f"filled rollups for {total:,} predictions ({args.models} models x "
            f"{args.versions} versions x {args.days} days of minutes; raw rows {rows}) "
            f"in {time.perf_counter() - started:.1f} s on {url.split(':')[0]}"
        )
        # no aggregator loop: it would build the hours during the "minutes" phase
        app = create_app(load_settings(home=tmp, auth="off", aggregate_interval_s=0), store)
        with TestClient(app, base_url="http://localhost") as client:
            for phase in args.phases.split(","):
                if phase == "hours":
                    t0 = time.perf_counter()
                    built = store.build_hours()
                    print(f"built {built} hourly rollups in {time.perf_counter() - t0:.1f} s")
                for key in args.ranges.split(","):
                    server, wall, engine = [], [], []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        answer = client.get("/", params={"range": key})
                        wall.append((time.perf_counter() - t0) * 1000)
                        assert answer.status_code == 200, answer.text[:300]
                        assert answer.text.count('data-model="') == args.models
                        timing = answer.headers.get("server-timing", "")
                        server.append(
                            float(timing.split("dur=")[1].split(",")[0])
                            if "dur=" in timing
                            else float("nan")
                        )
                        t0 = time.perf_counter()
                        views.overview(store, views.resolve_range(key))
                        engine.append((time.perf_counter() - t0) * 1000)
                    print(
                        f"[{phase}] overview range={key:>4}: Server-Timing median "
                        f"{statistics.median(server):6.1f} ms (max {max(server):6.1f}); "
                        f"request wall median {statistics.median(wall):6.1f} ms; "
                        f"views.overview median {statistics.median(engine):6.1f} ms"
                    )
        store.close()


if __name__ == "__main__":
    main()
