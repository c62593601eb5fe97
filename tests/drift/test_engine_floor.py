"""The fast paths of the drift engine against scipy: the merged O(n + m) Wasserstein
distance, the O(m) one against a prepared reference, KS from the shared rank search, and
string columns counted from integer codes instead of Python objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from scipy import special, stats

import vigil
from vigil.drift import DriftDetector
from vigil.drift._frame import table_columns
from vigil.drift.batch import CategoricalSample, KolmogorovSmirnov, NumericSample
from vigil.drift.batch._sample import CodedColumn
from vigil.drift.batch.ks import ks_pvalue, smirnov_tail
from vigil.drift.batch.wasserstein import _from_integral, merged_statistics, wasserstein_sorted


def _merged(ref: NumericSample, cur: NumericSample) -> float:
    return merged_statistics(ref, cur)[1]


# the module's documented bound is ~2e-14 at a million rows; 1e-12 leaves room for scipy's
# own rounding (it sums in float64 too)
RTOL = 1e-12


def _pair(n: int, m: int, kind: str, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(shift, 1.2, size=m)
    if kind == "ties":
        a, b = np.round(a * 3), np.round(b * 3)
    elif kind == "offset":  # large magnitude, small spread: cancellation territory
        a, b = 1e6 + a * 1e-3, 1e6 + b * 1e-3
    elif kind == "skewed":
        a, b = np.exp(2 * a), np.exp(2 * b)
    return a, b


@pytest.mark.parametrize("kind", ["plain", "ties", "offset", "skewed"])
@pytest.mark.parametrize(
    ("n", "m"), [(1, 1), (7, 3), (2_000, 2_000), (50_000, 40_000), (200_000, 2_000), (5_000, 1)]
)
@pytest.mark.parametrize("shift", [0.0, 0.02, 0.7])
def test_both_wasserstein_paths_match_scipy(n: int, m: int, kind: str, shift: float) -> None:
    a, b = _pair(n, m, kind, shift, n + m)
    ref, cur = NumericSample(a), NumericSample(b)
    expected = stats.wasserstein_distance(a, b)
    for path in (_merged, _from_integral):
        got = path(ref, cur)
        assert got == pytest.approx(expected, rel=RTOL, abs=1e-300), (path.__name__, got)


def test_the_dispatch_uses_the_prepared_integral_only_for_small_windows() -> None:
    a, b = _pair(40_000, 20_000, "plain", 0.1, 1)
    ref = NumericSample(a)
    wasserstein_sorted(ref, NumericSample(b))
    assert "cdf_blocks" not in ref.__dict__  # comparable sizes: merged, no table
    wasserstein_sorted(ref, NumericSample(b[:1_000]))
    assert "cdf_blocks" in ref.__dict__  # prepared once, then reused
    expected = stats.wasserstein_distance(a, b)
    assert wasserstein_sorted(ref, NumericSample(b)) == pytest.approx(expected, rel=RTOL)


def test_identical_samples_merge_to_exactly_zero() -> None:
    a = np.random.default_rng(2).normal(size=30_001)
    assert _merged(NumericSample(a), NumericSample(a[::-1].copy())) == 0.0
    ints = np.random.default_rng(3).integers(0, 4, 10_000).astype(float)
    assert _merged(NumericSample(ints), NumericSample(ints.copy())) == 0.0


@pytest.mark.parametrize("kind", ["plain", "ties"])
def test_ks_from_the_shared_ranks_matches_scipy_on_windows(kind: str) -> None:
    a, _ = _pair(120_000, 10, kind, 0.0, 4)
    test = KolmogorovSmirnov().fit(a)
    for seed, shift in ((5, 0.0), (6, 0.03), (7, 0.3)):
        _, b = _pair(10, 12_000, kind, shift, seed)
        r = test.compare(b)
        ref = stats.ks_2samp(a, b)
        assert r.statistic == ref.statistic  # bit-identical
        assert r.p_value == pytest.approx(ref.pvalue, rel=1e-10, abs=1e-300)
        assert r.effect_size == pytest.approx(stats.wasserstein_distance(a, b) / a.std(), rel=RTOL)


def _strings(n: int, seed: int) -> list[str | None]:
    rng = np.random.default_rng(seed)
    values: list[str | None] = [f"v{k}" for k in rng.integers(0, 40, n)]
    for i in rng.choice(n, n // 20, replace=False):
        values[i] = None
    return values


def _counts(s: CategoricalSample) -> dict[str, int]:
    return dict(zip(s.levels.tolist(), s.counts.tolist(), strict=True))


def test_string_columns_of_every_table_kind_come_as_codes_with_the_same_counts() -> None:
    values = _strings(5_000, 8)
    expected = _counts(CategoricalSample(np.array(values, dtype=object)))
    frames = {
        "pandas str": pd.DataFrame({"c": pd.array(values, dtype="str")}),
        "pandas string": pd.DataFrame({"c": pd.array(values, dtype="string")}),
        "pandas category": pd.DataFrame({"c": pd.Categorical(values)}),
        "polars": pl.DataFrame({"c": values}),
        "polars categorical": pl.DataFrame({"c": values}).with_columns(
            pl.col("c").cast(pl.Categorical)
        ),
        "arrow": pa.table({"c": pa.array(values)}),
        "arrow dictionary": pa.table({"c": pa.array(values).dictionary_encode()}),
    }
    for label, frame in frames.items():
        col = table_columns(frame, "reference")["c"]
        assert isinstance(col, CodedColumn), label
        assert col.shape == (5_000,)
        assert col.tolist() == values, label
        assert _counts(CategoricalSample(col)) == expected, label


def test_codes_whose_values_read_alike_are_one_category() -> None:
    col = CodedColumn(np.array([0, 1, 1, -1, 2]), np.array([1, "1", "x"], dtype=object))
    assert _counts(CategoricalSample(col)) == {"1": 3, "x": 1, "<missing>": 1}


def test_chi_squared_on_coded_columns_matches_scipy() -> None:
    rng = np.random.default_rng(9)
    levels = [f"l{i}" for i in range(30)]
    a = rng.choice(levels, 20_000)
    b = rng.choice(levels, 8_000, p=np.r_[np.full(29, 0.97 / 29), 0.03])
    report = vigil.detect_drift(
        pd.DataFrame({"c": pd.array(a, dtype="str")}),
        pd.DataFrame({"c": pd.array(b, dtype="str")}),
        multivariate=None,
    )
    table = pd.concat([pd.Series(a).value_counts(), pd.Series(b).value_counts()], axis=1)
    expected = stats.chi2_contingency(table.fillna(0).to_numpy().T)
    col = report.columns[0]
    assert col.method == "chi2"
    assert col.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert col.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_a_prepared_detector_gives_what_a_fresh_one_gives() -> None:
    rng = np.random.default_rng(10)
    ref = pd.DataFrame(
        {
            "x": rng.normal(size=100_000),
            "c": pd.array(rng.choice(["a", "b", "c"], 100_000), dtype="str"),
        }
    )
    detector = DriftDetector(ref, multivariate=None)
    for shift in (0.0, 0.2):
        cur = pd.DataFrame(
            {
                "x": rng.normal(shift, 1, 5_000),
                "c": pd.array(rng.choice(["a", "b", "c", "d"], 5_000), dtype="str"),
            }
        )
        again = detector.compare(cur).to_dict()
        fresh = vigil.detect_drift(ref, cur, multivariate=None).to_dict()
        for name in ("x", "c"):
            for key in ("statistic", "p_value", "effect_size", "drifted"):
                assert again["columns"][name][key] == pytest.approx(
                    fresh["columns"][name][key], rel=1e-12
                ), (name, key)


@pytest.mark.parametrize("n", [141, 1_000, 9_901, 50_000, 50_001, 200_000])
def test_ks_asymptotic_pvalue_matches_scipy_in_every_branch(n: int) -> None:
    # D from below the Pelz-Good range through the Smirnov tail to p = 0
    for d in np.geomspace(0.3 / np.sqrt(n), 0.49, 40):
        for m in (n, 3 * n):  # round(n m / (n + m)) = n / 2 or 3 n / 4
            en = np.round(n * m / (n + m))
            expected = stats.kstwo.sf(d, en)
            assert ks_pvalue(d, n, m) == pytest.approx(expected, rel=1e-10, abs=1e-300), (n, m, d)


@pytest.mark.parametrize("n", [200, 9_901, 50_000])
def test_smirnov_tail_matches_scipy(n: int) -> None:
    for x in np.geomspace(np.sqrt(2.2 / n), min(np.sqrt(370 / n), 0.49), 25):
        assert smirnov_tail(n, x) == pytest.approx(special.smirnov(n, x), rel=1e-10, abs=1e-300)


def test_the_domain_classifier_fits_on_one_thread() -> None:
    """OpenMP workers busy-wait on a loaded machine (30-56 s of wall time for under a
    CPU-second): the classifier must fit and predict with one thread whatever the host."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_info

    from vigil.drift.multivariate import classifier_drift

    seen: list[int] = []

    class Recording(HistGradientBoostingClassifier):
        def fit(self, x, y, sample_weight=None):  # type: ignore[no-untyped-def]
            seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp")
            return super().fit(x, y, sample_weight=sample_weight)

    rng = np.random.default_rng(11)
    model = Recording(max_iter=20, random_state=0)
    result = classifier_drift(
        rng.normal(size=(2_000, 4)), rng.normal(0.5, 1, (2_000, 4)), model=model
    )
    assert result.drifted
    assert seen and set(seen) == {1}, seen


