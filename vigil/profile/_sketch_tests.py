"""The per-column tests of :func:`vigil.profile.profile_drift`, computed from sketches.

Each function returns a :class:`SketchTest`: the statistic, a *valid* p-value (never
smaller than the exact test's would be, given the sketch's error), the effect size the
policy compares with its minimum, and the error bound. The policy itself (BH across
columns, effect-size floor) lives in :mod:`vigil.profile.drift`.

- **Numeric (KS on KLL sketches).** ``D`` is evaluated on the union of both sketches'
  quantile grids; each CDF is within its normalized rank error ``ε`` (99 % confidence),
  so the exact ``D`` lies in ``[D − ε, D + ε]`` and its p-value in
  ``[p(D + ε), p(D − ε)]``. The verdict uses the upper end (conservative); ``p_value``
  reports the estimate at ``D`` and ``p_value_bounds`` both ends, so a small ``D`` reads
  as "unknown within [a, b]" rather than ``p = 1``. Effect size: Wasserstein-1 distance
  between the sketches' quantile functions in reference standard deviations; it carries
  the sketches' quantile noise (up to a few hundredths of σ with ``k = 200``), so a shift
  right at the 0.1 σ floor may fall either side of it. With raw reference values at hand
  (the server keeps a sample) the reference side is exact and the error bound halves.
- **Categorical with exact counts** (both frequent-items sketches below capacity, the
  usual case up to ~768 levels): the very test exact mode runs on raw rows — two-
  proportion z-test (Fisher's exact test under 5 expected) with Cohen's h for binary
  columns, chi-squared with total variation otherwise; nulls form a ``<missing>`` level.
- **Categorical past the sketch's capacity**: the sketch knows each heavy hitter's count
  only within ``[lower, upper]``. The categories whose pooled lower bound is clearly
  above the error are kept, the rest pooled into "other" (whose count is then uncertain
  by the sum of those errors). Pearson's statistic for a 2 × K table is
  ``(n m / N) Σ_k (a_k − b_k)² / p̄_k``; replacing each ``|a_k − b_k|`` by its smallest
  value inside the bounds and each ``p̄_k`` by its largest gives a lower bound of the
  statistic over every table the sketches allow, hence an upper bound of the p-value
  (valid, conservative). Collapsing categories keeps the test valid under no drift. With
  no resolvable category the column is *not tested*, with the reason.

References:
    Karnin, Lang, Liberty (2016), KLL sketches. Agarwal et al. (2013), Mergeable
    summaries (frequent items). Pearson (1900). Cohen (1988), ch. 6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.profile.column import ColumnProfile

MISSING_LEVEL = "<missing>"
"""Nulls form their own category, as in exact mode."""
_W_GRID = 1000


@dataclass(frozen=True, slots=True)
class SketchTest:
    """One column's test result before the policy decides."""

    method: str
    statistic: float | None
    p_value: float | None
    p_value_decision: float | None
    p_value_bounds: tuple[float, float] | None
    effect_size: float | None
    effect_name: str
    error_bound: float
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------- numeric
def _grid(col: ColumnProfile) -> np.ndarray:
    sk = col.kll
    assert sk is not None
    m = min(4 * sk.num_retained + 1, 4001)
    return np.asarray(sk.get_quantiles(np.linspace(0.0, 1.0, m).tolist()), dtype=np.float64)


def ks_statistic(ref: ColumnProfile, cur: ColumnProfile) -> tuple[float, float]:
    """``D`` between two KLL sketches and its error bound (sum of rank errors)."""
    points = np.unique(np.concatenate([_grid(ref), _grid(cur)])).tolist()
    assert ref.kll is not None
    assert cur.kll is not None
    f_ref = np.asarray(ref.kll.get_cdf(points, True)[:-1])
    f_cur = np.asarray(cur.kll.get_cdf(points, True)[:-1])
    d = float(np.max(np.abs(f_ref - f_cur))) if points else 0.0
    return d, ref.rank_error + cur.rank_error


def ks_pvalue(d: float, n_ref: int, n_cur: int) -> float:
    """Smirnov's asymptotic two-sided p-value, as ``ks_2samp(method="asymp")``."""
    if d <= 0.0:
        return 1.0
    from scipy.stats import kstwo

    en = n_ref * n_cur / (n_ref + n_cur)
    return float(np.clip(kstwo.sf(min(d, 1.0), np.round(en)), 0.0, 1.0))


def wasserstein_effect(
    ref: ColumnProfile, cur: ColumnProfile, ref_values: np.ndarray | None = None
) -> float | None:
    """Wasserstein-1 between the sketches' quantile functions, in reference σ."""
    assert ref.kll is not None
    assert cur.kll is not None
    u = ((np.arange(_W_GRID) + 0.5) / _W_GRID).tolist()
    if ref_values is not None and ref_values.size:
        qa = np.quantile(ref_values, u, method="inverted_cdf")
    else:
        qa = np.asarray(ref.kll.get_quantiles(u), dtype=np.float64)
    qb = np.asarray(cur.kll.get_quantiles(u), dtype=np.float64)
    w = float(np.mean(np.abs(qa - qb)))
    std = ref.std
    if not math.isfinite(w):
        return None
    return w / std if std else w


