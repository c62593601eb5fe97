"""The catalog of online detectors and a factory by name."""

from __future__ import annotations

from typing import Any

from vigil.drift.stream.adwin import ADWIN
from vigil.drift.stream.base import StreamDetector
from vigil.drift.stream.ddm import DDM
from vigil.drift.stream.eddm import EDDM
from vigil.drift.stream.hddm import HDDM_A, HDDM_W
from vigil.drift.stream.kswin import KSWIN
from vigil.drift.stream.page_hinkley import PageHinkley
from vigil.errors import InvalidParameterError

DETECTORS: dict[str, type[StreamDetector]] = {
    cls.name: cls for cls in (ADWIN, DDM, EDDM, HDDM_A, HDDM_W, KSWIN, PageHinkley)
}
"""Detector name to class. Binary detectors (``cls.binary``) take 0/1 errors."""


def make_detector(name: str, **params: Any) -> StreamDetector:
    """Build an online drift detector by name with validated parameters.

    Args:
        name: one of :data:`DETECTORS` (case-insensitive; ``-`` and ``_`` are the same).
        **params: the detector's parameters; see its class.

    Raises:
        InvalidParameterError: unknown name, unknown parameter or invalid value.

    Examples:
        >>> det = make_detector("page-hinkley", threshold=20.0)
        >>> det.update(0.5).drift_detected, det.n_seen
        (False, 1)
    """
    key = name.lower().replace("-", "_") if isinstance(name, str) else name
    cls = DETECTORS.get(key)
    if cls is None:
        raise InvalidParameterError(
            f"Unknown drift detector {name!r}. Choose one of {', '.join(sorted(DETECTORS))}."
        )
    return cls(**params)
