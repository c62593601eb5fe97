"""Charts of the dashboard: Plotly figure specs (plain dicts, drawn by the browser with the
Plotly bundle the server serves) and inline SVG sparklines (no JavaScript needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 56, "r": 56, "t": 12, "b": 30},
    "height": 280,
    "hovermode": "x unified",
    "legend": {"orientation": "h", "y": -0.22, "yanchor": "top"},
    "xaxis": {"type": "date", "nticks": 5, "tickangle": 0},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
}
# colour-blind-safe (Okabe-Ito); lines also differ by dash so colour is not the only cue
_COLOURS = ("#0072B2", "#E69F00", "#D55E00", "#009E73")
_DASHES = ("solid", "dash", "dot", "dashdot")


def _iso(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def line_mode(values: Sequence[float | None]) -> str:
    """``lines+markers`` when a point has no known neighbour (a line alone would not draw
    it: one minute of data, or a window between gaps), else ``lines``.

    Examples:
        >>> line_mode([None, 0.2, None]), line_mode([0.1, 0.2, None]), line_mode([0.3])
        ('lines+markers', 'lines', 'lines+markers')
    """
    known = [v is not None for v in values]
    for i, have in enumerate(known):
        if have and not (i > 0 and known[i - 1]) and not (i + 1 < len(known) and known[i + 1]):
            return "lines+markers"
    return "lines"


def _layout(y_title: str) -> dict[str, Any]:
    return {**_LAYOUT, "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"}}


def model_charts(series: Sequence[dict[str, Any]], step: int) -> dict[str, dict[str, Any]]:
    """Traffic, latency quantiles and errors of a model page, as Plotly figure specs.

    Examples:
        >>> s = [{"ts": 0, "count": 120, "errors": 3, "error_rate": 0.025,
        ...       "latency_p50_s": 0.01, "latency_p95_s": 0.02, "latency_p99_s": 0.05}]
        >>> figs = model_charts(s, 120)
        >>> sorted(figs), figs["traffic"]["data"][0]["y"]
        (['errors', 'latency', 'traffic'], [60.0])
        >>> [t["name"] for t in figs["latency"]["data"]]
        ['p50', 'p95', 'p99']
    """
    x = [_iso(p["ts"]) for p in series]
    per_min = 60.0 / step
    traffic = {
        "data": [
            {
                "type": "scatter",
                "mode": line_mode([p["count"] for p in series]),
                "name": "predictions / min",
                "x": x,
                "y": [p["count"] * per_min for p in series],
                "line": {"color": _COLOURS[0]},
                "fill": "tozeroy",
            }
        ],
        "layout": _layout("predictions / min"),
    }
    quantiles = {
        name: [_ms(p[f"latency_{name}_s"]) for p in series] for name in ("p50", "p95", "p99")
    }
    latency = {
        "data": [
            {
                "type": "scatter",
                "mode": line_mode(y),
                "name": name,
                "x": x,
                "y": y,
                "line": {"color": _COLOURS[i], "dash": _DASHES[i]},
                "connectgaps": False,
            }
            for i, (name, y) in enumerate(quantiles.items())
        ],
        "layout": _layout("milliseconds"),
    }
    rate = [None if p["error_rate"] is None else p["error_rate"] * 100 for p in series]
    errors = {
        "data": [
            {
                "type": "bar",
                "name": "errors",
                "x": x,
                "y": [p["errors"] for p in series],
                "marker": {"color": _COLOURS[2]},
            },
            {
                "type": "scatter",
                "mode": line_mode(rate),
                "name": "error rate (%)",
                "x": x,
                "yaxis": "y2",
                "y": rate,
                "line": {"color": _COLOURS[0], "dash": "dot"},
            },
        ],
        "layout": {
            **_layout("failed predictions"),
            "yaxis2": {
                "title": {"text": "error rate (%)"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
            },
        },
    }
    return {"traffic": traffic, "latency": latency, "errors": errors}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def sparkline(values: Sequence[float | None], width: int = 120, height: int = 28) -> str:
    """The ``points`` attribute of an SVG polyline drawing ``values`` (gaps at None).

    Examples:
        >>> sparkline([0, 5, 10], width=20, height=10)
        '1.0,9.0 10.0,5.0 19.0,1.0'
        >>> sparkline([None, None])
        ''
    """
    known = [v for v in values if v is not None and math.isfinite(v)]
    if not known:
        return ""
    low, high = min(known), max(known)
    if high == low:
        low, high = low - 1.0, high + 1.0
    n = max(len(values) - 1, 1)
    pad = 1.0
    points = []
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            continue
        x = pad + (width - 2 * pad) * i / n
        y = height - pad - (height - 2 * pad) * (v - low) / (high - low)
        points.append(f"{x:.1f},{y:.1f}")
    return " ".join(points)


def drift_chart(columns: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Effect size per feature against its minimum (drifted bars are solid, others hatched,
    so the verdict does not rest on colour).

    Examples:
        >>> fig = drift_chart([{"name": "age", "effect_size": 0.3, "min_effect": 0.1,
        ...                     "drifted": True, "method": "ks"}])
        >>> fig["data"][0]["y"], fig["data"][0]["x"], fig["data"][0]["text"]
        (['age'], [0.3], ['drifted (ks)'])
    """
    names = [c["name"] for c in columns]
    drifted = [bool(c.get("drifted")) for c in columns]
    bars = {
        "type": "bar",
        "orientation": "h",
        "name": "effect size",
        "y": names,
        "x": [c.get("effect_size") for c in columns],
        "text": [
            f"{'drifted' if d else 'stable'} ({c.get('method')})"
            if c.get("statistic", 0) is not None
            else "not tested"
            for c, d in zip(columns, drifted, strict=True)
        ],
        "textposition": "outside",
        "cliponaxis": False,
        "marker": {
            "color": [_COLOURS[2] if d else _COLOURS[0] for d in drifted],
            "pattern": {"shape": ["" if d else "/" for d in drifted]},
        },
    }
    minimum = {
        "type": "scatter",
        "mode": "markers",
        "name": "minimum effect",
        "y": names,
        "x": [c.get("min_effect") for c in columns],
        "marker": {"symbol": "line-ns-open", "size": 18, "color": _COLOURS[1]},
    }
    layout = {
        **_LAYOUT,
        "xaxis": {"title": {"text": "effect size"}, "rangemode": "tozero"},
        "yaxis": {"autorange": "reversed", "automargin": True},
        "hovermode": "closest",
        "margin": {**_LAYOUT["margin"], "r": 110},
        "height": max(220, 40 * len(names) + 80),
    }
    return {"data": [bars, minimum], "layout": layout}