def ks_exact_reference(ref: np.ndarray, cur: ColumnProfile) -> tuple[float, float]:
    """``D`` between raw sorted reference values and a KLL sketch; the error is the
    sketch's rank error alone (the reference side is exact)."""
    assert cur.kll is not None
    points = np.unique(np.concatenate([ref, _grid(cur)]))
    f_ref = np.searchsorted(ref, points, side="right") / ref.size
    f_cur = np.asarray(cur.kll.get_cdf(points.tolist(), True)[:-1])
    return float(np.max(np.abs(f_ref - f_cur))), cur.rank_error


def ks_test(
    ref: ColumnProfile, cur: ColumnProfile, ref_values: np.ndarray | None = None
) -> SketchTest:
    """KS on the numeric tracks with its p-value interval; with ``ref_values`` (sorted
    finite raw reference values) the reference CDF is exact, halving the error."""
    m = cur.n_numeric
    if ref_values is not None and ref_values.size:
        n = int(ref_values.size)
        d, err = ks_exact_reference(ref_values, cur)
    else:
        n = ref.n_numeric
        d, err = ks_statistic(ref, cur)
    p = ks_pvalue(d, n, m)
    hi = ks_pvalue(max(d - err, 0.0), n, m)
    lo = ks_pvalue(d + err, n, m) if err else p
    if err:
        reason = (
            f"KS D = {d:.4f} ± {err:.4f} (sketch rank error), so p is between "
            f"{lo:.3g} and {hi:.3g} (estimate {p:.3g}); the verdict uses {hi:.3g}."
        )
    else:
        reason = f"KS D = {d:.4f}, p = {p:.3g} (sketches exact)."
    effect = wasserstein_effect(ref, cur, ref_values)
    details = {"reference": "raw sample"} if ref_values is not None and ref_values.size else {}
    return SketchTest("ks", d, p, hi, (lo, hi), effect, "Wasserstein/σ", err, reason, details)


# ------------------------------------------------------------------- categorical
def count_error(col: ColumnProfile) -> int:
    """The frequent-items sketch's largest possible count error (0 while it is exact).

    Every count the sketch reports, tracked or not, lies within this of the truth; an
    untracked item's upper bound is exactly this offset.
    """
    sk = col.frequent_sketch
    if sk is None or sk.is_empty():
        return 0
    probe = "\x00vigil: an item no column holds"
    return int(sk.get_upper_bound(probe) - sk.get_lower_bound(probe))


def _bounds(col: ColumnProfile) -> tuple[dict[str, int], bool]:
    """Estimated counts and whether they are exact (sketch below capacity)."""
    counts = col.item_counts() if col.count else {}
    exact = count_error(col) == 0 and sum(counts.values()) == col.count
    if col.null_count:
        counts = {**counts, MISSING_LEVEL: col.null_count}
    return counts, exact


def categorical_test(ref: ColumnProfile, cur: ColumnProfile) -> SketchTest:
    """The exact-mode test on exact counts, else the heavy-hitter lower-bound test."""
    a, exact_a = _bounds(ref)
    b, exact_b = _bounds(cur)
    if exact_a and exact_b:
        return _exact_counts(a, b)
    return _heavy_hitters(ref, cur)


