"""Drift between two profiles, computed from their sketches alone (no raw data).

Methods, per column:

- ``ks``: two-sample Kolmogorov–Smirnov on the KLL sketches (numeric values; value length
  of text; vector norm of embeddings). ``D = max_x |F_ref(x) − F_cur(x)|`` is evaluated on
  the union of both sketches' quantile grids. Each sketch's CDF is within its normalized
  rank error ``ε`` (99% confidence), so the true ``D`` is at least ``D − ε_ref − ε_cur``;
  the p-value is the asymptotic two-sample KS p-value (scipy's ``kstwo.sf(D, round(n·m /
  (n+m)))``, as ``ks_2samp(method="asymp")``) at that lower bound, which makes it
  conservative. Drift when ``p < threshold`` (default 0.05).
- ``psi``: Population Stability Index ``Σ (c − r)·ln(c / r)`` over bins (reference deciles
  for numeric tracks; categories plus "other" for categorical columns), empty bins floored
  at 1e-4. Drift when ``PSI ≥ threshold`` (default 0.2: the usual "significant shift"
  rule of thumb).
- ``js``: Jensen–Shannon distance (base 2, in [0, 1]) over the same bins. Drift when
  ``JS ≥ threshold`` (default 0.1).
- ``chi2``: Pearson's chi-squared test of homogeneity on the 2×K table of category counts
  from the frequent-items sketches (categories past the sketch's capacity pooled into
  "other"; no continuity correction). Drift when ``p < threshold`` (default 0.05).

``auto`` uses ``ks`` for numeric, text and embedding columns and ``chi2`` for categorical.

References:
    Karnin, Lang, Liberty (2016), KLL sketches; Apache DataSketches ``ks_test``.
    Siddiqi, "Credit Risk Scorecards" (2006), PSI. Lin (1991), Jensen–Shannon divergence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.profile.column import ColumnProfile
from vigil.profile.profile import Profile
from vigil.schema import FeatureKind

_NUMERIC = frozenset({FeatureKind.NUMERIC, FeatureKind.TEXT, FeatureKind.EMBEDDING})
_ALL = frozenset(FeatureKind)
METHODS: dict[str, tuple[float, frozenset[FeatureKind]]] = {
    "ks": (0.05, _NUMERIC),
    "psi": (0.2, _ALL),
    "js": (0.1, _ALL),
    "chi2": (0.05, frozenset({FeatureKind.CATEGORICAL})),
}
"""Method name to (default threshold, column kinds it accepts)."""
_P_VALUE_METHODS = frozenset({"ks", "chi2"})
_FLOOR = 1e-4


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The verdict for one column.

    Attributes:
        column: column name.
        method: the test or distance that ran, or None when the column was not tested.
        statistic: KS ``D``, PSI, JS distance or chi-squared statistic (None if untested).
        p_value: the test's p-value; None for distances and untested columns.
        threshold: the p-value level (tests) or distance (PSI, JS) that means drift.
        drifted: the verdict.
        n_reference: values compared on the reference side.
        n_current: values compared on the current side.
        reason: one sentence explaining the verdict.
        error_bound: how far the sketch-based statistic may be from the exact one (KS:
            sum of rank errors; categories: largest count error as a share of the rows).
    """

    column: str
    method: str | None
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool
    n_reference: int
    n_current: int
    reason: str
    error_bound: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ProfileDrift:
    """Per-column drift verdicts between a reference and a current profile."""

    columns: dict[str, ColumnDrift]

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted, in column order."""
        return [name for name, r in self.columns.items() if r.drifted]

    @property
    def share_drifted(self) -> float:
        """Share of tested columns that drifted (0 when none was tested)."""
        tested = [r for r in self.columns.values() if r.method is not None]
        return sum(r.drifted for r in tested) / len(tested) if tested else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: share drifted and every column's verdict."""
        return {
            "share_drifted": self.share_drifted,
            "drifted_columns": self.drifted_columns,
            "columns": {name: r.to_dict() for name, r in self.columns.items()},
        }