def quality_chart(quality: dict[str, Any]) -> dict[str, Any] | None:
    """Realised (labelled) against estimated (CBPE, with its interval) ``metric`` per window.

    Examples:
        >>> fig = quality_chart({"metric": "accuracy",
        ...     "series": [{"ts": 0, "accuracy": 0.8, "too_few_rows": False}],
        ...     "estimated_series": [{"ts": 0, "accuracy": {"value": 0.75, "lower": 0.7,
        ...                                                  "upper": 0.8}}]})
        >>> [t["name"] for t in fig["data"]], fig["data"][0]["y"]
        (['realised accuracy', 'estimated accuracy', 'estimate lower bound', \
'estimate upper bound'], [0.8])
        >>> quality_chart({"metric": None, "series": [], "estimated_series": []}) is None
        True
    """
    metric = quality["metric"]
    if metric is None:
        return None
    real = [p for p in quality["series"] if p.get(metric) is not None]
    est = [p for p in quality["estimated_series"] if isinstance(p.get(metric), dict)]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": f"realised {metric}",
            "x": [_iso(p["ts"]) for p in real],
            "y": [p[metric] for p in real],
            "marker": {
                "symbol": ["circle-open" if p.get("too_few_rows") else "circle" for p in real]
            },
            "line": {"color": _COLOURS[0]},
        }
    ]
    if est:
        x = [_iso(p["ts"]) for p in est]
        data.append(
            {
                "type": "scatter",
                "mode": line_mode(est),
                "name": f"estimated {metric}",
                "x": x,
                "y": [p[metric]["value"] for p in est],
                "line": {"color": _COLOURS[1], "dash": "dash"},
            }
        )
        for bound in ("lower", "upper"):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": x,
                    "name": f"estimate {bound} bound",
                    "showlegend": False,
                    "y": [p[metric][bound] for p in est],
                    "line": {"width": 0, "color": _COLOURS[1]},
                    **(
                        {"fill": "tonexty", "fillcolor": "rgba(230,159,0,0.15)"}
                        if bound == "upper"
                        else {}
                    ),
                }
            )
    return {"data": data, "layout": _layout(metric)}


# (chart key, title, y axis, [(sample field, trace name, scale)])
RESOURCE_CHARTS = (
    (
        "cpu",
        "CPU and GPU",
        "percent",
        [
            ("process_cpu_percent", "process CPU", 1.0),
            ("host_cpu_percent", "host CPU", 1.0),
            ("gpu_utilization_percent", "GPU", 1.0),
        ],
    ),
    (
        "memory",
        "Memory",
        "MiB",
        [
            ("process_rss_bytes", "process RSS", 1 / 2**20),
            ("gpu_memory_used_bytes", "GPU memory", 1 / 2**20),
        ],
    ),
    (
        "network",
        "Network",
        "milliseconds",
        [
            ("net_network_p50_ms", "network p50", 1.0),
            ("net_rtt_p95_ms", "round trip p95", 1.0),
            ("net_server_p50_ms", "server p50", 1.0),
        ],
    ),
)


