"""Population Stability Index.

``PSI = Σ_b (c_b - r_b) ln(c_b / r_b)`` over reference bins (deciles of the reference for
numeric columns, categories for categorical ones), with empty bins set to 1e-4. Default
threshold 0.1 (the usual reading: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major).

References:
    Yurdakul, B. (2018). Statistical properties of population stability index. PhD
    dissertation, Western Michigan University.
"""

from __future__ import annotations

import numpy as np

from ._binned import BinnedDistance, smooth


class PopulationStabilityIndex(BinnedDistance):
    """Population Stability Index between binned distributions.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> test = PopulationStabilityIndex().fit(rng.normal(size=5000))
        >>> r = test.compare(rng.normal(0.5, 1, size=5000))
        >>> r.drifted, round(r.statistic, 2)
        (True, 0.27)
    """

    name = "psi"
    effect_name = "PSI"

    def distance(self, p_ref: np.ndarray, p_cur: np.ndarray) -> float:
        r, c = smooth(p_ref), smooth(p_cur)
        return float(np.sum((c - r) * np.log(c / r)))
