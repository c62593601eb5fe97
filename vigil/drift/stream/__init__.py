"""Online concept-drift detectors: River's detectors behind one resumable, batch API.

Feed a stream of model errors (0/1, for ``ddm``, ``eddm``, ``hddm_a``, ``hddm_w``) or of
metric values (``adwin``, ``page_hinkley``, ``kswin``) with ``update(x)`` or
``update_many(array)``; read ``drift_detected``; save with ``to_state()`` and resume with
``StreamDetector.from_state(state)``. River is imported when a detector is built, not when
this package is imported.
"""

from __future__ import annotations

from vigil.drift.stream.adwin import ADWIN
from vigil.drift.stream.base import DetectorStateError, StreamDetector
from vigil.drift.stream.ddm import DDM
from vigil.drift.stream.eddm import EDDM
from vigil.drift.stream.hddm import HDDM_A, HDDM_W
from vigil.drift.stream.kswin import KSWIN
from vigil.drift.stream.page_hinkley import PageHinkley
from vigil.drift.stream.registry import DETECTORS, make_detector

__all__ = [
    "ADWIN",
    "DDM",
    "DETECTORS",
    "EDDM",
    "HDDM_A",
    "HDDM_W",
    "KSWIN",
    "DetectorStateError",
    "PageHinkley",
    "StreamDetector",
    "make_detector",
]
