"""Model quality: metrics with labels, label-free estimation, fairness, text answers.

Pure functions on arrays (no I/O); :mod:`vigil.engine.quality.windows` feeds them from the store.
"""

from vigil.quality.cbpe import CBPE
from vigil.quality.classification import (
    average_precision,
    classification_metrics,
    confusion_matrix,
    expected_calibration_error,
    roc_auc,
)
from vigil.quality.fairness import fairness_metrics
from vigil.quality.ranking import ranking_metrics
from vigil.quality.regression import regression_metrics
from vigil.quality.results import EvaluationRun, QualityResult
from vigil.quality.text import text_quality

__all__ = [
    "CBPE",
    "EvaluationRun",
    "QualityResult",
    "average_precision",
    "classification_metrics",
    "confusion_matrix",
    "expected_calibration_error",
    "fairness_metrics",
    "ranking_metrics",
    "regression_metrics",
    "roc_auc",
    "text_quality",
]
