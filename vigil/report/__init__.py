"""Reports: self-contained HTML (Jinja2 + Plotly, JavaScript embedded) and JSON.

:func:`render_drift_html` turns a :class:`vigil.drift.DriftReport` into one HTML file
that works offline: Plotly's JavaScript comes from the installed ``plotly`` package and
is inlined, never fetched from a CDN.
"""

from __future__ import annotations

from .html import render_drift_html

__all__ = ["render_drift_html"]
