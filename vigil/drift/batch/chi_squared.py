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
from scipy import stats

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
        table = np.vstack([rc, cc])
        res = stats.chi2_contingency(table)
        low = np.mean(res.expected_freq < 5)
        if low > 0.2:
            notes.append(
                f"{low:.0%} of expected counts are below 5, so the chi-squared "
                "approximation is rough; consider merging rare categories."
            )
        return float(res.statistic), float(res.pvalue), effect, " ".join(notes)
