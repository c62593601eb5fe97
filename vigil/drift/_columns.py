"""One prepared reference column: its kind, prepared sample and plotting bins.

:class:`PreparedColumn` does the per-column work of :class:`vigil.drift.DriftDetector`:
prepare once at construction, then ``compare`` a window's values into a
:class:`~vigil.drift.report.ColumnDrift` with the raw (uncorrected) verdict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.schema import FeatureKind

from ._frame import as_matrix, as_numeric, is_missing
from .batch import CATALOG, BatchTest, CategoricalSample, NumericSample, auto_method
from .batch._sample import CodedColumn, aligned_counts
from .report import ColumnDrift, MultivariateDrift

_PLOT_BINS = 30
_PLOT_LEVELS = 25


class PreparedColumn:
    """A reference column prepared for any number of comparisons.

    Args:
        name: column name.
        kind: its kind.
        values: the reference values.
        method: a catalog method name or ``"auto"`` (numeric and categorical columns).
        bins: bins of binned distances.
        min_effect: the minimum effect size; None uses the method's default.
        alpha: significance level.
        options: ``max_rows``, ``random_state`` and ``embedding_method``.
    """

    def __init__(
        self,
        name: str,
        kind: FeatureKind,
        values: np.ndarray,
        method: str,
        *,
        bins: int,
        min_effect: float | None,
        alpha: float,
        options: dict[str, Any],
        lazy: bool = False,
    ) -> None:
        self.name, self.kind, self.method, self.bins = name, kind, method, bins
        self.min_effect, self.alpha, self.options = min_effect, alpha, options
        self.notes: list[str] = []
        self._tests: dict[str, BatchTest] = {}
        self.sample: Any
        if kind is FeatureKind.NUMERIC:
            numeric, bad = as_numeric(values)
            if bad:
                self.notes.append(f"{bad} reference values are not numbers and were ignored.")
            self.raw = numeric
            if not lazy:
                self._prepare_numeric()
        elif kind is FeatureKind.CATEGORICAL:
            self.sample = CategoricalSample(values)
            self.raw = values
        elif kind is FeatureKind.TEXT:
            from .text.tfidf import TextReference

            texts = [str(v) for v in values.tolist() if not is_missing(v)]
            self.sample = TextReference(texts, options["random_state"])
            self.n_missing = values.shape[0] - len(texts)
        else:
            self.sample, dropped = as_matrix(values)
            if dropped:
                self.notes.append(
                    f"{dropped} reference vectors were missing, ragged or not finite and "
                    "were ignored."
                )

    def _prepare_numeric(self, out: np.ndarray | None = None) -> None:
        self.sample = NumericSample(self.raw, out)
        s = self.sample.sorted
        lo, hi = (float(s[0]), float(s[-1])) if s.size else (0.0, 1.0)
        self.plot_edges = np.linspace(lo, hi if hi > lo else lo + 1.0, _PLOT_BINS + 1)
        self.plot_edge_list: list[float] = self.plot_edges.tolist()

    @property
    def reference_shares(self) -> list[float]:
        """The reference's shares in :attr:`plot_edges` (numeric columns), once per column."""
        if "_ref_shares" not in self.__dict__:
            plot = _numeric_plot(self.sample, self.sample, self.plot_edges)
            self._ref_shares: list[float] = plot["reference"]
        return self._ref_shares

    def release(self) -> None:
        """Drop a numeric column's sorted reference (prepared again if compared again):
        ``detect_drift`` compares once, so only one column's copy is held at a time."""
        if self.kind is FeatureKind.NUMERIC and "sample" in self.__dict__:
            del self.sample
            self._tests.clear()

    # -- univariate tests ---------------------------------------------------------------
    def _test(self, method: str) -> BatchTest:
        if method not in self._tests:
            entry = CATALOG[method]
            kwargs: dict[str, Any] = {"kind": self.kind}
            if entry.has_p_value:
                kwargs["min_effect"] = self.min_effect
                threshold = self.alpha
            else:
                threshold = None
                if "bins" in entry.cls.__init__.__code__.co_varnames:
                    kwargs["bins"] = self.bins
            self._tests[method] = entry.cls(threshold, **kwargs).fit(self.sample)
        return self._tests[method]

    def compare(self, values: np.ndarray) -> tuple[ColumnDrift, dict[str, Any], str]:
        """The raw verdict on a window's values, the data to plot them, and data notes."""
        if self.kind is FeatureKind.TEXT:
            return self._compare_text(values)
        if self.kind is FeatureKind.EMBEDDING:
            return self._compare_embedding(values)
        notes = list(self.notes)
        if self.kind is FeatureKind.NUMERIC:
            if "sample" not in self.__dict__:
                self._prepare_numeric()
            numeric, bad = as_numeric(values)
            if bad:
                notes.append(f"{bad} current values are not numbers and were ignored.")
            cur: Any = NumericSample(numeric)
        else:
            cur = None
            if isinstance(values, CodedColumn) and values.arrow is not None:
                cur = CategoricalSample.from_arrow(self.sample, values.arrow)
            if cur is None:
                cur = CategoricalSample(values)
        method = self.method
        if method == "auto":
            method = auto_method(self.kind, self.sample, cur)
        test = self._test(method)
        r = test.compare(cur)
        base = (
            test.decide(r.statistic, r.p_value, r.effect_size)[1] if r.statistic is not None else ""
        )
        extra = r.reason[len(base) :].strip() if base and r.reason.startswith(base) else ""
        if extra:
            notes.insert(0, extra)
        reason = r.reason + ("" if not notes else " " + " ".join(notes[1 if extra else 0 :]))
        column = ColumnDrift(
            self.name,
            self.kind.value,
            r.method,
            r.statistic,
            r.p_value,
            None,
            r.effect_size,
            r.threshold,
            test.min_effect if test.has_p_value else None,
            r.drifted,
            r.n_reference,
            r.n_current,
            reason,
        )
        return column, self._plot(cur), " ".join(notes)

    def _compare_text(self, values: np.ndarray) -> tuple[ColumnDrift, dict[str, Any], str]:
        from .text.descriptors import describe
        from .text.tfidf import text_drift

        texts = [str(v) for v in values.tolist() if not is_missing(v)]
        result, details = text_drift(
            self.sample,
            texts,
            alpha=self.alpha,
            max_rows=self.options["max_rows"],
            random_state=self.options["random_state"],
        )
        ref_len = self.sample.descriptors_["length"]
        plot = _numeric_plot(ref_len, NumericSample(describe(texts, frozenset())["length"]))
        plot["label"] = "text length (characters)"
        note = ""
        if result.drifted and details["appeared"]:
            note = f"Terms that mark current texts: {', '.join(details['appeared'][:5])}."
        column = self._from_multivariate(result, details)
        # the effect gates (AUC, each term's h) are inside the combined p-value already
        return _replace(column, min_effect=None), plot, note

    def _compare_embedding(self, values: np.ndarray) -> tuple[ColumnDrift, dict[str, Any], str]:
        from .text.embedding import embedding_drift

        dim = self.sample.shape[1] if self.sample.shape[0] else None
        matrix, dropped = as_matrix(values, dim)
        notes = list(self.notes)
        if dropped:
            notes.append(
                f"{dropped} current vectors were missing, of another length or not finite "
                "and were ignored."
            )
        if min(self.sample.shape[0], matrix.shape[0]) < 20:
            result = MultivariateDrift(
                "embedding_classifier",
                None,
                None,
                None,
                self.alpha,
                0.55,
                False,
                self.sample.shape[0],
                matrix.shape[0],
                f"Needs at least 20 vectors on each side; got {self.sample.shape[0]} and "
                f"{matrix.shape[0]}. Not tested.",
            )
        else:
            result = embedding_drift(
                self.sample,
                matrix,
                method=self.options["embedding_method"],
                alpha=self.alpha,
                max_rows=self.options["max_rows"],
                random_state=self.options["random_state"],
            )
        column = self._from_multivariate(result, dict(result.details))
        if notes:
            column = _with_reason(column, column.reason + " " + " ".join(notes))
        norms = NumericSample(np.linalg.norm(matrix, axis=1) if matrix.size else [])
        ref_norms = NumericSample(np.linalg.norm(self.sample, axis=1) if self.sample.size else [])
        plot = _numeric_plot(ref_norms, norms)
        plot["label"] = "vector norm"
        return column, plot, " ".join(notes)

    def _from_multivariate(self, r: MultivariateDrift, details: dict[str, Any]) -> ColumnDrift:
        return ColumnDrift(
            self.name,
            self.kind.value,
            r.method,
            r.statistic,
            r.p_value,
            None,
            r.effect_size,
            r.threshold,
            r.min_effect,
            r.drifted,
            r.n_reference,
            r.n_current,
            r.reason,
            details,
        )

    # -- plotting data ------------------------------------------------------------------
    def _plot(self, cur: NumericSample | CategoricalSample) -> dict[str, Any]:
        if isinstance(cur, NumericSample):
            return _numeric_plot(self.sample, cur, self.plot_edges, self.reference_shares)
        ref = self.sample
        levels, rc, cc, _ = aligned_counts(ref, cur)  # reference levels, then unseen ones
        k = ref.levels.size
        shown = np.r_[0 : min(_PLOT_LEVELS, k), k : min(k + 5, levels.size)]
        return {
            "type": "categorical",
            "levels": levels[shown].tolist(),
            "reference": (rc[shown] / max(ref.n, 1)).tolist(),
            "current": (cc[shown] / max(cur.n, 1)).tolist(),
        }


