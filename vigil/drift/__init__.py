"""Drift detection: univariate tests, multivariate and text drift, and the drift report.

``detect_drift(reference, current)`` compares two tables column by column and as a whole;
:class:`DriftDetector` prepares a reference once and compares any number of windows.
"""

from __future__ import annotations

__all__: list[str] = []
