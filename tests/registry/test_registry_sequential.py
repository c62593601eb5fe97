"""The canary's always-valid test: its pieces checked against scipy, its error rates under
the null checked by simulation over many seeds against the nominal level."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, special, stats

from vigil.registry import sequential as sq

ALPHA = 0.05


@pytest.mark.parametrize(("errors", "n"), [(0, 0), (0, 10), (3, 10), (10, 10), (17, 2500)])
def test_mixture_is_the_beta_binomial_marginal(errors, n):
    # a sequence's probability is the beta-binomial pmf without the binomial coefficient
    expected = stats.betabinom.logpmf(errors, n, 0.5, 0.5) - math.log(special.comb(n, errors))
    assert sq.log_mixture(errors, n) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("ea", "na", "eb", "nb", "tol"),
    [
        (20, 1000, 2, 100, 0.01),
        (0, 500, 0, 50, 0.05),
        (30, 1000, 8, 200, 0.02),
        (5, 100, 1, 300, 0.1),
    ],
)
def test_promotion_null_maximum_matches_scipy(ea, na, eb, nb, tol):
    def neg(p):
        return -(
            stats.binom.logpmf(ea, na, p)
            - math.log(special.comb(na, ea))
            + stats.binom.logpmf(eb, nb, p + tol)
            - math.log(special.comb(nb, eb))
        )

    best = optimize.minimize_scalar(
        neg, bounds=(1e-12, 1 - tol - 1e-12), method="bounded", options={"xatol": 1e-12}
    )
    mine = sq.log_mixture(ea, na) + sq.log_mixture(eb, nb) - sq.log_e_promote(ea, na, eb, nb, tol)
    assert mine == pytest.approx(-best.fun, abs=1e-6)


def test_rollback_null_maximum_is_the_pooled_rate():
    ea, na, eb, nb = 20, 1000, 30, 200
    pooled = (ea + eb) / (na + nb)
    null = stats.binom.logpmf(ea + eb, na + nb, pooled) - math.log(special.comb(na + nb, ea + eb))
    e = sq.log_mixture(ea, na) + sq.log_mixture(eb, nb) - null
    assert sq.log_e_rollback(ea, na, eb, nb) == pytest.approx(e, abs=1e-9)
    assert sq.log_e_rollback(30, 200, 20, 1000) <= 0  # the canary is better: no evidence


def _simulate(p_stable, p_canary, tol, seeds, share=0.1, step=250, steps=80):
    """Decisions of many seeded canaries, each looked at every ``step`` requests."""
    rng = np.random.default_rng(20261204)
    decisions = []
    for _ in range(seeds):
        nb = rng.binomial(step, share, size=steps)
        na = step - nb
        eb = rng.binomial(nb, p_canary)
        ea = rng.binomial(na, p_stable)
        cum = np.cumsum([ea, na, eb, nb], axis=1)
        decision = None
        for k in range(steps):
            decision = sq.decide(
                int(cum[0, k]),
                int(cum[1, k]),
                int(cum[2, k]),
                int(cum[3, k]),
                alpha=ALPHA,
                tolerance=tol,
            )[0]
            if decision is not None:
                break
        decisions.append(decision)
    return {d: decisions.count(d) / seeds for d in ("rollback", "promote", None)}


def test_false_decisions_under_the_null_stay_below_alpha(capsys):
    seeds = 300
    parity = _simulate(0.05, 0.05, 0.03, seeds)  # rolling back is the wrong decision
    worse = _simulate(0.03, 0.05, 0.02, seeds)  # worse by the tolerance: promoting is
    bad = _simulate(0.02, 0.10, 0.01, seeds)  # 5x: must be rolled back
    with capsys.disabled():
        print(
            f"\nalpha {ALPHA}, {seeds} seeds, 20,000 requests, 10 % canary: false rollback "
            f"at parity {parity['rollback']:.3f}; false promotion when worse by the "
            f"tolerance {worse['promote']:.3f}; 5x errors rolled back {bad['rollback']:.3f}"
        )
    assert parity["rollback"] <= ALPHA
    assert worse["promote"] <= ALPHA
    assert bad["rollback"] >= 0.99 and bad["promote"] == 0
    assert parity["promote"] > 0.5  # and it does decide at parity


def test_bad_tolerance_is_refused():
    with pytest.raises(ValueError, match="tolerance"):
        sq.log_e_promote(1, 10, 1, 10, 0.0)