def _numeric_plot(
    ref: NumericSample,
    cur: NumericSample,
    edges: np.ndarray | None = None,
    ref_shares: list[float] | None = None,
) -> dict[str, Any]:
    """Shares of both samples in ``edges`` (by default 30 bins over both samples);
    ``ref_shares``, when given, are the reference's (prepared once per column)."""
    if edges is None:
        both = [s.sorted[[0, -1]] for s in (ref, cur) if s.n]
        lo, hi = (float(np.min(both)), float(np.max(both))) if both else (0.0, 1.0)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, _PLOT_BINS + 1)
    out: dict[str, Any] = {"type": "numeric", "edges": edges.tolist()}
    for label, s in (("reference", ref), ("current", cur)):
        if label == "reference" and ref_shares is not None:
            out[label] = list(ref_shares)
            continue
        cum = np.searchsorted(s.sorted, edges[1:-1], side="left")  # sorted: O(bins log n)
        counts = np.diff(np.concatenate([[0], cum, [s.n]]))
        out[label] = (counts / max(s.n, 1)).tolist()
    return out


def _with_reason(c: ColumnDrift, reason: str) -> ColumnDrift:
    return _replace(c, reason=reason)


def _replace(c: ColumnDrift, **changes: Any) -> ColumnDrift:
    from dataclasses import replace

    return replace(c, **changes)
