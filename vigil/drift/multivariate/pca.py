"""PCA reconstruction-error drift: do current rows leave the reference's subspace?

Columns are standardised by the reference; a PCA keeping ``variance`` of the reference
variance is fitted on half the reference; the other half gives the reference distribution
of reconstruction errors (so the reference is not judged on rows it was fitted on). The
current rows' errors are compared with it by a one-sided Mann–Whitney test
(:func:`scipy.stats.mannwhitneyu`, larger errors). Effect size: the ratio of mean errors,
current / reference; drift needs ``p < alpha`` and ratio >= ``min_ratio`` (default 1.1).
It catches broken correlations that no single column shows.

References:
    Jolliffe, I. T. (2002). Principal Component Analysis, §10.1. Springer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from vigil.drift.report import MultivariateDrift


def pca_drift(
    x_ref: np.ndarray,
    x_cur: np.ndarray,
    *,
    alpha: float = 0.05,
    min_ratio: float = 1.1,
    variance: float = 0.9,
    max_rows: int = 20000,
    random_state: int = 0,
    columns: list[str] | None = None,
) -> MultivariateDrift:
    """Reconstruction-error drift between two numeric matrices (NaN rows are dropped).

    Args:
        x_ref: reference rows.
        x_cur: current rows with the same columns.
        alpha: significance level.
        min_ratio: the mean-error ratio a significant result must reach.
        variance: share of reference variance the components keep (at most all but one
            component, so there is always a residual).
        max_rows: rows used per side at most.
        random_state: seed for subsampling and the split.
        columns: column names, reported in ``details``.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(1000, 1))
        >>> ref = np.hstack([z, z + 0.1 * rng.normal(size=(1000, 1))])
        >>> cur = rng.normal(size=(1000, 2))  # same marginals, correlation gone
        >>> r = pca_drift(ref, cur)
        >>> r.drifted, r.effect_size > 5
        (True, True)
    """
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(random_state)
    x_ref = np.asarray(x_ref, dtype=np.float64)
    x_cur = np.asarray(x_cur, dtype=np.float64)
    x_ref = x_ref[np.all(np.isfinite(x_ref), axis=1)]
    x_cur = x_cur[np.all(np.isfinite(x_cur), axis=1)]
    n_ref, n_cur = x_ref.shape[0], x_cur.shape[0]
    details: dict[str, Any] = {"columns": columns or []}
    if n_ref < 20 or n_cur < 5 or x_ref.shape[1] < 2:
        return MultivariateDrift(
            "pca",
            None,
            None,
            None,
            alpha,
            min_ratio,
            False,
            n_ref,
            n_cur,
            "Needs at least 2 numeric columns, 20 complete reference rows and 5 current "
            f"rows; got {x_ref.shape[1]} columns, {n_ref} and {n_cur} rows. Not tested.",
            details,
        )
    idx = rng.permutation(n_ref)[: min(n_ref, max_rows)]
    half = idx.size // 2
    mu, sd = x_ref.mean(axis=0), x_ref.std(axis=0)
    sd[sd == 0] = 1.0
    fit_rows = (x_ref[idx[:half]] - mu) / sd
    held = (x_ref[idx[half:]] - mu) / sd
    cur = (x_cur[rng.permutation(n_cur)[:max_rows]] - mu) / sd
    pca = PCA(svd_solver="full", random_state=random_state).fit(fit_rows)
    cum = np.cumsum(pca.explained_variance_ratio_)
    k = int(min(np.searchsorted(cum, variance) + 1, x_ref.shape[1] - 1))
    basis, centre = pca.components_[:k], pca.mean_

    def errors(x: np.ndarray) -> np.ndarray:
        z = x - centre
        return np.sum((z - (z @ basis.T) @ basis) ** 2, axis=1)

    e_ref, e_cur = errors(held), errors(cur)
    p = float(stats.mannwhitneyu(e_cur, e_ref, alternative="greater").pvalue)
    ratio = float(e_cur.mean() / max(e_ref.mean(), 1e-12))
    drifted = p < alpha and ratio >= min_ratio
    details.update(
        {
            "components": k,
            "mean_error_reference": float(e_ref.mean()),
            "mean_error_current": float(e_cur.mean()),
        }
    )
    reason = (
        f"{'drift' if drifted else 'no drift'}: current rows reconstruct {ratio:.3g}× as "
        f"badly as held-out reference rows from {k} of {x_ref.shape[1]} components "
        f"(p = {p:.3g}; drift needs p < {alpha:g} and ratio >= {min_ratio:g})."
    )
    return MultivariateDrift(
        "pca", ratio, p, ratio, alpha, min_ratio, drifted, n_ref, n_cur, reason, details
    )
