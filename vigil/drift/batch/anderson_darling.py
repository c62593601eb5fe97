"""k-sample Anderson–Darling test (k = 2, mid-rank version) on a prepared reference.

Statistic ``A²akN`` of Scholz and Stephens (1987, eq. 7), standardised as
``(A²akN - (k - 1)) / σ_N``. The pooled sorted sample is a linear-time merge of the
sorted reference with the sorted window. The p-value is scipy's
:func:`scipy.stats.anderson_ksamp` (``variant="midrank"``): a quadratic interpolation of
the log significance level through Scholz and Stephens' critical values, capped to
[0.001, 0.25] — the reason says so when a cap applies. Threshold p < 0.05; effect size:
Wasserstein/σ (min 0.1).

References:
    Scholz, F. W. and Stephens, M. A. (1987). K-sample Anderson–Darling tests. Journal of
    the American Statistical Association 82(399), 918–924.
"""

from __future__ import annotations

import math

import numpy as np

from vigil.schema import FeatureKind

from ._base import BatchTest, numeric_effect
from ._sample import NumericSample

_B0 = np.array([0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085])
_B1 = np.array([-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615])
_B2 = np.array([-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154])
_SIG = np.array([0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001])


def anderson_ksamp_2(ref: NumericSample, cur: NumericSample) -> tuple[float, float, str]:
    """``(A2, p_value, note)`` equal to scipy's ``anderson_ksamp([ref, cur])``."""
    pooled = np.concatenate([ref.sorted, cur.sorted])
    pooled.sort(kind="stable")  # two sorted runs: a single merge
    big_n = pooled.size
    first = np.empty(big_n, dtype=bool)
    first[0] = True
    np.not_equal(pooled[1:], pooled[:-1], out=first[1:])
    zstar = pooled[first]
    if zstar.size < 2:
        return math.nan, math.nan, "Both samples hold one and the same value; not tested."
    left = np.flatnonzero(first)
    lj = 1.0 if big_n == zstar.size else np.diff(np.append(left, big_n))
    bj = left + lj / 2.0
    sizes = np.array([ref.n, cur.n])
    a2akn = 0.0
    for s, n_i in ((ref.sorted, ref.n), (cur.sorted, cur.n)):
        right = s.searchsorted(zstar, side="right")
        mij = right.astype(float)
        fij = right - s.searchsorted(zstar, "left")
        mij -= fij / 2.0
        inner = (
            lj
            / float(big_n)
            * (big_n * mij - bj * n_i) ** 2
            / (bj * (big_n - bj) - big_n * lj / 4.0)
        )
        a2akn += inner.sum() / n_i
    a2akn *= (big_n - 1.0) / big_n
    k = 2
    h_all = (1.0 / sizes).sum()
    hs_cs = (1.0 / np.arange(big_n - 1, 1, -1)).cumsum()
    h = hs_cs[-1] + 1
    g = (hs_cs / np.arange(2, big_n)).sum()
    a = (4 * g - 6) * (k - 1) + (10 - 6 * g) * h_all
    b = (2 * g - 4) * k**2 + 8 * h * k + (2 * g - 14 * h - 4) * h_all - 8 * h + 4 * g - 6
    c = (6 * h + 2 * g - 2) * k**2 + (4 * h - 4 * g + 6) * k + (2 * h - 6) * h_all + 4 * h
    d = (2 * h + 6) * k**2 - 4 * h * k
    sigmasq = (a * big_n**3 + b * big_n**2 + c * big_n + d) / (
        (big_n - 1.0) * (big_n - 2.0) * (big_n - 3.0)
    )
    m = k - 1
    a2 = (a2akn - m) / math.sqrt(sigmasq)
    critical = _B0 + _B1 / math.sqrt(m) + _B2 / m
    if a2 < critical.min():
        return float(a2), float(_SIG.max()), "The p-value is capped at 0.25 (true value larger)."
    if a2 > critical.max():
        return float(a2), float(_SIG.min()), "The p-value is floored at 0.001 (true value smaller)."
    pf = np.polyfit(critical, np.log(_SIG), 2)
    return float(a2), math.exp(np.polyval(pf, a2)), ""


class AndersonDarling(BatchTest):
    """Two-sample Anderson–Darling test (Scholz–Stephens, mid-rank).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> test = AndersonDarling().fit(rng.normal(size=1000))
        >>> r = test.compare(rng.normal(0, 2, size=500))
        >>> r.drifted, r.p_value
        (True, 0.001)
    """

    name = "anderson"
    kinds = (FeatureKind.NUMERIC,)
    default_threshold = 0.05
    default_min_effect = 0.1
    effect_name = "Wasserstein/σ"
    min_n = 2

    def _compute(
        self, ref: NumericSample, cur: NumericSample
    ) -> tuple[float | None, float | None, float | None, str]:
        a2, p, note = anderson_ksamp_2(ref, cur)
        if not math.isfinite(a2):
            return None, None, None, note
        effect, effect_note = numeric_effect(ref, cur)
        return a2, p, effect, " ".join(x for x in (note, effect_note) if x)
