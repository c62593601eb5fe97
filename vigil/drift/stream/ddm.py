"""DDM: drift detection on the error rate of a stream of 0/1 errors."""

from __future__ import annotations

from typing import Any, ClassVar

from vigil.drift.stream.base import Param, StreamDetector, positive
from vigil.errors import InvalidParameterError


class DDM(StreamDetector):
    """Drift Detection Method (River's ``DDM``) for a stream of errors (1) and hits (0).

    Alarms when the error rate ``p`` plus its standard deviation ``s`` exceeds the best
    ``p_min + drift_threshold·s_min`` seen.

    Args:
        warm_start: values seen before the first alarm is possible.
        warning_threshold: multiplier of ``s_min`` for the warning zone.
        drift_threshold: multiplier of ``s_min`` for drift; ≥ ``warning_threshold``.

    References:
        Gama, Medas, Castillo, Rodrigues. "Learning with drift detection." SBIA 2004.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> det = DDM()
        >>> errors = np.concatenate([rng.random(1000) < 0.1, rng.random(1000) < 0.5])
        >>> hits = det.update_many(errors)
        >>> 1000 <= hits[0] < 1100
        True
    """

    name = "ddm"
    binary = True
    river_class = "river.drift.binary:DDM"
    params_spec: ClassVar[dict[str, Param]] = {
        "warm_start": Param(30, positive, "a positive integer", int),
        "warning_threshold": Param(2.0, positive, "a float > 0", float),
        "drift_threshold": Param(3.0, positive, "a float > 0", float),
    }

    def _check(self, params: dict[str, Any]) -> None:
        if params["warning_threshold"] > params["drift_threshold"]:
            raise InvalidParameterError(
                "The 'warning_threshold' parameter of DDM must not exceed 'drift_threshold'. "
                f"Got {params['warning_threshold']} > {params['drift_threshold']}."
            )
