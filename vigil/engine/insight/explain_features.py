"""Root-cause candidates from inputs and hosts (see :mod:`vigil.engine.insight.explain`).

A feature's score is its drift effect between the two windows times its importance to
the model. Importance is model-agnostic: a random forest (the surrogate) learns the
model's recorded outputs from its inputs on both windows' rows, and scikit-learn's
permutation importance on held-out rows says how much the surrogate, and so the model,
leans on each input. Without recorded outputs every feature weighs the same.

References:
    Breiman (2001), "Random Forests" (permutation importance); Molnar, *Interpretable
    Machine Learning* §8.6 (global surrogate models).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from vigil.store import ModelRecord, Store

SURROGATE_ROWS = 4000  # rows the surrogate learns from (sampled across both windows)
MIN_SURROGATE_ROWS = 50
MIN_EFFECT = 0.05  # smaller drift effects are trivia, whatever the p-value


def _column(rows: Sequence[dict[str, Any]], name: str) -> list[Any]:
    return [r["inputs"].get(name) if isinstance(r["inputs"], dict) else None for r in rows]


def _numeric(values: list[Any]) -> np.ndarray:
    out = np.array(
        [
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
            for v in values
        ],
        dtype=np.float64,
    )
    return out


def _drift(kind: str, before: list[Any], after: list[Any]) -> dict[str, Any] | None:
    """Effect and p-value of one feature's change (KS for numbers, TVD + chi² for
    categories); None when either side has too few values."""
    from scipy import stats

    if kind == "numeric":
        a, b = _numeric(before), _numeric(after)
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if len(a) < 10 or len(b) < 10:
            return None
        res = stats.ks_2samp(a, b)
        return {"method": "ks", "effect": float(res.statistic), "p_value": float(res.pvalue)}
    a_cat = [str(v) for v in before if v is not None]
    b_cat = [str(v) for v in after if v is not None]
    if len(a_cat) < 10 or len(b_cat) < 10:
        return None
    cats = sorted(set(a_cat) | set(b_cat))
    ca = np.array([a_cat.count(c) for c in cats], dtype=np.float64)
    cb = np.array([b_cat.count(c) for c in cats], dtype=np.float64)
    tvd = 0.5 * float(np.abs(ca / ca.sum() - cb / cb.sum()).sum())
    if len(cats) < 2:
        return {"method": "tvd", "effect": 0.0, "p_value": 1.0}
    p = float(stats.chi2_contingency(np.vstack([ca, cb]))[1])
    return {"method": "tvd", "effect": tvd, "p_value": p}


def importances(
    features: list[tuple[str, str]], rows: Sequence[dict[str, Any]], seed: int = 0
) -> dict[str, float] | None:
    """Each feature's share of the surrogate's permutation importance (summing to 1), or
    None when there are too few rows with a recorded output."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import train_test_split

    from vigil.engine.quality.windows import class_value, prediction_value

    outputs = [prediction_value(r["outputs"]) for r in rows]
    keep = [
        i
        for i, y in enumerate(outputs)
        if y is not None and isinstance(y, str | int | float | bool)
    ]
    if len(keep) < MIN_SURROGATE_ROWS:
        return None
    rng = np.random.default_rng(seed)
    if len(keep) > SURROGATE_ROWS:
        keep = sorted(rng.choice(keep, SURROGATE_ROWS, replace=False).tolist())
    picked = [rows[i] for i in keep]
    y_raw = [class_value(outputs[i]) for i in keep]
    columns = []
    for name, kind in features:
        values = _column(picked, name)
        if kind == "numeric":
            col = _numeric(values)
            col[np.isnan(col)] = np.nanmedian(col) if np.isfinite(col).any() else 0.0
        else:
            codes: dict[str, int] = {}
            col = np.array([codes.setdefault(str(v), len(codes)) for v in values], dtype=np.float64)
        columns.append(col)
    x = np.column_stack(columns)
    numeric_y = all(isinstance(v, int | float) and not isinstance(v, bool) for v in y_raw)
    regression = numeric_y and len(set(y_raw)) > 20
    y = np.asarray(y_raw, dtype=np.float64) if regression else np.asarray([str(v) for v in y_raw])
    if not regression and len(set(y.tolist())) < 2:
        return dict.fromkeys((n for n, _ in features), 0.0)
    x_fit, x_test, y_fit, y_test = train_test_split(x, y, test_size=0.3, random_state=seed)
    cls = RandomForestRegressor if regression else RandomForestClassifier
    surrogate = cls(
        n_estimators=60, max_depth=8, min_samples_leaf=3, random_state=seed, n_jobs=1
    ).fit(x_fit, y_fit)
    result = permutation_importance(
        surrogate, x_test, y_test, n_repeats=3, random_state=seed, n_jobs=1
    )
    raw = np.clip(result.importances_mean, 0.0, None)
    total = float(raw.sum())
    return {
        name: float(raw[i] / total) if total > 0 else 0.0 for i, (name, _) in enumerate(features)
    }


