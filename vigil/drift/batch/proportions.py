"""Tests for a binary column: two-proportion z-test and Fisher's exact test.

Both compare the share of the first reference level in the two samples.

* ``z``: pooled two-proportion z-test, ``z = (p_c - p_r) / sqrt(p (1 - p) (1/n + 1/m))``,
  two-sided ``p = 2 Φ(-|z|)`` — the same p-value as
  ``scipy.stats.chi2_contingency(table, correction=False)``. Good when every expected
  count is at least 5.
* ``fisher``: :func:`scipy.stats.fisher_exact` on the 2 × 2 table, exact for small counts;
  its statistic is the difference of proportions ``p_c - p_r`` (the odds ratio is
  infinite as soon as a cell is empty).

Threshold p < 0.05; effect size: Cohen's ``h = |2 asin √p_c - 2 asin √p_r|`` (min 0.1),
which treats a move from 1 % to 3 % as larger than one from 50 % to 52 %.

References:
    Cohen, J. (1988). Statistical Power Analysis for the Behavioral Sciences, ch. 6.
    Fisher, R. A. (1922). On the interpretation of χ² from contingency tables. JRSS 85(1).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from vigil.schema import FeatureKind

from ._base import BatchTest
from ._sample import CategoricalSample, aligned_counts


def binary_table(ref: CategoricalSample, cur: CategoricalSample) -> np.ndarray | None:
    """The 2 × 2 table ``[[ref a, ref b], [cur a, cur b]]``, or None when not binary."""
    if ref.levels.size > 2:  # more than two levels whatever the window holds
        return None
    _, rc, cc, _ = aligned_counts(ref, cur)
    if rc.size > 2:
        return None
    if rc.size == 1:
        rc, cc = np.append(rc, 0), np.append(cc, 0)
    return np.vstack([rc, cc])


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's effect size for two proportions."""
    return abs(2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1)))


class _Binary(BatchTest):
    kinds = (FeatureKind.CATEGORICAL,)
    default_threshold = 0.05
    default_min_effect = 0.1
    effect_name = "Cohen's h"

    def _compute(
        self, ref: CategoricalSample, cur: CategoricalSample
    ) -> tuple[float | None, float | None, float | None, str]:
        table = binary_table(ref, cur)
        if table is None:
            k = len(set(ref.levels.tolist()) | set(cur.levels.tolist()))
            return (
                None,
                None,
                None,
                (
                    f"{self.name} needs a binary column; this one has {k} levels (use chi2); "
                    "not tested."
                ),
            )
        n, m = int(table[0].sum()), int(table[1].sum())
        p_ref, p_cur = table[0, 0] / n, table[1, 0] / m
        stat, p = self._test(table, p_ref, p_cur, n, m)
        note = ""
        expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / max(table.sum(), 1)
        if self.name == "z" and expected.min() < 5:
            note = (
                f"An expected count is {expected.min():.2g} (< 5): the z-test's normal "
                "approximation is unreliable here; use 'fisher'."
            )
        return stat, p, cohens_h(p_ref, p_cur), note

    def _test(
        self, table: np.ndarray, p_ref: float, p_cur: float, n: int, m: int
    ) -> tuple[float, float]:
        raise NotImplementedError


class ProportionZ(_Binary):
    """Pooled two-proportion z-test.

    Examples:
        >>> test = ProportionZ().fit(["yes"] * 300 + ["no"] * 700)
        >>> r = test.compare(["yes"] * 400 + ["no"] * 600)
        >>> r.drifted, round(r.statistic, 2), round(r.effect_size, 2)
        (True, -4.69, 0.21)
    """

    name = "z"

    def _test(
        self, table: np.ndarray, p_ref: float, p_cur: float, n: int, m: int
    ) -> tuple[float, float]:
        pooled = table[:, 0].sum() / (n + m)
        if pooled in (0.0, 1.0):
            return 0.0, 1.0
        z = (p_cur - p_ref) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
        return z, float(2 * stats.norm.sf(abs(z)))


class FisherExact(_Binary):
    """Fisher's exact test on the 2 × 2 table.

    Examples:
        >>> test = FisherExact().fit(["yes"] * 3 + ["no"] * 27)
        >>> r = test.compare(["yes"] * 15 + ["no"] * 15)
        >>> r.drifted, round(r.statistic, 2), round(r.p_value, 4)
        (True, -0.4, 0.0015)
    """

    name = "fisher"

    def _test(
        self, table: np.ndarray, p_ref: float, p_cur: float, n: int, m: int
    ) -> tuple[float, float]:
        return float(p_cur - p_ref), float(stats.fisher_exact(table).pvalue)
