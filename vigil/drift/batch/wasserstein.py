"""Wasserstein-1 distance normalised by the reference standard deviation.

``W1 = ∫ |F_ref(x) - F_cur(x)| dx``, divided by the reference's σ so it reads as "how many
reference standard deviations the mass moved" (a shift of 0.2σ gives 0.2). Computed in
``O(m log n)`` per window from the running integral of the reference ECDF prepared once;
equal to :func:`scipy.stats.wasserstein_distance` up to rounding. Default threshold 0.1.
With a constant reference (σ = 0) the distance is reported unscaled.

References:
    Villani, C. (2009). Optimal Transport: Old and New, ch. 6. Springer.
"""

from __future__ import annotations

import numpy as np

from vigil.schema import FeatureKind

from ._base import BatchTest
from ._sample import NumericSample


def wasserstein_sorted(ref: NumericSample, cur: NumericSample) -> float:
    """Unscaled W1 between two prepared samples, ``O(m log n)`` given the reference."""
    u, v = ref.sorted, cur.sorted
    n, m = u.size, v.size
    if n == 0 or m == 0:
        return float("nan")
    big = max(u[-1], v[-1])
    h_v = ref.integral_to(v)
    left = h_v[0]
    right = (np.longdouble(big) - v[-1]) - (ref.integral_to(np.array([big]))[0] - h_v[-1])
    lo = min(u[0], v[0])
    if m == 1:
        return _floor(float(left + right), big - lo)
    a, b = v[:-1], v[1:]
    j = np.arange(1, m, dtype=np.int64)
    c = j.astype(np.longdouble) / m
    kstar = (j * n + m - 1) // m  # ceil(j n / m): first k with k/n >= j/m
    q = u[np.minimum(kstar, n) - 1]
    mid = np.clip(q, a, b)
    h_a, h_b, h_mid = h_v[:-1], h_v[1:], ref.integral_to(mid)
    al, bl, ml = (x.astype(np.longdouble) for x in (a, b, mid))
    pieces = c * (ml - al) - (h_mid - h_a) + (h_b - h_mid) - c * (bl - ml)
    return _floor(float(left + right + pieces.sum()), big - lo)


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
