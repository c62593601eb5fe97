"""Quality results: plain dicts that Jupyter shows as tables.

A :class:`QualityResult` is a ``dict`` in every way (JSON, equality, ``**`` unpacking);
it only adds ``_repr_html_``, so a metrics call at the end of a notebook cell renders as
a compact table instead of a nested literal.
"""

from __future__ import annotations

from typing import Any


class QualityResult(dict[str, Any]):
    """The result of a quality function (metrics, estimate, fairness, ranking, text).

    Attributes:
        title: what the result is, shown above its table.

    Examples:
        >>> r = QualityResult({"n": 3, "mae": 0.5}, title="Regression metrics")
        >>> r == {"n": 3, "mae": 0.5}, r.title, "0.5" in r._repr_html_()
        (True, 'Regression metrics', True)
    """

    title: str = "Quality"

    def __init__(self, data: Any = (), /, *, title: str | None = None) -> None:
        super().__init__(data)
        if title is not None:
            self.title = title

    def _repr_html_(self) -> str:
        """Jupyter's inline view: metrics, intervals, confusion matrix, segments."""
        from vigil.report.notebook import quality_html

        return quality_html(self, self.title)


class EvaluationRun(QualityResult):
    """One evaluation of a model on a golden data set (see ``vigil evaluate``): model,
    version, data set, status, metrics and latency, as a dict."""

    title = "Evaluation run"

    def _repr_html_(self) -> str:
        """Jupyter's inline view: what ran, its status, metrics and latency."""
        from vigil.report.notebook import evaluation_html

        return evaluation_html(self)