def feature_candidates(
    model: ModelRecord,
    base_rows: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    *,
    alpha: float,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One candidate per numeric or categorical input: drift effect × importance."""
    from vigil.schema import FeatureKind, ModelSchema

    schema = ModelSchema.from_dict(model.schema)
    features = [
        (f.name, f.kind.value)
        for f in schema.features
        if f.kind in (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL)
    ]
    if not features or not rows or not base_rows:
        return []
    shares = importances(features, list(base_rows) + list(rows), seed)
    cutoff = alpha / len(features)  # Bonferroni across the features
    out = []
    for name, kind in features:
        drift = _drift(kind, _column(base_rows, name), _column(rows, name))
        if drift is None:
            continue
        share = shares[name] if shares is not None else 1.0 / len(features)
        drifted = drift["p_value"] < cutoff and drift["effect"] >= MIN_EFFECT
        score = drift["effect"] * share if drifted else 0.0
        out.append(
            {
                "kind": "feature",
                "name": name,
                "score": round(min(score, 1.0), 4),
                "evidence": {
                    **drift,
                    "drifted": drifted,
                    "importance": round(share, 4),
                    "importance_method": "surrogate permutation"
                    if shares is not None
                    else "equal (no recorded outputs)",
                    "p_threshold": cutoff,
                },
                "summary": (
                    f"{name} drifted ({drift['method']} {drift['effect']:.2f}) and "
                    f"carries {share:.0%} of the model's importance"
                    if drifted
                    else f"{name}: no significant drift ({drift['method']} {drift['effect']:.2f})"
                ),
            }
        )
    return out


def host_candidates(
    store: Store,
    model: ModelRecord,
    baseline: tuple[float, float],
    window: tuple[float, float],
    version: str | None,
    fields: Sequence[str],
) -> list[dict[str, Any]]:
    """One candidate per host with resource samples in both windows."""
    from vigil.store.resources import queries as rq

    def per_host(span: tuple[float, float]) -> dict[str, dict[str, float]]:
        step = max(60, int(span[1] - span[0]) + 60)
        out: dict[str, dict[str, float]] = {}
        for w in rq.sample_windows(store, model.id, span[0], span[1], step, version=version):
            host = out.setdefault(w["host"], {})
            for f in fields:
                if f in w:
                    host[f] = max(host.get(f, -math.inf), w[f])
        return out

    before, after = per_host(baseline), per_host(window)
    hosts = sorted(set(before) & set(after))
    rises: dict[str, dict[str, float]] = {}
    for host in hosts:
        for f in fields:
            if f in before[host] and f in after[host]:
                base = before[host][f]
                rises.setdefault(host, {})[f] = (after[host][f] - base) / max(abs(base), 1e-9)
    out = []
    for host, by_field in rises.items():
        best_field, best = None, 0.0
        for f, rise in by_field.items():
            others = [rises[h][f] for h in rises if h != host and f in rises[h]]
            excess = rise - (float(np.median(others)) if others else 0.0)
            if excess > best:
                best_field, best = f, excess
        score = min(best, 1.0) * 0.5
        out.append(
            {
                "kind": "host",
                "name": host,
                "score": round(score, 4),
                "evidence": {
                    "field": best_field,
                    "rise_beyond_other_hosts": round(best, 4),
                    "rises": {f: round(v, 4) for f, v in by_field.items()},
                },
                "summary": f"host {host}: {best_field} rose {best:.0%} beyond the other hosts"
                if best_field
                else f"host {host}: no outlying rise",
            }
        )
    return out
