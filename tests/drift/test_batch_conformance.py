"""Checks every catalog test passes: no drift on identical data, drift on a shift, ..."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.drift.batch import CATALOG, BatchTest, NotFittedError, get_test
from vigil.errors import InvalidParameterError
from vigil.schema import FeatureKind

NUMERIC = sorted(n for n, e in CATALOG.items() if FeatureKind.NUMERIC in e.kinds)
CATEGORICAL = sorted(n for n, e in CATALOG.items() if FeatureKind.CATEGORICAL in e.kinds)
BINARY = {"z", "fisher"}


def _make(name: str, kind: str) -> BatchTest:
    return CATALOG[name].cls(kind=kind)


def _categories(seed: int, n: int, binary: bool, shifted: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    levels = ["a", "b"] if binary else ["a", "b", "c", "d"]
    p = np.full(len(levels), 1 / len(levels))
    if shifted:
        p = np.array([0.75, 0.25]) if binary else np.array([0.55, 0.15, 0.15, 0.15])
    return rng.choice(np.array(levels, dtype=object), n, p=p)


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_detects_a_shift_and_not_identical_data(name: str) -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=3000)
    test = _make(name, "numeric").fit(ref)
    same = test.compare(ref)
    assert not same.drifted, same.reason
    shifted = test.compare(rng.normal(1.0, 1.0, size=2000))
    assert shifted.drifted, shifted.reason
    assert shifted.n_reference == 3000
    assert shifted.n_current == 2000
    assert shifted.method == name


@pytest.mark.parametrize("name", CATEGORICAL)
def test_categorical_detects_a_shift_and_not_identical_data(name: str) -> None:
    binary = name in BINARY
    ref = _categories(0, 3000, binary, False)
    test = _make(name, "categorical").fit(ref)
    assert not test.compare(ref).drifted
    r = test.compare(_categories(1, 2000, binary, True))
    assert r.drifted, r.reason


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=60),
    name=st.sampled_from(NUMERIC),
)
def test_identical_numeric_samples_never_drift(values: list[float], name: str) -> None:
    r = _make(name, "numeric").fit(values).compare(values)
    assert not r.drifted, r.reason


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=60),
    name=st.sampled_from(CATEGORICAL),
)
def test_identical_categorical_samples_never_drift(values: list[str], name: str) -> None:
    r = _make(name, "categorical").fit(values).compare(values)
    assert not r.drifted, r.reason


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_compare_before_fit_is_a_clear_error(name: str) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        CATALOG[name].cls().compare([1.0, 2.0])


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_empty_window_is_not_tested_with_a_reason(name: str) -> None:
    kind = "numeric" if FeatureKind.NUMERIC in CATALOG[name].kinds else "categorical"
    ref = [1.0, 2.0, 3.0, 4.0] if kind == "numeric" else ["a", "b", "a", "b"]
    test = _make(name, kind).fit(ref)
    empty = np.array([], dtype=float if kind == "numeric" else object)
    r = test.compare(empty)
    assert r.statistic is None
    assert not r.drifted
    assert "current window" in r.reason


@pytest.mark.parametrize("name", NUMERIC)
def test_all_nan_and_infinite_windows(name: str) -> None:
    test = _make(name, "numeric").fit(np.arange(50.0))
    r = test.compare([np.nan, np.nan])
    assert r.statistic is None
    assert "2 missing current values ignored" in r.reason
    r = test.compare(np.r_[np.arange(50.0), np.inf, -np.inf])
    assert "2 infinite current values ignored" in r.reason
    assert not r.drifted


@pytest.mark.parametrize("name", NUMERIC)
def test_constant_reference_gives_a_defined_answer(name: str) -> None:
    test = _make(name, "numeric").fit(np.full(100, 3.0))
    same = test.compare(np.full(80, 3.0))
    assert not same.drifted
    moved = test.compare(np.full(80, 4.0))
    assert moved.statistic is not None
    assert moved.drifted, moved.reason


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_fitted_test_pickles(name: str) -> None:
    kind = "numeric" if FeatureKind.NUMERIC in CATALOG[name].kinds else "categorical"
    ref = np.arange(100.0) if kind == "numeric" else np.array(["a", "b"] * 50, dtype=object)
    test = _make(name, kind).fit(ref)
    clone = pickle.loads(pickle.dumps(test))
    assert clone.compare(ref) == test.compare(ref)


@pytest.mark.parametrize("bad", [-1, 0, 1.5, "x"])
def test_threshold_is_validated(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="'threshold' parameter of ks"):
        CATALOG["ks"].cls(bad)  # type: ignore[arg-type]


def test_unknown_method_and_wrong_kind() -> None:
    with pytest.raises(InvalidParameterError, match="Unknown drift method 'nope'"):
        get_test("nope")
    with pytest.raises(InvalidParameterError, match="compares categorical"):
        get_test("chi2", "numeric")
    with pytest.raises(InvalidParameterError, match="compares numeric"):
        CATALOG["ks"].cls(kind="categorical")


def test_unseen_categories_are_counted_and_reported() -> None:
    ref = np.array(["a", "b"] * 200, dtype=object)
    cur = np.array(["a", "b", "new"] * 100, dtype=object)
    r = get_test("chi2").cls().fit(ref).compare(cur)
    assert r.drifted
    assert "1 categories unseen in the reference (33.3% of the window)" in r.reason
    psi = get_test("psi").cls().fit(ref).compare(cur)
    assert psi.statistic is not None and psi.drifted


def test_binary_test_on_many_levels_is_not_tested() -> None:
    r = get_test("z").cls().fit(["a", "b", "c"] * 10).compare(["a", "b", "c"] * 10)
    assert r.statistic is None
    assert "needs a binary column" in r.reason


def test_significant_but_tiny_effect_is_not_drift() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=400_000)
    r = get_test("ks").cls().fit(ref).compare(rng.normal(0.03, 1, size=400_000))
    assert r.p_value is not None and r.p_value < 1e-6
    assert not r.drifted
    assert "effect is too small" in r.reason
