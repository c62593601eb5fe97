"""Canary decisions by simulation: how soon, how often wrong, and how many failed requests
reach users, against the nominal level of the always-valid test.

Each run routes ``share`` of a stream of requests to the canary; stable and canary fail
independently with their rates; vigil's decision (:func:`vigil.registry.sequential.decide`)
is looked at every ``step`` requests, as the server's loop does. Printed per scenario: the
share of runs rolled back / promoted / undecided, the median and 95th percentile of
canary predictions at the decision, and the median canary failures served before it.

Run: ``PYTHONPATH=. python bench/registry/bench_canary.py [--seeds 1000]``
"""

from __future__ import annotations

import argparse

import numpy as np

from vigil.registry.sequential import decide

SCENARIOS = [  # (name, stable rate, canary rate, tolerance, share)
    ("5x errors, 10 %", 0.02, 0.10, 0.01, 0.1),
    ("3x errors, 10 %", 0.02, 0.06, 0.01, 0.1),
    ("parity, 10 %, tol 0.03", 0.02, 0.02, 0.03, 0.1),
    ("parity, 50 %, tol 0.02", 0.02, 0.02, 0.02, 0.5),
    ("worse by tol (null of promote)", 0.02, 0.04, 0.02, 0.1),
    ("parity (null of rollback), 5 %", 0.05, 0.05, 0.02, 0.1),
]


def run(
    p_a: float,
    p_b: float,
    tol: float,
    share: float,
    seeds: int,
    step: int = 100,
    steps: int = 500,
    alpha: float = 0.05,
) -> dict[str, object]:
    rng = np.random.default_rng(7)
    outcomes, at, failures = [], [], []
    for _ in range(seeds):
        nb = rng.binomial(step, share, size=steps)
        eb = rng.binomial(nb, p_b)
        ea = rng.binomial(step - nb, p_a)
        c_ea, c_na = np.cumsum(ea), np.cumsum(step - nb)
        c_eb, c_nb = np.cumsum(eb), np.cumsum(nb)
        decision, k = None, steps - 1
        for k in range(steps):
            decision = decide(
                int(c_ea[k]), int(c_na[k]), int(c_eb[k]), int(c_nb[k]), alpha=alpha, tolerance=tol
            )[0]
            if decision is not None:
                break
        outcomes.append(decision)
        at.append(int(c_nb[k]))
        failures.append(int(c_eb[k]))
    return {
        "rollback": outcomes.count("rollback") / seeds,
        "promote": outcomes.count("promote") / seeds,
        "undecided": outcomes.count(None) / seeds,
        "n_median": float(np.median(at)),
        "n_p95": float(np.percentile(at, 95)),
        "failures_median": float(np.median(failures)),
    }


def plain(
    p_new: float,
    seeds: int,
    ceiling: float = 0.05,
    min_count: int = 20,
    step: int = 125,
    steps: int = 120,
) -> dict[str, float]:
    """A plain promotion guarded by a threshold rollback policy (``error_rate > ceiling``
    once ``min_count`` predictions were seen), checked every ``step`` requests for the
    first minute (250 requests/s, a check every 0.5 s): the share of runs rolled back and
    the median failures served before the rollback (or in the minute)."""
    rng = np.random.default_rng(7)
    rolled, failures = 0, []
    for _ in range(seeds):
        errors = np.cumsum(rng.binomial(step, p_new, size=steps))
        n = step * np.arange(1, steps + 1)
        breach = np.nonzero((n >= min_count) & (errors / n > ceiling))[0]
        k = breach[0] if breach.size else steps - 1
        rolled += bool(breach.size)
        failures.append(int(errors[k]))
    return {"rolled_back": rolled / seeds, "failures_median": float(np.median(failures))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    args = parser.parse_args()
    print(
        f"{'scenario':34} {'rollback':>8} {'promote':>8} {'undecided':>9} "
        f"{'n canary p50':>12} {'p95':>7} {'failures p50':>12}"
    )
    for name, p_a, p_b, tol, share in SCENARIOS:
        r = run(p_a, p_b, tol, share, args.seeds)
        print(
            f"{name:34} {r['rollback']:8.3f} {r['promote']:8.3f} {r['undecided']:9.3f} "
            f"{r['n_median']:12.0f} {r['n_p95']:7.0f} {r['failures_median']:12.0f}"
        )
    print("\nplain promotion, policy error_rate > 0.05 (min 20), checked every 125 requests:")
    for name, p_new in (("5x errors (10 %)", 0.10), ("parity (2 %)", 0.02)):
        r = plain(p_new, args.seeds)
        print(
            f"  {name:20} rolled back in the first minute {r['rolled_back']:.3f}, "
            f"failures served p50 {r['failures_median']:.0f}"
        )


if __name__ == "__main__":
    main()
