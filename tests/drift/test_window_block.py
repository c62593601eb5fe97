"""A window's numeric columns compared as one 2-D block (``vigil.drift._numeric_block``)
and Arrow string windows counted over the reference's levels, against scipy and against
the one-column path they replace."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from scipy import stats

import vigil.drift.detector as detector_module
from vigil.drift import DriftDetector
from vigil.drift.batch.ks import ks_pvalues

N_REF, M = 1_000_000, 10_000
SAME = np.random.default_rng(99).normal(size=M)  # a window whose ECDF the reference has


def _reference(rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "plain": rng.normal(size=N_REF),
            "shifted": rng.normal(size=N_REF),
            "scaled": rng.normal(size=N_REF),
            "ties": np.round(rng.normal(size=N_REF) * 4) / 4,
            "const_window": rng.normal(size=N_REF),
            "const_ref": np.full(N_REF, 3.0),
            "ints": rng.integers(0, 1_000, N_REF),
            "nan_window": rng.normal(size=N_REF),
            "null_window": rng.normal(size=N_REF),
            "nan_ref": np.where(rng.random(N_REF) < 0.01, np.nan, rng.exponential(size=N_REF)),
            "same": np.tile(SAME, N_REF // M),
        }
    )


def _window(rng: np.random.Generator, drift: bool) -> pd.DataFrame:
    nan_window = rng.normal(size=M)
    nan_window[rng.choice(M, 50, replace=False)] = np.nan
    return pd.DataFrame(
        {
            "plain": rng.normal(size=M),
            "shifted": rng.normal(0.3 if drift else 0.0, 1.0, M),
            "scaled": rng.normal(0.0, 1.3 if drift else 1.0, M),
            "ties": np.round(rng.normal(0.2 if drift else 0.0, 1.0, M) * 4) / 4,
            "const_window": np.full(M, 0.25),
            "const_ref": rng.normal(3.0, 1.0, M) if drift else np.full(M, 3.0),
            "ints": rng.integers(0, 1_000 + (200 if drift else 0), M),
            "nan_window": nan_window,
            "null_window": np.full(M, np.nan),
            "nan_ref": rng.exponential(1.1 if drift else 1.0, M),
            "same": rng.permutation(SAME),
        }
    )


@pytest.fixture(scope="module")
def prepared() -> tuple[pd.DataFrame, DriftDetector]:
    reference = _reference(np.random.default_rng(31))
    return reference, DriftDetector(reference, multivariate=None)


def _block_rows(detector: DriftDetector, window: pd.DataFrame, monkeypatch: Any) -> int:
    """The report, and how many columns went through the block."""
    seen: list[int] = []
    original = detector_module.compare_block

    def counting(block: Any, values: np.ndarray, **kw: Any) -> Any:
        seen.append(values.shape[0])
        return original(block, values, **kw)

    monkeypatch.setattr(detector_module, "compare_block", counting)
    detector.compare(window)
    monkeypatch.undo()
    return sum(seen)


@pytest.mark.parametrize("drift", [False, True])
def test_block_windows_match_scipy(
    prepared: tuple[pd.DataFrame, DriftDetector], drift: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10k-row windows against a 1M-row reference, ties, constant columns, integers, NaNs
    and an all-null column: D bit-identical to ``ks_2samp``'s, the p-value within 1e-12
    where scipy takes the Pelz-Good series (1e-10 in the Smirnov tail, the one-column
    path's documented bound), W1 within 1e-12 of ``wasserstein_distance``."""
    reference, detector = prepared
    window = _window(np.random.default_rng(32 + drift), drift)
    # every column but the two with missing window values goes through the block
    assert _block_rows(detector, window, monkeypatch) == 9
    report = detector.compare(window)
    for col in report.columns:
        a = reference[col.column].to_numpy(dtype=float)
        a = a[np.isfinite(a)]
        b = window[col.column].to_numpy(dtype=float)
        b = b[np.isfinite(b)]
        if b.size == 0:
            assert col.statistic is None and "no usable values" in col.reason
            continue
        expected = stats.ks_2samp(a, b)
        assert col.statistic == expected.statistic, col.column  # bit-identical
        en = np.round(a.size * b.size / (a.size + b.size))
        series = en * col.statistic**2 < 2.2
        assert col.p_value == pytest.approx(
            expected.pvalue, rel=1e-12 if series else 1e-10, abs=1e-300
        ), col.column
        scale = a.std() if a.std() > 0 else 1.0
        w = stats.wasserstein_distance(a, b) / scale
        assert col.effect_size == pytest.approx(w, rel=1e-12, abs=1e-300), col.column
    by_name = {c.column: c for c in report.columns}
    assert by_name["same"].statistic == 0.0
    assert by_name["same"].effect_size == 0.0  # exactly: rounding residue is floored
    assert "ties" in by_name["ties"].reason
    assert "constant" in by_name["const_ref"].reason
    # a window stuck at one value drifts; the others only when built with drift
    expected_drift = {"const_window"} | ({"shifted", "scaled", "const_ref"} if drift else set())
    assert expected_drift <= set(report.drifted_columns)
    if not drift:
        assert report.drifted_columns == ["const_window"]


def _without_block(detector: DriftDetector, window: Any, monkeypatch: Any) -> Any:
    monkeypatch.setattr(DriftDetector, "_compare_block", lambda self, data, m: {})
    report = detector.compare(window)
    monkeypatch.undo()
    return report


CONTINUOUS = ["plain", "shifted", "scaled", "nan_ref", "same"]  # no ties in any window


