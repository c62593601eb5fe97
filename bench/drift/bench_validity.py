"""Validity checks behind issue 15, each against an independent oracle or a nominal rate.

- domain classifier without drift, with a 3,000-level categorical (many categories unseen
  in the reference): share of p-values below 0.05 and 0.01 (nominal 5 % and 1 %);
- Cramér–von Mises on Poisson(3) columns without drift (ties): vigil's share of
  p < 0.05 beside scipy's asymptotic p-value's;
- CBPE: share of windows whose realised accuracy, F1 and ROC AUC fall inside the 95 %
  band (each window with a new reference fit).

    python bench/drift/bench_validity.py --seeds 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

from vigil import detect_drift
from vigil.drift.batch import CramerVonMises
from vigil.quality import CBPE


def classifier(seeds: int) -> str:
    def frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "x": rng.normal(size=n),
                "city": rng.choice(3000, n).astype(str),
                "plan": rng.choice(["a", "b", "c"], n),
            }
        )

    ps = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        (mv,) = detect_drift(
            frame(rng, 5000), frame(rng, 5000), multivariate="classifier"
        ).multivariate
        ps.append(mv.p_value)
    p = np.array(ps)
    return (
        f"domain classifier, no drift, {seeds} seeds: p<0.05 {np.mean(p < 0.05):.3f}, "
        f"p<0.01 {np.mean(p < 0.01):.3f}, median AUC-test p {np.median(p):.2f}"
    )


def cvm(seeds: int) -> str:
    out = []
    for n, m in ((3000, 2000), (1000, 300)):
        ours = theirs = 0
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            a, b = rng.poisson(3, n).astype(float), rng.poisson(3, m).astype(float)
            ours += CramerVonMises().fit(a).compare(b).p_value < 0.05
            theirs += stats.cramervonmises_2samp(a, b).pvalue < 0.05
        out.append(
            f"CvM Poisson(3) {n} vs {m}, {seeds} seeds: vigil p<0.05 "
            f"{ours / seeds:.3f}, scipy asymptotic {theirs / seeds:.3f}"
        )
    return "\n".join(out)


def cbpe(seeds: int) -> str:
    def data(rng: np.random.Generator, n: int, shift: float):
        x = rng.normal(shift, 1.0, n)
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-2.5 * x))).astype(int)
        score = 1 / (1 + np.exp(-(1.2 * x + 0.4)))
        return y, (score >= 0.5).astype(int), score

    covered = {"accuracy": 0, "f1": 0, "roc_auc": 0}
    total = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        est = CBPE.fit(*data(rng, 2000, 0.0))
        for shift in (-0.75, 0.0, 0.8):
            y, pred, score = data(rng, 2000, shift)
            out = est.estimate(pred, score)
            real = {
                "accuracy": skm.accuracy_score(y, pred),
                "f1": skm.f1_score(y, pred),
                "roc_auc": skm.roc_auc_score(y, score),
            }
            for k, v in real.items():
                covered[k] += out[k]["lower"] <= v <= out[k]["upper"]
            total += 1
    return f"CBPE 95 % band coverage over {total} windows: " + ", ".join(
        f"{k} {v / total:.3f}" for k, v in covered.items()
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    args = ap.parse_args()
    for check in (classifier, cvm, cbpe):
        t0 = time.perf_counter()
        print(check(args.seeds), f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
