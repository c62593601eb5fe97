"""Root cause: which feature, segment, version, error kind or host is behind a change.

A metric's change between a baseline window and the window in question is explained from
the raw predictions of both windows through a per-row quantity that averages to the
metric (or stands in for it):

=====================================  ==============================================
metric                                 per-row quantity
=====================================  ==============================================
``error_rate``, ``error_rate:<kind>``  1 when the prediction failed (with that kind)
``latency_p50/p95/p99``                the latency (the mean stands in for quantiles)
``accuracy``, ``f1``, ``roc_auc``,     1 when the labelled prediction was right
``log_loss``
``estimated_*``                        the top class probability (CBPE's expected
                                       accuracy of the row, no labels needed)
``mae``, ``rmse``, ``r2``              the absolute error of the labelled prediction
=====================================  ==============================================

Every candidate gets a score in [0, 1] read as "the share of the change it explains
beyond its fair share", with its evidence:

- **segment** (each categorical input) and **version**: a group's contribution to the
  change is ``w1·m1 − w0·m0`` (its weight and mean in both windows); under a change shared
  by every group it would be ``w1·Δ``. The score is the excess over that, as a share of
  ``Δ``, kept only when the group changed differently from the rest of the traffic
  (difference in differences over its standard error, p < 0.01; a group new in the
  window is compared with the rest of the window).
  The evidence splits it into ``within`` (``w1·(m1 − m0)``) and ``mix`` (``(w1 − w0)·m0``).
- **error kind** (error rates): the rise of one kind's rate beyond its share of the
  baseline's errors, as a share of the rise of the error rate.
- **feature** (numeric and categorical inputs): the drift effect (Kolmogorov–Smirnov
  statistic, or total-variation distance for categories; significant at p < 0.01 after
  Bonferroni) times the feature's importance to the model: permutation importance of a
  surrogate random forest trained on the inputs and the model's recorded outputs
  (model-agnostic: the model itself is not needed).
- **host** (latency and error metrics, from resource samples): the rise of a host's
  worst resource field beyond the other hosts' median rise, capped at 0.5 since samples
  are not tied to single predictions.

The verdict names the top candidate when its score reaches ``MIN_SCORE`` and the change
itself is significant; otherwise it says "no clear cause".
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.errors import InvalidParameterError

if TYPE_CHECKING:
    from vigil.store import ModelRecord, Store

MIN_SCORE = 0.2
ALPHA = 0.01  # significance of a candidate
ALPHA_CHANGE = 0.05  # significance of the change to explain
MAX_ROWS = 20_000  # rows read per window (the newest: a late change is not diluted)
MAX_SEGMENTS = 30  # categorical inputs with more values are not read as segments
MIN_GROUP = 20  # rows a group needs in the window to be judged
_QUALITY = ("accuracy", "f1", "roc_auc", "log_loss")
_REGRESSION = ("mae", "rmse", "r2")
_HOST_FIELDS = (
    "client_latency_p95_ms",
    "net_network_p95_ms",
    "process_cpu_percent",
    "host_cpu_percent",
    "gpu_utilization_percent",
    "process_rss_bytes",
)


def explainable(metric: str) -> bool:
    """Whether ``metric`` has a per-row quantity (see the module docstring)."""
    return _quantity(metric) is not None


def _quantity(metric: str) -> Callable[[dict[str, Any]], float | None] | None:
    from vigil.engine.quality.windows import class_value, prediction_value

    base, _, kind = metric.partition(":")
    if base == "error_rate":
        if kind:
            return lambda r: float(r["error"] is not None and r.get("error_type") == kind)
        return lambda r: float(r["error"] is not None)
    if base in ("latency_p50", "latency_p95", "latency_p99"):
        return lambda r: None if r["latency_s"] is None else float(r["latency_s"])
    if base in _QUALITY:

        def correct(r: dict[str, Any]) -> float | None:
            if r["actual"] is None or r["error"] is not None:
                return None
            return float(class_value(prediction_value(r["outputs"])) == class_value(r["actual"]))

        return correct
    if base.startswith("estimated_"):

        def confidence(r: dict[str, Any]) -> float | None:
            p = r["proba"]
            if isinstance(p, dict):
                p = list(p.values())
            if isinstance(p, int | float) and not isinstance(p, bool):
                return max(float(p), 1 - float(p))
            if isinstance(p, list) and p and all(isinstance(v, int | float) for v in p):
                return float(max(p)) if len(p) > 1 else max(float(p[0]), 1 - float(p[0]))
            return None

        return confidence
    if base in _REGRESSION:

        def abs_error(r: dict[str, Any]) -> float | None:
            pred = prediction_value(r["outputs"])
            if (
                r["actual"] is None
                or not isinstance(pred, int | float)
                or not isinstance(r["actual"], int | float)
            ):
                return None
            return abs(float(pred) - float(r["actual"]))

        return abs_error
    return None


def _bad_when_higher(metric: str) -> bool:
    base = metric.partition(":")[0]
    return not (base in ("accuracy", "f1", "roc_auc", "r2") or base.startswith("estimated_"))


def _test(a: np.ndarray, b: np.ndarray) -> float:
    """p-value that two samples of the per-row quantity have the same mean (two-proportion
    z-test for 0/1 values, Welch's t-test otherwise)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return 1.0
    binary = np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all()
    if binary:
        p1, p2, n1, n2 = a.mean(), b.mean(), len(a), len(b)
        pooled = (a.sum() + b.sum()) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        if se == 0:
            return 1.0 if p1 == p2 else 0.0
        return float(2 * stats.norm.sf(abs(p1 - p2) / se))
    if np.std(a) == 0 and np.std(b) == 0:
        return 1.0 if a.mean() == b.mean() else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _var_mean(a: np.ndarray) -> float:
    """Variance of the sample mean (binomial for 0/1 values, with a floor of 1/n²)."""
    n = len(a)
    if n < 2:
        return math.inf
    return max(float(np.var(a, ddof=1)), 1.0 / n) / n


def _interaction(
    cur: np.ndarray, cur_rest: np.ndarray, before: np.ndarray | None, before_rest: np.ndarray | None
) -> float:
    """p-value that a group changed like the rest of the traffic: the difference of the
    two changes (difference in differences) over its standard error; a group new in the
    window (``before`` None) is compared with the rest of the window."""
    from scipy import stats

    if len(cur_rest) < 2:
        return _test(cur, before) if before is not None and len(before) else 1.0
    diff = float(cur.mean() - cur_rest.mean())
    var = _var_mean(cur) + _var_mean(cur_rest)
    if before is not None and before_rest is not None and len(before_rest) >= 2:
        diff -= float(before.mean() - before_rest.mean())
        var += _var_mean(before) + _var_mean(before_rest)
    if not math.isfinite(var) or var <= 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(diff) / math.sqrt(var)))