def profile_drift(
    reference: Profile,
    current: Profile,
    *,
    method: str = "auto",
    per_column: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    n_bins: int = 10,
) -> ProfileDrift:
    """Compare two profiles column by column.

    Args:
        reference: the reference profile.
        current: the profile to check.
        method: ``"auto"``, ``"ks"``, ``"psi"``, ``"js"`` or ``"chi2"`` for every column it
            applies to (columns it does not fit use ``auto``).
        per_column: method per column name; overrides ``method``; must fit the column.
        thresholds: threshold per method name, replacing the defaults in :data:`METHODS`.
        n_bins: bins (reference quantiles) for PSI and JS on numeric tracks.

    Returns:
        A :class:`ProfileDrift` with one :class:`ColumnDrift` per column in either profile.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> ref = Profile.from_columns({"x": rng.normal(0, 1, 5000)})
        >>> cur = Profile.from_columns({"x": rng.normal(0.5, 1, 5000)})
        >>> r = profile_drift(ref, cur).columns["x"]
        >>> r.method, round(r.statistic, 1), r.drifted
        ('ks', 0.2, True)
        >>> profile_drift(ref, ref).drifted_columns
        []
    """
    if not isinstance(reference, Profile) or not isinstance(current, Profile):
        raise InvalidParameterError(
            "profile_drift compares two Profile objects. Got "
            f"{type(reference).__name__} and {type(current).__name__}."
        )
    _check_method("method", method, allow_auto=True)
    per_column = dict(per_column or {})
    for name, m in per_column.items():
        _check_method(f"per_column[{name!r}]", m, allow_auto=True)
    limits = {m: default for m, (default, _) in METHODS.items()}
    for m, value in (thresholds or {}).items():
        _check_method("a key of 'thresholds'", m, allow_auto=False)
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise InvalidParameterError(
                f"The threshold for {m!r} must be a positive finite number. Got {value!r}."
            )
        limits[m] = float(value)
    if not isinstance(n_bins, int) or n_bins < 2:
        raise InvalidParameterError(f"'n_bins' must be an integer ≥ 2. Got {n_bins!r} instead.")

    ref_cols, cur_cols = reference.columns, current.columns
    results: dict[str, ColumnDrift] = {}
    for name in {**ref_cols, **cur_cols}:
        ref, cur = ref_cols.get(name), cur_cols.get(name)
        if ref is None or cur is None:
            side = "reference" if ref is None else "current"
            results[name] = _untested(name, ref, cur, f"column missing from the {side} profile")
            continue
        if ref.kind is not cur.kind:
            reason = f"kinds differ ({ref.kind.value} vs {cur.kind.value}); not compared"
            results[name] = _untested(name, ref, cur, reason)
            continue
        chosen = _resolve(name, ref.kind, per_column.get(name), method)
        results[name] = _compare(name, chosen, ref, cur, limits[chosen], n_bins)
    return ProfileDrift(results)


def _check_method(label: str, m: Any, *, allow_auto: bool) -> None:
    if m in METHODS or (allow_auto and m == "auto"):
        return
    allowed = (["auto"] if allow_auto else []) + sorted(METHODS)
    raise InvalidParameterError(f"{label} must be one of {allowed}. Got {m!r} instead.")


def _resolve(name: str, kind: FeatureKind, explicit: str | None, default: str) -> str:
    auto = "chi2" if kind is FeatureKind.CATEGORICAL else "ks"
    if explicit is not None and explicit != "auto":
        if kind not in METHODS[explicit][1]:
            raise InvalidParameterError(
                f"Method {explicit!r} does not apply to {kind.value} column {name!r}."
            )
        return explicit
    if explicit is None and default != "auto" and kind in METHODS[default][1]:
        return default
    return auto


def _sizes(method: str, ref: ColumnProfile, cur: ColumnProfile) -> tuple[int, int]:
    if method == "chi2" or (ref.kind is FeatureKind.CATEGORICAL):
        return ref.count, cur.count
    return ref.n_numeric, cur.n_numeric


def _untested(
    name: str, ref: ColumnProfile | None, cur: ColumnProfile | None, reason: str
) -> ColumnDrift:
    return ColumnDrift(
        name, None, None, None, None, False,
        ref.count if ref else 0, cur.count if cur else 0, reason,
    )  # fmt: skip


