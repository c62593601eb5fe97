"""Sketch mode under exact mode's policy: false alarms, same verdicts, honest bounds.

Every oracle is scipy on the raw rows; exact mode is :func:`vigil.detect_drift`, sketch
mode :func:`vigil.profile.profile_drift` on profiles merged from many chunks (as the
server merges per-minute rollups).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vigil import detect_drift
from vigil.drift.batch import CATALOG
from vigil.profile import Profile, profile_drift
from vigil.profile.drift import METHODS, MIN_EFFECT

SEEDS = 60
NOMINAL = 0.05
# a fixed-seed rate above nominal by more than two binomial standard errors fails
TOLERANCE = NOMINAL + 2 * math.sqrt(NOMINAL * (1 - NOMINAL) / SEEDS)


def _profile(frame: pd.DataFrame, chunks: int) -> Profile:
    parts = np.array_split(np.arange(len(frame)), chunks)
    return Profile.merge_all([Profile.from_frame(frame.iloc[i]) for i in parts])


def _zipf(k: int) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** 1.1
    return w / w.sum()


COLUMNS = {
    "numeric": lambda rng, n: rng.normal(size=n),
    "low_card": lambda rng, n: rng.choice(list("abcde"), n, p=[0.4, 0.3, 0.2, 0.08, 0.02]),
    "binary": lambda rng, n: rng.choice(["yes", "no"], n, p=[0.1, 0.9]),
    "zipf_2000": lambda rng, n: rng.choice(2000, n, p=_zipf(2000)).astype(str),
    "uniform_1000": lambda rng, n: rng.choice(1000, n).astype(str),
    "uniform_5000": lambda rng, n: rng.choice(5000, n).astype(str),
}


def test_sketch_defaults_are_exact_modes() -> None:
    for method, floor in MIN_EFFECT.items():
        assert CATALOG[method].min_effect == floor
    assert METHODS["psi"][0] == CATALOG["psi"].threshold
    assert METHODS["js"][0] == CATALOG["jensenshannon"].threshold
    assert METHODS["ks"][0] == CATALOG["ks"].threshold == CATALOG["chi2"].threshold


def test_false_alarms_at_or_below_nominal_in_both_modes() -> None:
    """No drift, many seeds: per column, the share of raw p-values below 0.05 (the test's
    validity, before any policy) and of drift verdicts stay at or below nominal, in exact
    mode and in sketch mode, for numeric, binary, low- and high-cardinality columns."""
    alarms = {
        mode: dict.fromkeys(COLUMNS, 0) for mode in ("exact_p", "exact", "sketch_p", "sketch")
    }
    untested = dict.fromkeys(COLUMNS, 0)
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        ref = pd.DataFrame({c: f(rng, 20_000) for c, f in COLUMNS.items()})
        cur = pd.DataFrame({c: f(rng, 12_000) for c, f in COLUMNS.items()})
        exact = detect_drift(ref, cur, multivariate=None)
        sketch = profile_drift(_profile(ref, 4), _profile(cur, 12))
        for name in COLUMNS:
            e, s = exact[name], sketch.columns[name]
            alarms["exact_p"][name] += e.p_value < NOMINAL
            alarms["exact"][name] += e.drifted
            alarms["sketch"][name] += s.drifted
            if s.statistic is None:
                untested[name] += 1
                assert s.reason.startswith("not tested") and not s.drifted
            else:
                alarms["sketch_p"][name] += s.details["p_value_decision"] < NOMINAL
    rates = {m: {c: n / SEEDS for c, n in per.items()} for m, per in alarms.items()}
    for mode, per in rates.items():
        for name, rate in per.items():
            assert rate <= TOLERANCE, (mode, name, rate, rates)
    for name in ("numeric", "low_card", "binary", "zipf_2000"):
        assert untested[name] == 0  # tested from the sketches, not skipped
    assert untested["uniform_5000"] == SEEDS  # no category resolvable: honestly untested
    assert sum(rates["exact"].values()) + sum(rates["sketch"].values()) <= 2 * NOMINAL


def _levels(p: tuple[float, ...], n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(["a", "b", "c", "d", "e"][: len(p)], n, p=p)


@pytest.mark.parametrize(
    ("after", "drifts"),
    [
        ((0.4, 0.3, 0.2, 0.06, 0.04), False),  # 2 % -> 4 %: significant, TV 0.02 < 0.05
        ((0.35, 0.25, 0.2, 0.08, 0.12), True),  # 2 % -> 12 %: TV 0.1
    ],
)
def test_category_shift_gets_the_same_verdict_in_both_modes(after, drifts) -> None:
    before = (0.4, 0.3, 0.2, 0.08, 0.02)
    ref = pd.DataFrame({"c": _levels(before, 50_000, 1)})
    cur = pd.DataFrame({"c": _levels(after, 30_000, 2)})
    table = [[int((ref.c == k).sum()) for k in "abcde"], [int((cur.c == k).sum()) for k in "abcde"]]
    oracle = stats.chi2_contingency(table)
    assert oracle.pvalue < 1e-6
    exact = detect_drift(ref, cur, multivariate=None)["c"]
    sketch = profile_drift(_profile(ref, 10), _profile(cur, 30)).columns["c"]
    assert exact.p_value == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    assert sketch.p_value == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    assert sketch.statistic == pytest.approx(oracle.statistic, rel=1e-12)
    assert sketch.effect_size == pytest.approx(exact.effect_size, rel=1e-12)
    assert exact.drifted is sketch.drifted is drifts
    assert sketch.mode == "sketch" and sketch.error_bound == 0.0


def test_heavy_hitter_test_is_a_lower_bound_of_scipy_and_detects_real_shifts() -> None:
    """Past the sketch's capacity the statistic never exceeds scipy's chi-squared on the
    same categories of the raw rows (so its p-value is conservative), yet a real shift of
    the heavy hitters is detected."""
    k = 2000
    ref_v = np.random.default_rng(3).choice(k, 60_000, p=_zipf(k)).astype(str)
    moved = np.roll(_zipf(k), 3)  # the top categories trade places
    for p_cur, should in ((_zipf(k), False), (moved, True)):
        cur_v = np.random.default_rng(4).choice(k, 40_000, p=p_cur).astype(str)
        r = profile_drift(
            _profile(pd.DataFrame({"c": ref_v}), 6), _profile(pd.DataFrame({"c": cur_v}), 40)
        ).columns["c"]
        assert r.details["counts"] == "heavy hitters" and r.error_bound > 0
        assert r.drifted is should, r.reason
        kept = r.details["categories_tested"]
        top = pd.Series(np.concatenate([ref_v, cur_v])).value_counts().index[:kept]
        raw = [
            [int(np.isin(v, top, invert=True).sum())] + [int((v == t).sum()) for t in top]
            for v in (ref_v, cur_v)
        ]
        assert r.statistic <= stats.chi2_contingency(raw).statistic


@pytest.mark.parametrize("shift", [0.0, 0.01, 0.03, 0.2])
def test_ks_p_value_bounds_contain_scipy_and_small_d_is_not_p_one(shift) -> None:
    rng = np.random.default_rng(11)
    a, b = rng.normal(0, 1, 80_000), rng.normal(shift, 1, 60_000)
    r = profile_drift(Profile.from_columns({"x": a}), Profile.from_columns({"x": b}))
    col = r.columns["x"]
    oracle = stats.ks_2samp(a, b, method="asymp")
    low, high = col.p_value_bounds
    assert low <= oracle.pvalue <= high
    assert abs(col.statistic - oracle.statistic) <= col.error_bound
    assert col.details["p_value_decision"] == high  # the verdict is conservative
    assert col.p_value < 1.0 or col.statistic == 0.0  # the estimate, not a flat p = 1
    w = stats.wasserstein_distance(a, b) / a.std()
    # KLL sketches compact at random: their quantiles are off by up to ~1 % in rank
    assert col.effect_size == pytest.approx(w, abs=0.05)
    assert col.drifted is (shift >= 0.1)


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.2])
def test_raw_reference_values_halve_the_ks_error(shift) -> None:
    """With the raw reference at hand (the server keeps a sample) only the current sketch's
    rank error remains; the bounds still contain scipy's p-value."""
    rng = np.random.default_rng(21)
    a, b = rng.normal(0, 1, 50_000), rng.normal(shift, 1, 100_000)
    ref, cur = Profile.from_columns({"x": a}), Profile.from_columns({"x": b})
    both = profile_drift(ref, cur).columns["x"]
    one = profile_drift(ref, cur, reference_values={"x": a}).columns["x"]
    oracle = stats.ks_2samp(a, b, method="asymp")
    assert one.error_bound == pytest.approx(both.error_bound / 2, rel=0.01)
    assert abs(one.statistic - oracle.statistic) <= one.error_bound
    low, high = one.p_value_bounds
    assert low <= oracle.pvalue <= high
    assert one.details["reference"] == "raw sample" and one.n_reference == a.size
    assert one.drifted is (shift >= 0.1)
