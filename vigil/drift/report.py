"""The drift report: per-column verdicts, multivariate tests and the data-set verdict.

A :class:`DriftReport` is plain data: ``to_dict()`` / ``to_json()`` give the same content
the HTML report shows (``save_html`` renders it with :mod:`vigil.report`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The verdict on one column.

    Attributes:
        column: the column name.
        kind: numeric, categorical, text or embedding.
        method: the test or distance that decided (catalog name).
        statistic: its statistic; None when the column was not tested.
        p_value: the raw p-value; None for distances and untested columns.
        p_value_adjusted: the p-value after the multiple-testing correction, or None.
        effect_size: how much changed, free of sample size (see the method's docs).
        threshold: significance level (tests) or distance threshold (distances).
        min_effect: the effect size a significant change must reach to count.
        drifted: the verdict.
        n_reference: reference values used.
        n_current: current values used.
        reason: why, in one or two sentences.
        details: extra findings (text descriptors and terms, embedding dimensions, ...).
    """

    column: str
    kind: str
    method: str
    statistic: float | None
    p_value: float | None
    p_value_adjusted: float | None
    effect_size: float | None
    threshold: float
    min_effect: float | None
    drifted: bool
    n_reference: int
    n_current: int
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MultivariateDrift:
    """A test on several columns at once (domain classifier, MMD, PCA error, ...).

    Attributes:
        method: ``classifier``, ``mmd`` or ``pca``.
        statistic: ROC AUC, MMD² or mean reconstruction-error ratio.
        p_value: the test's p-value.
        effect_size: AUC, MMD or error ratio (see the method's docs).
        threshold: significance level.
        min_effect: the effect size a significant change must reach.
        drifted: the verdict.
        n_reference: reference rows used.
        n_current: current rows used.
        reason: why.
        details: columns used, confidence bound, permutations, components, ...
    """

    method: str
    statistic: float | None
    p_value: float | None
    effect_size: float | None
    threshold: float
    min_effect: float
    drifted: bool
    n_reference: int
    n_current: int
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def too_few(
        cls,
        method: str,
        what: str,
        n_reference: int,
        n_current: int,
        threshold: float,
        min_effect: float,
        details: dict[str, Any] | None = None,
        minimum: int = 20,
    ) -> MultivariateDrift:
        """The honest "not tested" of a test that needs ``minimum`` ``what`` (rows,
        texts) on each side."""
        return cls(
            method,
            None,
            None,
            None,
            threshold,
            min_effect,
            False,
            n_reference,
            n_current,
            f"Needs at least {minimum} {what} on each side; got {n_reference} and "
            f"{n_current}. Not tested.",
            details or {},
        )


@dataclass(slots=True)
class DriftReport:
    """What :func:`vigil.detect_drift` found.

    Attributes:
        columns: one :class:`ColumnDrift` per compared column, in table order.
        multivariate: multivariate tests run on the whole table.
        dataset_drift: True when the share of drifted columns reaches
            ``drift_share_threshold`` or a multivariate test detects drift.
        drift_share: drifted columns / tested columns.
        drift_share_threshold: the share that makes the data set drift.
        alpha: the significance level.
        correction: the multiple-testing correction (``"bh"`` or ``"none"``).
        n_reference: rows in the reference.
        n_current: rows in the current window.
        missing_columns: reference columns absent from the current window.
        extra_columns: current columns absent from the reference (not compared).
        notes: data problems met (missing columns, columns that could not be compared).
        distributions: per column, the data the HTML report plots.
    """

    columns: list[ColumnDrift]
    multivariate: list[MultivariateDrift]
    dataset_drift: bool
    drift_share: float
    drift_share_threshold: float
    alpha: float
    correction: str
    n_reference: int
    n_current: int
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    distributions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted."""
        return [c.column for c in self.columns if c.drifted]

    def __getitem__(self, column: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == column:
                return c
        raise KeyError(column)

    def to_dict(self, *, distributions: bool = False) -> dict[str, Any]:
        """The report as JSON-ready data (no NaN or infinity anywhere).

        Args:
            distributions: include the plotted distributions (large for many columns).
        """
        out: dict[str, Any] = {
            "mode": "exact",
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "drifted_columns": self.drifted_columns,
            "alpha": self.alpha,
            "correction": self.correction,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "missing_columns": list(self.missing_columns),
            "extra_columns": list(self.extra_columns),
            "notes": list(self.notes),
            "columns": {c.column: _clean(asdict(c)) for c in self.columns},
            "multivariate": [_clean(asdict(m)) for m in self.multivariate],
        }
        for col in out["columns"].values():
            del col["column"]
            col.update(mode="exact", error_bound=0.0)  # raw rows; sketch mode: profile_drift
        if distributions:
            out["distributions"] = _clean(self.distributions)
        return out

    def to_json(self, *, indent: bool = True, distributions: bool = False) -> str:
        """The report as a JSON string (``to_dict`` serialised)."""
        import orjson

        opts = orjson.OPT_INDENT_2 if indent else 0
        return orjson.dumps(
            self.to_dict(distributions=distributions), option=opts | orjson.OPT_SERIALIZE_NUMPY
        ).decode()

    def save_json(self, path: str | Path) -> Path:
        """Write ``to_json(distributions=True)`` to ``path``; returns the path."""
        p = Path(path)
        p.write_text(self.to_json(distributions=True), encoding="utf-8")
        return p

    def save_html(self, path: str | Path, *, title: str = "Drift report") -> Path:
        """Write a self-contained, offline HTML report to ``path``; returns the path."""
        from vigil.report import render_drift_html

        p = Path(path)
        p.write_text(render_drift_html(self, title=title), encoding="utf-8")
        return p

    def _repr_html_(self) -> str:
        """Jupyter's inline view: a compact, offline table with a plot per column."""
        from vigil.report.notebook import drift_report_html

        return drift_report_html(self)

    def __repr__(self) -> str:
        tested = sum(c.statistic is not None for c in self.columns)
        return (
            f"DriftReport(dataset_drift={self.dataset_drift}, drifted="
            f"{len(self.drifted_columns)}/{tested} columns {self.drifted_columns[:5]}"
            f"{'...' if len(self.drifted_columns) > 5 else ''})"
        )


def _clean(value: Any) -> Any:
    """Replace NaN/inf by None and NumPy scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str):
        return _clean(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
