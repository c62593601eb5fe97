"""Shared base of the distances between binned distributions (PSI, JS, KL, ...).

Numeric columns are cut into equal-frequency bins of the reference (deciles by default;
fewer when values repeat), computed once at fit; categorical columns use the reference's
categories plus any unseen in the window. Both sides become proportions over the same
bins and a subclass turns the two vectors into a distance.
"""

from __future__ import annotations

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.schema import FeatureKind

from ._base import BatchTest
from ._sample import CategoricalSample, NumericSample, aligned_counts


class BinnedDistance(BatchTest):
    """A distance between the binned reference and window distributions.

    Args:
        threshold: distance at or above which the column drifts; None uses the default.
        bins: number of equal-frequency reference bins for numeric columns.
        kind: ``"numeric"`` or ``"categorical"``; None infers it from the dtype.
    """

    kinds = (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL)
    has_p_value = False
    default_threshold = 0.1

    def __init__(
        self,
        threshold: float | None = None,
        *,
        bins: int = 10,
        kind: FeatureKind | str | None = None,
    ) -> None:
        super().__init__(threshold, kind=kind)
        if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
            raise InvalidParameterError(
                f"The 'bins' parameter of {self.name} must be an integer >= 2. "
                f"Got {bins!r} instead."
            )
        self.bins = bins

    def _fit(self, ref: NumericSample | CategoricalSample) -> None:
        if isinstance(ref, NumericSample):
            self.edges_ = ref.bin_edges(self.bins)
            self.reference_counts_ = ref.histogram(self.edges_)

    def proportions(
        self, ref: NumericSample | CategoricalSample, cur: NumericSample | CategoricalSample
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """Reference and window proportions over common bins, with a note on unseen ones."""
        note = ""
        if isinstance(ref, NumericSample):
            rc = self.reference_counts_
            cc = cur.histogram(self.edges_)  # type: ignore[union-attr]
        else:
            _, rc, cc, unseen = aligned_counts(ref, cur)  # type: ignore[arg-type]
            if unseen:
                share = cc[-unseen:].sum() / cc.sum()
                note = f"{unseen} categories unseen in the reference ({share:.1%} of the window)."
        return rc / rc.sum(), cc / cc.sum(), note

    def _compute(
        self, ref: NumericSample | CategoricalSample, cur: NumericSample | CategoricalSample
    ) -> tuple[float | None, float | None, float | None, str]:
        p_ref, p_cur, note = self.proportions(ref, cur)
        d = float(self.distance(p_ref, p_cur))
        return d, None, d, note

    def distance(self, p_ref: np.ndarray, p_cur: np.ndarray) -> float:
        """The distance between two probability vectors over the same bins."""
        raise NotImplementedError


def smooth(p: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Replace empty bins by ``eps`` so logarithms stay finite."""
    return np.where(p == 0, eps, p)
