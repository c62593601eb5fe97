"""The bulk distinct-count path against DataSketches fed one value at a time.

The oracle is ``datasketches.hll_sketch.update(float)`` per value: the bulk path must give
the same coupons, registers, serialized images (after a union to HLL_8, which is how both
are stored once merged) and estimates, and merge with blobs the per-value code stored.
"""

from __future__ import annotations

import zlib

import datasketches as ds
import numpy as np
import pytest

from vigil.profile import hll
from vigil.profile.column import HLL_LG_K, ColumnProfile

_K = 1 << HLL_LG_K
_HLL8 = ds.tgt_hll_type.HLL_8


def _per_value(values: np.ndarray, sketch: ds.hll_sketch | None = None) -> ds.hll_sketch:
    sketch = sketch if sketch is not None else ds.hll_sketch(HLL_LG_K)
    for v in values.tolist():
        sketch.update(v)
    return sketch


def _canonical(sketch: ds.hll_sketch) -> ds.hll_sketch:
    """DataSketches' own union result of ``sketch`` with itself: registers (or coupons)
    unchanged, an HLL rebuilt out of order with its kxq and zero count recomputed."""
    union = ds.hll_union(HLL_LG_K)
    union.update(sketch)
    union.update(sketch)
    return union.get_result(_HLL8)


def _image(sketch: ds.hll_sketch) -> bytes | tuple[int, list[int]]:
    """The canonical image's bytes; for a list or set of coupons, its mode and coupons
    (their order in the image follows the order of updates, which infinities change)."""
    image = bytes(_canonical(sketch).serialize_updatable())
    mode = image[7] & 3
    if mode == 2:
        return image
    coupons = np.frombuffer(image[8 if mode == 0 else 12 :], dtype=np.uint32)
    return mode, sorted(coupons[coupons != 0].tolist())


def _arrays() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(20261205)
    out = [
        ("one", np.array([3.5])),
        ("zeros", np.array([0.0, -0.0, 0.0, -0.0])),
        ("tiny and huge", np.array([5e-324, -5e-324, 2.2e-308, 1e150, -1e150, 1.0, -1.0])),
        ("normal 10", rng.normal(size=10)),
        ("normal 384", rng.normal(size=384)),
        ("normal 385", rng.normal(size=385)),
        ("normal 1000", rng.normal(size=1000)),
        ("rounded 8000", rng.normal(size=8000).round(2)),
        ("normal 100k", rng.normal(size=100_000)),
        ("integers 5000", rng.integers(-3, 3, size=5000).astype(np.float64)),
        ("integers 384 of 2000", rng.integers(0, 384, size=2000).astype(np.float64)),
        ("integers 1000 of 3000", rng.integers(0, 1000, size=3000).astype(np.float64)),
        ("big integers", rng.integers(-(2**62), 2**62, size=3000).astype(np.float64)),
        ("duplicated", np.repeat(rng.normal(size=600), 5)),
        ("signed zeros among", np.concatenate([rng.normal(size=500), [0.0, -0.0] * 50])),
    ]
    return out


ARRAYS = _arrays()


@pytest.mark.parametrize(("name", "values"), ARRAYS, ids=[a[0] for a in ARRAYS])
def test_registers_equal_per_value_sketch(name: str, values: np.ndarray) -> None:
    registers = np.zeros(_K, dtype=np.uint8)
    hll.fold(registers, hll.coupons(values))
    reference = _per_value(values, ds.hll_sketch(HLL_LG_K, _HLL8))
    np.testing.assert_array_equal(registers, hll.registers_of(reference))
    np.testing.assert_array_equal(registers, hll.registers_of(_canonical(reference)))


def test_coupons_equal_the_sketch_coupon_list() -> None:
    """While few, a sketch keeps the coupons themselves (26-bit address and value)."""
    rng = np.random.default_rng(7)
    for n in (1, 7, 8, 100, 384):
        values = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, size=n)
        image = np.frombuffer(_per_value(values).serialize_updatable(), dtype=np.uint8)
        start = 8 if image[7] & 3 == 0 else 12  # list, else set
        stored = np.frombuffer(image[start:].tobytes(), dtype=np.uint32)
        assert sorted(stored[stored != 0].tolist()) == sorted(set(hll.coupons(values).tolist()))


def test_register_values_count_leading_zeros() -> None:
    words = [0, 1, 2, 3, 2**11 - 1, 2**11, 2**11 + 1, 2**52 - 1, 2**53 + 1, 2**63, 2**64 - 1]
    words += [2**i + j for i in range(64) for j in (0, 1) if 2**i + j < 2**64]
    words += [(2**i - 1) << (64 - i) for i in range(1, 64)]  # leading ones, rounding traps
    got = hll.register_values(np.array(words, dtype=np.uint64)).tolist()
    assert got == [min(64 - w.bit_length(), 62) + 1 for w in words]


def test_image_matches_datasketches_rebuild_for_any_registers() -> None:
    """kxq, zero count and flags of the built image equal DataSketches' own rebuild,
    values of 32 and more (a second kxq) and 63 included."""
    rng = np.random.default_rng(3)
    for fill in (1, 100, 2000, _K):
        registers = np.zeros(_K, dtype=np.uint8)
        slots = rng.choice(_K, size=fill, replace=False)
        registers[slots] = np.minimum(rng.geometric(0.5, size=fill), 63)
        registers[slots[:3]] = [32, 40, 63][: min(3, fill)]
        sketch = hll.to_sketch(registers)
        assert bytes(sketch.serialize_updatable()) == _image(sketch)
        assert sketch.get_estimate() == _canonical(sketch).get_estimate()
        np.testing.assert_array_equal(hll.registers_of(sketch), registers)


