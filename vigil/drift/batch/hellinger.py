"""Hellinger distance between binned distributions.

``H = sqrt(1 - Σ_b sqrt(r_b c_b))``, in [0, 1]. Default threshold 0.1.

References:
    Hellinger, E. (1909). Neue Begründung der Theorie quadratischer Formen von
    unendlichvielen Veränderlichen. Journal für die reine und angewandte Mathematik 136.
"""

from __future__ import annotations

import math

import numpy as np

from ._binned import BinnedDistance


class Hellinger(BinnedDistance):
    """Hellinger distance between binned distributions.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> r = Hellinger().fit(rng.normal(size=5000)).compare(rng.normal(1, 1, size=5000))
        >>> r.drifted, round(r.statistic, 2)
        (True, 0.34)
    """

    name = "hellinger"
    effect_name = "Hellinger distance"

    def distance(self, p_ref: np.ndarray, p_cur: np.ndarray) -> float:
        return math.sqrt(max(1.0 - float(np.sum(np.sqrt(p_ref * p_cur))), 0.0))