def _compare(
    name: str, method: str, ref: ColumnProfile, cur: ColumnProfile, limit: float, n_bins: int
) -> ColumnDrift:
    n_ref, n_cur = _sizes(method, ref, cur)
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current"
        return ColumnDrift(
            name, None, None, None, None, False, n_ref, n_cur, f"no values in the {side} profile"
        )
    if method == "ks":
        d, err = _ks_statistic(ref, cur)
        d_low = max(d - err, 0.0)
        p = _ks_pvalue(d_low, n_ref, n_cur)
        drifted = p < limit
        reason = (
            f"KS D={d:.4f} ± {err:.4f} (sketch error); p at D−error = {p:.3g} "
            f"{'<' if drifted else '≥'} {limit:g}"
        )
        return ColumnDrift(name, method, d, p, limit, drifted, n_ref, n_cur, reason, err)
    p_ref, p_cur, err = _distributions(ref, cur, n_bins)
    if method == "chi2":
        stat, p = _chi2(p_ref * n_ref, p_cur * n_cur)
        drifted = p < limit
        reason = f"chi-squared={stat:.4g}, p={p:.3g} {'<' if drifted else '≥'} {limit:g}"
        return ColumnDrift(name, method, stat, p, limit, drifted, n_ref, n_cur, reason, err)
    q_ref, q_cur = np.maximum(p_ref, _FLOOR), np.maximum(p_cur, _FLOOR)
    if method == "psi":
        stat = float(np.sum((q_cur - q_ref) * np.log(q_cur / q_ref)))
    else:
        stat = _js_distance(p_ref, p_cur)
    drifted = stat >= limit
    reason = f"{method.upper()}={stat:.4f} {'≥' if drifted else '<'} {limit:g}"
    return ColumnDrift(name, method, stat, None, limit, drifted, n_ref, n_cur, reason, err)


def _grid(col: ColumnProfile) -> np.ndarray:
    sk = col.kll
    assert sk is not None
    m = min(4 * sk.num_retained + 1, 4001)
    return np.asarray(sk.get_quantiles(np.linspace(0.0, 1.0, m).tolist()), dtype=np.float64)


def _ks_statistic(ref: ColumnProfile, cur: ColumnProfile) -> tuple[float, float]:
    points = np.unique(np.concatenate([_grid(ref), _grid(cur)])).tolist()
    assert ref.kll is not None
    assert cur.kll is not None
    f_ref = np.asarray(ref.kll.get_cdf(points, True)[:-1])
    f_cur = np.asarray(cur.kll.get_cdf(points, True)[:-1])
    d = float(np.max(np.abs(f_ref - f_cur))) if points else 0.0
    return d, ref.rank_error + cur.rank_error


def _ks_pvalue(d: float, n_ref: int, n_cur: int) -> float:
    if d <= 0.0:
        return 1.0
    from scipy.stats import kstwo

    en = n_ref * n_cur / (n_ref + n_cur)
    return float(np.clip(kstwo.sf(d, np.round(en)), 0.0, 1.0))


def _distributions(
    ref: ColumnProfile, cur: ColumnProfile, n_bins: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Bin probabilities of both sides and the sketch error as a probability."""
    if ref.kind is FeatureKind.CATEGORICAL:
        a, b = ref.item_counts(), cur.item_counts()
        keys = sorted(set(a) | set(b))
        ca = np.array([a.get(k, 0) for k in keys] + [0], dtype=np.float64)
        cb = np.array([b.get(k, 0) for k in keys] + [0], dtype=np.float64)
        ca[-1] = max(ref.count - ca[:-1].sum(), 0.0)  # values past the sketch's capacity
        cb[-1] = max(cur.count - cb[:-1].sum(), 0.0)
        err = max(ref.items_error / ref.count, cur.items_error / cur.count)
        return ca / ca.sum(), cb / cb.sum(), err
    assert ref.kll is not None
    assert cur.kll is not None
    ranks = np.linspace(0.0, 1.0, n_bins + 1)[1:-1].tolist()
    edges = np.unique(ref.kll.get_quantiles(ranks)).tolist()
    pa = np.asarray(ref.kll.get_pmf(edges), dtype=np.float64)
    pb = np.asarray(cur.kll.get_pmf(edges), dtype=np.float64)
    return pa, pb, ref.rank_error + cur.rank_error


def _chi2(obs_ref: np.ndarray, obs_cur: np.ndarray) -> tuple[float, float]:
    table = np.vstack([obs_ref, obs_cur])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    from scipy.special import chdtrc

    return stat, float(chdtrc(table.shape[1] - 1, stat))


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return math.sqrt(max(0.5 * kl(p) + 0.5 * kl(q), 0.0))
