"""HDDM_A and HDDM_W: Hoeffding-bound drift detection on a stream of 0/1 errors."""

from __future__ import annotations

from typing import Any, ClassVar

from vigil.drift.stream.base import Param, StreamDetector, unit_open
from vigil.errors import InvalidParameterError


def _check_confidences(name: str, params: dict[str, Any]) -> None:
    if params["warning_confidence"] < params["drift_confidence"]:
        raise InvalidParameterError(
            f"The 'warning_confidence' parameter of {name} must be ≥ 'drift_confidence'. "
            f"Got {params['warning_confidence']} < {params['drift_confidence']}."
        )


_COMMON = {
    "drift_confidence": Param(0.001, unit_open, "a float in (0, 1)", float),
    "warning_confidence": Param(0.005, unit_open, "a float in (0, 1)", float),
    "two_sided_test": Param(False, lambda v: True, "True or False", bool),
}


class HDDM_A(StreamDetector):
    """HDDM with A-test (River's ``HDDMA``): Hoeffding bound on moving averages of errors.

    Args:
        drift_confidence: confidence level of drift, in (0, 1).
        warning_confidence: confidence level of warning, in (0, 1); ≥ ``drift_confidence``.
        two_sided_test: also detect a fall of the error rate.

    References:
        Frías-Blanco et al. "Online and non-parametric drift detection methods based on
        Hoeffding's bounds." IEEE TKDE 27(3), 2015.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> det = HDDM_A()
        >>> errors = np.concatenate([rng.random(1000) < 0.1, rng.random(1000) < 0.5])
        >>> hits = det.update_many(errors)
        >>> 1000 <= hits[0] < 1100
        True
    """

    name = "hddm_a"
    binary = True
    river_class = "river.drift.binary:HDDMA"
    params_spec: ClassVar[dict[str, Param]] = dict(_COMMON)

    def _check(self, params: dict[str, Any]) -> None:
        _check_confidences("HDDM_A", params)


class HDDM_W(StreamDetector):
    """HDDM with W-test (River's ``HDDMW``): Hoeffding bound on EWMA of errors.

    Args:
        drift_confidence: confidence level of drift, in (0, 1).
        warning_confidence: confidence level of warning, in (0, 1); ≥ ``drift_confidence``.
        lambda_val: weight of the newest value in the EWMA, in (0, 1].
        two_sided_test: also detect a fall of the error rate.

    References:
        Frías-Blanco et al. "Online and non-parametric drift detection methods based on
        Hoeffding's bounds." IEEE TKDE 27(3), 2015.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> det = HDDM_W()
        >>> errors = np.concatenate([rng.random(1000) < 0.1, rng.random(1000) < 0.5])
        >>> hits = det.update_many(errors)
        >>> 1000 <= hits[0] < 1100
        True
    """

    name = "hddm_w"
    binary = True
    river_class = "river.drift.binary:HDDMW"
    params_spec: ClassVar[dict[str, Param]] = {
        **_COMMON,
        "lambda_val": Param(0.05, lambda v: 0 < v <= 1, "a float in (0, 1]", float),
    }

    def _check(self, params: dict[str, Any]) -> None:
        _check_confidences("HDDM_W", params)