@pytest.mark.parametrize("kind", ["plain", "ties"])
def test_windows_against_a_million_row_reference_match_scipy(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10k-row windows against a prepared 1M-row reference: KS's D bit-identical to
    scipy's, its p-value and the Wasserstein effect size to scipy's within rounding, while
    the reference is searched at a few window values only (quantile bounds, sign runs)."""
    rng = np.random.default_rng(21)
    a = rng.normal(size=1_000_000)
    if kind == "ties":
        a = np.round(a * 20) / 20
    test = KolmogorovSmirnov().fit(a)
    ref = test.reference_
    searched: list[int] = []
    original = np.searchsorted

    def counting(haystack: np.ndarray, keys: np.ndarray, *args: object, **kw: object) -> object:
        if haystack is ref.sorted:
            searched.append(np.size(keys))
        return original(haystack, keys, *args, **kw)  # type: ignore[call-overload]

    windows = [rng.normal(0.0, 1.0, 10_000), rng.normal(0.3, 1.0, 10_000), rng.choice(a, 10_000)]
    for b in windows:
        if kind == "ties":
            b = np.round(b * 20) / 20
        searched.clear()
        with monkeypatch.context() as patch:
            patch.setattr(np, "searchsorted", counting)
            r = test.compare(b)
        expected = stats.ks_2samp(a, b)
        assert r.statistic == expected.statistic  # bit-identical
        assert r.p_value == pytest.approx(expected.pvalue, rel=1e-10, abs=1e-300)
        w = stats.wasserstein_distance(a, b) / a.std()
        assert r.effect_size == pytest.approx(w, rel=RTOL)
        assert 0 < sum(searched) < 1_000, searched  # never the whole window in the reference


def test_chi_squared_shortcut_is_scipys_to_the_bit() -> None:
    from vigil.drift.batch.chi_squared import chi2_homogeneity

    rng = np.random.default_rng(22)
    for trial in range(300):
        k = 2 if trial % 3 == 0 else int(rng.integers(1, 80))
        rc = rng.integers(1, 20 if trial % 2 else 100_000, k)
        cc = rng.integers(0, 10 if trial % 2 else 50_000, k)
        cc[0] += 1
        statistic, p_value, expected = chi2_homogeneity(rc, cc)
        res = stats.chi2_contingency(np.vstack([rc, cc]))
        assert (statistic, p_value) == (res.statistic, res.pvalue), (trial, k)
        assert np.array_equal(expected, res.expected_freq)


def test_ks_tail_shortcut_is_scipys_kstwo_sf_to_the_bit() -> None:
    from vigil.drift.batch.ks import _kstwo_sf

    # every branch of scipy's kstwo: tiny n, Pomeranz / DMTW (n <= 140), Pelz-Good, the
    # exact Smirnov sum (kept to N <= 2,000 here: scipy sums it term by term), 0 and 1
    for en in (1.0, 7.0, 140.0, 141.0, 2_000.0):
        for x in np.r_[np.linspace(0.0, 1.0, 41), np.geomspace(1e-5, 0.99, 60), 1 / en]:
            assert _kstwo_sf(float(x), en) == stats.kstwo.sf(x, en), (en, x)
    for x in np.geomspace(1e-4, 0.0014, 20):  # Pelz-Good at a million rows (N x² < 2.2)
        assert _kstwo_sf(float(x), 990_099.0) == stats.kstwo.sf(x, 990_099.0), x
