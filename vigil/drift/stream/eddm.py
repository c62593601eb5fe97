"""EDDM: drift detection on the distance between errors in a stream of 0/1 errors."""

from __future__ import annotations

from typing import Any, ClassVar

from vigil.drift.stream.base import Param, StreamDetector, positive
from vigil.errors import InvalidParameterError


class EDDM(StreamDetector):
    """Early Drift Detection Method (River's ``EDDM``) for a stream of errors (1) and hits (0).

    Tracks the mean distance between consecutive errors; alarms when it shrinks below
    ``beta`` of its best value (warning below ``alpha``).

    Args:
        warm_start: errors seen before the first alarm is possible.
        alpha: warning ratio, in (0, 1].
        beta: drift ratio, in (0, 1]; ≤ ``alpha``.

    References:
        Baena-García et al. "Early drift detection method." Fourth International Workshop
        on Knowledge Discovery from Data Streams, 2006.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> det = EDDM()
        >>> errors = np.concatenate([rng.random(2000) < 0.05, rng.random(2000) < 0.5])
        >>> hits = det.update_many(errors)
        >>> any(2000 <= h < 2300 for h in hits)
        True
    """

    name = "eddm"
    binary = True
    river_class = "river.drift.binary:EDDM"
    params_spec: ClassVar[dict[str, Param]] = {
        "warm_start": Param(30, positive, "a positive integer", int),
        "alpha": Param(0.95, lambda v: 0 < v <= 1, "a float in (0, 1]", float),
        "beta": Param(0.9, lambda v: 0 < v <= 1, "a float in (0, 1]", float),
    }

    def _check(self, params: dict[str, Any]) -> None:
        if params["beta"] > params["alpha"]:
            raise InvalidParameterError(
                "The 'beta' (drift) parameter of EDDM must not exceed 'alpha' (warning). "
                f"Got beta={params['beta']} > alpha={params['alpha']}."
            )
