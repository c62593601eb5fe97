"""Drift benchmark: vigil's detect_drift against a hand-vectorised numpy/scipy floor.

Data: 25 columns (20 numeric, 5 categorical with 10, 50, 100, 500 and 1,000 levels), the
same rows count on both sides, five numeric and one categorical column shifted. Both
sides run the same tests: KS with scipy's p-value and a Wasserstein/σ effect size on
numeric columns, chi-squared on categorical ones, Benjamini–Hochberg across columns.
Then 100 windows of 10k rows are compared with one prepared large reference.

Run:
    python bench/drift/bench_drift.py                 # 100k rows per side, 1M reference
    python bench/drift/bench_drift.py --rows 1000000  # 1M rows per side
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from vigil.drift import DriftDetector, detect_drift

LEVELS = (10, 50, 100, 500, 1000)


def make(n: int, seed: int, shift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for i in range(20):
        data[f"num_{i}"] = rng.normal(0.3 if shift and i < 5 else 0.0, 1.0, n)
    for j, k in enumerate(LEVELS):
        p = 1.0 / np.arange(1, k + 1)
        if shift and j == 0:
            p = p[::-1]
        p /= p.sum()
        names = np.array([f"L{x}" for x in range(k)], dtype=object)
        data[f"cat_{k}"] = names[rng.choice(k, n, p=p)]
    return pd.DataFrame(data)


def floor(ref: pd.DataFrame, cur: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """The same tests written directly with numpy and scipy, nothing shared with vigil."""
    pvals, effects, names, mins = [], [], [], []
    for name in ref.columns:
        a, b = ref[name].to_numpy(), cur[name].to_numpy()
        if a.dtype.kind == "f":
            a, b = np.sort(a), np.sort(b)
            pvals.append(stats.ks_2samp(a, b).pvalue)
            effects.append(stats.wasserstein_distance(a, b) / a.std())
            mins.append(0.1)
        else:
            ra, rb = pd.Series(a).value_counts(), pd.Series(b).value_counts()
            table = pd.concat([ra, rb], axis=1).fillna(0).to_numpy().T
            pvals.append(stats.chi2_contingency(table).pvalue)
            pa, pb = table[0] / table[0].sum(), table[1] / table[1].sum()
            effects.append(0.5 * np.abs(pa - pb).sum())
            mins.append(0.05)
        names.append(name)
    adjusted = stats.false_discovery_control(np.array(pvals), method="bh")
    return [
        n for n, p, e, m in zip(names, adjusted, effects, mins, strict=True) if p < alpha and e >= m
    ]


def best_of(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per side")
    parser.add_argument(
        "--reference-rows",
        type=int,
        default=1_000_000,
        help="rows of the prepared reference for the window benchmark",
    )
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--window-rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    ref, cur = make(args.rows, 0, False), make(args.rows, 1, True)
    t_floor, floor_cols = best_of(lambda: floor(ref, cur), args.repeat)
    t_vigil, report = best_of(lambda: detect_drift(ref, cur, multivariate=None), args.repeat)
    detect_drift(ref.head(2000), cur.head(2000))  # import scikit-learn outside the timing
    t_multi, report_mv = best_of(lambda: detect_drift(ref, cur), args.repeat)
    assert sorted(report.drifted_columns) == sorted(floor_cols), (
        report.drifted_columns,
        floor_cols,
    )
    print(f"rows per side: {args.rows:,}; 25 columns (20 numeric, 5 categorical)")
    print(f"  numpy/scipy floor           {t_floor:8.3f} s  drifted: {len(floor_cols)}")
    print(
        f"  vigil detect_drift          {t_vigil:8.3f} s  drifted: "
        f"{len(report.drifted_columns)}  ratio vigil/floor = {t_vigil / t_floor:.2f}"
    )
    print(
        f"  vigil + domain classifier   {t_multi:8.3f} s  dataset_drift: {report_mv.dataset_drift}"
    )

    big = make(args.reference_rows, 2, False)
    t = time.perf_counter()
    detector = DriftDetector(big, multivariate=None)
    t_prepare = time.perf_counter() - t
    windows = [make(args.window_rows, 100 + i, i % 10 == 0) for i in range(args.windows)]
    t = time.perf_counter()
    alarms = sum(bool(detector.compare(w).drifted_columns) for w in windows)
    t_windows = time.perf_counter() - t
    t = time.perf_counter()
    for w in windows[:10]:
        floor(big, w)
    t_floor_w = (time.perf_counter() - t) / 10
    print(
        f"windows: {args.windows} x {args.window_rows:,} rows against a "
        f"{args.reference_rows:,}-row reference"
    )
    print(f"  prepare reference once      {t_prepare:8.3f} s")
    print(
        f"  vigil per window            {t_windows / args.windows * 1000:8.1f} ms  "
        f"(windows with drifted columns: {alarms}, expected {args.windows // 10})"
    )
    print(f"  floor per window (re-sorts) {t_floor_w * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
