"""KSWIN: Kolmogorov–Smirnov test on a sliding window of real values."""

from __future__ import annotations

from typing import Any, ClassVar

from vigil.drift.stream.base import Param, StreamDetector, unit_open
from vigil.errors import InvalidParameterError


class KSWIN(StreamDetector):
    """Kolmogorov–Smirnov windowing detector (River's ``KSWIN``) for metric values.

    Compares the newest ``stat_size`` values of a sliding window with a random sample of
    the older ones by a two-sample KS test.

    Args:
        alpha: significance of the KS test, in (0, 1).
        window_size: length of the sliding window.
        stat_size: length of the newest part tested; smaller than ``window_size``.
        seed: seed of the sampling of the older part (None: not reproducible).

    References:
        Raab, Heusinger, Schleif. "Reactive soft prototype computing for concept drift
        streams." Neurocomputing 416 (2020).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> det = KSWIN(seed=1)
        >>> stream = np.concatenate([rng.normal(0, 1, 300), rng.normal(4, 1, 300)])
        >>> hits = det.update_many(stream)
        >>> any(300 <= h < 340 for h in hits)
        True
    """

    name = "kswin"
    river_class = "river.drift:KSWIN"
    params_spec: ClassVar[dict[str, Param]] = {
        "alpha": Param(0.005, unit_open, "a float in (0, 1)", float),
        "window_size": Param(100, lambda v: v >= 2, "an integer ≥ 2", int),
        "stat_size": Param(30, lambda v: v >= 1, "a positive integer", int),
        "seed": Param(None, lambda v: True, "an integer or None", "int?"),
    }

    def _check(self, params: dict[str, Any]) -> None:
        if params["stat_size"] >= params["window_size"]:
            raise InvalidParameterError(
                "The 'stat_size' parameter of KSWIN must be smaller than 'window_size'. "
                f"Got stat_size={params['stat_size']} and window_size={params['window_size']}."
            )
