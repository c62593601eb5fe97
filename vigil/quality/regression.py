"""Regression quality from labels: MAE, RMSE, MAPE, R² and mean error (bias).

MAE, RMSE, MAPE and R² match scikit-learn's ``mean_absolute_error``,
``root_mean_squared_error``, ``mean_absolute_percentage_error`` (denominator
``max(|y|, machine epsilon)``, a fraction, not a percentage) and ``r2_score`` (1.0 for a
perfect fit of a constant target, 0.0 for an imperfect one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.quality._common import as_1d, finite, same_length
from vigil.quality.results import QualityResult


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """MAE, RMSE, MAPE, R² and mean error (``mean(y_pred − y_true)``, positive when the
    model over-predicts).

    Examples:
        >>> m = regression_metrics([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0])
        >>> m["mae"], round(m["rmse"], 4), round(m["r2"], 4), m["mean_error"]
        (0.5, 0.6124, 0.9486, 0.25)
    """
    t = as_1d(y_true, "y_true", numeric=True)
    p = as_1d(y_pred, "y_pred", numeric=True)
    n = same_length(y_true=t, y_pred=p)
    err = p - t
    eps = np.finfo(np.float64).eps
    ss_res = float((err**2).sum())
    ss_tot = float(((t - t.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else 0.0)
    return QualityResult(
        {
            "n": n,
            "mae": finite(np.abs(err).mean()),
            "rmse": finite(np.sqrt((err**2).mean())),
            "mape": finite((np.abs(err) / np.maximum(np.abs(t), eps)).mean()),
            "r2": finite(r2),
            "mean_error": finite(err.mean()),
        },
        title="Regression metrics",
    )
