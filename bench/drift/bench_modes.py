"""Exact mode against sketch mode: no-drift false alarms and power, per column kind.

Exact mode is :func:`vigil.detect_drift` on raw rows; sketch mode is
:func:`vigil.profile.profile_drift` on profiles merged from 30 chunks per window (as the
server merges per-minute rollups). Both apply the default policy (BH across the columns,
effect-size floors). For each size, no-drift data sets count per-column false alarms
(verdicts and raw p < 0.05, the test's own validity) and per-data-set ones (any column
flagged); shifted data sets count detections.

The text column samples both sides from one corpus (a fixed pool of generated sentences
over a Zipf vocabulary): exact mode runs vigil's text drift (TF-IDF domain classifier
plus per-term document-frequency tests), sketch mode can only compare text lengths. Its
shift appends a new term to a share ``shift / 2`` of the current texts.

    python bench/drift/bench_modes.py                       # 5k and 50k rows, 40 seeds
    python bench/drift/bench_modes.py --rows 500000 --seeds 5 --no-exact
    python bench/drift/bench_modes.py --rows 50000 --seeds 10 --columns text
    python bench/drift/bench_modes.py --rows 500000 --seeds 20 --no-sketch --no-drift-only
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


_WORDS = np.array([f"w{i}" for i in range(3000)])


def _corpus(size: int = 200_000) -> np.ndarray:
    """The one corpus both sides sample: sentences of 4-19 words over a Zipf vocabulary."""
    rng = np.random.default_rng(12345)
    lengths = rng.integers(4, 20, size)
    idx = rng.choice(_WORDS.size, size=(size, 19), p=_zipf(_WORDS.size))
    return np.array(
        [" ".join(_WORDS[row[:k]]) for row, k in zip(idx, lengths, strict=True)], dtype=object
    )


_CORPUS: list[np.ndarray] = []


def _text(rng: np.random.Generator, n: int, s: float) -> np.ndarray:
    if not _CORPUS:
        _CORPUS.append(_corpus())
    out = _CORPUS[0][rng.integers(0, _CORPUS[0].size, n)]
    new = rng.random(n) < s / 2
    out[new] = out[new] + " zorblax"  # a term the reference never had
    return out


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
    "text": _text,
}
ANY = "(any column)"
"""The per-data-set row: a data set counts when at least one of its columns drifted."""


def _profile(frame: pd.DataFrame, chunks: int) -> Profile:
    parts = np.array_split(np.arange(len(frame)), chunks)
    return Profile.merge_all([Profile.from_frame(frame.iloc[i]) for i in parts])


def run(
    rows: int,
    seeds: int,
    shift: float,
    exact: bool,
    names: list[str],
    sketch: bool = True,
    first_seed: int = 0,
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    cols = {c: COLUMNS[c] for c in names}
    for seed in range(first_seed, first_seed + seeds):
        rng = np.random.default_rng(seed)
        ref = pd.DataFrame({c: f(rng, rows, 0.0) for c, f in cols.items()})
        cur = pd.DataFrame({c: f(rng, rows, shift) for c, f in cols.items()})
        for name in cols:
            out.setdefault(name, {})
        anyrow = out.setdefault(ANY, {})
        if sketch:
            sk = profile_drift(_profile(ref, 10), _profile(cur, 30))
            for name in cols:
                s = sk.columns[name]
                row = out[name]
                row["sketch"] = row.get("sketch", 0) + s.drifted / seeds
                p = s.details.get("p_value_decision")
                row["sketch p<.05"] = (
                    row.get("sketch p<.05", 0) + (p is not None and p < 0.05) / seeds
                )
                row["sketch untested"] = (
                    row.get("sketch untested", 0) + (s.statistic is None) / seeds
                )
            hit = any(sk.columns[name].drifted for name in cols)
            anyrow["sketch"] = anyrow.get("sketch", 0) + hit / seeds
        if exact:
            ex = detect_drift(ref, cur, multivariate=None)
            for name in cols:
                row = out[name]
                row["exact"] = row.get("exact", 0) + ex[name].drifted / seeds
                p = ex[name].p_value
                row["exact p<.05"] = (
                    row.get("exact p<.05", 0) + (p is not None and p < 0.05) / seeds
                )
            hit = any(ex[name].drifted for name in cols)
            anyrow["exact"] = anyrow.get("exact", 0) + hit / seeds
    out[ANY] = out.pop(ANY)  # last
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
    ap.add_argument("--no-sketch", action="store_true")
    ap.add_argument("--no-drift-only", action="store_true", help="skip the shifted data sets")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, first-seed+1, ...")
    ap.add_argument("--columns", nargs="+", choices=list(COLUMNS), default=list(COLUMNS))
    args = ap.parse_args()
    for rows in args.rows:
        cases = [("no drift", 0.0), (f"shift {args.shift}", args.shift)]
        for label, shift in cases[:1] if args.no_drift_only else cases:
            t0 = time.perf_counter()
            res = run(
                rows,
                args.seeds,
                shift,
                not args.no_exact,
                args.columns,
                sketch=not args.no_sketch,
                first_seed=args.first_seed,
            )
            keys = list(next(iter(res.values())))
            print(
                f"\n{rows:,} rows per side, {label}, {args.seeds} seeds "
                f"({time.perf_counter() - t0:.0f} s): share of data sets\n"
            )
            print("| column | " + " | ".join(keys) + " |")
            print("|---" * (len(keys) + 1) + "|")
            for name, row in res.items():
                cells = (f"{row[k]:.2f}" if k in row else "—" for k in keys)
                print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
