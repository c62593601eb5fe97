"""Drift between profiles: against scipy on exact sketches, shifts, no-drift, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from vigil.errors import InvalidParameterError
from vigil.profile import Profile, profile_drift


def _p(**cols) -> Profile:
    return Profile.from_columns(cols)


def test_ks_matches_scipy_while_sketches_are_exact() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 150), rng.normal(0.4, 1, 180)
    r = profile_drift(_p(x=a), _p(x=b)).columns["x"]
    ref = stats.ks_2samp(a, b, method="asymp")
    assert r.error_bound == 0.0
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (r.n_reference, r.n_current, r.threshold) == (150, 180, 0.05)


def test_ks_statistic_within_sketch_error_on_large_samples() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.normal(0, 1, 100_000), rng.normal(0.1, 1, 100_000)
    r = profile_drift(_p(x=a), _p(x=b)).columns["x"]
    exact = stats.ks_2samp(a, b).statistic
    assert 0 < r.error_bound < 0.04
    assert abs(r.statistic - exact) <= r.error_bound
    exact_p = stats.ks_2samp(a, b, method="asymp").pvalue
    low, high = r.p_value_bounds
    assert low <= exact_p <= high  # the verdict uses ``high``: conservative
    assert r.details["p_value_decision"] == high


def test_chi2_matches_scipy() -> None:
    rng = np.random.default_rng(8)
    a = rng.choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2]).tolist()
    b = rng.choice(["a", "b", "c", "d"], 300, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    r = profile_drift(_p(c=a), _p(c=b)).columns["c"]
    table = [[a.count(k) for k in "abcd"], [b.count(k) for k in "abcd"]]
    stat, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert r.method == "chi2"
    assert r.statistic == pytest.approx(stat, rel=1e-9)
    assert r.p_value == pytest.approx(p, rel=1e-9)
    assert r.drifted


def test_psi_and_js_values() -> None:
    ref = _p(c=["a"] * 50 + ["b"] * 50)
    cur = _p(c=["a"] * 90 + ["b"] * 10)
    psi = profile_drift(ref, cur, method="psi").columns["c"]
    expected = (0.9 - 0.5) * np.log(0.9 / 0.5) + (0.1 - 0.5) * np.log(0.1 / 0.5)
    assert psi.statistic == pytest.approx(expected, rel=1e-12)
    assert psi.p_value is None
    assert psi.drifted
    js = profile_drift(ref, cur, method="js").columns["c"]
    from scipy.spatial.distance import jensenshannon

    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.9, 0.1, 0.0])
    assert js.statistic == pytest.approx(jensenshannon(p, q, base=2), rel=1e-9)


def test_numeric_psi_detects_shift_not_noise() -> None:
    rng = np.random.default_rng(9)
    ref = _p(x=rng.normal(0, 1, 20_000))
    same = _p(x=rng.normal(0, 1, 20_000))
    moved = _p(x=rng.normal(1, 1, 20_000))
    for method in ("psi", "js"):
        assert not profile_drift(ref, same, method=method).columns["x"].drifted
        assert profile_drift(ref, moved, method=method).columns["x"].drifted


def test_auto_methods_per_kind_and_text_embedding() -> None:
    rng = np.random.default_rng(2)
    words = ["short", "a much longer review text here"]
    ref = Profile.from_columns(
        {"t": rng.choice(words, 400, p=[0.9, 0.1]).tolist(), "e": rng.normal(size=(400, 4))},
        kinds={"t": "text"},
    )
    cur = Profile.from_columns(
        {"t": rng.choice(words, 400, p=[0.1, 0.9]).tolist(), "e": 3 * rng.normal(size=(400, 4))},
        kinds={"t": "text"},
    )
    res = profile_drift(ref, cur)
    assert {n: r.method for n, r in res.columns.items()} == {"t": "ks", "e": "ks"}
    assert res.drifted_columns == ["t", "e"]
    assert res.share_drifted == 1.0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=400),
    st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=50),
)
def test_identical_data_never_drifts(values: list[float], cats: list[str]) -> None:
    n = min(len(values), len(cats))
    cols = {"v": np.array(values[:n]), "c": cats[:n]}
    a, b = Profile.from_columns(cols), Profile.from_columns(cols)
    for method in ("auto", "psi", "js"):
        assert profile_drift(a, b, method=method).drifted_columns == []
        assert profile_drift(a, a, method=method).drifted_columns == []


def test_untested_columns_say_why() -> None:
    ref = Profile.from_columns({"x": [1.0, 2.0], "y": [1.0, 2.0], "k": [1.0, 2.0]})
    cur = Profile.from_columns({"x": [None, None], "z": [1.0, 2.0], "k": ["a", "b"]})
    res = profile_drift(ref, cur).columns
    assert res["x"].reason == "no values in the current profile"
    assert res["y"].reason == "column missing from the current profile"
    assert res["z"].reason == "column missing from the reference profile"
    assert res["k"].reason.startswith("kinds differ")
    assert all(r.method is None and not r.drifted for r in res.values())
    assert profile_drift(ref, cur).share_drifted == 0.0
    assert profile_drift(ref, cur).to_dict()["columns"]["y"]["p_value"] is None


def test_thresholds_and_per_column() -> None:
    ref = _p(x=np.arange(100.0), c=["a", "b"] * 50)
    cur = _p(x=np.arange(100.0) + 5, c=["a", "b"] * 50)
    r = profile_drift(ref, cur, per_column={"x": "psi"}, thresholds={"psi": 1e-6})
    assert (r.columns["x"].method, r.columns["x"].threshold) == ("psi", 1e-6)
    assert r.columns["x"].drifted
    assert profile_drift(ref, cur, method="ks").columns["c"].method == "z"  # binary: as exact


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "wasserstein"}, "method must be one of"),
        ({"per_column": {"c": "ks"}}, "does not apply to categorical"),
        ({"thresholds": {"auto": 0.1}}, "'thresholds' must be one of"),
        ({"thresholds": {"ks": -1}}, "positive finite"),
        ({"n_bins": 1}, "n_bins"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    p = _p(c=["a", "b"])
    with pytest.raises(InvalidParameterError, match=message):
        profile_drift(p, p, **kwargs)
    with pytest.raises(InvalidParameterError, match="two Profile objects"):
        profile_drift(p, {"c": ["a"]})  # type: ignore[arg-type]