@pytest.fixture(scope="module")
def continuous(prepared: tuple[pd.DataFrame, DriftDetector]) -> DriftDetector:
    return DriftDetector(prepared[0], columns=CONTINUOUS, multivariate=None)


@pytest.mark.parametrize("seed", [40, 41, 42])
def test_the_block_gives_what_the_one_column_path_gives(
    prepared: tuple[pd.DataFrame, DriftDetector],
    continuous: DriftDetector,
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Statistics, p-values, effect sizes, verdicts, reasons and plot data: the same
    floats as each column compared alone, with tied columns in the block and without."""
    reference, detector = prepared
    window = _window(np.random.default_rng(seed), drift=seed % 2 == 1)
    window.loc[7, "plain"] = np.inf  # one infinite value: that column goes alone
    for det, frame in ((detector, window), (continuous, window[CONTINUOUS[1:]])):
        fast = det.compare(frame)
        slow = _without_block(det, frame, monkeypatch)
        assert fast.to_dict() == slow.to_dict()
        assert fast.distributions == slow.distributions
    for col in continuous.compare(window[CONTINUOUS]).columns:  # and scipy's D, W1
        a = reference[col.column].dropna().to_numpy()
        b = window[col.column].to_numpy()
        b = b[np.isfinite(b)]
        assert col.statistic == stats.ks_2samp(a, b).statistic
        w = stats.wasserstein_distance(a, b) / a.std()
        assert col.effect_size == pytest.approx(w, rel=1e-12, abs=1e-300)


def test_vectorised_pelz_good_matches_scipy_kstwo() -> None:
    """Every column whose p-value scipy takes from the Pelz-Good series, at once."""
    for n in (141, 9_901, 50_000, 1_000_000):
        for m in (300, 10_000):
            en = np.round(n * m / (n + m))
            d = np.geomspace(0.05 / np.sqrt(en), np.sqrt(2.2 / en) * 0.999, 300)
            got = ks_pvalues(d, np.full(d.size, n), m)
            expected = stats.kstwo.sf(d, en)
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)


def _levels(rng: np.random.Generator, size: int, k: int, missing: float, new: int = 0) -> list[Any]:
    values: list[Any] = [f"L{i}" for i in rng.integers(0, k, size)]
    for i in rng.choice(size, new, replace=False):
        values[i] = "never-seen"
    for i in np.flatnonzero(rng.random(size) < missing):
        values[i] = None
    return values


def test_arrow_string_windows_are_counted_as_objects_are() -> None:
    """pandas ``str``, Arrow and polars windows (looked up in the reference's levels in one
    Arrow pass) against the same values as Python objects (counted one by one), with
    missing values and a category the reference never had."""
    rng = np.random.default_rng(43)
    ref = {"many": _levels(rng, 40_000, 300, 0.0), "few": _levels(rng, 40_000, 3, 0.02)}
    as_str = DriftDetector(
        pd.DataFrame({k: pd.array(v, dtype="str") for k, v in ref.items()}), multivariate=None
    )
    as_obj = DriftDetector(
        pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in ref.items()}), multivariate=None
    )
    for trial in range(4):
        cur = {
            "many": _levels(rng, 5_000, 300 - 40 * trial, 0.01 * (trial % 2)),
            "few": _levels(rng, 5_000, 3, 0.05, new=trial % 2),
        }
        expected = as_obj.compare(
            pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in cur.items()})
        )
        for window in (
            pd.DataFrame({k: pd.array(v, dtype="str") for k, v in cur.items()}),
            pa.table({k: pa.array(v, type=pa.string()) for k, v in cur.items()}),
            pl.DataFrame(cur),
        ):
            got = as_str.compare(window)
            assert got.to_dict()["columns"] == expected.to_dict()["columns"], type(window)
            assert got.distributions == expected.distributions


def test_arrow_window_chi_squared_matches_scipy() -> None:
    rng = np.random.default_rng(44)
    names = [f"c{i}" for i in range(40)]
    a = rng.choice(names, 200_000)
    b = rng.choice(names, 10_000, p=np.r_[np.full(39, 0.96 / 39), 0.04])
    detector = DriftDetector(pd.DataFrame({"c": pd.array(a, dtype="str")}), multivariate=None)
    col = detector.compare(pd.DataFrame({"c": pd.array(b, dtype="str")})).columns[0]
    table = pd.concat([pd.Series(a).value_counts(), pd.Series(b).value_counts()], axis=1)
    expected = stats.chi2_contingency(table.fillna(0).to_numpy().T)
    assert col.method == "chi2"
    assert col.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert col.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_many_windows_give_the_one_column_statistics(
    continuous: DriftDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sixty windows with small shifts and scale changes (the maximum of F_ref - F_cur
    anywhere, at either sign): the block's pruning by quantile bounds never loses the
    value that reaches D, and W1 stays the one-column path's to the bit."""
    rng = np.random.default_rng(45)
    for trial in range(60):
        shift, scale = rng.normal(0, 0.03), 1 + rng.normal(0, 0.03)
        size = int(rng.choice([2_000, 10_000, 30_000]))
        window = pd.DataFrame(
            {
                "shifted": rng.normal(shift, scale, size),
                "scaled": rng.normal(-shift, 1 / scale, size),
                "nan_ref": rng.exponential(scale, size),
            }
        )
        fast = continuous.compare(window)
        slow = _without_block(continuous, window, monkeypatch)
        for a, b in zip(fast.columns, slow.columns, strict=True):
            assert (a.statistic, a.effect_size, a.p_value) == (
                b.statistic,
                b.effect_size,
                b.p_value,
            ), (trial, a.column)
