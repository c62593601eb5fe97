"""Chi-squared test of homogeneity for categorical columns.

The 2 × K table of reference and window counts over the reference's categories plus the
window's unseen ones goes to :func:`scipy.stats.chi2_contingency` (Yates' correction when
K = 2, as scipy does by default). The reference counts are prepared once. Threshold
p < 0.05; effect size: total variation distance between the category proportions (the
share of mass that moved; minimum 0.05), which unlike Cramér's V does not depend on the
ratio of the two sample sizes.

References:
    Pearson, K. (1900). On the criterion that a given system of deviations from the
    probable ... Philosophical Magazine 50(302), 157–175.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from vigil.schema import FeatureKind

from ._base import BatchTest
from ._sample import CategoricalSample, aligned_counts
from .total_variation import total_variation


class ChiSquared(BatchTest):
    """Chi-squared test of homogeneity on category counts.

    Examples:
        >>> test = ChiSquared().fit(["a"] * 500 + ["b"] * 300 + ["c"] * 200)
        >>> r = test.compare(["a"] * 300 + ["b"] * 300 + ["c"] * 400)
        >>> r.drifted, round(r.effect_size, 2), r.p_value < 1e-6
        (True, 0.2, True)
    """

    name = "chi2"
    kinds = (FeatureKind.CATEGORICAL,)
    default_threshold = 0.05
    default_min_effect = 0.05
    effect_name = "total variation"

    def _compute(
        self, ref: CategoricalSample, cur: CategoricalSample
    ) -> tuple[float | None, float | None, float | None, str]:
        levels, rc, cc, unseen = aligned_counts(ref, cur)
        notes = []
        if unseen:
            share = cc[-unseen:].sum() / cc.sum()
            notes.append(
                f"{unseen} categories unseen in the reference ({share:.1%} of the window)."
            )
        effect = total_variation(rc / rc.sum(), cc / cc.sum())
        if levels.size < 2:
            return 0.0, 1.0, effect, "Both samples hold a single category."
        statistic, p_value, expected = chi2_homogeneity(rc, cc)
        low = np.mean(expected < 5)
        if low > 0.2:
            notes.append(
                f"{low:.0%} of expected counts are below 5, so the chi-squared "
                "approximation is rough; consider merging rare categories."
            )
        return statistic, p_value, effect, " ".join(notes)


def chi2_homogeneity(rc: np.ndarray, cc: np.ndarray) -> tuple[float, float, np.ndarray]:
    """``(statistic, p-value, expected counts)`` of the 2 × K table ``[rc; cc]``.

    The operations of :func:`scipy.stats.chi2_contingency` in the same order (expected
    counts from the float margins, Yates' correction when K = 2, the sum of
    ``(observed - expected)² / expected``, ``chdtrc`` for the p-value), hence the same
    floats (tested), without its argument checks and result objects (0.3 ms a column,
    most of a categorical column's time in a window). Tables with an empty row or
    column go to scipy itself.
    """
    observed = np.vstack([rc, cc])
    table = observed.astype(np.float64)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True)
    expected = expected / table.sum()
    if not expected.all():
        res = stats.chi2_contingency(observed)
        return float(res.statistic), float(res.pvalue), res.expected_freq
    dof = expected.shape[1] - 1
    if dof == 0:
        return 0.0, 1.0, expected
    if dof == 1:  # Yates' continuity correction, as scipy's default
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    statistic = float(((observed - expected) ** 2 / expected).sum())
    return statistic, float(special.chdtrc(dof, statistic)), expected