def _groups(
    rows: Sequence[dict[str, Any]], values: np.ndarray, key: Callable[[dict[str, Any]], Any]
) -> dict[Any, np.ndarray]:
    out: dict[Any, list[float]] = defaultdict(list)
    for r, v in zip(rows, values, strict=True):
        if not math.isnan(v):
            out[key(r)].append(v)
    return {k: np.asarray(v) for k, v in out.items()}


def _decompose(
    kind: str,
    name: str,
    base: dict[Any, np.ndarray],
    cur: dict[Any, np.ndarray],
    delta: float,
    all_base: np.ndarray,
) -> list[dict[str, Any]]:
    """Candidates of one grouping (a segment input, or versions)."""
    n0 = sum(len(v) for v in base.values()) or 1
    n1 = sum(len(v) for v in cur.values()) or 1
    m0_all = float(all_base.mean()) if len(all_base) else 0.0
    out = []
    for group, values in cur.items():
        if len(values) < MIN_GROUP:
            continue
        before = base.get(group, np.empty(0))
        w0, w1 = len(before) / n0, len(values) / n1
        m1 = float(values.mean())
        m0 = float(before.mean()) if len(before) else m0_all
        contribution = w1 * m1 - w0 * m0
        rest = [v for g, v in cur.items() if g != group]
        cur_rest = np.concatenate(rest) if rest else np.empty(0)
        if len(before) >= MIN_GROUP:
            base_rest = [v for g, v in base.items() if g != group]
            p = _interaction(
                values, cur_rest, before, np.concatenate(base_rest) if base_rest else np.empty(0)
            )
        else:
            p = _interaction(values, cur_rest, None, None)
        score = (contribution - w1 * delta) / delta if delta else 0.0
        score = min(max(score, 0.0), 1.0) if p < ALPHA else 0.0
        label = f"{name}={group}" if kind == "segment" else str(group)
        out.append(
            {
                "kind": kind,
                "name": label,
                "score": round(score, 4),
                "evidence": {
                    "weight_baseline": round(w0, 4),
                    "weight": round(w1, 4),
                    "mean_baseline": None if not len(before) else round(m0, 6),
                    "mean": round(m1, 6),
                    "contribution": round(contribution, 6),
                    "within": round(w1 * (m1 - m0), 6),
                    "mix": round((w1 - w0) * (m0 - m0_all), 6),
                    "p_value": p,
                    "n_baseline": len(before),
                    "n": len(values),
                },
                "summary": f"{label}: {m0:.4g} -> {m1:.4g} on {w1:.0%} of the traffic",
            }
        )
    return out


