"""Render a drift report as one offline HTML page.

The page holds a summary, a table of every column (method, statistic, p-values, effect
size, threshold, verdict, reason), the multivariate tests, and per-column distribution
overlays drawn by Plotly from the same data ``DriftReport.to_dict`` exports.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from vigil.drift.report import DriftReport


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


@lru_cache(maxsize=1)
def _template() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("vigil.report", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["num"] = _num
    return env.get_template("drift.html")


def _num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _json_for_script(data: Any) -> str:
    """JSON safe to embed inside a ``<script>`` element."""
    text = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_drift_html(report: DriftReport, *, title: str = "Drift report") -> str:
    """The report as a self-contained HTML document.

    Args:
        report: the drift report.
        title: the page title.

    Examples:
        >>> import numpy as np
        >>> from vigil.drift import detect_drift
        >>> rng = np.random.default_rng(0)
        >>> r = detect_drift({"x": rng.normal(size=200)}, {"x": rng.normal(size=200)},
        ...                  multivariate=None)
        >>> page = render_drift_html(r)
        >>> page.startswith("<!DOCTYPE html>"), "<script src=" in page
        (True, False)
    """
    data = report.to_dict(distributions=True)
    return _template().render(
        title=title,
        report=data,
        columns=report.columns,
        multivariate=report.multivariate,
        plot_data=_json_for_script(data["distributions"]),
        plotly_js=_plotly_js(),
    )