def _exact_counts(a: dict[str, int], b: dict[str, int]) -> SketchTest:
    from scipy import stats

    keys = sorted(set(a) | set(b), key=lambda k: (-a.get(k, 0), k))
    ra = np.array([a.get(k, 0) for k in keys], dtype=np.float64)
    cb = np.array([b.get(k, 0) for k in keys], dtype=np.float64)
    n, m = ra.sum(), cb.sum()
    unseen = int(np.sum((ra == 0) & (cb > 0)))
    note = (
        (
            f" {unseen} categories unseen in the reference ({cb[ra == 0].sum() / m:.1%} of "
            "the window)."
        )
        if unseen
        else ""
    )
    details = {"categories": len(keys), "counts": "exact"}
    if len(keys) <= 2:
        if len(keys) == 1:
            ra, cb = np.append(ra, 0.0), np.append(cb, 0.0)
        table = np.vstack([ra, cb])
        p_ref, p_cur = ra[0] / n, cb[0] / m
        h = abs(2 * math.asin(math.sqrt(p_cur)) - 2 * math.asin(math.sqrt(p_ref)))
        expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
        if expected.min() >= 5:
            pooled = table[:, 0].sum() / (n + m)
            z = (p_cur - p_ref) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
            p = float(2 * stats.norm.sf(abs(z)))
            reason = f"two-proportion z = {z:.3g}, p = {p:.3g} (exact counts)."
            return SketchTest(
                "z", float(z), p, p, (p, p), h, "Cohen's h", 0.0, reason + note, details
            )
        p = float(stats.fisher_exact(table.astype(np.int64)).pvalue)
        reason = f"Fisher's exact p = {p:.3g} (exact counts)."
        return SketchTest(
            "fisher",
            float(p_cur - p_ref),
            p,
            p,
            (p, p),
            h,
            "Cohen's h",
            0.0,
            reason + note,
            details,
        )
    tv = float(0.5 * np.abs(ra / n - cb / m).sum())
    res = stats.chi2_contingency(np.vstack([ra, cb]))
    stat, p = float(res.statistic), float(res.pvalue)
    low = float(np.mean(res.expected_freq < 5))
    if low > 0.2:
        note += (
            f" {low:.0%} of expected counts are below 5, so the chi-squared approximation is rough."
        )
    reason = f"chi-squared = {stat:.4g}, p = {p:.3g} (exact counts)."
    return SketchTest(
        "chi2", stat, p, p, (p, p), tv, "total variation", 0.0, reason + note, details
    )


def _side_bounds(col: ColumnProfile, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    sk = col.frequent_sketch
    lo, hi = [], []
    for k in keys:
        if k == MISSING_LEVEL:
            lo.append(col.null_count)
            hi.append(col.null_count)
        elif sk is None or sk.is_empty():
            lo.append(0)
            hi.append(0)
        else:
            lo.append(max(int(sk.get_lower_bound(k)), 0))
            hi.append(min(int(sk.get_upper_bound(k)), col.count))
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def _heavy_hitters(ref: ColumnProfile, cur: ColumnProfile) -> SketchTest:
    from scipy.special import chdtrc

    err_a, err_b = count_error(ref), count_error(cur)
    a, _ = _bounds(ref)
    b, _ = _bounds(cur)
    n, m = ref.count + ref.null_count, cur.count + cur.null_count
    candidates = sorted(set(a) | set(b), key=lambda k: (-(a.get(k, 0) + b.get(k, 0)), k))
    la, ua = _side_bounds(ref, candidates)
    lb, ub = _side_bounds(cur, candidates)
    # keep categories counted to within half their pooled count, at least 10 of them pooled
    keep = (la + lb >= 10) & ((ua - la) + (ub - lb) <= 0.5 * (la + lb))
    keys = [k for k, ok in zip(candidates, keep.tolist(), strict=True) if ok]
    details: dict[str, Any] = {
        "counts": "heavy hitters",
        "categories_tested": len(keys),
        "count_error_reference": err_a,
        "count_error_current": err_b,
    }
    error_bound = max(err_a / max(n, 1), err_b / max(m, 1))
    if not keys:
        reason = (
            f"not tested: the frequent-items sketches count no category to within "
            f"its error (±{err_a} of {n} reference rows, ±{err_b} of {m} current "
            "rows); too many levels for a sketch-based test. Narrow the window to "
            "test raw rows."
        )
        return SketchTest(
            "chi2", None, None, None, None, None, "total variation", error_bound, reason, details
        )
    la, ua, lb, ub = la[keep], ua[keep], lb[keep], ub[keep]
    # "other": everything else, its count bounded by the kept categories' bounds
    la = np.append(la, max(n - ua.sum(), 0.0))
    ua = np.append(ua, max(n - la[:-1].sum(), 0.0))
    lb = np.append(lb, max(m - ub.sum(), 0.0))
    ub = np.append(ub, max(m - lb[:-1].sum(), 0.0))
    diff = np.maximum.reduce([la / n - ub / m, lb / m - ua / n, np.zeros(la.size)])
    pooled_max = np.minimum((ua + ub) / (n + m), 1.0)
    live = pooled_max > 0
    stat = float((n * m / (n + m)) * np.sum(diff[live] ** 2 / pooled_max[live]))
    dof = int(live.sum()) - 1
    p = float(chdtrc(dof, stat)) if dof >= 1 else 1.0
    tv = float(0.5 * diff.sum())
    coverage = float((la[:-1].sum() + lb[:-1].sum()) / (n + m))
    details.update(coverage_at_least=coverage)
    reason = (
        f"chi-squared ≥ {stat:.4g} on the {len(keys)} categories the sketches count "
        f"to within their error (≥ {coverage:.0%} of rows) plus 'other', p ≤ {p:.3g}: "
        "a lower bound over every count the sketches allow, so the p-value is "
        "conservative."
    )
    return SketchTest(
        "chi2",
        stat,
        p,
        p,
        (0.0, p),
        tv,
        "total variation (lower bound)",
        error_bound,
        reason,
        details,
    )
