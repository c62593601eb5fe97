"""Every p-value and distance equals scipy's for the same inputs (relative 1e-9)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance as sp_distance

from vigil.drift.batch import (
    AndersonDarling,
    ChiSquared,
    CramerVonMises,
    EnergyDistance,
    FisherExact,
    Hellinger,
    JensenShannon,
    KolmogorovSmirnov,
    KullbackLeibler,
    NumericSample,
    PopulationStabilityIndex,
    ProportionZ,
    TotalVariation,
    Wasserstein,
)

REL = 1e-9
# (n reference, n current, discretise to create ties, shift)
SIZES = [
    (15, 12, False, 0.8),  # exact paths (KS <= 10k, CvM <= 20)
    (800, 300, True, 0.1),
    (3000, 3000, False, 0.05),
    (60_000, 4_000, False, 0.04),  # KS/CvM fast paths, asymptotic p-values
    (40_000, 15_000, True, 0.03),
]


def _pair(n: int, m: int, ties: bool, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(shift, 1.1, size=m)
    if ties:
        a, b = np.round(a * 3), np.round(b * 3)
    return a, b


@pytest.mark.parametrize(("n", "m", "ties", "shift"), SIZES)
def test_ks_matches_scipy(n: int, m: int, ties: bool, shift: float) -> None:
    a, b = _pair(n, m, ties, shift, 1)
    r = KolmogorovSmirnov().fit(a).compare(b)
    ref = stats.ks_2samp(a, b)
    assert r.statistic == pytest.approx(ref.statistic, rel=REL)
    assert r.p_value == pytest.approx(ref.pvalue, rel=REL)


def test_ks_prepared_reference_is_reused_for_large_windows() -> None:
    a, b = _pair(50_000, 20_000, False, 0.02, 2)
    test = KolmogorovSmirnov().fit(a)
    sorted_ref = test.reference_.sorted
    for seed in range(3):
        _, b = _pair(10, 20_000, False, 0.02, seed)
        r = test.compare(b)
        assert r.p_value == pytest.approx(stats.ks_2samp(a, b).pvalue, rel=REL)
    assert test.reference_.sorted is sorted_ref


@pytest.mark.parametrize(("n", "m", "ties", "shift"), SIZES)
def test_cramer_von_mises_matches_scipy(n: int, m: int, ties: bool, shift: float) -> None:
    a, b = _pair(n, m, ties, shift, 3)
    r = CramerVonMises().fit(a).compare(b)
    ref = stats.cramervonmises_2samp(a, b)
    assert r.statistic == pytest.approx(ref.statistic, rel=REL)
    if ties:  # scipy's p-value is invalid with ties: a permutation p-value (test_cvm_ties)
        assert "permutations" in r.reason
    else:
        assert r.p_value == pytest.approx(ref.pvalue, rel=REL)


@pytest.mark.parametrize(("n", "m", "ties", "shift"), [*SIZES, (500, 400, False, 0.0)])
def test_anderson_darling_matches_scipy(n: int, m: int, ties: bool, shift: float) -> None:
    a, b = _pair(n, m, ties, shift, 4)
    r = AndersonDarling().fit(a).compare(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns when it caps the p-value
        ref = stats.anderson_ksamp([a, b], variant="midrank")
    assert r.statistic == pytest.approx(ref.statistic, rel=REL)
    assert r.p_value == pytest.approx(ref.pvalue, rel=REL)
    if r.p_value in (0.25, 0.001):
        assert "capped" in r.reason or "floored" in r.reason


@pytest.mark.parametrize(("n", "m", "ties", "shift"), SIZES)
def test_wasserstein_and_energy_match_scipy(n: int, m: int, ties: bool, shift: float) -> None:
    a, b = _pair(n, m, ties, shift, 5)
    sd = a.std()
    w = Wasserstein().fit(a).compare(b)
    assert w.statistic == pytest.approx(stats.wasserstein_distance(a, b) / sd, rel=REL)
    e = EnergyDistance().fit(a).compare(b)
    assert e.statistic == pytest.approx(stats.energy_distance(a / sd, b / sd), rel=1e-7)


def _categories(seed: int, n: int, m: int, k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    levels = np.array([f"l{i}" for i in range(k)], dtype=object)
    p = rng.dirichlet(np.ones(k))
    q = 0.8 * p + 0.2 * rng.dirichlet(np.ones(k))
    return rng.choice(levels, n, p=p), rng.choice(levels, m, p=q)


def _table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    levels = sorted(set(a) | set(b))
    return np.array([[np.sum(a == lv) for lv in levels], [np.sum(b == lv) for lv in levels]])


@pytest.mark.parametrize("seed", range(4))
def test_chi_squared_matches_scipy(seed: int) -> None:
    a, b = _categories(seed, 2000, 700)
    r = ChiSquared().fit(a).compare(b)
    ref = stats.chi2_contingency(_table(a, b))
    assert r.statistic == pytest.approx(ref.statistic, rel=REL)
    assert r.p_value == pytest.approx(ref.pvalue, rel=REL)


def test_chi_squared_binary_uses_yates_like_scipy() -> None:
    a = np.array(["x"] * 60 + ["y"] * 40, dtype=object)
    b = np.array(["x"] * 45 + ["y"] * 55, dtype=object)
    r = ChiSquared().fit(a).compare(b)
    assert r.p_value == pytest.approx(stats.chi2_contingency(_table(a, b)).pvalue, rel=REL)


@pytest.mark.parametrize(("n", "m", "p1", "p2"), [(500, 400, 0.3, 0.36), (40, 30, 0.1, 0.3)])
def test_binary_tests_match_scipy(n: int, m: int, p1: float, p2: float) -> None:
    a = np.array(["a"] * round(n * p1) + ["b"] * (n - round(n * p1)), dtype=object)
    b = np.array(["a"] * round(m * p2) + ["b"] * (m - round(m * p2)), dtype=object)
    table = _table(a, b)
    z = ProportionZ().fit(a).compare(b)
    expected = stats.chi2_contingency(table, correction=False).pvalue
    assert z.p_value == pytest.approx(expected, rel=1e-9)
    f = FisherExact().fit(a).compare(b)
    assert f.p_value == pytest.approx(stats.fisher_exact(table).pvalue, rel=REL)


def _binned(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)[1:-1]))
    ra = np.bincount(np.searchsorted(edges, a, side="left"), minlength=edges.size + 1)
    rb = np.bincount(np.searchsorted(edges, b, side="left"), minlength=edges.size + 1)
    return ra / ra.sum(), rb / rb.sum()


def test_binned_distances_match_reference_formulas() -> None:
    a, b = _pair(5000, 2000, False, 0.3, 6)
    p, q = _binned(a, b)
    ps, qs = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)
    assert PopulationStabilityIndex().fit(a).compare(b).statistic == pytest.approx(
        np.sum((qs - ps) * np.log(qs / ps)), rel=REL
    )
    assert JensenShannon().fit(a).compare(b).statistic == pytest.approx(
        sp_distance.jensenshannon(p, q), rel=REL
    )
    assert KullbackLeibler().fit(a).compare(b).statistic == pytest.approx(
        stats.entropy(qs, ps), rel=REL
    )
    assert Hellinger().fit(a).compare(b).statistic == pytest.approx(
        np.sqrt(1 - np.sum(np.sqrt(p * q))), rel=REL
    )
    assert TotalVariation().fit(a).compare(b).statistic == pytest.approx(
        0.5 * np.abs(p - q).sum(), rel=REL
    )


def test_numeric_sample_histogram_matches_numpy_bins() -> None:
    a, _ = _pair(1000, 1, True, 0, 7)
    s = NumericSample(a)
    edges = s.bin_edges(10)
    counts = np.bincount(np.searchsorted(edges, a, side="left"), minlength=edges.size + 1)
    assert s.histogram(edges).tolist() == counts.tolist()
