"""Jensen–Shannon distance (natural log), as :func:`scipy.spatial.distance.jensenshannon`.

``JS = sqrt((KL(r ‖ a) + KL(c ‖ a)) / 2)`` with ``a = (r + c) / 2`` over common bins; it
lies in [0, sqrt(ln 2)] and needs no smoothing. Default threshold 0.1.

References:
    Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Transactions
    on Information Theory 37(1), 145–151.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import distance as sp_distance

from ._binned import BinnedDistance


class JensenShannon(BinnedDistance):
    """Jensen–Shannon distance between binned distributions.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> r = JensenShannon().fit(rng.normal(size=5000)).compare(rng.normal(1, 1, size=5000))
        >>> r.drifted, round(r.statistic, 2)
        (True, 0.33)
    """

    name = "jensenshannon"
    effect_name = "Jensen–Shannon distance"

    def distance(self, p_ref: np.ndarray, p_cur: np.ndarray) -> float:
        return float(sp_distance.jensenshannon(p_ref, p_cur))
