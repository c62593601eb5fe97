"""vigil.spark against the local path on the same rows: profiles, drift verdicts, upload.

Bounds used (from the sketches' documentation, vigil.profile.column):
- KLL (k=200): a quantile's normalized rank error is at most ``kll.normalized_rank_error``
  (about 1.33%, 99% confidence); both sides' answers must lie within it of the true rank.
- HLL (lg_k=12): relative standard error 1.04/sqrt(4096) = 1.625%; estimates must lie
  within 3 standard errors (4.9%) of the exact distinct count.
- Counts, nulls, min/max and category counts (under 768 categories) are exact; means and
  M2 equal up to float rounding (relative 1e-9).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import vigil
from vigil.errors import InvalidParameterError
from vigil.profile import Profile, profile_drift

spark_mod = pytest.importorskip("vigil.spark")

pytestmark = [
    pytest.mark.slow,
    # PySpark 4.x warns that it does not fully support pandas 3 on every pandas call.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

HLL_TOLERANCE = 3 * 1.04 / math.sqrt(2**12)


def _frame(n: int, seed: int, *, shift: float = 0.0, mix: float = 0.0) -> pd.DataFrame:
    """Numbers with NaN, ±inf and nullable ints; categories, booleans, text, embeddings."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.05] = np.nan
    x[rng.random(n) < 0.001] = np.inf
    ints = pd.array(rng.integers(0, 5000, n), dtype="Int64")
    ints[rng.random(n) < 0.1] = pd.NA
    p = np.array([0.5 - mix, 0.3, 0.2 + mix])
    cat = rng.choice(["a", "b", "c"], n, p=p).astype(object)
    cat[rng.random(n) < 0.02] = None
    words = np.array(["short text", "a somewhat longer sentence of text", "mid length one"])
    frame = pd.DataFrame(
        {
            "x": x,
            "u": rng.uniform(0, 100, n),
            "ints": ints,
            "cat": cat,
            "flag": rng.random(n) < 0.3,
            "text": words[rng.integers(0, 3, n)],
            "zip": rng.integers(10000, 10400, n).astype(str),  # 400 categories
        }
    )
    for i in range(3):
        frame[f"f{i}"] = rng.gamma(2.0 + i, 1.0, n)
    return frame


def _exact_values(frame: pd.DataFrame, name: str, kind: str) -> np.ndarray:
    if kind == "text":
        values = frame[name].dropna().str.len().to_numpy(dtype=float)
    else:
        values = pd.to_numeric(frame[name]).to_numpy(dtype=float, na_value=np.nan)
    return np.sort(values[np.isfinite(values)])


def _rank_gap(sorted_values: np.ndarray, value: float, q: float) -> float:
    """How far (in normalized rank) ``value`` is from being a ``q``-quantile of the data."""
    n = sorted_values.size
    lo = np.searchsorted(sorted_values, value, "left") / n
    hi = np.searchsorted(sorted_values, value, "right") / n
    return 0.0 if lo <= q <= hi else min(abs(lo - q), abs(hi - q))


def _assert_same_profile(got: Profile, want: Profile, frame: pd.DataFrame) -> None:
    assert got.n_rows == want.n_rows == len(frame)
    assert set(got.columns) == set(want.columns)
    for name, w in want.columns.items():
        g = got[name]
        assert (g.kind, g.count, g.null_count, g.nonfinite_count, g.n_numeric) == (
            w.kind,
            w.count,
            w.null_count,
            w.nonfinite_count,
            w.n_numeric,
        ), name
        assert g.min == w.min and g.max == w.max, name
        if w.mean is not None:
            assert g.mean == pytest.approx(w.mean, rel=1e-9, abs=1e-12), name
            assert g.m2 == pytest.approx(w.m2, rel=1e-9), name
            exact = _exact_values(frame, name, w.kind.value)
            for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99):
                assert _rank_gap(exact, g.quantile(q), q) <= g.rank_error, (name, q)
                assert _rank_gap(exact, w.quantile(q), q) <= max(w.rank_error, 1e-12), (name, q)
        assert g.item_counts() == w.item_counts(), name
        assert g.items_error == 0, name
        if w.kind.value == "numeric":
            values = pd.to_numeric(frame[name]).to_numpy(dtype=float, na_value=np.nan)
            truth = len(np.unique(values[~np.isnan(values)]))
        else:
            truth = frame[name].dropna().nunique()
        for est in (g.distinct_estimate, w.distinct_estimate):
            assert abs(est - truth) <= HLL_TOLERANCE * truth + 1, (name, est, truth)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {
        "ref": _frame(40_000, 0),
        "same": _frame(40_000, 1),
        "shifted": _frame(40_000, 2, shift=0.3, mix=0.15),
    }