def resource_charts(series: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One figure per resource with data, one trace per host and field that has samples.

    Examples:
        >>> figs = resource_charts([{"host": "a", "ts": 0, "process_cpu_percent": 50.0,
        ...                          "process_rss_bytes": 2.0 ** 30}])
        >>> sorted(figs), figs["memory"]["data"][0]["y"], figs["cpu"]["data"][0]["name"]
        (['cpu', 'memory'], [1024.0], 'a: process CPU')
    """
    hosts = sorted({p["host"] for p in series})
    out = {}
    for key, _title, unit, fields in RESOURCE_CHARTS:
        traces = []
        for h_index, host in enumerate(hosts):
            points = [p for p in series if p["host"] == host]
            for f_index, (field, name, scale) in enumerate(fields):
                have = [p for p in points if p.get(field) is not None]
                if not have:
                    continue
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "name": f"{host}: {name}",
                        "x": [_iso(p["ts"]) for p in have],
                        "y": [p[field] * scale for p in have],
                        "line": {
                            "color": _COLOURS[h_index % len(_COLOURS)],
                            "dash": _DASHES[f_index % len(_DASHES)],
                        },
                    }
                )
        if traces:
            out[key] = {"data": traces, "layout": _layout(unit)}
    return out


def drift_heatmap(history: dict[str, Any]) -> dict[str, Any] | None:
    """Windows × features heat map of the drift effect size (``x`` marks a drifted cell, so
    the verdict does not rest on colour); None when no window had traffic.

    Examples:
        >>> fig = drift_heatmap({"features": ["age"], "windows": [
        ...     {"ts": 0, "columns": {"age": {"effect_size": 0.4, "drifted": True,
        ...                                   "p_value_adjusted": 0.001}}},
        ...     {"ts": 60, "columns": {}}]})
        >>> fig["data"][0]["z"], fig["data"][0]["text"]
        ([[0.4, None]], [['x', '']])
    """
    features = history["features"]
    windows = history["windows"]
    if not features or not any(w["columns"] for w in windows):
        return None
    z, text, hover = [], [], []
    for name in features:
        cells = [w["columns"].get(name) or {} for w in windows]
        z.append([c.get("effect_size") for c in cells])
        text.append(["x" if c.get("drifted") else "" for c in cells])
        hover.append([_cell_hover(name, w, c) for w, c in zip(windows, cells, strict=True)])
    heat = {
        "type": "heatmap",
        "x": [_iso(w["ts"]) for w in windows],
        "y": features,
        "z": z,
        "text": text,
        "texttemplate": "%{text}",
        "hovertext": hover,
        "hoverinfo": "text",
        "colorscale": "Viridis",
        "zmin": 0,
        "xgap": 1,
        "ygap": 1,
        "colorbar": {"title": {"text": "effect size"}},
    }
    layout = {
        **_LAYOUT,
        "hovermode": "closest",
        "height": max(220, 34 * len(features) + 110),
        "margin": {**_LAYOUT["margin"], "b": 50},
        "yaxis": {"automargin": True, "autorange": "reversed"},
    }
    return {"data": [heat], "layout": layout}


def _cell_hover(name: str, window: dict[str, Any], cell: dict[str, Any]) -> str:
    if not cell:
        return f"{name}, {_iso(window['ts'])}: no traffic"
    p = cell.get("p_value_adjusted")
    effect = cell.get("effect_size")
    return (
        f"{name}, {_iso(window['ts'])}: effect size "
        f"{'—' if effect is None else f'{effect:.3g}'}, adjusted p "
        f"{'—' if p is None else f'{p:.3g}'}, {'drifted' if cell.get('drifted') else 'stable'}"
    )


def distribution_chart(feature: dict[str, Any]) -> dict[str, Any] | None:
    """Reference against current shares of one feature (bins or categories), as bars.

    Examples:
        >>> fig = distribution_chart({"name": "plan", "kind": "categorical",
        ...     "categories": ["a", "b"], "reference": [0.5, 0.5], "current": [0.2, 0.8]})
        >>> [t["name"] for t in fig["data"]], fig["data"][1]["y"]
        (['reference', 'current'], [20.0, 80.0])
    """
    if feature["kind"] == "numeric":
        edges = feature.get("edges") or []
        if not edges:
            return None
        x: list[Any] = [(a + b) / 2 for a, b in pairwise(edges)]
        width = edges[1] - edges[0]
        axis: dict[str, Any] = {}
    else:
        x = feature.get("categories") or []
        if not x:
            return None
        width = None
        axis = {"type": "category"}
    data = []
    for i, side in enumerate(("reference", "current")):
        shares = feature.get(side)
        if shares is None:
            continue
        data.append(
            {
                "type": "bar",
                "name": side,
                "x": x,
                "y": [s * 100 for s in shares],
                "opacity": 0.6 if feature["kind"] == "numeric" else 1.0,
                **({"width": width} if width else {}),
                "marker": {"color": _COLOURS[i], "pattern": {"shape": "/" if i else ""}},
            }
        )
    layout = {
        **_LAYOUT,
        "height": 220,
        "hovermode": "x unified",
        "barmode": "overlay" if feature["kind"] == "numeric" else "group",
        "xaxis": axis,
        "yaxis": {"title": {"text": "% of rows"}, "rangemode": "tozero"},
        "legend": {**_LAYOUT["legend"], "y": -0.18},
    }
    return {"data": data, "layout": layout}


def segment_charts(segment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-window quality of each segment and per-window fairness gaps (parity and
    equalised odds differences), as Plotly figure specs.

    Examples:
        >>> figs = segment_charts({"name": "plan", "metric": "accuracy", "series": [
        ...     {"ts": 0, "segments": [{"segment": "a", "accuracy": 0.9}],
        ...      "fairness": {"demographic_parity_difference": {"value": 0.1},
        ...                   "equalized_odds_difference": None}}]})
        >>> figs["segment-quality"]["data"][0]["name"], figs["fairness"]["data"][0]["y"]
        ('plan=a', [0.1])
    """
    metric, series = segment["metric"], segment["series"]
    out: dict[str, dict[str, Any]] = {}
    if metric is not None:
        names: list[Any] = []
        for point in series:
            names += [s["segment"] for s in point["segments"] if s["segment"] not in names]
        traces = []
        for i, name in enumerate(names):
            values = [
                next((s.get(metric) for s in p["segments"] if s["segment"] == name), None)
                for p in series
            ]
            traces.append(
                {
                    "type": "scatter",
                    "mode": line_mode(values),
                    "name": f"{segment['name']}={name}",
                    "x": [_iso(p["ts"]) for p in series],
                    "y": values,
                    "line": {
                        "color": _COLOURS[i % len(_COLOURS)],
                        "dash": _DASHES[i % len(_DASHES)],
                    },
                }
            )
        if traces:
            out["segment-quality"] = {"data": traces, "layout": _layout(metric)}
    gaps = []
    for i, (key, label) in enumerate(
        (
            ("demographic_parity_difference", "parity difference"),
            ("equalized_odds_difference", "equalised odds diff."),
        )
    ):
        values = [((p.get("fairness") or {}).get(key) or {}).get("value") for p in series]
        if any(v is not None for v in values):
            gaps.append(
                {
                    "type": "scatter",
                    "mode": line_mode(values),
                    "name": label,
                    "x": [_iso(p["ts"]) for p in series],
                    "y": values,
                    "line": {"color": _COLOURS[i], "dash": _DASHES[i]},
                }
            )
    if gaps:
        out["fairness"] = {"data": gaps, "layout": _layout("difference between segments")}
    return out


ANSWER_SERIES = ("relevance_mean", "relevance_p10", "consistency", "refusal_rate", "injection_rate")


def answers_chart(series: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Answer quality of a text model per window: one line per measure of
    :data:`ANSWER_SERIES` (a ratio, 0 to 1).

    Examples:
        >>> fig = answers_chart([{"ts": 0, "relevance_mean": 0.6, "relevance_p10": 0.2,
        ...                       "consistency": None, "refusal_rate": 0.0,
        ...                       "injection_rate": None}])
        >>> [t["name"] for t in fig["data"]], fig["data"][0]["y"]
        (['relevance_mean', 'relevance_p10', 'refusal_rate'], [0.6])
        >>> answers_chart([]) is None
        True
    """
    if not series:
        return None
    data = []
    for i, key in enumerate(ANSWER_SERIES):
        values = [p.get(key) for p in series]
        if any(v is not None for v in values):
            data.append(
                {
                    "type": "scatter",
                    "mode": line_mode(values),
                    "name": key,
                    "x": [_iso(p["ts"]) for p in series],
                    "y": values,
                    "line": {"color": _COLOURS[i % len(_COLOURS)]},
                }
            )
    return {
        "data": data,
        "layout": {**_LAYOUT, "yaxis": {"title": {"text": "ratio"}, "range": [-0.05, 1.05]}},
    }
