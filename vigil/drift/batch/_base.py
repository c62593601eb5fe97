"""The batch-test contract: ``fit(reference)`` once, ``compare(current)`` per window.

Every test stores its fitted state in attributes ending in ``_`` and returns a
:class:`DriftTestResult`. Tests with a p-value flag drift when ``p < threshold`` and the
effect size reaches ``min_effect``; distances flag drift when the distance reaches
``threshold`` (the distance is its own effect size).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, overload

import numpy as np

from vigil.errors import InvalidParameterError, VigilError
from vigil.schema import FeatureKind

from ._sample import CategoricalSample, NumericSample

Sample = NumericSample | CategoricalSample


class NotFittedError(VigilError, AttributeError):
    """``compare`` was called before ``fit``."""

    code = "not_fitted"


@dataclass(frozen=True, slots=True)
class DriftTestResult:
    """What one test found on one column.

    Attributes:
        method: the catalog name of the test (``"ks"``, ``"psi"``, ...).
        statistic: the test statistic or distance; None when the column was not tested.
        p_value: the p-value, or None for distances and untested columns.
        effect_size: a sample-size-free measure of how much changed (see each test).
        threshold: significance level for tests, distance threshold for distances.
        drifted: the verdict.
        n_reference: values used from the reference (missing/infinite ones excluded).
        n_current: values used from the current window.
        reason: a sentence explaining the verdict and any data problem met.
    """

    method: str
    statistic: float | None
    p_value: float | None
    effect_size: float | None
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


class BatchTest:
    """Base of every batch drift test; subclasses implement :meth:`_compute`.

    Args:
        threshold: significance level (tests) or distance threshold (distances); None uses
            the class default.
        min_effect: smallest effect size that counts as drift (tests only); None uses the
            class default.
        kind: ``"numeric"`` or ``"categorical"`` for tests that accept both; None infers
            it from the reference's dtype.
    """

    name: ClassVar[str] = ""
    kinds: ClassVar[tuple[FeatureKind, ...]] = (FeatureKind.NUMERIC,)
    default_threshold: ClassVar[float] = 0.05
    default_min_effect: ClassVar[float] = 0.0
    has_p_value: ClassVar[bool] = True
    effect_name: ClassVar[str] = ""
    min_n: ClassVar[int] = 1

    def __init__(
        self,
        threshold: float | None = None,
        *,
        min_effect: float | None = None,
        kind: FeatureKind | str | None = None,
    ) -> None:
        self.threshold = self.default_threshold if threshold is None else threshold
        self.min_effect = self.default_min_effect if min_effect is None else min_effect
        upper = 1.0 if self.has_p_value else math.inf
        if not isinstance(self.threshold, int | float) or not 0 < self.threshold < upper:
            interval = "(0, 1)" if self.has_p_value else "(0, inf)"
            raise InvalidParameterError(
                f"The 'threshold' parameter of {self.name} must be a float in {interval}. "
                f"Got {self.threshold!r} instead."
            )
        if not isinstance(self.min_effect, int | float) or not 0 <= self.min_effect < math.inf:
            raise InvalidParameterError(
                f"The 'min_effect' parameter of {self.name} must be a float in [0, inf). "
                f"Got {self.min_effect!r} instead."
            )
        self.kind = None if kind is None else FeatureKind(kind)
        if self.kind is not None and self.kind not in self.kinds:
            allowed = ", ".join(k.value for k in self.kinds)
            raise InvalidParameterError(
                f"{self.name} compares {allowed} columns. Got kind {self.kind.value!r}."
            )

    # -- fitting -----------------------------------------------------------------------
    def _prepare(self, values: Any) -> Sample:
        if isinstance(values, NumericSample | CategoricalSample):
            return values
        kind = self.kind
        if kind is None:
            arr = np.asarray(values)
            numeric = arr.dtype.kind in "fiu"
            kind = FeatureKind.NUMERIC if numeric else FeatureKind.CATEGORICAL
            if kind not in self.kinds:
                kind = self.kinds[0]
        if kind is FeatureKind.NUMERIC:
            return NumericSample(values)
        return CategoricalSample(values)

    def fit(self, reference: Any) -> BatchTest:
        """Prepare the reference once; returns the test itself.

        Args:
            reference: an array-like of values or a prepared sample.
        """
        ref = self._prepare(reference)
        kind = FeatureKind.NUMERIC if isinstance(ref, NumericSample) else FeatureKind.CATEGORICAL
        if kind not in self.kinds:
            allowed = ", ".join(k.value for k in self.kinds)
            raise InvalidParameterError(
                f"{self.name} compares {allowed} columns. Got a {kind.value} reference."
            )
        self.kind_ = kind
        self.reference_ = ref
        self._fit(ref)
        return self

    def _fit(self, ref: Any) -> None:
        """Hook for extra fitted state (bin edges, ...)."""

    # -- comparing ---------------------------------------------------------------------
    def compare(self, current: Any) -> DriftTestResult:
        """Compare a current window with the fitted reference.

        Args:
            current: an array-like of values or a prepared sample of the same kind.
        """
        if not hasattr(self, "reference_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call fit(reference) first."
            )
        ref = self.reference_
        cur = self._prepare(current) if not isinstance(current, type(ref)) else current
        if not isinstance(cur, type(ref)):
            raise InvalidParameterError(
                f"{self.name} was fitted on a {self.kind_.value} reference; the current "
                f"window must be of the same kind. Got {type(cur).__name__}."
            )
        notes = _data_notes(ref, cur)
        for label, sample in (("reference", ref), ("current window", cur)):
            if sample.n < self.min_n:
                need = "no usable values" if sample.n == 0 else f"only {sample.n} usable values"
                return self._untested(
                    f"The {label} has {need} ({self.name} needs at least {self.min_n}); "
                    "not tested." + notes,
                    cur.n,
                )
        statistic, p_value, effect, note = self._compute(ref, cur)
        if statistic is None or not math.isfinite(statistic):
            reason = (note or f"{self.name} is undefined here; not tested.") + notes
            return self._untested(reason, cur.n)
        if p_value is not None and not math.isfinite(p_value):
            return self._untested(f"{self.name} gave no p-value; not tested." + notes, cur.n)
        if effect is not None and not math.isfinite(effect):
            effect = None
        effect = _residue_to_zero(effect)
        if not self.has_p_value:  # a distance is its own effect size
            statistic = _residue_to_zero(statistic)
        drifted, reason = self.decide(statistic, p_value, effect)
        return DriftTestResult(
            method=self.name,
            statistic=float(statistic),
            p_value=None if p_value is None else float(p_value),
            effect_size=None if effect is None else float(effect),
            threshold=float(self.threshold),
            drifted=drifted,
            n_reference=ref.n,
            n_current=cur.n,
            reason=reason + (f" {note}" if note else "") + notes,
        )

    def decide(
        self, statistic: float, p_value: float | None, effect: float | None
    ) -> tuple[bool, str]:
        """The verdict and its reason from a statistic, p-value and effect size."""
        if p_value is None:
            drifted = statistic >= self.threshold
            rel = ">=" if drifted else "<"
            limit = _fmt(self.threshold)
            return drifted, f"{self.name} = {_fmt(statistic)} {rel} threshold {limit}."
        significant = p_value < self.threshold
        large = effect is None or effect >= self.min_effect
        sig = f"p = {_fmt(p_value)} {'<' if significant else '>='} {_fmt(self.threshold)}"
        eff = ""
        if effect is not None:
            eff = (
                f"; {self.effect_name} = {_fmt(effect)} "
                f"{'>=' if large else '<'} minimum {_fmt(self.min_effect)}"
            )
        if significant and large:
            verdict = "drift"
        elif significant:
            verdict = "no drift (significant but the effect is too small to matter)"
        else:
            verdict = "no drift"
        return significant and large, f"{verdict}: {sig}{eff}."

    def _untested(self, reason: str, cur_n: int) -> DriftTestResult:
        ref = self.reference_
        return DriftTestResult(
            method=self.name,
            statistic=None,
            p_value=None,
            effect_size=None,
            threshold=float(self.threshold),
            drifted=False,
            n_reference=ref.n,
            n_current=cur_n,
            reason=reason,
        )

    def _compute(self, ref: Any, cur: Any) -> tuple[float | None, float | None, float | None, str]:
        """Return ``(statistic, p_value, effect_size, note)``."""
        raise NotImplementedError


RESIDUE = 1e-12
"""Effect sizes (in reference standard deviations, shares or distances) this close to 0
are floating-point residue: identical columns report exactly 0, never -1.6e-18."""


@overload
def _residue_to_zero(value: float) -> float: ...


@overload
def _residue_to_zero(value: None) -> None: ...


def _residue_to_zero(value: float | None) -> float | None:
    return 0.0 if value is not None and abs(value) < RESIDUE else value


def _data_notes(ref: Sample, cur: Sample) -> str:
    parts = []
    for label, s in (("reference", ref), ("current", cur)):
        if isinstance(s, NumericSample):
            if s.n_missing:
                parts.append(f"{s.n_missing} missing {label} values ignored")
            if s.n_infinite:
                parts.append(f"{s.n_infinite} infinite {label} values ignored")
    return (" " + "; ".join(parts) + ".") if parts else ""


def numeric_effect(ref: NumericSample, cur: NumericSample) -> tuple[float, str]:
    """Wasserstein-1 distance in reference standard deviations, with a note if unscaled.

    This is the effect size of every continuous test: a pure shift of ``δσ`` gives ``δ``.
    """
    from .wasserstein import wasserstein_sorted

    w = wasserstein_sorted(ref, cur)
    if ref.std > 0:
        return w / ref.std, ""
    return w, "The reference is constant, so the effect size is the unscaled Wasserstein distance."
