"""Drift between two profiles, computed from their sketches alone (no raw data).

This is vigil's *sketch mode*: the server uses it for windows too large to test row by
row. It applies **the same policy as exact mode** (:func:`vigil.detect_drift`): every
column gets one test with a valid p-value; the p-values of the columns tested together
are corrected by Benjamini–Hochberg; a column drifts when its corrected p-value is below
``alpha`` AND its effect size reaches the method's minimum (the same minimums as exact
mode's catalog: Wasserstein/σ ≥ 0.1 for KS, total variation ≥ 0.05 for chi-squared,
Cohen's h ≥ 0.1 for binary columns). Every result states ``mode="sketch"`` and its
``error_bound``. The tests themselves are described in :mod:`vigil.profile._sketch_tests`.

Methods, per column:

- ``ks``: Kolmogorov–Smirnov on the KLL sketches (numeric values; value length of text;
  vector norm of embeddings), with the p-value interval the rank error allows.
- ``chi2``: categorical columns; with exact counts, exact mode's own test (z-test or
  Fisher for binary columns, chi-squared otherwise); past the frequent-items sketch's
  capacity, a conservative chi-squared on the categories it counts reliably, or "not
  tested" with the reason.
- ``psi``: Population Stability Index ``Σ (c − r)·ln(c / r)`` over bins (reference deciles
  for numeric tracks; categories plus "other" for categorical columns), empty bins floored
  at 1e-4. Drift when ``PSI ≥ threshold`` (default 0.1, as exact mode).
- ``js``: Jensen–Shannon distance (base 2, in [0, 1]) over the same bins. Drift when
  ``JS ≥ threshold`` (default 0.1).

``auto`` uses ``ks`` for numeric, text and embedding columns and ``chi2`` for categorical.

References:
    Karnin, Lang, Liberty (2016), KLL sketches; Apache DataSketches ``ks_test``.
    Benjamini, Hochberg (1995), controlling the false discovery rate.
    Siddiqi, "Credit Risk Scorecards" (2006), PSI. Lin (1991), Jensen–Shannon divergence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.profile._sketch_tests import categorical_test, count_error, ks_test
from vigil.profile.column import ColumnProfile
from vigil.profile.profile import Profile
from vigil.schema import FeatureKind

_NUMERIC = frozenset({FeatureKind.NUMERIC, FeatureKind.TEXT, FeatureKind.EMBEDDING})
_ALL = frozenset(FeatureKind)
METHODS: dict[str, tuple[float, frozenset[FeatureKind]]] = {
    "ks": (0.05, _NUMERIC),
    "psi": (0.1, _ALL),
    "js": (0.1, _ALL),
    "chi2": (0.05, frozenset({FeatureKind.CATEGORICAL})),
}
"""Method name to (default threshold, column kinds it accepts)."""
MIN_EFFECT: dict[str, float] = {"ks": 0.1, "chi2": 0.05, "z": 0.1, "fisher": 0.1}
"""Default minimum effect per test: the same as exact mode's catalog (a test checks)."""
_P_VALUE_METHODS = frozenset({"ks", "chi2"})
_TRACK_NOTES = {
    FeatureKind.TEXT: "Tested on text lengths only: the sketches do not compare words "
    "(exact mode does).",
    FeatureKind.EMBEDDING: "Tested on vector norms only (exact mode compares the vectors).",
}
_FLOOR = 1e-4


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The verdict for one column.

    Attributes:
        column: column name.
        method: the test or distance that ran, or None when the column was not tested.
        statistic: KS ``D``, PSI, JS distance or chi-squared statistic (None if untested).
        p_value: the test's p-value (for KS on estimating sketches: at the sketch's ``D``);
            None for distances and untested columns.
        threshold: the significance level (tests) or distance (PSI, JS) that means drift.
        drifted: the verdict (after the correction and the effect-size floor).
        n_reference: values compared on the reference side.
        n_current: values compared on the current side.
        reason: why, in a sentence or two.
        error_bound: how far the sketch-based statistic may be from the exact one (KS:
            sum of rank errors; categories: largest count error as a share of the rows).
        kind: the column kind.
        mode: always ``"sketch"`` (exact mode is :func:`vigil.detect_drift`).
        p_value_bounds: ``[low, high]``: the p-values the sketch error allows; the
            verdict uses ``high``.
        p_value_adjusted: ``high`` after the Benjamini–Hochberg correction.
        effect_size: how much changed, free of sample size.
        min_effect: the effect size a significant change must reach.
        details: counts mode, categories tested, the effect's name.
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
    kind: str = "numeric"
    mode: str = "sketch"
    p_value_bounds: list[float] | None = None
    p_value_adjusted: float | None = None
    effect_size: float | None = None
    min_effect: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ProfileDrift:
    """Per-column drift verdicts between a reference and a current profile."""

    columns: dict[str, ColumnDrift]
    alpha: float = 0.05
    correction: str = "bh"

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted, in column order."""
        return [name for name, r in self.columns.items() if r.drifted]

    @property
    def share_drifted(self) -> float:
        """Share of tested columns that drifted (0 when none was tested)."""
        tested = [r for r in self.columns.values() if r.statistic is not None]
        return sum(r.drifted for r in tested) / len(tested) if tested else 0.0

    def _repr_html_(self) -> str:
        """Jupyter's inline view: a compact, offline table of the verdicts."""
        from vigil.report.notebook import profile_drift_html

        return profile_drift_html(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: share drifted and every column's verdict."""
        return {
            "mode": "sketch",
            "alpha": self.alpha,
            "correction": self.correction,
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
    alpha: float = 0.05,
    correction: str = "bh",
    min_effect: float | Mapping[str, float] | None = None,
    reference_values: Mapping[str, Any] | None = None,
) -> ProfileDrift:
    """Compare two profiles column by column under exact mode's policy.

    Args:
        reference: the reference profile.
        current: the profile to check.
        method: ``"auto"``, ``"ks"``, ``"psi"``, ``"js"`` or ``"chi2"`` for every column it
            applies to (columns it does not fit use ``auto``).
        per_column: method per column name; overrides ``method``; must fit the column.
        thresholds: threshold per method name: the distance for PSI and JS, the
            significance level for ``ks`` and ``chi2`` (default ``alpha``).
        n_bins: bins (reference quantiles) for PSI and JS on numeric tracks.
        alpha: significance level after the correction.
        correction: ``"bh"`` (Benjamini–Hochberg across the tested columns) or ``"none"``.
        min_effect: minimum effect size of tests — one float, a mapping column → float,
            or None for each test's default (:data:`MIN_EFFECT`).
        reference_values: raw reference values (or a random sample of them) per numeric
            column, when at hand: KS then uses their exact CDF, so only the current
            sketch's rank error remains (about half the error bound).

    Returns:
        A :class:`ProfileDrift` with one :class:`ColumnDrift` per column in either profile.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> ref = Profile.from_columns({"x": rng.normal(0, 1, 5000)})
        >>> cur = Profile.from_columns({"x": rng.normal(0.5, 1, 5000)})
        >>> r = profile_drift(ref, cur).columns["x"]
        >>> r.method, round(r.statistic, 1), r.drifted, round(r.effect_size, 1)
        ('ks', 0.2, True, 0.5)
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
    if not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidParameterError(f"'alpha' must be a float in (0, 1). Got {alpha!r} instead.")
    if correction not in ("bh", "none"):
        raise InvalidParameterError(
            f"'correction' must be 'bh' or 'none'. Got {correction!r} instead."
        )
    limits = {m: default for m, (default, _) in METHODS.items()}
    limits.update(ks=float(alpha), chi2=float(alpha))
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
        eff = min_effect.get(name) if isinstance(min_effect, Mapping) else min_effect
        raw = _raw_values(reference_values, name) if ref.kind is FeatureKind.NUMERIC else None
        results[name] = _compare(name, chosen, ref, cur, limits[chosen], n_bins, eff, raw)
    return ProfileDrift(_apply_policy(results, correction), float(alpha), correction)


def _raw_values(values: Mapping[str, Any] | None, name: str) -> np.ndarray | None:
    if values is None or name not in values:
        return None
    arr = np.asarray(values[name], dtype=np.float64).ravel()
    return np.sort(arr[np.isfinite(arr)])


def _apply_policy(results: dict[str, ColumnDrift], correction: str) -> dict[str, ColumnDrift]:
    """Benjamini–Hochberg across the tested columns, then the effect-size floor."""
    from scipy import stats

    tested = [
        n
        for n, r in results.items()
        if r.statistic is not None and r.details.get("p_value_decision") is not None
    ]
    if not tested:
        return results
    raw = np.array([results[n].details["p_value_decision"] for n in tested], dtype=np.float64)
    use_bh = correction == "bh" and raw.size > 1
    adjusted = stats.false_discovery_control(raw, method="bh") if use_bh else raw
    out = dict(results)
    for name, p_adj in zip(tested, adjusted.tolist(), strict=True):
        c = results[name]
        limit = float(c.threshold or 0.05)
        significant = p_adj < limit
        floor = c.min_effect or 0.0
        large = c.effect_size is None or c.effect_size >= floor
        drifted = significant and large
        verdict = (
            "drift"
            if drifted
            else "no drift (significant but the effect is too small to matter)"
            if significant
            else "no drift"
        )
        label = "BH-adjusted p" if use_bh else "p"
        effect = ""
        if c.effect_size is not None:
            effect = (
                f"; {c.details.get('effect', 'effect')} {c.effect_size:.3g} "
                f"{'>=' if large else '<'} minimum {floor:.3g}"
            )
        reason = (
            f"{verdict}: {label} = {p_adj:.3g} {'<' if significant else '>='} "
            f"{limit:g}{effect} (sketch mode). {c.reason}"
        )
        out[name] = replace(c, p_value_adjusted=float(p_adj), drifted=drifted, reason=reason)
    return out


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
    if ref.kind is FeatureKind.CATEGORICAL:  # nulls are the "<missing>" level, as exact mode
        return ref.count + ref.null_count, cur.count + cur.null_count
    return ref.n_numeric, cur.n_numeric


def _untested(
    name: str, ref: ColumnProfile | None, cur: ColumnProfile | None, reason: str
) -> ColumnDrift:
    kind = (ref or cur).kind.value if (ref or cur) is not None else "unknown"  # type: ignore[union-attr]
    return ColumnDrift(
        name, None, None, None, None, False,
        ref.count if ref else 0, cur.count if cur else 0, reason, kind=kind,
    )  # fmt: skip


def _compare(
    name: str,
    method: str,
    ref: ColumnProfile,
    cur: ColumnProfile,
    limit: float,
    n_bins: int,
    min_effect: float | None,
    raw: np.ndarray | None = None,
) -> ColumnDrift:
    n_ref, n_cur = _sizes(method, ref, cur)
    if method == "ks" and raw is not None and raw.size:
        n_ref = int(raw.size)
    kind = ref.kind.value
    if ref.count == 0 or cur.count == 0 or n_ref == 0 or n_cur == 0:
        side = "reference" if (ref.count == 0 or n_ref == 0) else "current"
        return ColumnDrift(
            name,
            None,
            None,
            None,
            None,
            False,
            n_ref,
            n_cur,
            f"no values in the {side} profile",
            kind=kind,
        )
    if method in _P_VALUE_METHODS:
        t = ks_test(ref, cur, raw) if method == "ks" else categorical_test(ref, cur)
        if method == "ks" and ref.kind in _TRACK_NOTES:
            t = replace(t, reason=f"{t.reason} {_TRACK_NOTES[ref.kind]}")
        floor = MIN_EFFECT[t.method] if min_effect is None else float(min_effect)
        return ColumnDrift(
            name,
            t.method,
            t.statistic,
            t.p_value,
            limit,
            False,
            n_ref,
            n_cur,
            t.reason,
            t.error_bound,
            kind=kind,
            effect_size=t.effect_size,
            min_effect=floor if t.statistic is not None else None,
            p_value_bounds=None if t.p_value_bounds is None else list(t.p_value_bounds),
            details={**t.details, "effect": t.effect_name, "p_value_decision": t.p_value_decision},
        )
    p_ref, p_cur, err = _distributions(ref, cur, n_bins)
    q_ref, q_cur = np.maximum(p_ref, _FLOOR), np.maximum(p_cur, _FLOOR)
    if method == "psi":
        stat = float(np.sum((q_cur - q_ref) * np.log(q_cur / q_ref)))
    else:
        stat = _js_distance(p_ref, p_cur)
    drifted = stat >= limit
    reason = f"{method.upper()}={stat:.4f} {'≥' if drifted else '<'} {limit:g}"
    return ColumnDrift(
        name,
        method,
        stat,
        None,
        limit,
        drifted,
        n_ref,
        n_cur,
        reason,
        err,
        kind=kind,
        effect_size=stat,
    )


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
        err = max(count_error(ref) / ref.count, count_error(cur) / cur.count)
        return ca / ca.sum(), cb / cb.sum(), err
    assert ref.kll is not None
    assert cur.kll is not None
    ranks = np.linspace(0.0, 1.0, n_bins + 1)[1:-1].tolist()
    edges = np.unique(ref.kll.get_quantiles(ranks)).tolist()
    pa = np.asarray(ref.kll.get_pmf(edges), dtype=np.float64)
    pb = np.asarray(cur.kll.get_pmf(edges), dtype=np.float64)
    return pa, pb, ref.rank_error + cur.rank_error


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    return math.sqrt(max(0.5 * kl(p) + 0.5 * kl(q), 0.0))
