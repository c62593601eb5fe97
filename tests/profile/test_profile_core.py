"""Profile construction from every container, numbers against numpy, bad inputs."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from vigil.errors import InvalidParameterError
from vigil.profile import ColumnProfile, Profile
from vigil.schema import Feature, FeatureKind, ModelSchema


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 2000
    return pd.DataFrame(
        {
            "x": rng.normal(3.0, 2.0, n),
            "k": rng.integers(0, 5, n),
            "plan": rng.choice(["free", "pro", None], n),
            "review": [f"great product number {i % 13}" if i % 9 else None for i in range(n)],
            "flag": rng.random(n) < 0.3,
        }
    )


def _summary(p: Profile) -> dict:
    return {
        name: (c.kind, c.count, c.null_count, c.mean, c.min, c.max, c.frequent_items(3))
        for name, c in p.columns.items()
    }


def test_pandas_polars_arrow_agree(frame: pd.DataFrame) -> None:
    a = Profile.from_frame(frame)
    b = Profile.from_frame(pl.from_pandas(frame))
    c = Profile.from_frame(pa.Table.from_pandas(frame))
    assert _summary(a) == _summary(b) == _summary(c)
    kinds = {n: col.kind for n, col in a.columns.items()}
    assert kinds == {
        "x": FeatureKind.NUMERIC,
        "k": FeatureKind.NUMERIC,
        "plan": FeatureKind.CATEGORICAL,
        "review": FeatureKind.TEXT,
        "flag": FeatureKind.CATEGORICAL,
    }
    assert a.n_rows == len(frame)
    assert all(col.count + col.null_count == a.n_rows for col in a.columns.values())


def test_records_match_columns(frame: pd.DataFrame) -> None:
    records = [
        {k: v for k, v in row.items() if v is not None}
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]
    from_records = Profile.from_records(records)
    from_frame = Profile.from_frame(frame)
    for name in ("x", "plan", "review"):
        r, f = from_records[name], from_frame[name]
        assert (r.kind, r.count, r.null_count) == (f.kind, f.count, f.null_count)
        assert r.frequent_items(5) == f.frequent_items(5)
    assert from_records["x"].mean == pytest.approx(from_frame["x"].mean, rel=1e-12)


def test_numbers_match_numpy() -> None:
    rng = np.random.default_rng(3)
    x = rng.lognormal(1.0, 0.8, 50_000)
    col = Profile.from_columns({"x": x})["x"]
    assert col.count == x.size
    assert col.mean == pytest.approx(np.mean(x), rel=1e-12)
    assert col.std == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    assert col.variance == pytest.approx(np.var(x, ddof=1), rel=1e-12)
    assert (col.min, col.max) == (x.min(), x.max())
    eps = col.rank_error
    assert 0 < eps < 0.02
    sorted_x = np.sort(x)
    for q in (0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0):
        v = col.quantile(q)
        rank = np.searchsorted(sorted_x, v, side="right") / x.size
        assert abs(rank - q) <= eps + 1 / x.size
    assert col.distinct_estimate == pytest.approx(x.size, rel=0.05)


def test_small_column_is_exact() -> None:
    col = Profile.from_columns({"x": np.arange(1.0, 101.0)})["x"]
    assert col.rank_error == 0.0
    assert col.quantile(0.5) == 50.0
    assert col.distinct_estimate == pytest.approx(100, abs=1)


def test_nulls_and_non_finite_are_kept_apart() -> None:
    x = np.array([1.0, np.nan, np.inf, -np.inf, 3.0, np.nan])
    col = Profile.from_columns({"x": x})["x"]
    assert (col.count, col.null_count, col.nonfinite_count, col.n_numeric) == (4, 2, 2, 2)
    assert (col.mean, col.min, col.max) == (2.0, 1.0, 3.0)
    assert col.quantile(1.0) == 3.0
    assert col.distinct_estimate == pytest.approx(4, abs=0.5)


def test_all_null_and_empty_columns() -> None:
    p = Profile.from_columns({"x": [None, None], "y": np.array([np.nan, np.nan])})
    for col in p.columns.values():
        assert (col.count, col.null_count) == (0, 2)
        assert col.mean is col.std is col.min is col.max is col.quantile(0.5) is None
        assert col.frequent_items() == []
    empty = Profile.from_columns({"x": np.array([], dtype=float)})
    assert empty.n_rows == 0
    assert empty["x"].to_dict()["count"] == 0


def test_kinds_given_and_schema() -> None:
    p = Profile.from_columns({"code": [1, 2, 2, None]}, kinds={"code": "categorical"})
    assert p["code"].kind is FeatureKind.CATEGORICAL
    assert p["code"].frequent_items(1) == [("2", 2)]
    schema = ModelSchema((Feature("code", "categorical"), Feature("other", "numeric")))
    q = Profile.from_records([{"code": 1}, {"code": 1.5}], schema=schema)
    assert q["code"].kind is FeatureKind.CATEGORICAL
    assert (q["other"].count, q["other"].null_count) == (0, 2)
    frame = pd.DataFrame({"code": [3, 4]})
    assert Profile.from_frame(frame, schema=schema)["code"].kind is FeatureKind.CATEGORICAL


def test_text_tracks_lengths() -> None:
    p = Profile.from_columns({"t": ["ab", "abcd", None, "ab"]}, kinds={"t": "text"})
    col = p["t"]
    assert (col.count, col.null_count, col.mean, col.min, col.max) == (3, 1, 8 / 3, 2.0, 4.0)
    assert col.frequent_items(1) == []  # free text is never kept in a sketch (erasure)
    assert round(col.distinct_estimate) == 2


def test_embeddings_track_norms() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16))
    p = Profile.from_columns({"e": vectors})
    col = p["e"]
    assert col.kind is FeatureKind.EMBEDDING
    assert col.mean == pytest.approx(np.linalg.norm(vectors, axis=1).mean(), rel=1e-12)
    assert col.distinct_estimate == pytest.approx(300, rel=0.05)
    rows = [[3.0, 4.0], None, [0.0, float("nan")], [3.0, 4.0]]
    q = Profile.from_records([{"e": r} for r in rows])["e"]
    assert (q.count, q.null_count, q.nonfinite_count, q.mean) == (3, 1, 1, 5.0)
    assert q.distinct_estimate == pytest.approx(2, abs=0.5)
    arrow = Profile.from_columns({"e": pa.array([[3.0, 4.0], None])})["e"]
    assert (arrow.kind, arrow.count, arrow.mean) == (FeatureKind.EMBEDDING, 1, 5.0)
    polars = Profile.from_frame(pl.DataFrame({"e": [[3.0, 4.0], None]}))["e"]
    assert (polars.kind, polars.count, polars.mean) == (FeatureKind.EMBEDDING, 1, 5.0)


def test_pandas_extension_dtypes() -> None:
    df = pd.DataFrame(
        {
            "c": pd.Categorical(["a", "b", None, "a"]),
            "i": pd.array([1, None, 3, 4], dtype="Int64"),
            "s": pd.array(["x y z", None, "a b", "q r"], dtype="string"),
        }
    )
    p = Profile.from_frame(df)
    assert (p["c"].kind, p["c"].null_count, p["c"].frequent_items(1)) == (
        FeatureKind.CATEGORICAL, 1, [("a", 2)],
    )  # fmt: skip
    assert (p["i"].kind, p["i"].null_count, p["i"].mean) == (FeatureKind.NUMERIC, 1, 8 / 3)
    assert (p["s"].kind, p["s"].null_count, p["s"].max) == (FeatureKind.TEXT, 1, 5.0)


def test_categories_keep_string_form_across_containers() -> None:
    a = Profile.from_columns({"c": np.array([True, False, True])})["c"]
    b = Profile.from_columns({"c": [True, None, True]})["c"]
    assert a.frequent_items(1) == b.frequent_items(1) == [("True", 2)]
    ints = Profile.from_columns({"c": np.array([1, 1, 2])}, kinds={"c": "categorical"})["c"]
    assert ints.item_counts() == {"1": 2, "2": 1}
    floats = Profile.from_columns({"c": np.array([1.0, np.nan])}, kinds={"c": "categorical"})
    assert (floats["c"].count, floats["c"].null_count) == (1, 1)


def test_to_dict_is_json_safe(frame: pd.DataFrame) -> None:
    import orjson

    d = Profile.from_frame(frame).to_dict()
    assert orjson.loads(orjson.dumps(d)) == d
    assert d["columns"]["plan"]["frequent_items"][0][0] in {"free", "pro"}
    assert set(d["columns"]["x"]["quantiles"]) == {"p05", "p25", "p50", "p75", "p95"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Profile.from_columns([1, 2]), "mapping of name to values"),
        (lambda: Profile.from_columns({"a": [1, 2], "b": [1]}), "same length"),
        (lambda: Profile.from_columns({"a": [1]}, kinds={"a": "vector"}), "must be one of"),
        (lambda: Profile.from_columns({"a": [1]}, kinds={"b": "numeric"}), "not given"),
        (lambda: Profile.from_columns({"a": ["x"]}, kinds={"a": "numeric"}), "not numbers"),
        (lambda: Profile.from_columns({"a": np.ones((2, 2))}, kinds={"a": "numeric"}), "1-D"),
        (lambda: Profile.from_columns({"a": 3}), "numpy array, list"),
        (lambda: Profile.from_columns({1: [1]}), "names must be strings"),
        (lambda: Profile.from_columns({"e": [[1], "x"]}, kinds={"e": "embedding"}), "list of"),
        (lambda: Profile.from_columns({"c": [[1]]}, kinds={"c": "categorical"}), "string"),
        (lambda: Profile.from_records([{"a": 1}, 5]), r"records\[1\]"),
        (lambda: Profile.from_frame({"a": [1]}), "DataFrame"),
        (lambda: Profile.from_frame(pd.DataFrame({"a": [1]}), schema={"a": 1}), "ModelSchema"),
        (lambda: Profile.from_columns({"a": [1.0]})["a"].quantile(1.5), r"\[0, 1\]"),
        (lambda: Profile.from_columns({"a": [1.0]})["zz"], "no column 'zz'"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        call()


def test_repr_and_container_protocol() -> None:
    p = Profile.from_columns({"a": [1.0, 2.0]})
    assert "a" in p
    assert len(p) == 1
    assert repr(p) == "Profile(n_rows=2, columns=['a'])"
    assert "ColumnProfile(name='a'" in repr(p["a"])
    assert isinstance(p["a"], ColumnProfile)
    assert math.isclose(p["a"].m2, 0.5)


def test_import_stays_light() -> None:
    code = (
        "import sys, vigil.profile; "
        "bad = [m for m in ('scipy', 'sklearn', 'pandas', 'river') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_many_categories_keep_heavy_hitters_with_an_error_bound() -> None:
    rng = np.random.default_rng(4)
    values = np.concatenate(
        [np.repeat(["hot", "warm"], [20_000, 10_000]), rng.integers(0, 50_000, 30_000).astype(str)]
    )
    col = Profile.from_columns({"c": values.tolist()})["c"]
    assert col.items_error > 0
    (top, n_top), (second, n_second) = col.frequent_items(2)
    assert (top, second) == ("hot", "warm")
    assert abs(n_top - 20_000) <= col.items_error
    assert abs(n_second - 10_000) <= col.items_error
    assert col.distinct_estimate == pytest.approx(len(set(values.tolist())), rel=0.05)
    from vigil.profile import profile_drift

    res = profile_drift(
        Profile.from_columns({"c": values.tolist()}), Profile.from_columns({"c": values.tolist()})
    )
    assert res.columns["c"].error_bound > 0
    assert not res.columns["c"].drifted