def _updated(chunks: list[np.ndarray]) -> ColumnProfile:
    col = ColumnProfile("x", "numeric")
    for chunk in chunks:
        col.update_numeric(chunk)
    return col


def _split(values: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    cuts = np.sort(rng.integers(0, values.size + 1, size=int(rng.integers(0, 4))))
    return np.split(values, cuts)


@pytest.mark.parametrize(("name", "values"), ARRAYS, ids=[a[0] for a in ARRAYS])
def test_column_sketch_equals_per_value_sketch(name: str, values: np.ndarray) -> None:
    """Same image after a union, same estimate and bounds, whether the column took the
    values at once or in chunks, with nulls and infinities among them."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    with_specials = values.copy()
    if values.size > 4:
        at = rng.choice(values.size, size=3, replace=False)
        with_specials[at] = [np.nan, np.inf, -np.inf]
    for chunks in ([with_specials], _split(with_specials, rng), _split(with_specials, rng)):
        col = _updated(chunks)
        kept = with_specials[~np.isnan(with_specials)]
        reference = ds.hll_sketch(HLL_LG_K)
        for chunk in chunks:  # in the order of updates: a chunk's infinities first
            chunk = chunk[~np.isnan(chunk)]
            _per_value(np.unique(chunk[np.isinf(chunk)]), reference)
            _per_value(chunk[np.isfinite(chunk)], reference)
        bulk = col._regs is not None
        ours = col._sketch()
        assert _image(ours) == _image(reference)
        # registers built in bulk estimate as a union does; chunks taken one value at a
        # time (few values, or few distinct ones) leave the in-order sketch as it was
        expected = _canonical(reference) if bulk else reference
        assert ours.get_estimate() == expected.get_estimate()
        for num_std in (1, 2, 3):
            assert ours.get_lower_bound(num_std) == expected.get_lower_bound(num_std)
            assert ours.get_upper_bound(num_std) == expected.get_upper_bound(num_std)
        assert col.distinct_estimate == min(expected.get_estimate(), kept.size)


def test_few_distinct_values_stay_exact() -> None:
    """Under the list/set limit the sketch still holds coupons: exact small counts, as
    per-value updates give (a register array would only estimate them)."""
    values = np.tile(np.arange(1.0, 38.0), 300)  # 11,100 values, 37 distinct
    col = _updated([values])
    assert col._regs is None
    assert bytes(col._sketch().serialize_compact()) == bytes(
        _per_value(np.arange(1.0, 38.0)).serialize_compact()
    )
    assert round(col.distinct_estimate) == 37


def test_estimate_close_to_numpy_distinct_count() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(size=200_000).round(4)
    truth = np.unique(values).size
    col = _updated(_split(values, rng))
    lo, hi = col.distinct_bounds(3)
    assert lo <= truth <= hi
    assert abs(col.distinct_estimate - truth) / truth < 0.05


def _old_column(values: np.ndarray) -> ColumnProfile:
    """A column as the per-value code stored it: its HLL blob is DataSketches' own
    compact image of a default (HLL_4) sketch fed one value at a time."""
    fields, blobs = _updated([values]).state()
    blobs["hll"] = bytes(_per_value(values).serialize_compact())
    return ColumnProfile.from_state(fields, blobs)


@pytest.mark.parametrize(
    ("n_old", "n_new"), [(5000, 8000), (50, 8000), (5000, 50), (50, 60), (200, 300)]
)
def test_merge_with_blobs_of_the_previous_code(n_old: int, n_new: int) -> None:
    rng = np.random.default_rng(n_old * 7 + n_new)
    old_values = rng.normal(size=n_old).round(3)
    new_values = rng.normal(size=n_new).round(3)
    merged = _old_column(old_values).merged(_updated([new_values]))
    restored = ColumnProfile.from_state(*merged.state())
    # the previous code: a union of the stored sketch and a per-value one, to HLL_8
    union = ds.hll_union(HLL_LG_K)
    union.update(ds.hll_sketch.deserialize(bytes(_per_value(old_values).serialize_compact())))
    union.update(_per_value(new_values))
    before = union.get_result(_HLL8)
    for col in (merged, restored):
        sketch = col._sketch()
        np.testing.assert_array_equal(hll.registers_of(sketch), hll.registers_of(before))
        assert _image(sketch) == _image(before)
    both_hll = min(np.unique(old_values).size, np.unique(new_values).size) > 384
    small_new = np.unique(new_values).size <= 384
    if both_hll or small_new:  # the same union as before: the same bytes and estimate
        assert bytes(merged._sketch().serialize_compact()) == bytes(before.serialize_compact())
        assert merged._sketch().get_estimate() == before.get_estimate()
    else:  # before, a list folded into an in-order sketch kept its HIP estimate
        assert merged._sketch().get_estimate() == pytest.approx(before.get_estimate(), rel=0.05)


def test_merge_of_bulk_columns_is_their_union() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=6000), rng.normal(size=4000)
    left, right = _updated([a]), _updated([b])
    merged = left.merged(right)
    assert left._regs is not None  # inputs unchanged, still in bulk form
    assert _image(merged._sketch()) == _image(_per_value(np.concatenate([a, b])))
    assert _image(left._sketch()) == _image(_per_value(a))
