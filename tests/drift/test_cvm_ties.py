"""Cramér–von Mises with ties: scipy's asymptotic p-value is invalid there, vigil's is a
permutation p-value (checked against scipy's own permutation test) with a note."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from vigil import detect_drift
from vigil.drift.batch import CramerVonMises, KolmogorovSmirnov, ProportionZ

SEEDS = 40
TOLERANCE = 0.05 + 2 * math.sqrt(0.05 * 0.95 / SEEDS)


@pytest.mark.parametrize(("n", "m"), [(3000, 2000), (1000, 300)])
def test_integer_columns_keep_the_false_alarm_rate(n, m) -> None:
    ours = scipy_flags = policy = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        a, b = rng.poisson(3, n).astype(float), rng.poisson(3, m).astype(float)
        r = CramerVonMises().fit(a).compare(b)
        assert "ties" in r.reason and "permutations" in r.reason
        ours += r.p_value < 0.05
        scipy_flags += stats.cramervonmises_2samp(a, b).pvalue < 0.05
        policy += detect_drift({"x": a}, {"x": b}, method="cvm", multivariate=None)["x"].drifted
    assert scipy_flags / SEEDS > 0.5  # the problem is real: scipy's p-value is invalid here
    assert ours / SEEDS <= TOLERANCE
    assert policy / SEEDS <= TOLERANCE


def test_permutation_p_value_matches_scipys_permutation_test() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.poisson(3, 300).astype(float), rng.poisson(3.4, 200).astype(float)
    r = CramerVonMises().fit(a).compare(b)
    oracle = stats.permutation_test(
        (a, b),
        lambda x, y: stats.cramervonmises_2samp(x, y).statistic,
        n_resamples=999,
        alternative="greater",
        random_state=0,
    )
    assert r.statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(oracle.pvalue, abs=0.03)  # two sets of 999 draws
    shifted = CramerVonMises().fit(a).compare(rng.poisson(5, 200).astype(float))
    assert shifted.drifted and shifted.p_value == pytest.approx(1 / 1000)


def test_continuous_data_keeps_scipys_asymptotic_p_value() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=800), rng.normal(0.2, 1, 500)
    r = CramerVonMises().fit(a).compare(b)
    assert r.p_value == pytest.approx(stats.cramervonmises_2samp(a, b).pvalue, rel=1e-9)
    assert "ties" not in r.reason


def test_ks_says_its_p_value_is_conservative_with_ties() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.poisson(3, 500).astype(float), rng.poisson(3, 400).astype(float)
    r = KolmogorovSmirnov().fit(a).compare(b)
    assert r.p_value == pytest.approx(stats.ks_2samp(a, b).pvalue, rel=1e-12)
    assert "conservative with ties" in r.reason


def test_z_test_says_when_its_normal_approximation_is_unreliable() -> None:
    r = ProportionZ().fit(["y"] * 2 + ["n"] * 98).compare(["y"] * 6 + ["n"] * 94)
    assert "unreliable" in r.reason and "fisher" in r.reason
    big = ProportionZ().fit(["y"] * 200 + ["n"] * 800).compare(["y"] * 260 + ["n"] * 740)
    assert "unreliable" not in big.reason
