"""Wasserstein-1 distance normalised by the reference standard deviation.

``W1 = ∫ |F_ref(x) - F_cur(x)| dx``, divided by the reference's σ so it reads as "how many
reference standard deviations the mass moved" (a shift of 0.2σ gives 0.2). Default
threshold 0.1. With a constant reference (σ = 0) the distance is reported unscaled.

Two ways to the same integral:

* Comparable sizes (``detect_drift``): after one binary search of the sorted window in
  the sorted reference (:meth:`NumericSample.ranks_in`, shared with KS), the two sorted
  samples are merged in ``O(n + m)``
  and ``Σ |c_ref m - c_cur n| Δx / (n m)`` summed over the merged gaps in float64. Every
  count product is an exact integer below 2⁵³ and every term is non-negative, so the
  result's relative error is at most ``(log₂(n + m) + 130) · 2⁻⁵³`` (≈ 2e-14 at a million
  rows per side: one rounding per gap, per product and numpy's pairwise sum); identical
  samples give exactly 0.
* A window much smaller than a prepared reference (``m <= n / 4``): ``O(m)`` float64
  arithmetic from the running integral of the reference ECDF, prepared once per
  reference in long double and kept as two float64 parts, so that differences of that
  integral keep their precision (about 1e-13 relative to W1); the reference is searched
  only where ``F_ref - F_cur`` changes sign (:func:`_from_integral`).

Both equal :func:`scipy.stats.wasserstein_distance` to 1e-12 relative (tested at 1e-9).

References:
    Villani, C. (2009). Optimal Transport: Old and New, ch. 6. Springer.
"""

from __future__ import annotations

import numpy as np

from vigil.schema import FeatureKind

from ._base import BatchTest
from ._sample import _BLOCK, NumericSample

_PREPARED_RATIO = 4  # windows at most n / 4 long use the prepared running integral
_SHIFT = _BLOCK.bit_length() - 1  # index // _BLOCK as a shift


def wasserstein_sorted(ref: NumericSample, cur: NumericSample) -> float:
    """Unscaled W1 between two prepared samples."""
    n, m = ref.n, cur.n
    if n == 0 or m == 0:
        return float("nan")
    if use_integral(ref, cur):
        return _from_integral(ref, cur)
    return merged_statistics(ref, cur)[1]


def use_integral(ref: NumericSample, cur: NumericSample) -> bool:
    """Whether the pair goes through the reference's running integral (window much
    shorter than a reference, or the integral prepared already) rather than a merge."""
    return "cdf_blocks" in ref.__dict__ or cur.n * _PREPARED_RATIO <= ref.n


def merged_statistics(ref: NumericSample, cur: NumericSample) -> tuple[float, float]:
    """``(D, W1)`` from one ``O(n + m)`` merge of the two sorted samples (see module).

    ``D`` is KS's statistic taken as scipy takes it — ``#ref <= t / n - #cur <= t / m`` at
    every distinct value ``t`` — so it is bit-identical to :func:`scipy.stats.ks_2samp`'s.
    Cached on ``cur`` for the last ``ref``.
    """
    cached = cur.__dict__.get("_merged")
    if cached is not None and cached[0] is ref:
        return cached[1]
    u, v = ref.sorted, cur.sorted
    n, m = u.size, v.size
    total = n + m
    # positions in the merge: window values after equal reference ones. Scatters by
    # index and a repeat instead of boolean masks and a cumsum: a mask that alternates
    # at random costs a branch misprediction per value (10x slower at a million rows)
    at_v = cur.ranks_in(ref) + np.arange(m)
    from_cur = np.zeros(total, dtype=bool)
    from_cur[at_v] = True
    x = np.empty(total)
    x[at_v] = v
    x[np.flatnonzero(~from_cur)] = u
    del from_cur
    runs = np.diff(at_v, prepend=0, append=total)  # merged values before each window value
    c_cur = np.repeat(np.arange(m + 1, dtype=np.float64), runs)  # window values seen so far
    del runs
    repeats = np.count_nonzero(x[1:] == x[:-1])
    if repeats:  # ties: D is taken at the last value of each run of equal values
        ends = np.empty(total, dtype=bool)
        np.not_equal(x[1:], x[:-1], out=ends[:-1])
        ends[-1] = True
        at_cur = c_cur[ends]
        seen = np.flatnonzero(ends) + 1.0
        del ends
    else:
        at_cur, seen = c_cur, np.arange(1, total + 1, dtype=np.float64)
    diffs = (seen - at_cur) / n - at_cur / m  # F_ref - F_cur, exactly as scipy divides
    max_s, min_s = diffs.max(), np.clip(-diffs.min(), 0, 1)
    d = float(min_s if min_s > max_s else max_s)
    del diffs, at_cur, seen
    # over the gap after merged value i: c_ref m - c_cur n = (i + 1) m - c_cur (n + m)
    gap = c_cur[:-1]
    gap *= -float(total)
    gap += np.arange(1, total, dtype=np.float64) * m
    np.abs(gap, out=gap)
    gap *= np.diff(x)
    w = float(gap.sum()) / n / m
    cur.__dict__["_merged"] = (ref, (d, w))
    return d, w