def _error_kinds(
    base_rows: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], delta: float
) -> list[dict[str, Any]]:
    def counts(rs: Sequence[dict[str, Any]]) -> dict[str, int]:
        c: dict[str, int] = defaultdict(int)
        for r in rs:
            if r["error"] is not None:
                c[r.get("error_type") or "unknown"] += 1
        return c

    c0, c1 = counts(base_rows), counts(rows)
    n0, n1 = max(len(base_rows), 1), max(len(rows), 1)
    e0 = sum(c0.values())
    kinds = sorted(set(c0) | set(c1))
    out = []
    for kind in kinds:
        r0, r1 = c0.get(kind, 0) / n0, c1.get(kind, 0) / n1
        share = c0.get(kind, 0) / e0 if e0 else 1 / len(kinds)
        rise = r1 - r0
        a = np.zeros(n1)
        a[: c1.get(kind, 0)] = 1
        b = np.zeros(n0)
        b[: c0.get(kind, 0)] = 1
        p = _test(a, b)
        score = (rise - share * delta) / delta if delta else 0.0
        score = min(max(score, 0.0), 1.0) if p < ALPHA else 0.0
        out.append(
            {
                "kind": "error_kind",
                "name": kind,
                "score": round(score, 4),
                "evidence": {
                    "rate_baseline": round(r0, 6),
                    "rate": round(r1, 6),
                    "share_of_baseline_errors": round(share, 4),
                    "p_value": p,
                },
                "summary": f"{kind} errors: {r0:.2%} -> {r1:.2%} of predictions",
            }
        )
    return out


def _features(
    model: ModelRecord,
    base_rows: Sequence[dict[str, Any]],
    rows: Sequence[dict[str, Any]],
    seed: int,
) -> list[dict[str, Any]]:
    from vigil.engine.insight.explain_features import feature_candidates

    return feature_candidates(model, base_rows, rows, alpha=ALPHA, seed=seed)


