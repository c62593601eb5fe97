"""Total variation distance: the share of probability mass that moved.

``TV = ½ Σ_b |r_b - c_b|``, in [0, 1]. Default threshold 0.1.

References:
    Levin, D. A., Peres, Y. and Wilmer, E. L. (2009). Markov Chains and Mixing Times,
    §4.1. American Mathematical Society.
"""

from __future__ import annotations

import numpy as np

from ._binned import BinnedDistance


def total_variation(p_ref: np.ndarray, p_cur: np.ndarray) -> float:
    """``½ Σ |p_ref - p_cur|``."""
    return float(0.5 * np.abs(p_ref - p_cur).sum())


class TotalVariation(BinnedDistance):
    """Total variation distance between binned distributions.

    Examples:
        >>> test = TotalVariation().fit(["a"] * 50 + ["b"] * 50)
        >>> r = test.compare(["a"] * 80 + ["b"] * 20)
        >>> r.drifted, round(r.statistic, 2)
        (True, 0.3)
    """

    name = "tv"
    effect_name = "total variation"

    def distance(self, p_ref: np.ndarray, p_cur: np.ndarray) -> float:
        return total_variation(p_ref, p_cur)