def _from_integral(ref: NumericSample, cur: NumericSample) -> float:
    """W1 in ``O(m)`` given the reference's prepared running integral ``H``, searching
    the reference only at the few window values where ``F_ref - F_cur`` changes sign.

    Between window values ``v_i <= v_{i+1}`` the window's ECDF is the level
    ``c_i = (i+1)/m`` and the reference's rises through it at ``q_i`` (where ``F_ref``
    first reaches ``c_i``, prepared per window size by :func:`_crossings`). So the line
    splits into pieces of known sign of ``F_ref - F_cur`` — ``[v_i, mid_i]`` below,
    ``[mid_i, v_{i+1}]`` above, ``mid_i = clip(q_i, v_i, v_{i+1})`` — found by comparisons
    alone. Over a run of pieces of one sign, ``∫ |F_ref - F_cur| = ±((H(e) - H(s)) -
    (G(e) - G(s)))`` with ``G`` the window's own running integral: ``H`` is needed only at
    the runs' ends, a crossing ``q_i`` (prepared) or a window value (searched; about
    ``√m`` of them without drift, a handful with). Both integrals are held in float64
    parts (block starts summed in long double, as in :attr:`NumericSample.cdf_blocks`),
    so their differences keep their precision.
    """
    u, v = ref.sorted, cur.sorted
    n, m = u.size, v.size
    pairs, head, rest = ref.cdf_blocks
    lo, big = min(u[0], v[0]), max(u[-1], v[-1])
    # pieces k = 0 .. 2m-1: [lo, v_0] (F_cur = 0, above), per gap i [v_i, mid_i] (k = 2i+1,
    # below) and [mid_i, v_{i+1}] (k = 2i+2, above), then [v_{m-1}, big] (F_cur = 1, below).
    # Marked: every piece of positive length (and a few of zero length, which only split
    # a run in two); runs of one sign start where the parity of the marked pieces flips.
    steps = np.zeros(0)
    if m > 1 and not cur.n_repeats:  # distinct window values: the same runs, fewer passes
        c, q, q_hi, q_lo, _ = _crossings(ref, m)
        steps = c * np.diff(v)  # ∫ F_cur over each gap
        starts, crossing = _run_starts_distinct(q > v[:-1], q < v[1:], big > v[-1])
    else:
        marked = np.empty(2 * m, dtype=bool)
        marked[0], marked[-1] = True, big > v[-1]
        if m > 1:
            c, q, q_hi, q_lo, _ = _crossings(ref, m)
            np.greater(q, v[:-1], out=marked[1:-1:2])
            np.less(q, v[1:], out=marked[2:-1:2])
            steps = c * np.diff(v)
        kept = np.flatnonzero(marked)
        odd = kept & 1
        starts = kept[np.flatnonzero(odd[1:] != odd[:-1]) + 1]  # each run's first piece
        crossing = (starts & 1 == 0) & marked[starts - 1]  # after a below piece: at q_i
    below = (starts & 1).astype(bool)
    i = (starts - 1) >> 1  # the window value (or the gap) a run starts at
    # H and G as (hi, lo, tail) at lo, at each run's start, at big
    b = starts.size
    h, g = np.zeros((3, b + 2)), np.zeros((3, b + 2))
    g[:2, 1:] = _prefix_at(steps, np.append(i, m - 1))  # G(v_i)
    at_q = np.flatnonzero(crossing)
    if at_q.size:
        gap = i[at_q]
        h[0, at_q + 1], h[1, at_q + 1] = q_hi[gap], q_lo[gap]
        g[2, at_q + 1] = c[gap] * (q[gap] - v[gap])
    at_v = np.flatnonzero(~crossing)
    if at_v.size:
        h[0, at_v + 1], h[1, at_v + 1], h[2, at_v + 1] = _integral_at(ref, v[i[at_v]])
    end = (n - 1) >> _SHIFT
    h[:, -1] = head[end], rest[end] + pairs[-1, 1], big - u[-1]
    g[2, -1] = big - v[-1]
    dh, dg = np.diff(h, axis=1), np.diff(g, axis=1)
    area = ((dh[0] - dg[0]) + (dh[1] - dg[1])) + (dh[2] - dg[2])
    area[1:][below] *= -1.0
    return _floor(float(area.sum()), big - lo)