def explain(
    store: Store,
    model: ModelRecord,
    metric: str,
    *,
    start: float,
    end: float,
    baseline_start: float | None = None,
    baseline_end: float | None = None,
    version: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Rank the candidate causes of the change of ``metric`` from the baseline window
    (default: the window of the same length just before ``start``) to ``[start, end)``.

    Raises:
        InvalidParameterError: A metric without a per-row quantity, or a bad window.
    """
    from vigil.store.quality.queries import predictions

    quantity = _quantity(metric)
    if quantity is None:
        raise InvalidParameterError(
            f"Metric {metric!r} cannot be explained: root cause needs error_rate, "
            "error_rate:<kind>, latency_p50/p95/p99, a quality metric (accuracy, f1, "
            "roc_auc, log_loss, mae, rmse, r2) or an estimated_* one."
        )
    b_start, b_end = _baseline(start, end, baseline_start, baseline_end)
    rows = predictions(store, model.id, start, end, version, limit=MAX_ROWS, newest=True)
    base_rows = predictions(store, model.id, b_start, b_end, version, limit=MAX_ROWS, newest=True)
    v1 = np.array([_nan(quantity(r)) for r in rows], dtype=np.float64)
    v0 = np.array([_nan(quantity(r)) for r in base_rows], dtype=np.float64)
    a1, a0 = v1[~np.isnan(v1)], v0[~np.isnan(v0)]
    out: dict[str, Any] = {
        "model": model.name,
        "metric": metric,
        "version": version,
        "window": {"start": start, "end": end, "n": len(rows), "n_valued": int(a1.size)},
        "baseline": {"start": b_start, "end": b_end, "n": len(base_rows), "n_valued": int(a0.size)},
        "change": None,
        "candidates": [],
        "verdict": "no clear cause",
        "clear_cause": False,
    }
    if a1.size < MIN_GROUP or a0.size < MIN_GROUP:
        out["reason"] = (
            f"too few rows with a value of {metric} (window {a1.size}, baseline "
            f"{a0.size}; {MIN_GROUP} needed in each)"
        )
        return out
    m0, m1 = float(a0.mean()), float(a1.mean())
    delta = m1 - m0
    p_change = _test(a1, a0)
    worse = delta > 0 if _bad_when_higher(metric) else delta < 0
    out["change"] = {
        "baseline": round(m0, 6),
        "current": round(m1, 6),
        "delta": round(delta, 6),
        "p_value": p_change,
        "worse": bool(worse),
        "quantity": "mean per row",
    }
    candidates = _candidates(
        store,
        model,
        metric,
        version,
        (base_rows, v0, (b_start, b_end)),
        (rows, v1, (start, end)),
        delta,
        a0,
        seed,
    )
    candidates.sort(key=lambda c: (-c["score"], c["kind"], c["name"]))
    out["candidates"] = candidates
    _verdict(out, candidates, metric, p_change)
    return out


def _baseline(
    start: float, end: float, baseline_start: float | None, baseline_end: float | None
) -> tuple[float, float]:
    """The baseline window: as given, else the window of the same length before ``start``."""
    if not end > start:
        raise InvalidParameterError(f"'end' ({end}) must be after 'start' ({start}).")
    b_end = start if baseline_end is None else baseline_end
    b_start = b_end - (end - start) if baseline_start is None else baseline_start
    if not b_end > b_start:
        raise InvalidParameterError(
            f"'baseline_end' ({b_end}) must be after 'baseline_start' ({b_start})."
        )
    return b_start, b_end


Side = tuple[list[dict[str, Any]], np.ndarray, tuple[float, float]]  # rows, values, window


def _candidates(
    store: Store,
    model: ModelRecord,
    metric: str,
    version: str | None,
    baseline: Side,
    current: Side,
    delta: float,
    a0: np.ndarray,
    seed: int,
) -> list[dict[str, Any]]:
    """Every candidate cause, unsorted: segments of categorical inputs, versions, error
    kinds (error_rate), input features and, for errors and latency, the hosts."""
    from vigil.schema import FeatureKind, ModelSchema

    base_rows, v0, b_window = baseline
    rows, v1, window = current
    candidates: list[dict[str, Any]] = []
    schema = ModelSchema.from_dict(model.schema)
    for feature in schema.features:
        if feature.kind is not FeatureKind.CATEGORICAL:
            continue
        key = _input_key(feature.name)
        cur_groups = _groups(rows, v1, key)
        if len(cur_groups) > MAX_SEGMENTS:
            continue
        candidates += _decompose(
            "segment", feature.name, _groups(base_rows, v0, key), cur_groups, delta, a0
        )
    versions = _groups(rows, v1, lambda r: r["version"])
    base_versions = _groups(base_rows, v0, lambda r: r["version"])
    if version is None and (len(versions) > 1 or set(versions) != set(base_versions)):
        candidates += _decompose("version", "version", base_versions, versions, delta, a0)
    if metric == "error_rate":
        candidates += _error_kinds(base_rows, rows, delta)
    candidates += _features(model, base_rows, rows, seed)
    if metric.partition(":")[0] in ("error_rate", "latency_p50", "latency_p95", "latency_p99"):
        from vigil.engine.insight.explain_features import host_candidates

        candidates += host_candidates(store, model, b_window, window, version, _HOST_FIELDS)
    return candidates


def _verdict(
    out: dict[str, Any], candidates: list[dict[str, Any]], metric: str, p_change: float
) -> None:
    """A clear cause when the change is significant and the top candidate explains
    enough of it; else the reason there is none."""
    top = candidates[0] if candidates else None
    if p_change >= ALPHA_CHANGE:
        out["reason"] = f"the change of {metric} is not significant (p = {p_change:.3g})"
    elif top is None or top["score"] < MIN_SCORE:
        out["reason"] = f"no candidate explains at least {MIN_SCORE:.0%} of the change"
    else:
        out["verdict"] = f"{top['kind']} {top['name']}"
        out["clear_cause"] = True


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _input_key(name: str) -> Callable[[dict[str, Any]], Any]:
    def key(r: dict[str, Any]) -> Any:
        inputs = r["inputs"]
        value = inputs.get(name) if isinstance(inputs, dict) else None
        return value if value is None or isinstance(value, str | int | float | bool) else str(value)

    return key
