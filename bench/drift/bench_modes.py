"""Exact mode against sketch mode: no-drift false alarms and power, per column kind.

Exact mode is :func:`vigil.detect_drift` on raw rows; sketch mode is
:func:`vigil.profile.profile_drift` on profiles merged from 30 chunks per window (as the
server merges per-minute rollups). Both apply the default policy (BH across the columns,
effect-size floors). For each size, no-drift data sets count per-column false alarms
(verdicts and raw p < 0.05, the test's own validity); shifted data sets count detections.

    python bench/drift/bench_modes.py                       # 5k and 50k rows, 40 seeds
    python bench/drift/bench_modes.py --rows 500000 --seeds 5 --no-exact
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from vigil import detect_drift
from vigil.profile import Profile, profile_drift


def _zipf(k: int) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** 1.1
    return w / w.sum()


LOW = np.array([0.4, 0.3, 0.2, 0.08, 0.02])
COLUMNS: dict[str, Callable[[np.random.Generator, int, float], np.ndarray]] = {
    "numeric": lambda rng, n, s: rng.normal(s, 1.0, n),
    "binary": lambda rng, n, s: rng.choice(["y", "n"], n, p=[0.1 + s / 4, 0.9 - s / 4]),
    "low_card (5)": lambda rng, n, s: rng.choice(
        list("abcde"), n, p=LOW if s == 0 else LOW + np.array([-s, 0, 0, 0, s]) / 2
    ),
    "zipf (2,000)": lambda rng, n, s: rng.choice(
        2000, n, p=_zipf(2000) if s == 0 else np.roll(_zipf(2000), 1)
    ).astype(str),
    "uniform (5,000)": lambda rng, n, s: rng.choice(5000, n).astype(str),
}


def _profile(frame: pd.DataFrame, chunks: int) -> Profile:
    parts = np.array_split(np.arange(len(frame)), chunks)
    return Profile.merge_all([Profile.from_frame(frame.iloc[i]) for i in parts])


def run(rows: int, seeds: int, shift: float, exact: bool) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        ref = pd.DataFrame({c: f(rng, rows, 0.0) for c, f in COLUMNS.items()})
        cur = pd.DataFrame({c: f(rng, rows, shift) for c, f in COLUMNS.items()})
        sk = profile_drift(_profile(ref, 10), _profile(cur, 30))
        for name in COLUMNS:
            s = sk.columns[name]
            row = out.setdefault(name, {})
            row["sketch"] = row.get("sketch", 0) + s.drifted / seeds
            p = s.details.get("p_value_decision")
            row["sketch p<.05"] = row.get("sketch p<.05", 0) + (p is not None and p < 0.05) / seeds
            row["sketch untested"] = row.get("sketch untested", 0) + (s.statistic is None) / seeds
        if exact:
            ex = detect_drift(ref, cur, multivariate=None)
            for name in COLUMNS:
                row = out[name]
                row["exact"] = row.get("exact", 0) + ex[name].drifted / seeds
                row["exact p<.05"] = row.get("exact p<.05", 0) + (ex[name].p_value < 0.05) / seeds
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[5_000, 50_000])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument(
        "--shift",
        type=float,
        default=0.25,
        help="σ for numeric; share moved for categorical columns",
    )
    ap.add_argument("--no-exact", action="store_true")
    args = ap.parse_args()
    for rows in args.rows:
        for label, shift in (("no drift", 0.0), (f"shift {args.shift}", args.shift)):
            t0 = time.perf_counter()
            res = run(rows, args.seeds, shift, not args.no_exact)
            keys = list(next(iter(res.values())))
            print(
                f"\n{rows:,} rows per side, {label}, {args.seeds} seeds "
                f"({time.perf_counter() - t0:.0f} s): share of data sets\n"
            )
            print("| column | " + " | ".join(keys) + " |")
            print("|---" * (len(keys) + 1) + "|")
            for name, row in res.items():
                print(f"| {name} | " + " | ".join(f"{row[k]:.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
