"""detect_drift and DriftDetector: inputs, kinds, policy, bad data, reuse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import vigil
from vigil.drift import DriftDetector, DriftReport, detect_drift
from vigil.errors import InvalidParameterError
from vigil.schema import Feature, ModelSchema


def _frame(seed: int, n: int, shift: float = 0.0, p_a: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "num": rng.normal(shift, 1, n),
            "cat": rng.choice(["a", "b", "c"], n, p=[p_a, (1 - p_a) / 2, (1 - p_a) / 2]),
            "flag": rng.choice([True, False], n),
        }
    )


def test_public_api_is_reexported_from_vigil() -> None:
    assert vigil.detect_drift is detect_drift
    assert vigil.DriftReport is DriftReport


@pytest.mark.parametrize(
    "convert",
    [
        lambda df: df,
        pl.from_pandas,
        lambda df: pa.Table.from_pandas(df, preserve_index=False),
        lambda df: {c: df[c].tolist() for c in df.columns},
    ],
)
def test_pandas_polars_arrow_and_mappings_give_the_same_report(convert) -> None:  # type: ignore[no-untyped-def]
    ref, cur = _frame(0, 1500), _frame(1, 1000, shift=0.4, p_a=0.7)
    expected = detect_drift(ref, cur, multivariate=None).to_dict()
    got = detect_drift(convert(ref), convert(cur), multivariate=None).to_dict()
    assert got == expected
    assert got["drifted_columns"] == ["num", "cat"]
    assert {k: v["method"] for k, v in got["columns"].items()} == {
        "num": "ks",
        "cat": "chi2",
        "flag": "z",
    }


def test_to_dict_has_every_documented_field() -> None:
    report = detect_drift(_frame(0, 500), _frame(1, 500), multivariate=None)
    col = report.to_dict()["columns"]["num"]
    for key in (
        "method",
        "statistic",
        "p_value",
        "effect_size",
        "threshold",
        "drifted",
        "n_reference",
        "n_current",
        "reason",
    ):
        assert key in col
    assert col["n_reference"] == 500


def test_detector_reuses_the_prepared_reference_across_windows() -> None:
    ref = _frame(0, 20_000)
    detector = DriftDetector(ref, multivariate=None)
    prepared = detector.columns_["num"].sample.sorted
    for seed in range(1, 4):
        cur = _frame(seed, 2000, shift=0.3 * (seed == 3))
        assert (
            detector.compare(cur).to_dict() == detect_drift(ref, cur, multivariate=None).to_dict()
        )
    assert detector.columns_["num"].sample.sorted is prepared


def test_large_sample_trivial_shift_is_not_drift_but_real_shift_is() -> None:
    rng = np.random.default_rng(0)
    n = 300_000
    ref = {"x": rng.normal(size=n)}
    tiny = detect_drift(ref, {"x": rng.normal(0.02, 1, n)}, multivariate=None)
    assert tiny["x"].p_value_adjusted is not None and tiny["x"].p_value_adjusted < 0.05
    assert not tiny["x"].drifted
    assert "too small" in tiny["x"].reason
    real = detect_drift(ref, {"x": rng.normal(0.2, 1, n)}, multivariate=None)
    assert real["x"].drifted


def test_benjamini_hochberg_adjusts_across_columns() -> None:
    rng = np.random.default_rng(3)
    ref = {f"c{i}": rng.normal(size=400) for i in range(5)}
    cur = {f"c{i}": rng.normal(0.15 * i, 1, 400) for i in range(5)}
    report = detect_drift(ref, cur, multivariate=None)
    raw = np.array([c.p_value for c in report.columns])
    order = np.argsort(raw)
    k = raw.size
    expected = np.minimum.accumulate((raw[order] * k / np.arange(1, k + 1))[::-1])[::-1]
    adjusted = np.array([c.p_value_adjusted for c in report.columns])[order]
    np.testing.assert_allclose(adjusted, np.minimum(expected, 1), rtol=1e-12)
    none = detect_drift(ref, cur, multivariate=None, correction="none")
    assert [c.p_value_adjusted for c in none.columns] == [c.p_value for c in none.columns]


def test_false_alarm_rate_under_no_drift_stays_at_nominal_level() -> None:
    # 10 independent null columns per run, 150 runs: the chance that any column drifts
    # (family-wise, after BH) must be <= alpha; and per-column raw rejections <= alpha.
    alpha, runs, cols = 0.05, 150, 10
    any_drift = 0
    raw_rejections = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        ref = {f"c{i}": rng.normal(size=300) for i in range(cols)}
        cur = {f"c{i}": rng.normal(size=200) for i in range(cols)}
        report = detect_drift(ref, cur, multivariate=None, alpha=alpha, min_effect=0.0)
        any_drift += bool(report.drifted_columns)
        raw_rejections += sum(c.p_value < alpha for c in report.columns)
    # binomial upper tolerance: mean + 2.5 sd
    assert any_drift / runs <= alpha + 2.5 * np.sqrt(alpha * (1 - alpha) / runs)
    assert raw_rejections / (runs * cols) <= alpha + 2.5 * np.sqrt(
        alpha * (1 - alpha) / (runs * cols)
    )


def test_method_for_all_and_per_column() -> None:
    ref, cur = _frame(0, 800), _frame(1, 800, shift=0.5)
    r = detect_drift(ref, cur, method="psi", per_column={"num": "cvm"}, multivariate=None)
    assert r["num"].method == "cvm"
    assert r["cat"].method == "psi"
    assert r["flag"].method == "psi"
    r = detect_drift(ref, cur, method="ks", multivariate=None)
    assert r["cat"].method == "chi2"
    assert any("does not apply" in n for n in r.notes)


def test_schema_decides_kinds() -> None:
    ref = pd.DataFrame({"code": [1, 2, 3, 1] * 100, "other": range(400)})
    schema = ModelSchema((Feature("code", "categorical"),))
    r = detect_drift(ref, ref, schema=schema, multivariate=None)
    assert [c.column for c in r.columns] == ["code"]
    assert r["code"].kind == "categorical"


def test_mismatched_columns_are_reported_not_crashed() -> None:
    ref = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0)})
    cur = pd.DataFrame({"a": np.arange(100.0), "c": np.arange(100.0)})
    r = detect_drift(ref, cur, multivariate=None)
    assert r.missing_columns == ["b"]
    assert r.extra_columns == ["c"]
    assert [c.column for c in r.columns] == ["a"]
    assert any("missing from the current" in n for n in r.notes)


def test_bad_data_gets_defined_answers() -> None:
    n = 200
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {
            "with_nan": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "all_nan": np.full(n, np.nan),
            "constant": np.ones(n),
            "with_inf": rng.normal(size=n),
            "cat": rng.choice(["a", "b"], n),
            "typo": rng.normal(size=n),
        }
    )
    cur = ref.copy()
    cur.loc[:5, "with_inf"] = np.inf
    cur["cat"] = rng.choice(["a", "b", "zzz"], n)
    cur["typo"] = cur["typo"].astype(object)
    cur.loc[:9, "typo"] = "oops"
    r = detect_drift(ref, cur, multivariate=None)
    d = r.to_dict()["columns"]
    assert d["all_nan"]["statistic"] is None
    assert "no usable values" in d["all_nan"]["reason"]
    assert not d["constant"]["drifted"]
    assert "6 infinite current values ignored" in d["with_inf"]["reason"]
    assert "missing reference values ignored" in d["with_nan"]["reason"]
    assert d["cat"]["drifted"]
    assert "unseen in the reference" in d["cat"]["reason"]
    assert "10 current values are not numbers" in d["typo"]["reason"]
    for col in d.values():  # never a silent NaN
        for key in ("statistic", "p_value", "effect_size"):
            assert col[key] is None or np.isfinite(col[key])


def test_empty_current_window() -> None:
    ref = _frame(0, 100)
    r = detect_drift(ref, ref.iloc[:0], multivariate=["classifier"])
    assert not r.dataset_drift
    assert all(c.statistic is None and not c.drifted for c in r.columns)
    assert "The current window has no rows." in r.notes
    assert r.multivariate[0].statistic is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0}, "'alpha' parameter"),
        ({"drift_share": 2}, "'drift_share' parameter"),
        ({"correction": "holm"}, "'correction' must be"),
        ({"method": "nope"}, "Unknown drift method"),
        ({"per_column": {"missing": "ks"}}, "not in the reference"),
        ({"per_column": {"cat": "ks"}}, "compares numeric"),
        ({"multivariate": "lda"}, "'multivariate' must be"),
        ({"columns": ["zz"]}, "not in the reference"),
    ],
)
def test_bad_parameters_are_clear_errors(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidParameterError, match=message):
        DriftDetector(_frame(0, 50), **kwargs)


def test_unsupported_input_type() -> None:
    with pytest.raises(InvalidParameterError, match="pandas or polars DataFrame"):
        detect_drift([1, 2, 3], [1, 2, 3])


def test_dataset_drift_by_share_and_by_multivariate_test() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3000, 1))
    ref = {"a": z[:, 0], "b": z[:, 0] + 0.05 * rng.normal(size=3000)}
    w = rng.normal(size=(3000, 2))  # same marginals, correlation gone
    cur = {"a": w[:, 0], "b": w[:, 1]}
    r = detect_drift(ref, cur, multivariate=["classifier", "pca"])
    assert r.drifted_columns == []
    assert r.dataset_drift
    assert all(m.drifted for m in r.multivariate)


def test_report_says_it_ran_exactly() -> None:
    rng = np.random.default_rng(0)
    out = detect_drift(
        {"x": rng.normal(size=300)}, {"x": rng.normal(size=200)}, multivariate=None
    ).to_dict()
    assert out["mode"] == "exact"
    assert (out["columns"]["x"]["mode"], out["columns"]["x"]["error_bound"]) == ("exact", 0.0)
