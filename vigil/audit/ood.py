"""Out-of-distribution scoring of model inputs against a reference data set.

Per feature, a numeric value outside the reference's [min, max] and a category the
reference never held are flagged; together, numeric inputs get a Mahalanobis distance
from the reference mean under its (slightly regularised) covariance, so a row whose
values are each ordinary but whose combination is not (broken correlations, a typical
adversarial trait) still scores high. The score is the chi-squared CDF of the squared
distance with as many degrees of freedom as numeric features: about uniform on inputs
like the reference, near 1 on outliers.

References:
    Mahalanobis, P. C. (1936). On the generalised distance in statistics.
    Lee, K. et al. (2018). A simple unified framework for detecting out-of-distribution
    samples and adversarial attacks. NeurIPS.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ref = [{"x": float(a), "y": float(a + rng.normal(0, .1))} for a in rng.normal(size=500)]
    >>> scorer = OODScorer().fit(ref)
    >>> [scorer.score_one(r).is_ood for r in ({"x": .5, "y": .5}, {"x": 1.0, "y": -1.0})]
    [False, True]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError

_MAX_CATEGORIES = 10_000


@dataclass(frozen=True, slots=True)
class OODResult:
    """One input's verdict: its score, Mahalanobis distance and per-feature flags."""

    score: float
    distance: float | None
    flags: tuple[str, ...]
    is_ood: bool


def _records(data: Any) -> list[Mapping[str, Any]]:
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # pandas
        return data.to_dict("records")
    if hasattr(data, "to_dicts"):  # polars
        return data.to_dicts()
    if hasattr(data, "to_pylist"):  # Arrow
        return data.to_pylist()
    return list(data)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class OODScorer:
    """Scores inputs against a reference (see the module docstring).

    Args:
        threshold: a row is out of distribution when its score reaches this (default
            0.999: about one in a thousand in-distribution rows is flagged on distance).
        ridge: added to the covariance's diagonal, relative to each variance.
    """

    def __init__(self, threshold: float = 0.999, ridge: float = 1e-3) -> None:
        if not 0 < threshold < 1:
            raise InvalidParameterError(
                f"The 'threshold' of OODScorer must be in (0, 1). Got {threshold!r}."
            )
        self.threshold = threshold
        self.ridge = ridge

    def fit(self, reference: Any) -> OODScorer:
        """Learn ranges, categories and the numeric mean and covariance."""
        rows = _records(reference)
        if len(rows) < 2:
            raise InvalidParameterError(
                f"OODScorer needs a reference of at least 2 rows. Got {len(rows)}."
            )
        names = sorted({k for r in rows for k in r})
        numeric, categories = [], {}
        for name in names:
            values = [r.get(name) for r in rows if r.get(name) is not None]
            if values and all(_is_number(v) for v in values):
                numeric.append(name)
            elif values and all(isinstance(v, str | bool | int) for v in values):
                seen = set(map(str, values))
                if len(seen) <= _MAX_CATEGORIES:
                    categories[name] = seen
        self.numeric_ = numeric
        self.categories_ = categories
        matrix = np.array(
            [[r.get(n, np.nan) if _is_number(r.get(n)) else np.nan for n in numeric] for r in rows],
            dtype=np.float64,
        )
        matrix = matrix[~np.isnan(matrix).any(axis=1)] if numeric else matrix
        if numeric and len(matrix) < 2:
            raise InvalidParameterError(
                "OODScorer needs at least 2 reference rows with every numeric feature set."
            )
        self.min_ = np.nanmin(matrix, axis=0) if numeric else np.array([])
        self.max_ = np.nanmax(matrix, axis=0) if numeric else np.array([])
        if numeric:
            self.mean_ = matrix.mean(axis=0)
            cov = np.atleast_2d(np.cov(matrix, rowvar=False))
            cov = cov + np.diag(self.ridge * np.maximum(np.diag(cov), 1e-12))
            self.precision_ = np.linalg.pinv(cov)
        return self

    def score(self, data: Any) -> list[OODResult]:
        """Score every row of ``data`` (records, pandas, polars or Arrow), vectorised."""
        from scipy.stats import chi2

        if not hasattr(self, "numeric_"):
            raise InvalidParameterError("Call OODScorer.fit(reference) before scoring.")
        rows = _records(data)
        if not rows:
            return []
        k = len(self.numeric_)
        matrix = np.array(
            [
                [float(r[n]) if _is_number(r.get(n)) else np.nan for n in self.numeric_]
                for r in rows
            ],
            dtype=np.float64,
        ).reshape(len(rows), k)
        below = matrix < self.min_
        above = matrix > self.max_
        complete = ~np.isnan(matrix).any(axis=1) if k else np.zeros(len(rows), dtype=bool)
        scores = np.zeros(len(rows))
        distances = np.full(len(rows), np.nan)
        if k and complete.any():
            diff = matrix[complete] - self.mean_
            d2 = np.maximum(np.einsum("ij,jk,ik->i", diff, self.precision_, diff), 0.0)
            distances[complete] = np.sqrt(d2)
            scores[complete] = chi2.cdf(d2, df=k)
        out = []
        for i, row in enumerate(rows):
            flags = []
            for j, name in enumerate(self.numeric_):
                if below[i, j]:
                    flags.append(
                        f"{name}: {matrix[i, j]!r} below the reference minimum {self.min_[j]:.4g}"
                    )
                elif above[i, j]:
                    flags.append(
                        f"{name}: {matrix[i, j]!r} above the reference maximum {self.max_[j]:.4g}"
                    )
            for name, seen in self.categories_.items():
                value = row.get(name)
                if value is not None and str(value) not in seen:
                    flags.append(
                        f"{name}: category {str(value)[:50]!r} never seen in the reference"
                    )
            score = round(float(scores[i]), 6)
            distance = None if np.isnan(distances[i]) else round(float(distances[i]), 6)
            out.append(
                OODResult(score, distance, tuple(flags), score >= self.threshold or bool(flags))
            )
        return out

    def score_one(self, row: Mapping[str, Any]) -> OODResult:
        """Score one input mapping."""
        return self.score([row])[0]
