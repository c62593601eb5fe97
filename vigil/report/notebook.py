"""Compact HTML for Jupyter: the ``_repr_html_`` of drift reports, profiles and quality
results.

Every fragment is self-contained and works offline: plain tables with inline styles and
small inline SVG plots; no script, no stylesheet link, no remote asset. Every value that
comes from the data (column names, categories, reasons, errors) is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigil.drift.report import DriftReport
    from vigil.profile.drift import ProfileDrift
    from vigil.profile.profile import Profile

_REF = "#9aa5b1"  # reference series: grey
_CUR = "#1f77b4"  # current series: blue
_BAD = "#c0392b"
_OK = "#2e7d32"
_BOX = (
    "font-family:system-ui,-apple-system,Segoe UI,sans-serif;font-size:13px;"
    "line-height:1.35;max-width:100%;overflow-x:auto"
)
_TABLE = "border-collapse:collapse;margin:4px 0 10px 0"
_TH = (
    "text-align:left;padding:3px 8px;border-bottom:2px solid #ccc;font-weight:600;"
    "white-space:nowrap"
)
_TD = "padding:3px 8px;border-bottom:1px solid #eee;vertical-align:middle"
_MAX_BARS = 30


class Raw(str):
    """HTML built here (already escaped): table cells insert it as is."""

    __slots__ = ()


def esc(value: Any) -> Raw:
    """``value`` as escaped text (quotes included, so it is safe in attributes too)."""
    return Raw(escape(str(value), quote=True))


def num(value: Any) -> Raw:
    """A number for display: integers with separators, floats to 4 significant digits
    (the full value in a tooltip), booleans as yes/no, None as a dash."""
    if value is None:
        return Raw("—")
    if isinstance(value, bool):
        return Raw("yes" if value else "no")
    if isinstance(value, int):
        return Raw(f"{value:,}")
    if isinstance(value, float):
        if not math.isfinite(value):
            return esc(value)
        short = f"{value:.4g}"
        if short == repr(value):
            return Raw(short)
        return Raw(f'<span title="{value!r}">{short}</span>')
    return esc(value)


def _cell(value: Any) -> str:
    return value if isinstance(value, Raw) else num(value)


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool] | None = None
) -> Raw:
    """An HTML table; cells that are :class:`Raw` go in as is, others through :func:`num`."""
    numeric = numeric or [False] * len(headers)
    head = "".join(
        f'<th style="{_TH};text-align:{"right" if n else "left"}">{esc(h)}</th>'
        for h, n in zip(headers, numeric, strict=True)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td style="{_TD};text-align:{"right" if n else "left"}">{_cell(v)}</td>'
            for v, n in zip(row, numeric, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    return Raw(
        f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def box(title: str, summary: str, *parts: str) -> Raw:
    """The outer block: a title line, a one-line summary (already HTML) and the parts."""
    return Raw(
        f'<div class="vigil-repr" style="{_BOX}"><div style="font-weight:600;'
        f'font-size:14px">{esc(title)}</div><div style="margin:2px 0 6px 0">'
        f"{summary}</div>{''.join(parts)}</div>"
    )


def verdict(drifted: bool) -> Raw:
    """A coloured drift / no-drift word."""
    if drifted:
        return Raw(f'<b style="color:{_BAD}">drift</b>')
    return Raw(f'<span style="color:{_OK}">no drift</span>')


def _pool(values: Sequence[float], n: int) -> list[float]:
    """Sum neighbouring bins down to at most ``n``."""
    values = [float(v) if v is not None and math.isfinite(v) else 0.0 for v in values]
    if len(values) <= n:
        return values
    step = math.ceil(len(values) / n)
    return [sum(values[i : i + step]) for i in range(0, len(values), step)]


def bars_svg(
    series: Sequence[tuple[Sequence[float], str]],
    *,
    labels: Sequence[str] = (),
    width: int = 140,
    height: int = 30,
    label: str = "distribution",
) -> Raw:
    """Side-by-side bars of one or more series of shares (an inline SVG sparkline).

    Args:
        series: ``(values, colour)`` pairs of equal length.
        labels: a tooltip per bar position (category names, bin ranges).
        label: the image's accessible name.
    """
    pooled = [(_pool(v, _MAX_BARS), c) for v, c in series if len(v)]
    if not pooled:
        return Raw("")
    if any(len(v) > _MAX_BARS for v, _ in series):
        labels = ()  # pooled bars no longer match the labels: pool before calling instead
    n = max(len(v) for v, _ in pooled)
    top = max((max(v, default=0.0) for v, _ in pooled), default=0.0) or 1.0
    slot = width / n
    bar = max(slot / len(pooled) - 0.5, 0.8)
    groups = []
    for s, (values, colour) in enumerate(pooled):
        rects = []
        for i, v in enumerate(values):
            h = max(v / top * (height - 2), 0.0)
            tip = f"<title>{esc(labels[i])}: {v:.3g}</title>" if i < len(labels) else ""
            rects.append(
                f'<rect x="{i * slot + s * bar:.1f}" y="{height - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}">{tip}</rect>'
            )
        groups.append(f'<g fill="{colour}">{"".join(rects)}</g>')
    return Raw(
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">'
        f"{''.join(groups)}</svg>"
    )


def interval_svg(
    value: float, lower: float, upper: float, *, width: int = 90, height: int = 12
) -> Raw:
    """A point with its interval on a 0..1 axis (estimated metrics)."""
    if not all(isinstance(x, int | float) and 0.0 <= x <= 1.0 for x in (value, lower, upper)):
        return Raw("")

    def x(v: float) -> float:
        return 1 + v * (width - 2)

    mid = height / 2
    return Raw(
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="interval">'
        f'<line x1="1" y1="{mid}" x2="{width - 1}" y2="{mid}" stroke="#eee" stroke-width="2"/>'
        f'<line x1="{x(lower):.1f}" y1="{mid}" x2="{x(upper):.1f}" y2="{mid}" '
        f'stroke="{_CUR}" stroke-width="3"/>'
        f'<circle cx="{x(value):.1f}" cy="{mid}" r="3" fill="{_CUR}"/></svg>'
    )


def legend() -> Raw:
    """The two-colour key of the distribution plots."""

    def swatch(colour: str) -> str:
        return (
            f'<span style="display:inline-block;width:9px;height:9px;background:{colour};'
            'margin:0 3px 0 8px"></span>'
        )

    return Raw(f'<span style="color:#555">{swatch(_REF)}reference{swatch(_CUR)}current</span>')


# ------------------------------------------------------------------ drift
def _distribution_svg(dist: Mapping[str, Any] | None) -> Raw:
    """Reference and current shares side by side, at most ``_MAX_BARS`` bars: numeric
    bins merged by neighbours (tooltips give each bar's range), categories past the
    first ``_MAX_BARS - 1`` summed into "other"."""
    if not dist or "reference" not in dist or "current" not in dist:
        return Raw("")
    ref, cur = list(dist["reference"]), list(dist["current"])
    n = min(len(ref), len(cur))
    labels: list[str] = []
    if dist.get("type") == "categorical":
        labels = [str(v) for v in dist.get("levels", [])][:n]
        if n > _MAX_BARS:
            keep = _MAX_BARS - 1
            labels = [*labels[:keep], f"other ({n - keep} categories)"]
            ref = [*ref[:keep], sum(ref[keep:n])]
            cur = [*cur[:keep], sum(cur[keep:n])]
    elif "edges" in dist and len(dist["edges"]) == n + 1:
        edges = list(dist["edges"])
        step = max(math.ceil(n / _MAX_BARS), 1)
        starts = range(0, n, step)
        labels = [f"{edges[i]:.4g} – {edges[min(i + step, n)]:.4g}" for i in starts]
        ref = [sum(ref[i : i + step]) for i in starts]
        cur = [sum(cur[i : i + step]) for i in starts]
    return bars_svg(
        [(ref, _REF), (cur, _CUR)], labels=labels, label="reference and current distribution"
    )


def _p(value: float | None, adjusted: float | None) -> Raw:
    if value is None:
        return Raw("—")
    if adjusted is None or adjusted == value:
        return num(value)
    return Raw(f'{num(value)} <span style="color:#777">(adj. {num(adjusted)})</span>')


def _reason(text: str) -> Raw:
    return Raw(f'<div style="color:#555;min-width:16em;max-width:30em">{esc(text)}</div>')


def drift_report_html(report: DriftReport) -> str:
    """:class:`vigil.DriftReport` as a compact table with a distribution per column."""
    tested = [c for c in report.columns if c.statistic is not None]
    drifted = report.drifted_columns
    summary = (
        f"data set: {verdict(report.dataset_drift)} · {len(drifted)} of {len(tested)} tested "
        f"columns drifted (share {num(report.drift_share)}, threshold "
        f"{num(report.drift_share_threshold)}) · reference {num(report.n_reference)} rows, "
        f"current {num(report.n_current)} rows · α {num(report.alpha)}, correction "
        f"{esc(report.correction)}"
    )
    rows = []
    for c in report.columns:
        rows.append(
            [
                esc(c.column),
                esc(c.kind),
                esc(c.method),
                c.statistic,
                _p(c.p_value, c.p_value_adjusted),
                c.effect_size,
                c.threshold,
                verdict(c.drifted) if c.statistic is not None else Raw("not tested"),
                c.n_reference,
                c.n_current,
                _distribution_svg(report.distributions.get(c.column)),
                _reason(c.reason),
            ]
        )
    parts = [
        table(
            [
                "column",
                "kind",
                "method",
                "statistic",
                "p-value",
                "effect",
                "threshold",
                "verdict",
                "n ref",
                "n cur",
                "distribution",
                "reason",
            ],
            rows,
            [False, False, False, True, True, True, True, False, True, True, False, False],
        )
    ]
    if report.distributions:
        parts.insert(0, Raw(f'<div style="margin-bottom:2px">{legend()}</div>'))
    if report.multivariate:
        parts.append(
            table(
                [
                    "multivariate",
                    "statistic",
                    "p-value",
                    "effect",
                    "threshold",
                    "verdict",
                    "n ref",
                    "n cur",
                    "reason",
                ],
                [
                    [
                        esc(m.method),
                        m.statistic,
                        num(m.p_value),
                        m.effect_size,
                        m.threshold,
                        verdict(m.drifted),
                        m.n_reference,
                        m.n_current,
                        _reason(m.reason),
                    ]
                    for m in report.multivariate
                ],
                [False, True, True, True, True, False, True, True, False],
            )
        )
    notes = list(report.notes)
    if report.missing_columns:
        notes.append(f"missing in current: {', '.join(report.missing_columns)}")
    if report.extra_columns:
        notes.append(f"not in the reference (not compared): {', '.join(report.extra_columns)}")
    if notes:
        parts.append(Raw("".join(f'<div style="color:#8a6d3b">{esc(n)}</div>' for n in notes)))
    return box("Drift report", summary, *parts)


def profile_drift_html(result: ProfileDrift) -> str:
    """:class:`vigil.profile.ProfileDrift` (sketch mode) as a compact table."""
    cols = list(result.columns.values())
    tested = [c for c in cols if c.statistic is not None]
    summary = (
        f"{len(result.drifted_columns)} of {len(tested)} tested columns drifted "
        f"(share {num(result.share_drifted)}) · sketch mode · α {num(result.alpha)}, "
        f"correction {esc(result.correction)}"
    )
    rows = [
        [
            esc(c.column),
            esc(c.kind),
            esc(c.method or "—"),
            c.statistic,
            _p(c.p_value, c.p_value_adjusted),
            c.effect_size,
            c.error_bound,
            verdict(c.drifted) if c.statistic is not None else Raw("not tested"),
            c.n_reference,
            c.n_current,
            _reason(c.reason),
        ]
        for c in cols
    ]
    return box(
        "Drift between profiles",
        summary,
        table(
            [
                "column",
                "kind",
                "method",
                "statistic",
                "p-value",
                "effect",
                "± sketch error",
                "verdict",
                "n ref",
                "n cur",
                "reason",
            ],
            rows,
            [False, False, False, True, True, True, True, False, True, True, False],
        ),
    )


# ------------------------------------------------------------------ profiles
def _column_plot(col: Any) -> Raw:
    """A histogram of the numeric track (from the KLL sketch) or the top values' bars."""
    lo, hi = col.min, col.max
    kll = col.kll
    if kll is not None and lo is not None and hi is not None and hi > lo and not kll.is_empty():
        edges = [lo + (hi - lo) * i / 20 for i in range(21)]
        pmf = list(kll.get_pmf(edges[1:-1]))
        labels = [f"{edges[i]:.4g} – {edges[i + 1]:.4g}" for i in range(20)]
        return bars_svg([(pmf, _CUR)], labels=labels, label="histogram")
    top = col.frequent_items(8)
    if top and col.count:
        return bars_svg(
            [([c / col.count for _, c in top], _CUR)],
            labels=[v for v, _ in top],
            label="most frequent values",
        )
    return Raw("")


def profile_html(profile: Profile) -> str:
    """:class:`vigil.Profile` as one row per column with a small histogram."""
    from vigil.schema import FeatureKind

    track = {FeatureKind.TEXT: "length", FeatureKind.EMBEDDING: "norm"}
    rows = []
    for name, col in profile.columns.items():
        lo, hi = col.distinct_bounds()
        distinct = num(round(col.distinct_estimate))
        if round(lo) != round(hi):
            distinct = Raw(
                f'{distinct} <span style="color:#777">({round(lo):,}–{round(hi):,})</span>'
            )
        top = col.frequent_items(1)
        what = track.get(col.kind)
        rows.append(
            [
                esc(name),
                esc(col.kind.value + (f" ({what})" if what else "")),
                col.count,
                col.null_count,
                distinct,
                col.mean,
                col.std,
                col.min,
                col.quantile(0.5) if col.mean is not None else None,
                col.max,
                Raw(f"{esc(top[0][0][:40])} ({top[0][1]:,})") if top else Raw(""),
                _column_plot(col),
            ]
        )
    summary = (
        f"{num(profile.n_rows)} rows · {len(profile)} columns · distinct counts are "
        "sketch estimates (95% bounds); quantiles within the KLL rank error"
    )
    return box(
        "Profile",
        summary,
        table(
            [
                "column",
                "kind",
                "count",
                "nulls",
                "distinct",
                "mean",
                "std",
                "min",
                "p50",
                "max",
                "top value",
                "distribution",
            ],
            rows,
            [False, False, True, True, True, True, True, True, True, True, False, False],
        ),
    )


# ------------------------------------------------------------------ quality
def _is_interval(value: Any) -> bool:
    return isinstance(value, Mapping) and {"value", "lower", "upper"} <= set(value)


def _is_spread(value: Any) -> bool:
    return isinstance(value, Mapping) and {"value", "lowest", "highest"} <= set(value)


def _confusion(cm: Mapping[str, Any]) -> Raw:
    classes, matrix = list(cm.get("classes", [])), list(cm.get("matrix", []))
    if not classes or len(matrix) != len(classes):
        return Raw("")
    top = max((max(r, default=0) for r in matrix), default=0) or 1
    head = "".join(f'<th style="{_TH};text-align:right">{esc(c)}</th>' for c in classes)
    body = []
    for cls, row in zip(classes, matrix, strict=True):
        cells = "".join(
            f'<td style="{_TD};text-align:right;background:rgba(31,119,180,'
            f'{0.08 + 0.6 * v / top:.2f})">{v:,}</td>'
            for v in row
        )
        body.append(f'<tr><th style="{_TH}">{esc(cls)}</th>{cells}</tr>')
    return Raw(
        f'<div style="color:#555">confusion matrix (rows: actual, columns: '
        f'predicted)</div><table style="{_TABLE}"><thead><tr><th style="{_TH}"></th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
    """Scalar metrics of nested results as ``(dotted name, value)``."""
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += _flat(f"{prefix}.{k}" if prefix else str(k), v)
        return out
    if isinstance(value, list | tuple) and not all(isinstance(v, int | float | str) for v in value):
        return [(prefix, f"{len(value)} items")]
    return [(prefix, ", ".join(map(str, value)) if isinstance(value, list | tuple) else value)]


def metrics_parts(result: Mapping[str, Any]) -> list[str]:
    """Tables for a metrics mapping: scalars, intervals, spreads, a confusion matrix and
    per-segment rows."""
    scalars, intervals, spreads, extra = [], [], [], []
    for key, value in result.items():
        if key == "confusion_matrix" and isinstance(value, Mapping):
            extra.append(_confusion(value))
        elif (
            key == "segments"
            and isinstance(value, list)
            and value
            and all(isinstance(s, Mapping) for s in value)
        ):
            headers = list(dict.fromkeys(k for s in value for k in s))
            extra.append(
                table(
                    headers,
                    [
                        [esc(s.get(h)) if h == "segment" else s.get(h) for h in headers]
                        for s in value
                    ],
                    [h != "segment" for h in headers],
                )
            )
        elif _is_interval(value):
            intervals.append(
                [
                    esc(key),
                    value["value"],
                    value["lower"],
                    value["upper"],
                    interval_svg(value["value"], value["lower"], value["upper"]),
                ]
            )
        elif _is_spread(value):
            spreads.append(
                [
                    esc(key),
                    value["value"],
                    esc(value["lowest"]),
                    value.get("lowest_value"),
                    esc(value["highest"]),
                    value.get("highest_value"),
                ]
            )
        else:
            scalars += [
                [esc(k), v if isinstance(v, int | float | None) else esc(v)]
                for k, v in _flat(str(key), value)
            ]
    parts: list[str] = []
    if len(scalars) > 8:  # side by side, three metrics a row, instead of one long list
        per_row = 3
        grid = [
            [cell for pair in scalars[i : i + per_row] for cell in pair]
            for i in range(0, len(scalars), per_row)
        ]
        grid[-1] += [Raw(""), Raw("")] * (per_row - len(grid[-1]) // 2)
        parts.append(table(["metric", "value"] * per_row, grid, [False, True] * per_row))
    elif scalars:
        parts.append(table(["metric", "value"], scalars, [False, True]))
    if intervals:
        parts.append(
            table(
                ["metric", "estimate", "lower", "upper", ""],
                intervals,
                [False, True, True, True, False],
            )
        )
    if spreads:
        parts.append(
            table(
                ["gap", "value", "lowest", "rate", "highest", "rate"],
                spreads,
                [False, True, False, True, False, True],
            )
        )
    return parts + extra


def quality_html(result: Mapping[str, Any], title: str) -> str:
    """A quality result (metrics, CBPE estimate, fairness, ranking, text) as tables."""
    n = result.get("n")
    summary = f"{num(n)} rows" if isinstance(n, int) else ""
    if "confidence" in result:
        summary += f" · {num(result['confidence'])} confidence intervals"
    body = {k: v for k, v in result.items() if k not in ("n", "confidence", "method")}
    return box(title, summary, *metrics_parts(body))


def evaluation_html(run: Mapping[str, Any]) -> str:
    """An evaluation run: what ran on which data set, its status, metrics and latency."""
    ok = run.get("status") == "succeeded"
    status = (
        Raw(f'<b style="color:{_OK}">succeeded</b>')
        if ok
        else Raw(f'<b style="color:{_BAD}">{esc(run.get("status"))}</b>')
    )
    summary = (
        f"{esc(run.get('model'))} version {esc(run.get('version'))}"
        + (f" (@{esc(run['alias'])})" if run.get("alias") else "")
        + f" on {esc(run.get('dataset'))} · {num(run.get('n_rows'))} rows · "
        f"{esc(run.get('mode'))} · {status}"
    )
    parts: list[str] = []
    if run.get("error"):
        parts.append(f'<div style="color:{_BAD}">{esc(run["error"])}</div>')
    if isinstance(run.get("metrics"), Mapping):
        parts += metrics_parts(run["metrics"])
    if isinstance(run.get("latency"), Mapping):
        parts.append(
            table(
                ["latency", "value"],
                [[esc(k), v] for k, v in run["latency"].items()],
                [False, True],
            )
        )
    title = f"Evaluation run {run['id']}" if run.get("id") is not None else "Evaluation run"
    return box(title, summary, *parts)
