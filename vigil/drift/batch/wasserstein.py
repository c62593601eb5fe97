"""Wasserstein-1 distance normalised by the reference standard deviation.

``W1 = ∫ |F_ref(x) - F_cur(x)| dx``, divided by the reference's σ so it reads as "how many
reference standard deviations the mass moved" (a shift of 0.2σ gives 0.2). Default
threshold 0.1. With a constant reference (σ = 0) the distance is reported unscaled.

Two ways to the same integral, both after the one binary search of the sorted window in
the sorted reference that the KS statistic shares (:meth:`NumericSample.ranks_in`):

* Comparable sizes (``detect_drift``): the two sorted samples are merged in ``O(n + m)``
  and ``Σ |c_ref m - c_cur n| Δx / (n m)`` summed over the merged gaps in float64. Every
  count product is an exact integer below 2⁵³ and every term is non-negative, so the
  result's relative error is at most ``(log₂(n + m) + 130) · 2⁻⁵³`` (≈ 2e-14 at a million
  rows per side: one rounding per gap, per product and numpy's pairwise sum); identical
  samples give exactly 0.
* A window much smaller than a prepared reference (``m <= n / 4``): ``O(m)`` float64
  arithmetic from the running integral of the reference ECDF, prepared once per
  reference in long double and kept as two float64 parts, so that differences of that
  integral keep their precision (about 1e-13 relative to W1).

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
    """W1 in ``O(m)`` given the reference's prepared running integral ``H``.

    ``H`` is held in float64 parts (:attr:`NumericSample.cdf_blocks`), so that
    differences ``H(b) - H(a)`` keep their precision while the per-window arithmetic
    runs in float64.
    """
    u, v = ref.sorted, cur.sorted
    n, m = u.size, v.size
    pairs, head, rest = ref.cdf_blocks
    k = cur.ranks_in(ref)
    below = np.maximum(k - 1, 0)
    rows = pairs[below]  # one gathered row per window value: (u[k-1], local[k-1])
    # H(v) = hi + lo + tail, tail = (k / n)(v - u[k-1]); all 0 below the reference minimum
    h_hi = head[below >> _SHIFT]
    h_lo = rest[below >> _SHIFT] + rows[:, 1]
    tail = k / n * (v - rows[:, 0])
    none = k == 0
    if none.any():
        h_hi, h_lo, tail = (np.where(none, 0.0, x) for x in (h_hi, h_lo, tail))
    last = (n - 1) >> _SHIFT
    big = max(u[-1], v[-1])
    # right of the window's maximum F_cur = 1: ∫ (1 - F_ref) = (big - v_m) - (H(big) - H(v_m))
    h_big = (head[last] - h_hi[-1]) + ((rest[last] + pairs[-1, 1]) - h_lo[-1])
    h_big += (big - u[-1]) - tail[-1]
    total = (h_hi[0] + h_lo[0] + tail[0]) + ((big - v[-1]) - h_big)
    if m > 1:
        a, b = v[:-1], v[1:]
        c, q, q_hi, q_lo = _crossings(ref, m)
        mid = np.clip(q, a, b)
        # H(mid) - H(a) and H(b) - H(mid), as differences of (hi, lo, tail) parts
        at_a, at_b = q < a, q > b
        m_hi = np.where(at_a, h_hi[:-1], np.where(at_b, h_hi[1:], q_hi))
        m_lo = np.where(at_a, h_lo[:-1], np.where(at_b, h_lo[1:], q_lo))
        m_tail = np.where(at_a, tail[:-1], np.where(at_b, tail[1:], 0.0))
        up = (m_hi - h_hi[:-1]) + (m_lo - h_lo[:-1]) + (m_tail - tail[:-1])
        down = (h_hi[1:] - m_hi) + (h_lo[1:] - m_lo) + (tail[1:] - m_tail)
        total += float((c * (mid - a) - up).sum() + (down - c * (b - mid)).sum())
    return _floor(float(total), big - min(u[0], v[0]))


def _crossings(ref: NumericSample, m: int) -> tuple[np.ndarray, ...]:
    """Where ``F_ref`` first reaches each level ``j / m`` of a window of ``m`` values, and
    ``H`` there: ``(levels, q, hi, lo)``. They depend on the window's size only, so they
    are kept for the last size (windows of one size skip these look-ups)."""
    cached = ref.__dict__.get("_crossings")
    if cached is not None and cached[0] == m:
        return cached[1]
    n = ref.n
    pairs, head, rest = ref.cdf_blocks
    j = np.arange(1, m, dtype=np.int64)
    at = np.minimum((j * n + m - 1) // m, n) - 1  # ceil(j n / m) - 1
    cross = pairs[at]  # q = u[at]: the table's entry, no tail
    out = (j / m, cross[:, 0].copy(), head[at >> _SHIFT], rest[at >> _SHIFT] + cross[:, 1])
    ref.__dict__["_crossings"] = (m, out)
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
