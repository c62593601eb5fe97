"""Merging and the binary format: hypothesis properties and corrupt input."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.errors import InvalidParameterError
from vigil.profile import Profile, ProfileFormatError

_floats = st.one_of(
    st.none(),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)
_cats = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "dd"]))


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    n = draw(st.integers(0, 30))
    cols: dict = {"x": draw(st.lists(_floats, min_size=n, max_size=n))}
    if draw(st.booleans()):
        cols["c"] = draw(st.lists(_cats, min_size=n, max_size=n))
    return Profile.from_columns(
        cols, kinds={"x": "numeric", **({"c": "categorical"} if "c" in cols else {})}
    )


def _facts(p: Profile) -> dict:
    out: dict = {"n_rows": p.n_rows}
    for name, c in p.columns.items():
        out[name] = (
            c.kind,
            c.count,
            c.null_count,
            c.nonfinite_count,
            c.n_numeric,
            c.min,
            c.max,
            sorted(c.item_counts().items()),
        )
    return out


def _close(a: float | None, b: float | None, scale: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(scale, 1.0))


def _same_moments(p: Profile, q: Profile) -> None:
    for name, c in p.columns.items():
        d = q.columns[name]
        scale = max(abs(c.max or 0.0), abs(c.min or 0.0)) ** 2 * max(c.n_numeric, 1)
        assert _close(c.mean, d.mean, scale)
        assert _close(c.m2, d.m2, scale)


_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(profiles(), profiles(), profiles())
def test_merge_is_associative(a: Profile, b: Profile, c: Profile) -> None:
    left = a.merge(b).merge(c)
    right = a.merge(b.merge(c))
    assert _facts(left) == _facts(right)
    _same_moments(left, right)


@_settings
@given(profiles(), profiles())
def test_merge_is_commutative_and_pure(a: Profile, b: Profile) -> None:
    before = a.to_bytes(), b.to_bytes()
    ab, ba = a.merge(b), b.merge(a)
    assert _facts(ab) == _facts(ba)
    _same_moments(ab, ba)
    assert (a.to_bytes(), b.to_bytes()) == before
    assert ab.n_rows == a.n_rows + b.n_rows
    assert all(col.count + col.null_count == ab.n_rows for col in ab.columns.values())


@_settings
@given(profiles())
def test_bytes_round_trip(p: Profile) -> None:
    data = p.to_bytes()
    q = Profile.from_bytes(data)
    assert _facts(q) == _facts(p)
    for name, c in p.columns.items():
        assert (q[name].mean, q[name].m2) == (c.mean, c.m2)
        assert q[name].distinct_estimate == c.distinct_estimate
    assert _facts(Profile.from_bytes(q.to_bytes())) == _facts(p)


def test_merge_of_batches_equals_whole() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(10, 3, 30_000)
    whole = Profile.from_columns({"x": x})["x"]
    merged = Profile.merge_all(Profile.from_columns({"x": part}) for part in np.array_split(x, 7))
    col = merged["x"]
    assert col.count == whole.count == x.size
    assert col.mean == pytest.approx(np.mean(x), rel=1e-12)
    assert col.std == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    assert (col.min, col.max) == (x.min(), x.max())
    sorted_x = np.sort(x)
    for q in (0.05, 0.5, 0.95):
        rank = np.searchsorted(sorted_x, col.quantile(q), side="right") / x.size
        assert abs(rank - q) <= col.rank_error + 1e-4
    assert col.distinct_estimate == pytest.approx(x.size, rel=0.05)


def test_merge_fills_missing_columns_with_nulls() -> None:
    a = Profile.from_columns({"x": [1.0, 2.0]})
    b = Profile.from_columns({"y": ["u", "v", "v"]})
    m = a.merge(b)
    assert list(m.columns) == ["x", "y"]
    assert (m["x"].count, m["x"].null_count) == (2, 3)
    assert (m["y"].count, m["y"].null_count) == (3, 2)


def test_all_null_column_adopts_other_kind() -> None:
    a = Profile.from_records([{"c": None}])
    b = Profile.from_records([{"c": "x"}])
    assert a.merge(b)["c"].kind == b.merge(a)["c"].kind == "categorical"


def test_merge_rejects_kind_conflicts_and_non_profiles() -> None:
    a = Profile.from_columns({"c": [1.0]})
    b = Profile.from_columns({"c": ["x"]})
    with pytest.raises(InvalidParameterError, match="numeric in one and categorical"):
        a.merge(b)
    with pytest.raises(InvalidParameterError, match="takes a Profile"):
        a.merge({"c": [1.0]})  # type: ignore[arg-type]


def _reseal(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_corrupt_and_foreign_bytes_are_rejected() -> None:
    good = Profile.from_columns({"x": np.arange(500.0), "c": ["a"] * 500}).to_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    cases = {
        "not a vigil profile": [b"", b"PK\x03\x04 zip file", b"{}" * 20],
        "checksum": [bytes(flipped), good[:-1] + b"\x00"],
        "format version 9": [good[:4] + b"\x09" + good[5:]],
        "malformed": [
            _reseal(good[:-4][:-10]),
            _reseal(good[:-4] + b"extra"),
            _reseal(good[:9] + b"[" + good[10:-4]),
        ],
        "must be bytes": ["text"],
    }
    for message, blobs in cases.items():
        for blob in blobs:
            with pytest.raises(ProfileFormatError, match=message):
                Profile.from_bytes(blob)  # type: ignore[arg-type]
    assert ProfileFormatError.code == "invalid_profile"
    assert issubclass(ProfileFormatError, ValueError)


def test_foreign_sketch_parameters_are_rejected() -> None:
    good = Profile.from_columns({"x": [1.0]}).to_bytes()
    (header_len,) = struct.unpack_from("<I", good, 5)
    header = good[9 : 9 + header_len].replace(b'"kll_k":200', b'"kll_k":400')
    blob = _reseal(good[:5] + struct.pack("<I", len(header)) + header + good[9 + header_len : -4])
    with pytest.raises(ProfileFormatError, match="sketch parameters"):
        Profile.from_bytes(blob)


def test_empty_profile_round_trips() -> None:
    empty = Profile()
    assert Profile.from_bytes(empty.to_bytes()).n_rows == 0
    assert Profile.from_records([]).to_dict() == {"n_rows": 0, "columns": {}}
    assert Profile.merge_all([]).n_rows == 0
