"""Benchmark: profile 10M rows streamed in batches; compare with a numpy floor.

Run::

    python bench/profile/bench_profile.py [--rows 10000000] [--batch-size 1000000]

Data (seeded, generated batch by batch, generation not timed): four numeric columns
(normal; log-normal; integer-valued 0..999; uniform with 1% NaN) and one categorical
column of 100 string levels (an Arrow array, as Parquet/CSV readers give it).

Reported:
- profiling CPU time and values/s per core (one process, one thread);
- the numpy floor on the numeric columns: ``np.mean``, ``np.std`` and ``np.quantile``
  (5 quantiles) per batch, which is neither mergeable nor sketches distinct counts, but
  is the least any exact per-batch summary must spend; and our time on the same columns;
- resident memory after the first batch and peak RSS at the end (constant memory means
  the two stay close however many rows are profiled).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pyarrow as pa

from vigil.profile import Profile

LEVELS = np.array([f"level_{i:03d}" for i in range(100)])


def batch(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], pa.Array]:
    uniform = rng.random(n)
    uniform[rng.random(n) < 0.01] = np.nan
    numeric = {
        "normal": rng.normal(50.0, 10.0, n),
        "lognormal": rng.lognormal(0.0, 1.0, n),
        "integer": rng.integers(0, 1000, n).astype(np.float64),
        "uniform": uniform,
    }
    cat = pa.array(LEVELS[rng.integers(0, LEVELS.size, n)])
    return numeric, cat


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--batch-size", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(42)
    profile = Profile()
    t_numeric = t_cat = t_merge = t_floor = 0.0
    rows = 0
    rss_first = None
    while rows < args.rows:
        n = min(args.batch_size, args.rows - rows)
        numeric, cat = batch(rng, n)

        t0 = time.process_time()
        part = Profile.from_columns(numeric, kinds=dict.fromkeys(numeric, "numeric"))
        t1 = time.process_time()
        part = part.merge(Profile.from_columns({"plan": cat}, kinds={"plan": "categorical"}))
        t2 = time.process_time()
        profile = profile.merge(part) if profile.n_rows else part
        t3 = time.process_time()
        t_numeric += t1 - t0
        t_cat += t2 - t1
        t_merge += t3 - t2

        t0 = time.process_time()
        for x in numeric.values():
            np.nanmean(x) if np.isnan(x).any() else np.mean(x)
            np.nanstd(x) if np.isnan(x).any() else np.std(x)
            np.nanquantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
        t_floor += time.process_time() - t0

        rows += n
        if rss_first is None:
            rss_first = rss_mib()
        del numeric, cat, part

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    numeric_values = rows * 4
    total_values = rows * 5
    t_total = t_numeric + t_cat + t_merge

    def rate(values: int, seconds: float) -> str:
        return f"{seconds:7.2f} s CPU  {values / seconds / 1e6:6.2f} M values/s/core"

    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, rows {rows:,}, "
        f"batch {args.batch_size:,}, columns 4 numeric + 1 categorical"
    )
    print(f"profile all columns : {rate(total_values, t_total)}")
    print(f"  numeric columns   : {rate(numeric_values, t_numeric)}")
    print(f"  categorical column: {rate(rows, t_cat)}")
    print(f"  merges            : {t_merge:7.2f} s CPU")
    print(f"numpy floor numeric : {rate(numeric_values, t_floor)}  (mean, std, 5 quantiles)")
    print(f"ratio vigil/numpy (numeric): {t_numeric / t_floor:.2f}x")
    print(f"RSS after first batch {rss_first:.0f} MiB; peak RSS {peak:.0f} MiB")
    col = profile["normal"]
    print(
        f"check: n={col.count:,} mean={col.mean:.3f} std={col.std:.3f} "
        f"p50={col.quantile(0.5):.3f} distinct≈{col.distinct_estimate:,.0f} "
        f"profile size {len(profile.to_bytes()):,} bytes"
    )


if __name__ == "__main__":
    main()
