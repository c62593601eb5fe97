"""Multivariate drift: tests on several columns (or an embedding) at once.

:func:`classifier_drift` (domain classifier, ROC AUC with a confidence bound),
:func:`mmd_drift` (kernel two-sample test by permutation), :func:`pca_drift`
(reconstruction error of a PCA fitted on the reference). scikit-learn is imported only
inside the functions that need it.
"""

from __future__ import annotations

from .domain_classifier import auc_test, classifier_drift
from .mmd import mmd_drift
from .pca import pca_drift

__all__ = ["auc_test", "classifier_drift", "mmd_drift", "pca_drift"]