def _run_starts_distinct(
    left: np.ndarray, right: np.ndarray, tail: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The run starts of :func:`_from_integral` when the window's values are distinct:
    ``left[i]`` (``q_i > v_i``) and ``right[i]`` (``q_i < v_{i+1}``) mark the gap's two
    pieces, and at least one of them has positive length. A below piece ``2i+1`` starts a
    run when the piece before it is above (``right[i-1]``, or the first piece); an above
    piece ``2i+2`` when the one before it is below (``left[i]``, or else gap ``i-1``
    ended below). Returns ``(starts, starts at an interior crossing q_i)``."""
    before = np.empty(left.size, dtype=bool)
    before[0] = True
    before[1:] = right[:-1]
    down = np.flatnonzero(left & before)
    up = np.flatnonzero(right & (left | ~before))
    ends = [2 * left.size + 1] if tail and right[-1] else []
    starts = np.concatenate([2 * down + 1, 2 * up + 2, ends]).astype(np.intp)
    order = np.argsort(starts, kind="stable")
    starts = starts[order]
    crossing = np.concatenate([np.zeros(down.size, bool), left[up], np.zeros(len(ends), bool)])
    return starts, crossing[order]


def _prefix_at(steps: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``Σ steps[:i]`` for each ``i`` as float64 parts ``(hi, lo)`` (shape ``(2, len(i))``)
    for non-negative ``steps``: the sums of whole blocks of 64 in float64, their running
    sum in long double split in two, and the part of the last block up to ``i`` in float64,
    so that differences of two sums keep their precision. Only the blocks' totals and the
    requested partial sums are formed (``add.reduceat``), no running sum of every step."""
    out = np.zeros((2, i.size))
    some = np.flatnonzero(i > 0)
    if steps.size == 0 or some.size == 0:
        return out
    padded = np.append(steps, 0.0)  # reduceat may be asked for the slice ending at len
    block_starts = np.arange(0, steps.size, _BLOCK)
    totals = np.add.reduceat(padded, block_starts)[: block_starts.size]
    starts = np.zeros(block_starts.size, dtype=np.longdouble)
    np.cumsum(totals[:-1], dtype=np.longdouble, out=starts[1:])
    end = i[some]  # Σ steps[:end] = starts[block of end - 1] + Σ steps[block start:end]
    block = (end - 1) >> _SHIFT
    bounds = np.empty(2 * end.size, dtype=np.intp)
    bounds[0::2], bounds[1::2] = block << _SHIFT, end
    partial = np.add.reduceat(padded, bounds)[0::2]
    head = starts[block].astype(np.float64)
    out[0, some] = head
    out[1, some] = (starts[block] - head).astype(np.float64) + partial
    return out


def _integral_at(ref: NumericSample, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """``H(x)`` at a few points as float64 parts ``(hi, lo, tail)`` (0 below the minimum)."""
    pairs, head, rest = ref.cdf_blocks
    k = np.searchsorted(ref.sorted, x, side="right")
    before = np.maximum(k - 1, 0)
    rows = pairs[before]
    none = k == 0
    hi = np.where(none, 0.0, head[before >> _SHIFT])
    lo = np.where(none, 0.0, rest[before >> _SHIFT] + rows[:, 1])
    tail = np.where(none, 0.0, k / ref.n * (x - rows[:, 0]))
    return hi, lo, tail


_CROSSINGS_KEPT = 4  # window sizes whose crossings are kept per reference
_LEVELS: dict[int, np.ndarray] = {}


def _levels(m: int) -> np.ndarray:
    """``j / m`` for ``j = 1 .. m-1``, one array per window size shared by every column
    (it stays in the cache across a window's columns)."""
    levels = _LEVELS.get(m)
    if levels is None:
        if len(_LEVELS) >= _CROSSINGS_KEPT:
            _LEVELS.clear()  # one atomic step: safe beside other threads
        levels = np.arange(1, m, dtype=np.int64) / m
        levels.flags.writeable = False
        _LEVELS[m] = levels
    return levels


def _crossings(ref: NumericSample, m: int) -> tuple[np.ndarray, ...]:
    """Where ``F_ref`` first reaches each level ``j / m`` of a window of ``m`` values, and
    ``H`` there: ``(levels, q, hi, lo, index)`` with ``q[j - 1] = sorted[index[j]]``
    (``index`` padded with -1 before and ``n`` after). They depend on the window's size
    only, so they are kept for the last few sizes."""
    cache: dict[int, tuple[np.ndarray, ...]] = ref.__dict__.setdefault("_crossings", {})
    kept = cache.get(m)
    if kept is not None:
        return kept
    n = ref.n
    pairs, head, rest = ref.cdf_blocks
    j = np.arange(1, m, dtype=np.int64)
    at = np.minimum((j * n + m - 1) // m, n) - 1  # ceil(j n / m) - 1
    cross = pairs[at]  # q = u[at]: the table's entry, no tail
    padded = np.concatenate([[-1], at, [n]])  # a_0 = -1, a_1 .. a_{m-1}, a_m = n
    out = (
        _levels(m),
        cross[:, 0].copy(),
        head[at >> _SHIFT],
        rest[at >> _SHIFT] + cross[:, 1],
        padded,
    )
    if len(cache) >= _CROSSINGS_KEPT:
        cache.clear()  # one atomic step: safe beside other threads
    cache[m] = out
    return out


def _floor(distance: float, span: float) -> float:
    """``distance`` with rounding residue removed: W1 is never negative, and identical
    samples leave a residue of a few ``eps`` times the data's span (e.g. -6.9e-19)."""
    return 0.0 if distance <= ROUNDING * span else distance


ROUNDING = 1000 * float(np.finfo(np.longdouble).eps)
"""Integrals below this share of the data's span are rounding residue: the running sums
are long doubles, whose error is a few ``eps`` of the span (1e-16 on x86)."""


class Wasserstein(BatchTest):
    """Wasserstein-1 distance in reference standard deviations.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> test = Wasserstein().fit(rng.normal(size=5000))
        >>> r = test.compare(rng.normal(0.3, 1, size=5000))
        >>> r.drifted, round(r.statistic, 1)
        (True, 0.3)
    """

    name = "wasserstein"
    kinds = (FeatureKind.NUMERIC,)
    default_threshold = 0.1
    has_p_value = False
    effect_name = "Wasserstein/σ"

    def _compute(
        self, ref: NumericSample, cur: NumericSample
    ) -> tuple[float | None, float | None, float | None, str]:
        w = wasserstein_sorted(ref, cur)
        if ref.std > 0:
            return w / ref.std, None, w / ref.std, ""
        return w, None, w, "The reference is constant, so the distance is unscaled."
