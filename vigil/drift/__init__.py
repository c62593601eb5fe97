"""Drift detection: univariate tests, multivariate and text drift, and the drift report.

``detect_drift(reference, current)`` compares two tables column by column and as a whole;
:class:`DriftDetector` prepares a reference once and compares any number of windows. The
batch tests live in :mod:`vigil.drift.batch` (one per module, with a catalog), the
multivariate tests in :mod:`vigil.drift.multivariate`, text and embedding drift in
:mod:`vigil.drift.text`.
"""

from __future__ import annotations

from .batch import CATALOG, BatchTest, DriftTestResult
from .detector import DriftDetector, detect_drift
from .report import ColumnDrift, DriftReport, MultivariateDrift

__all__ = [
    "CATALOG",
    "BatchTest",
    "ColumnDrift",
    "DriftDetector",
    "DriftReport",
    "DriftTestResult",
    "MultivariateDrift",
    "detect_drift",
]