@pytest.fixture(scope="module")
def sdfs(spark, frames):
    return {k: spark.createDataFrame(v).repartition(5) for k, v in frames.items()}


def test_profile_equals_the_local_path(spark, frames, sdfs):
    assert sdfs["ref"].rdd.getNumPartitions() == 5  # five partition profiles merged
    got = spark_mod.profile(sdfs["ref"])
    want = Profile.from_frame(frames["ref"])
    _assert_same_profile(got, want, frames["ref"])
    # the bytes round-trip and the driver-side merge is a real merge of partitions
    assert Profile.from_bytes(got.to_bytes()).to_dict() == got.to_dict()


def test_empty_partitions_empty_frames_and_embeddings(spark):
    rng = np.random.default_rng(5)
    vectors = [list(v) for v in rng.normal(size=(40, 4))]
    vectors[3] = None
    small = pd.DataFrame({"v": vectors, "x": rng.normal(size=40)})
    sdf = spark.createDataFrame(small).repartition(12)  # several partitions are empty
    got = spark_mod.profile(sdf)
    want = Profile.from_frame(small)
    assert got["v"].kind.value == "embedding"
    assert (got["v"].count, got["v"].null_count) == (39, 1)
    assert got["v"].mean == pytest.approx(want["v"].mean, rel=1e-12)
    assert got["v"].distinct_estimate == pytest.approx(want["v"].distinct_estimate, rel=1e-9)
    assert got["x"].m2 == pytest.approx(want["x"].m2, rel=1e-12)
    empty = spark_mod.profile(sdf.limit(0))
    assert empty.n_rows == 0 and all(c.count == 0 for c in empty.columns.values())
    no_partitions = spark.createDataFrame(spark.sparkContext.emptyRDD(), "x double, b boolean")
    assert no_partitions.rdd.getNumPartitions() == 0
    none = spark_mod.profile(no_partitions)
    assert none.n_rows == 0
    assert {n: c.kind.value for n, c in none.columns.items()} == {
        "x": "numeric",
        "b": "categorical",
    }


def test_kinds_schema_and_bad_input(spark, sdfs):
    sdf = sdfs["ref"].select("zip", "ints")
    p = spark_mod.profile(sdf, kinds={"ints": "categorical"})
    assert p["ints"].kind.value == "categorical" and p["zip"].kind.value == "categorical"
    assert sum(p["zip"].item_counts().values()) == p["zip"].count  # 400 categories: exact
    assert p["ints"].distinct_estimate == pytest.approx(5000, rel=HLL_TOLERANCE)
    schema = vigil.ModelSchema.from_dict(
        {"features": [{"name": "zip", "kind": "text"}, {"name": "ints", "kind": "numeric"}]}
    )
    assert spark_mod.profile(sdf, schema=schema)["zip"].kind.value == "text"
    with pytest.raises(InvalidParameterError, match=r"lacks: \['nope'\]"):
        spark_mod.profile(sdf, kinds={"nope": "numeric"})
    with pytest.raises(InvalidParameterError, match="must be one of"):
        spark_mod.profile(sdf, kinds={"zip": "colour"})
    with pytest.raises(InvalidParameterError, match="pyspark DataFrame"):
        spark_mod.profile(pd.DataFrame({"a": [1]}))
    with pytest.raises(InvalidParameterError, match="'cat' is numeric but holds"):
        spark_mod.profile(sdfs["ref"].select("cat"), kinds={"cat": "numeric"})


