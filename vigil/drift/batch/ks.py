"""Two-sample Kolmogorov–Smirnov test on a prepared (sorted) reference.

Statistic ``D = sup_x |F_ref(x) - F_cur(x)|``: for comparable sizes within the
``O(n + m)`` merge the Wasserstein effect size takes too; for a window much shorter than
a prepared reference from the reference's quantiles at the window's levels, searching the
reference at the few window values that can reach ``D`` (:func:`_candidates`); never by
re-sorting the pooled sample. Bit-identical to scipy's either way. The p-value is scipy's: exact for
``max(n, m) <= 10,000`` (computed by :func:`scipy.stats.ks_2samp` itself, cheap at that
size), otherwise Smirnov's asymptotic ``kstwo.sf(D, round(n m / (n + m)))``.
Default threshold: p < 0.05; effect size: Wasserstein distance in reference σ (min 0.1).
Validity limit: with ties the p-value is conservative (the reason says so).

References:
    Smirnov, N. (1948). Table for estimating the goodness of fit of empirical
    distributions. Annals of Mathematical Statistics 19(2), 279–281.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from scipy.special import gammaln

from vigil.schema import FeatureKind

from ._base import BatchTest, numeric_effect
from ._sample import NumericSample
from .wasserstein import _crossings, merged_statistics, use_integral

_MAX_EXACT_N = 10_000  # scipy's MAX_AUTO_N: 'auto' is exact up to this size


def ks_statistic(ref: NumericSample, cur: NumericSample) -> float:
    """``D`` for two prepared samples, bit-identical to :func:`scipy.stats.ks_2samp`'s.

    Comparable sizes: from the merge the Wasserstein integral takes too
    (:func:`~vigil.drift.batch.wasserstein.merged_statistics`). A short window against a
    long reference: ``D`` is reached at the last value of a tie group of the window or
    just before its first one, so only the window's distinct values matter, and the
    reference is searched at a few of them (:func:`_candidates`). ``D`` is then the same
    expression at the same ranks as in scipy.
    """
    if not use_integral(ref, cur):  # comparable sizes: D from the merge W1 takes too
        return merged_statistics(ref, cur)[0]
    u, v = ref.sorted, cur.sorted
    n, m = u.size, v.size
    if cur.n_repeats:
        last = np.empty(m, dtype=bool)
        np.not_equal(v[1:], v[:-1], out=last[:-1])
        last[-1] = True
        w, right_cur = v[last], np.flatnonzero(last) + 1
    else:
        w, right_cur = v, np.arange(1, m + 1)
    if m > _BOUNDED_FROM:
        keep = _candidates(ref, m, w, right_cur)
        prev = np.where(keep > 0, right_cur[np.maximum(keep - 1, 0)], 0)
        w, right_cur = w[keep], right_cur[keep]
    else:
        prev = np.concatenate([[0], right_cur[:-1]])
    right_ref = np.searchsorted(u, w, side="right")
    left_ref = right_ref.copy()
    shared = np.flatnonzero(u[np.maximum(right_ref - 1, 0)] == w)
    shared = shared[right_ref[shared] > 0]
    if shared.size:
        left_ref[shared] = np.searchsorted(u, w[shared], side="left")
    at = right_ref / n - right_cur / m
    between = left_ref / n - prev / m
    max_s = max(at.max(), between.max())
    min_s = np.clip(-at.min(), 0, 1)
    return float(min_s if min_s > max_s else max_s)


_BOUNDED_FROM = 64  # shorter windows search the reference at every distinct value
_GROUP = 16  # distinct window values bounded together in the first pass


def _candidates(ref: NumericSample, m: int, w: np.ndarray, right_cur: np.ndarray) -> np.ndarray:
    """The positions in ``w`` (the window's distinct values, ``right_cur`` window values
    at or below each) where ``F_ref - F_cur`` can reach its largest absolute value.

    The reference quantiles prepared per window size (``q_j = sorted[a_j]``, the first
    point where ``F_ref >= j / m``, :func:`~vigil.drift.batch.wasserstein._crossings`)
    bound a value's rank in the reference: ``q_J <= x < q_{J+1}`` gives
    ``a_J < #ref <= x <= a_{J+1}``. A first pass looks up every 16th value only and bounds
    each group of 16 between its neighbours' ranks; the groups whose bound can still reach
    the largest lower bound of ``D`` are looked up value by value; only the values whose
    own bound can still reach it are searched in the reference (a few without drift).
    Every bound is the statistic's own float expression at a bounding integer rank, so
    the rounding is monotone and the value reaching ``D`` is never dropped.
    """
    n = ref.n
    _, q, _, _, index = _crossings(ref, m)  # index[J]: a_J, with a_0 = -1, a_m = n
    k = w.size
    ends = np.append(np.arange(_GROUP - 1, k - 1, _GROUP), k - 1)  # last value of each group
    firsts = np.concatenate([[0], ends[:-1] + 1])
    j_end = np.searchsorted(q, w[ends], side="right")  # quantiles <= each group's last
    j_before = np.concatenate([[0], j_end[:-1]])  # ... <= any value of the group
    r_lo, r_hi = index[j_end] + 1, index[j_end + 1]  # the last value's rank bounds
    bound = max(  # D is at least F_ref - F_cur, and at least F_cur - F_ref, anywhere
        float((r_lo / n - right_cur[ends] / m).max()),
        float((right_cur[ends] / m - r_hi / n).max()),
    )
    group_hi = index[j_end + 1] / n  # F_ref anywhere in the group is at most this
    group_lo = (index[j_before] + 1) / n  # ... and at least this
    prev_first = np.where(firsts > 0, right_cur[np.maximum(firsts - 1, 0)], 0)
    open_ = np.flatnonzero(
        (group_hi - prev_first / m >= bound) | (right_cur[ends] / m - group_lo >= bound)
    )
    if open_.size == 0:
        return ends[:0]
    pos = (firsts[open_][:, None] + np.arange(_GROUP)).ravel()
    pos = pos[pos <= np.repeat(ends[open_], _GROUP)]
    j = np.searchsorted(q, w[pos], side="right")
    lo_f, hi_f = (index[j] + 1) / n, index[j + 1] / n
    rc = right_cur[pos] / m
    prev = np.where(pos > 0, right_cur[np.maximum(pos - 1, 0)], 0) / m
    bound = max(bound, float((lo_f - rc).max()), float((rc - hi_f).max()))
    return pos[(hi_f - prev >= bound) | (rc - lo_f >= bound)]


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Smirnov's asymptotic two-sided p-value as scipy computes it for large samples.

    ``kstwo.sf(D, round(n m / (n + m)))``, with scipy's own choice of method. Where that
    choice is twice the one-sided exact Smirnov tail (``2.2 <= N D² < 370``, i.e. p below
    about 0.03: drifted columns), scipy sums its ``N`` Birnbaum–Tingey terms one by one,
    10 ms at ``N`` = 10,000 and 0.7 s at 500,000; up to ``N`` = 50,000 the same sum is
    taken here in one vectorised pass (:func:`smirnov_tail`, within 1e-10 of scipy's).
    ``N D² >= 370`` gives 0 as in scipy; everything else is scipy's ``kstwo.sf`` itself.
    """
    big, small = sorted([float(n), float(m)], reverse=True)
    en = float(np.round(big * small / (big + small)))
    x = float(d)
    t, nx2 = en * x, en * x * x
    if en > 140 and 0 < x < 0.5 and 1 < t < en - 1 and nx2 >= 2.2:
        if nx2 >= 370:
            return 0.0
        if en <= _MAX_VECTOR_N:
            return float(np.clip(2 * smirnov_tail(int(en), x), 0, 1))
    return float(np.clip(_kstwo_sf(x, en), 0, 1))


