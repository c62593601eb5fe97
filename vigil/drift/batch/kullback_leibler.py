"""Kullback–Leibler divergence of the window from the reference.

``KL(c ‖ r) = Σ_b c_b ln(c_b / r_b)`` — :func:`scipy.stats.entropy` of the smoothed
proportions (empty bins set to 1e-4, then renormalised). Asymmetric and unbounded.
Default threshold 0.1.

References:
    Kullback, S. and Leibler, R. A. (1951). On information and sufficiency. Annals of
    Mathematical Statistics 22(1), 79–86.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ._binned import BinnedDistance, smooth


class KullbackLeibler(BinnedDistance):
    """Kullback–Leibler divergence ``KL(current ‖ reference)`` over common bins.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> r = KullbackLeibler().fit(rng.normal(size=5000)).compare(rng.normal(1, 1, size=5000))
        >>> r.drifted, round(r.statistic, 1)
        (True, 0.5)
    """

    name = "kl"
    effect_name = "KL divergence"

    def distance(self, p_ref: np.ndarray, p_cur: np.ndarray) -> float:
        return float(stats.entropy(smooth(p_cur), smooth(p_ref)))