@pytest.mark.parametrize(("current", "expected"), [("same", set()), ("shifted", {"x", "cat"})])
def test_drift_verdicts_equal_the_pandas_path(spark, frames, sdfs, current, expected):
    got = spark_mod.detect_drift(sdfs["ref"], sdfs[current])
    local = profile_drift(Profile.from_frame(frames["ref"]), Profile.from_frame(frames[current]))
    exact = vigil.detect_drift(frames["ref"], frames[current])
    assert set(got.drifted_columns) == set(local.drifted_columns) == expected
    assert set(exact.drifted_columns) == expected
    for name, col in got.columns.items():
        other = local.columns[name]
        assert col.method == other.method, name
        if col.method == "ks":  # D within the stated sketch error of the local D and scipy's
            assert abs(col.statistic - other.statistic) <= col.error_bound + other.error_bound
            a = _exact_values(frames["ref"], name, col.kind)
            b = _exact_values(frames[current], name, col.kind)
            assert abs(col.statistic - scipy.stats.ks_2samp(a, b).statistic) <= col.error_bound
        elif col.method in ("chi2", "z"):  # exact category counts: the same statistic
            assert col.statistic == pytest.approx(other.statistic, rel=1e-9), name


@pytest.mark.integration
def test_profiles_upload_as_reference_and_window(spark, frames, sdfs, server_factory):
    client = server_factory(auth="off")
    url = str(client.base_url)
    schema = {
        "task": "regression",
        "features": [
            {"name": "x", "kind": "numeric"},
            {"name": "cat", "kind": "categorical"},
            {"name": "u", "kind": "numeric"},
        ],
    }
    assert client.post("/api/v1/models", json={"name": "m", "schema": schema}).status_code == 201
    cols = ["x", "cat", "u"]
    ref = spark_mod.profile(sdfs["ref"].select(*cols))
    summary = spark_mod.upload_reference(ref, url, "m")
    assert summary == {"model": "m", "n_rows": 40_000, "sample_rows": 0, "columns": cols}
    stored = client.get("/api/v1/models/m/reference").json()
    assert (stored["n_rows"], stored["sample_rows"], stored["source"]) == (40_000, 0, "profile")

    for name, expected in (("same", []), ("shifted", ["cat", "x"])):
        cur = spark_mod.profile(sdfs[name].select(*cols))
        report = spark_mod.upload_window(cur, url, "m")
        local = profile_drift(ref, cur)
        assert report["mode"] == "sketch" and report["n_current"] == 40_000
        assert sorted(report["drifted_columns"]) == sorted(local.drifted_columns) == expected

    # live traffic against a profile reference is tested in sketch mode, even when small
    rows = frames["shifted"].head(400)[cols]
    records = [
        {
            "id": f"r{i}",
            "inputs": {k: v for k, v in rec.items() if v == v and v is not None},
            "outputs": 0.0,
        }
        for i, rec in enumerate(rows.to_dict("records"))
    ]
    assert client.post("/api/v1/models/m/predictions", json={"records": records}).status_code == 200
    drift = client.get("/api/v1/models/m/drift").json()
    assert drift["mode"] == "sketch" and drift["n_current"] == 400
    assert "x" in drift["drifted_columns"]

    # bad input: a 4xx naming what is wrong, never a 500
    r = client.post(
        "/api/v1/models/m/reference",
        content=b"VGPF-not-a-profile",
        headers={"content-type": spark_mod.PROFILE_MEDIA_TYPE},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_profile"
    partial = spark_mod.profile(sdfs["ref"].select("u"))
    with pytest.raises(InvalidParameterError, match=r"lacks the model's features \['x'"):
        spark_mod.upload_reference(partial, url, "m")
    wrong = spark_mod.profile(sdfs["ref"].select(*cols), kinds={"cat": "text"})
    with pytest.raises(InvalidParameterError, match=r"cat \(text, schema: categorical\)"):
        spark_mod.upload_reference(wrong, url, "m")
    r = client.post(
        "/api/v1/models/m/drift/profile",
        content=ref.to_bytes(),
        headers={"content-type": "application/octet-stream"},
    )
    assert r.status_code == 415 and "application/vnd.vigil.profile" in r.text
    with pytest.raises(InvalidParameterError, match="404"):
        spark_mod.upload_window(ref, url, "nope")