def ks_pvalues(d: np.ndarray, n: np.ndarray, m: int) -> np.ndarray:
    """:func:`ks_pvalue` for several columns at once (statistics ``d``, reference sizes
    ``n``, one window size ``m``), with scipy's choice of method kept per column.

    Where scipy takes the Pelz–Good series (``N D² < 2.2`` and outside the
    Durbin-matrix range: the columns without drift, most of a window's columns), the series
    is evaluated for all of them in one pass (:func:`_pelz_good_sf`, within 1e-12 of
    scipy's ``kstwo.sf``); every other column goes through :func:`ks_pvalue`.
    """
    d = np.asarray(d, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    big, small = np.maximum(n, float(m)), np.minimum(n, float(m))
    en = np.round(big * small / (big + small))
    t = en * d
    nx2 = t * d
    with np.errstate(divide="ignore", invalid="ignore"):
        dmtw = (en <= 100_000) & (en * d**1.5 <= 1.4)  # scipy's Durbin-matrix range
    series = (en > 140) & (d > 0) & (d < 0.5) & (t > 1) & (t < en - 1) & (nx2 < 2.2) & ~dmtw
    out = np.empty(d.size)
    if series.any():
        out[series] = np.clip(_pelz_good_sf(en[series], d[series]), 0.0, 1.0)
    for i in np.flatnonzero(~series).tolist():
        out[i] = ks_pvalue(float(d[i]), int(n[i]), m)
    return out


_PI_SQUARED, _PI_FOUR, _PI_SIX = np.pi**2, np.pi**4, np.pi**6
_SQRT2PI, _SQRT3 = np.sqrt(2 * np.pi), np.sqrt(3)


def _pelz_good_sf(en: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``1 - P(D_N <= x)`` by the Pelz–Good series, the arithmetic of scipy's
    ``_kolmogn_PelzGood`` (same terms, same order of summation) on arrays: the series of
    each element has ``ceil(16 z / π)`` terms (``z = √N x``), so shorter series are
    masked rather than padded.

    References:
        Pelz, W. and Good, I. J. (1976). Approximating the lower tail-areas of the
        Kolmogorov-Smirnov one-sample statistic. JRSS B 38(2), 152–156.
    """
    z = np.sqrt(en) * x
    z2, z3, z4, z6 = z**2, z**3, z**4, z**6
    qlog = -_PI_SQUARED / 8 / z2
    vanishes = qlog < -708  # scipy's _MIN_LOG: the CDF is 0
    q = np.exp(qlog)
    k1a, k1b = -z2, _PI_SQUARED / 4
    zero = np.zeros(z.size)
    # coefficient rows of K0..K3 in q^(8k): ((a + b j²) + c j⁴) + d j⁶ with j = 2k - 1 (the
    # zero entries add exact zeros, so each row is scipy's expression for it)
    a = np.stack([np.ones(z.size), k1a, 6 * z6 + 2 * z4, -30 * z6 - 90 * z**8])
    b = np.stack(
        [
            zero,
            np.full(z.size, k1b),
            (2 * z4 - 5 * z2) * _PI_SQUARED / 4,
            _PI_SQUARED * (135 * z4 - 96 * z6) / 4,
        ]
    )
    c = np.stack([zero, zero, _PI_FOUR * (1 - 2 * z2) / 16, _PI_FOUR * (-60 * z2 + 212 * z4) / 16])
    d = np.stack([zero, zero, zero, _PI_SIX * (5 - 30 * z2) / 64])
    maxk = np.ceil(16 * z / np.pi).astype(np.int64)
    top = int(maxk.max()) if maxk.size else 0
    terms = np.zeros((4, z.size))
    for k in range(top, 0, -1):  # Horner in q^(8k), from each element's own maxk down
        j = 2 * k - 1
        coeffs = ((a + b * j**2) + c * j**4) + d * j**6
        step = terms * np.power(q, 8 * k) + coeffs
        np.copyto(terms, step, where=k <= maxk)
    terms *= q
    terms *= _SQRT2PI
    terms /= np.stack([z, 6 * z4, 72 * z**7, 6480 * z**10])
    q2 = np.exp(-_PI_SQUARED / 2 / z2)
    sqrt3z = _SQRT3 * z
    ks = np.arange(top, 0, -1)[:, None]  # numpy's sum over k = maxk .. 1, term by term
    on = ks <= maxk
    k2 = ks**2
    qk = q2 ** np.broadcast_to(k2, (top, z.size))
    kpi = np.pi * ks
    k2parts = np.where(on, k2 * qk, np.nan)
    k3parts = np.where(on, (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk, np.nan)
    k2extra = _numpy_sum(k2parts, maxk) * (_PI_SQUARED * _SQRT2PI / (-36 * z3))
    k3extra = _numpy_sum(k3parts, maxk) * (_PI_SQUARED * _SQRT2PI / (216 * z6))
    terms[2] += k2extra
    terms[3] += k3extra
    terms /= np.power(en[None, :] * 1.0, (np.arange(4) / 2.0)[:, None])
    cdf = ((terms[0] + terms[1]) + terms[2]) + terms[3]  # Python's sum, left to right
    return np.where(vanishes, 1.0, 1.0 - cdf)


def _numpy_sum(parts: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per column of ``parts``, ``np.sum`` of its last ``count`` rows (NaN above them):
    left to right below 8 values, numpy's pairwise pattern at 8 (scipy's series has at
    most 8 terms here, ``z² < 2.2``)."""
    out = np.zeros(count.size)
    for row in parts:
        out = np.where(np.isnan(row), out, out + row)
    if parts.shape[0] == 8:
        r = np.nan_to_num(parts)
        paired = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        out = np.where(count == 8, paired, out)
    return out


def _kstwo_sf(x: float, en: float) -> float:
    """``scipy.stats.kstwo.sf(x, en)`` without the distribution machinery's argument
    checks and broadcasting (0.2 ms a call, most of a window's p-value): the function
    ``kstwo`` itself evaluates, called with the same arguments, hence the same float.
    Falls back to ``kstwo.sf`` if a scipy release moves it (both tested equal)."""
    if _KOLMOGN is not None and 0.0 <= x <= 1.0 and en >= 1 and en == int(en):
        return float(_KOLMOGN(int(en), np.float64(x), cdf=False))
    return float(stats.kstwo.sf(np.float64(x), en))


try:  # scipy's own two-sided Kolmogorov-Smirnov tail, behind kstwo.sf
    from scipy.stats._ksstats import _kolmogn as _KOLMOGN
except ImportError:  # pragma: no cover - a scipy without it falls back to kstwo.sf
    _KOLMOGN = None


_MAX_VECTOR_N = 50_000  # beyond, lgamma's rounding (ε · n log n) passes 1e-10 of the tail


def smirnov_tail(n: int, x: float) -> float:
    """``P(D⁺_n >= x)``, the exact one-sided tail (Birnbaum and Tingey 1951), vectorised.

    ``x Σ_j C(n, j) (x + j/n)^(j-1) (1 - x - j/n)^(n-j)`` over ``j <= n (1 - x)``, each
    term in logs (``log C`` from ``gammaln``, absolute error about ``ε n log n``, so
    relative 2e-11 at n = 10,000 and 6e-11 at 50,000), summed after scaling by the largest.
    Equal to :func:`scipy.special.smirnov` within 1e-10 for ``n <= 50,000`` (tested).

    References:
        Birnbaum, Z. W. and Tingey, F. H. (1951). One-sided confidence contours for
        probability distribution functions. Annals of Mathematical Statistics 22(4).
    """
    j = np.arange(0, int(np.floor(n * (1 - x))) + 1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        at = x + j / n
        log_terms = (
            np.log(x)
            + (gammaln(n + 1) - gammaln(j + 1) - gammaln(n - j + 1))
            + (j - 1) * np.log(at)
            + (n - j) * np.log1p(-at)
        )
    top = float(log_terms.max())
    return float(np.exp(top) * np.exp(log_terms - top).sum())


class KolmogorovSmirnov(BatchTest):
    """Two-sample Kolmogorov–Smirnov test.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> test = KolmogorovSmirnov().fit(rng.normal(size=2000))
        >>> r = test.compare(rng.normal(0.5, 1, size=500))
        >>> r.drifted, round(r.statistic, 2), r.p_value < 1e-6
        (True, 0.19, True)
    """

    name = "ks"
    kinds = (FeatureKind.NUMERIC,)
    default_threshold = 0.05
    default_min_effect = 0.1
    effect_name = "Wasserstein/σ"

    def _compute(
        self, ref: NumericSample, cur: NumericSample
    ) -> tuple[float | None, float | None, float | None, str]:
        n, m = ref.n, cur.n
        if max(n, m) <= _MAX_EXACT_N:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = stats.ks_2samp(ref.sorted, cur.sorted)
            d, p = float(res.statistic), float(res.pvalue)
            note = " ".join(str(w.message) for w in caught)
        else:
            d = ks_statistic(ref, cur)
            p = ks_pvalue(d, n, m)
            note = ""
        repeats = ref.n_repeats + cur.n_repeats  # the reference's is counted once
        if repeats > 0.01 * (n + m):
            note = (
                f"{repeats / (n + m):.0%} of the values are ties; the KS p-value assumes "
                "continuous data and is conservative with ties (valid, less "
                "powerful). " + note
            ).strip()
        effect, effect_note = numeric_effect(ref, cur)
        return d, p, effect, " ".join(x for x in (note, effect_note) if x)
