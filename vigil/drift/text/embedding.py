"""Embedding-column drift: a domain classifier (default) or MMD on the vectors.

The classifier is a logistic regression on the raw vectors (fast and strong enough for
sentence embeddings); MMD (:func:`vigil.drift.multivariate.mmd_drift`) is the
kernel alternative. Both report the same fields as a column test, with ``method``
``"embedding_classifier"`` or ``"embedding_mmd"``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vigil.drift.multivariate.domain_classifier import classifier_drift
from vigil.drift.multivariate.mmd import mmd_drift
from vigil.drift.report import MultivariateDrift


def embedding_drift(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    method: str = "classifier",
    alpha: float = 0.05,
    max_rows: int = 5000,
    random_state: int = 0,
) -> MultivariateDrift:
    """Compare two embedding matrices (rows are vectors of the same length).

    Args:
        reference: reference vectors, shape ``(n, d)``.
        current: current vectors, shape ``(m, d)``.
        method: ``"classifier"`` or ``"mmd"``.
        alpha: significance level.
        max_rows: rows per side at most.
        random_state: seed.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> r = embedding_drift(rng.normal(size=(400, 8)), rng.normal(size=(400, 8)) + 0.5)
        >>> r.method, r.drifted
        ('embedding_classifier', True)
    """
    from sklearn.linear_model import LogisticRegression

    if method == "classifier":
        result = classifier_drift(
            reference,
            current,
            model=LogisticRegression(max_iter=1000),
            alpha=alpha,
            max_rows=max_rows,
            random_state=random_state,
        )
    else:
        result = mmd_drift(
            reference,
            current,
            alpha=alpha,
            max_rows=min(max_rows, 500),
            random_state=random_state,
        )
    details = dict(result.details)
    details.pop("columns", None)
    details["dim"] = int(reference.shape[1]) if reference.ndim == 2 else 0
    return replace(result, method=f"embedding_{result.method}", details=details)
