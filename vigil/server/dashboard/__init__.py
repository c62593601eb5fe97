"""The dashboard: server-rendered pages (Jinja2), a stylesheet, a little JavaScript, and
charts drawn by the Plotly bundle of the installed ``plotly`` package (never a CDN).

:mod:`vigil.server.dashboard.views` computes what the pages show from the store,
:mod:`vigil.server.dashboard.charts` turns it into figures, :mod:`vigil.server.dashboard.session`
signs browsers in; the routes live in :mod:`vigil.server.routes.ui`.
"""
