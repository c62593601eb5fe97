"""Micro-benchmark: CPU per value of ``ColumnProfile.update_numeric`` plus ``state()``.

What the minute fold spends per numeric value (moments, KLL, distinct count, then the
serialised sketches), at a fold's sizes. Compare two checkouts in one session::

    PYTHONPATH=<checkout> python bench/profile/bench_column_update.py [--sizes 1000 8000]

Values: normal, rounded to 5 decimals (as ``bench/ingest`` sends them). Prints the range
over 5 repeats of ~0.5 s CPU each, and the same without the distinct count.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vigil.profile.column import ColumnProfile


def ns_per_value(values: np.ndarray, distinct: bool) -> float:
    start = time.process_time()
    reps = 0
    while time.process_time() - start < 0.5:
        col = ColumnProfile("x", "numeric")
        col.update_numeric(values, distinct=distinct)
        col.state()
        reps += 1
    return (time.process_time() - start) / reps / values.size * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000])
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for n in args.sizes:
        values = rng.normal(size=n).round(5)
        runs = [ns_per_value(values, True) for _ in range(5)]
        bare = min(ns_per_value(values, False) for _ in range(3))
        print(
            f"n={n}: update_numeric + state {min(runs):.1f}-{max(runs):.1f} ns/value "
            f"(without the distinct count {bare:.1f})"
        )


if __name__ == "__main__":
    main()
