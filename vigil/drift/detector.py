"""``detect_drift`` and :class:`DriftDetector`: the default drift policy over a table.

Policy (documented in :func:`detect_drift`): each column gets one test; the p-values of
all columns tested together are corrected by Benjamini–Hochberg; a column drifts when its
corrected p-value is below ``alpha`` AND its effect size reaches the method's minimum (so
a million-row window does not alarm on a 0.01σ shift). Distances (PSI, JS, ...) drift at
their threshold. The data set drifts when the share of drifted columns reaches
``drift_share`` or a multivariate test detects drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from vigil.errors import InvalidParameterError
from vigil.schema import FeatureKind, ModelSchema

from ._columns import PreparedColumn
from ._frame import guess_kind, table_columns
from ._numeric_block import NumericBlock, block_plots, compare_block, takes_block
from .batch import CATALOG, CategoricalSample, NumericSample, get_test
from .batch._base import _data_notes, _residue_to_zero
from .batch._sample import MISSING_LEVEL, CodedColumn
from .report import ColumnDrift, DriftReport, MultivariateDrift

MULTIVARIATE_METHODS = ("classifier", "mmd", "pca")


class DriftDetector:
    """A reference table prepared once and compared with any number of windows.

    Args:
        reference: pandas or polars DataFrame, pyarrow Table, or mapping of columns.
        method: ``"auto"`` or a catalog method for every column it applies to.
        per_column: method per column name, overriding ``method``.
        schema: a :class:`~vigil.schema.ModelSchema` giving column kinds (and the columns
            to compare); None infers kinds from the reference.
        columns: compare only these columns.
        alpha: significance level (after correction).
        min_effect: minimum effect size for tests — one float for every column, a
            mapping column → float, or None for each method's default.
        correction: ``"bh"`` (Benjamini–Hochberg) or ``"none"``.
        drift_share: share of drifted columns that makes the data set drift.
        multivariate: multivariate tests on the numeric and categorical columns
            (``"classifier"``, ``"mmd"``, ``"pca"``, a sequence of them, or None).
        bins: bins for binned distances on numeric columns.
        max_rows: rows per side used by classifiers (subsampled).
        embedding_method: ``"classifier"`` or ``"mmd"`` for embedding columns.
        random_state: seed of every subsample, split and permutation.

    Examples:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(0)
        >>> abc = ["a", "b", "c"]
        >>> ref = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(abc, 2000)})
        >>> detector = DriftDetector(ref, multivariate=None)
        >>> cur = pd.DataFrame({"x": rng.normal(0.5, 1, 1000), "c": rng.choice(abc, 1000)})
        >>> detector.compare(cur).drifted_columns
        ['x']
    """

    _one_shot = False  # see _OneShot

    def __init__(
        self,
        reference: Any,
        *,
        method: str = "auto",
        per_column: Mapping[str, str] | None = None,
        schema: ModelSchema | None = None,
        columns: Sequence[str] | None = None,
        alpha: float = 0.05,
        min_effect: float | Mapping[str, float] | None = None,
        correction: str = "bh",
        drift_share: float = 0.5,
        multivariate: str | Sequence[str] | None = "classifier",
        bins: int = 10,
        max_rows: int = 5000,
        embedding_method: str = "classifier",
        random_state: int = 0,
    ) -> None:
        _check_detector_options(alpha, drift_share, correction, embedding_method, method)
        self.multivariate = _multivariate_list(multivariate)
        self.alpha, self.correction, self.drift_share = alpha, correction, drift_share
        self.random_state, self.max_rows = random_state, max_rows
        data = table_columns(reference, "reference")
        per_column = dict(per_column or {})
        names = _column_names(data, schema, columns, per_column)
        self.notes_: list[str] = []
        if schema is not None:
            absent = [f.name for f in schema.features if f.name not in data]
            if absent:
                self.notes_.append(f"Schema features absent from the reference: {absent}.")
        self.n_reference_ = next(iter(data.values())).shape[0] if data else 0
        options = {
            "max_rows": max_rows,
            "random_state": random_state,
            "embedding_method": embedding_method,
        }
        skipped: list[str] = []
        self.columns_: dict[str, PreparedColumn] = {}
        for name in names:
            feature = schema.feature(name) if schema is not None else None
            kind = feature.kind if feature is not None else guess_kind(data[name])
            col_method = _column_method(name, kind, method, per_column)
            if col_method is None:  # the method does not apply to this kind
                skipped.append(name)
                col_method = "auto"
            eff = min_effect.get(name) if isinstance(min_effect, Mapping) else min_effect
            ks_like = kind is FeatureKind.NUMERIC and col_method in ("auto", "ks")
            self.columns_[name] = PreparedColumn(
                name,
                kind,
                data[name],
                col_method,
                bins=bins,
                min_effect=eff,
                alpha=alpha,
                options=options,
                lazy=self._one_shot or ks_like,
            )
        if skipped:
            self.notes_.append(
                f"Method {method!r} does not apply to columns {skipped}; they use 'auto'."
            )
        self._tabular = [
            n
            for n, c in self.columns_.items()
            if c.kind in (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL)
        ]
        self._ks_columns = [
            n
            for n, c in self.columns_.items()
            if c.kind is FeatureKind.NUMERIC and c.method in ("auto", "ks")
        ]
        self._sorted_rows: dict[str, int] = {}
        if not self._one_shot:
            self._prepare_ks_columns()

    def _prepare_ks_columns(self) -> None:
        """Sort the KS columns' references, those with the same number of finite values
        into the rows of one 2-D array (no more memory than one array each): a window's
        block then searches all of them at once (:mod:`vigil.drift._numeric_block`)."""
        columns = [self.columns_[n] for n in self._ks_columns]
        sizes = [int(np.count_nonzero(np.isfinite(c.raw))) for c in columns]
        common = max(set(sizes), key=sizes.count) if sizes else 0
        shared = [c for c, size in zip(columns, sizes, strict=True) if size == common]
        self._sorted_buffer = np.empty((len(shared), common)) if len(shared) > 1 else None
        for c in columns:
            if self._sorted_buffer is not None and c in shared:
                self._sorted_rows[c.name] = shared.index(c)
                c._prepare_numeric(self._sorted_buffer[self._sorted_rows[c.name]])
            else:
                c._prepare_numeric()

    def compare(self, current: Any) -> DriftReport:
        """Compare a window with the prepared reference.

        Args:
            current: a table of the same kind as accepted for the reference.
        """
        data = table_columns(current, "current")
        n_current = next(iter(data.values())).shape[0] if data else 0
        notes = list(self.notes_)
        missing = [n for n in self.columns_ if n not in data]
        extra = [n for n in data if n not in self.columns_]
        if missing:
            notes.append(f"Columns missing from the current data, not compared: {missing}.")
        if extra:
            notes.append(f"Columns only in the current data, not compared: {extra}.")
        if n_current == 0:
            notes.append("The current window has no rows.")
        results: list[ColumnDrift] = []
        extras: list[str] = []
        plots: dict[str, dict[str, Any]] = {}
        block = self._compare_block(data, n_current)
        for name, col in self.columns_.items():
            if name not in data:
                continue
            if name in block:
                result, plot, note = block[name]
            else:
                result, plot, note = col.compare(data[name])
            if self._one_shot:
                col.release()
            results.append(result)
            extras.append(note)
            plots[name] = plot
        results = self._apply_policy(results, extras)
        multivariate = self._multivariate(data) if self.multivariate else []
        tested = [c for c in results if c.statistic is not None]
        share = sum(c.drifted for c in tested) / len(tested) if tested else 0.0
        dataset = bool(tested) and (
            share >= self.drift_share or any(m.drifted for m in multivariate)
        )
        return DriftReport(
            columns=results,
            multivariate=multivariate,
            dataset_drift=dataset,
            drift_share=share,
            drift_share_threshold=self.drift_share,
            alpha=self.alpha,
            correction=self.correction,
            n_reference=self.n_reference_,
            n_current=n_current,
            missing_columns=missing,
            extra_columns=extra,
            notes=notes,
            distributions=plots,
        )

    # -- numeric columns as one block ---------------------------------------------------
    def _compare_block(
        self, data: dict[str, Any], m: int
    ) -> dict[str, tuple[ColumnDrift, dict[str, Any], str]]:
        """The KS columns whose window takes the prepared-reference route, compared as one
        2-D array (:mod:`vigil.drift._numeric_block`): the same statistics, p-values,
        effect sizes, notes and plot data as :meth:`PreparedColumn.compare` gives each of
        them, at a fraction of the per-column cost. Columns with a missing or infinite
        window value, or any other case, are left to :meth:`PreparedColumn.compare`."""
        if self._one_shot:
            return {}
        names = [
            n
            for n in self._ks_columns
            if n in data
            and isinstance(data[n], np.ndarray)
            and data[n].dtype.kind in "fiu"
            and takes_block(self.columns_[n].sample, m)
        ]
        if not names:
            return {}
        values = np.stack([data[n] for n in names], dtype=np.float64)  # our own copy
        finite = np.isfinite(values).all(axis=1)
        block = self._block(tuple(names), m)
        if not finite.all():
            keep = np.flatnonzero(finite)
            if keep.size == 0:
                return {}
            block, values, names = block.rows(keep), values[keep], [names[i] for i in keep]
        d, p, w, repeats, ordered = compare_block(block, values, in_place=True)
        columns = [self.columns_[n] for n in names]
        plots = block_plots(columns, ordered)
        out: dict[str, tuple[ColumnDrift, dict[str, Any], str]] = {}
        for r, col in enumerate(columns):
            if not np.isfinite(p[r]):
                continue  # the one-column path says why
            out[col.name] = _block_result(
                col, m, float(d[r]), float(p[r]), float(w[r]), int(repeats[r]), plots[r]
            )
        return out

    def _block(self, names: tuple[str, ...], m: int) -> NumericBlock:
        """The stacked crossings of ``names`` for windows of ``m`` values (the last few
        kept: they depend on the window size only)."""
        blocks: dict[tuple[tuple[str, ...], int], NumericBlock] = self.__dict__.setdefault(
            "_blocks", {}
        )
        block = blocks.get((names, m))
        if block is None:
            if len(blocks) >= 4:
                blocks.clear()  # one atomic step: safe beside other threads
            block = NumericBlock([self.columns_[n].sample for n in names], m)
            if self._sorted_rows:
                block.buffer = self._sorted_buffer
                block.buffer_rows = np.array([self._sorted_rows.get(n, -1) for n in names])
            blocks[(names, m)] = block
        return block

    # -- policy -------------------------------------------------------------------------
    def _apply_policy(self, results: list[ColumnDrift], extras: list[str]) -> list[ColumnDrift]:
        idx = [i for i, c in enumerate(results) if c.p_value is not None]
        if not idx:
            return results
        raw = np.array([results[i].p_value for i in idx], dtype=np.float64)
        adjusted = (
            stats.false_discovery_control(raw, method="bh")
            if (self.correction == "bh" and raw.size > 1)
            else raw
        )
        out = list(results)
        for i, p_adj in zip(idx, adjusted.tolist(), strict=True):
            c = results[i]
            significant = p_adj < self.alpha
            large = c.effect_size is None or c.effect_size >= (c.min_effect or 0.0)
            drifted = significant and large
            label = "BH-adjusted p" if self.correction == "bh" and raw.size > 1 else "p"
            verdict = (
                "drift"
                if drifted
                else "no drift (significant but the effect is too small to matter)"
                if significant
                else "no drift"
            )
            effect = ""
            if c.effect_size is not None and c.min_effect is not None:
                effect = (
                    f"; effect size {c.effect_size:.3g} "
                    f"{'>=' if large else '<'} minimum {c.min_effect:.3g}"
                )
            reason = (
                f"{verdict}: {label} = {p_adj:.3g} {'<' if significant else '>='} "
                f"{self.alpha:g}{effect} (test {c.method}, statistic "
                f"{c.statistic:.3g}, raw p = {c.p_value:.3g})."
            )
            if extras[i]:
                reason += " " + extras[i]
            out[i] = ColumnDrift(
                c.column,
                c.kind,
                c.method,
                c.statistic,
                c.p_value,
                p_adj,
                c.effect_size,
                c.threshold,
                c.min_effect,
                drifted,
                c.n_reference,
                c.n_current,
                reason,
                c.details,
            )
        return out

    # -- multivariate -------------------------------------------------------------------
    def _matrices(
        self, data: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, list[str], dict[int, tuple[np.ndarray, np.ndarray]]]:
        """Row subsamples (at most ``max(max_rows, 20,000)`` per side) as numeric matrices,
        and per categorical column index its category codes on both sides (one code per
        category of the two samples together)."""
        from ._frame import as_numeric

        names = [n for n in self._tabular if n in data]
        if not names:
            return np.empty((self.n_reference_, 0)), np.empty((0, 0)), names, {}
        limit = max(self.max_rows, 20_000)
        rng = np.random.default_rng(self.random_state)
        n_cur = next(iter(data.values())).shape[0]
        if "_reference_rows" not in self.__dict__:
            self._reference_rows = _rows(rng, self.n_reference_, limit)
        r_rows, c_rows = self._reference_rows, _rows(rng, n_cur, limit)
        ref_cols, cur_cols = [], []
        codes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i, n in enumerate(names):
            col = self.columns_[n]
            if col.kind is FeatureKind.NUMERIC:
                ref_cols.append(col.raw[r_rows])
                cur_cols.append(as_numeric(data[n][c_rows])[0])
            else:  # each category replaced by its share of the POOLED rows (see _pooled_shares)
                freq = _pooled_shares(col.sample, CategoricalSample(data[n]))
                code = {lv: float(k) for k, lv in enumerate(freq)}
                ref_share, ref_code = _encode(col.raw, r_rows, freq, code)
                cur_share, cur_code = _encode(data[n], c_rows, freq, code)
                ref_cols.append(ref_share)
                cur_cols.append(cur_share)
                codes[i] = (ref_code, cur_code)
        return np.column_stack(ref_cols), np.column_stack(cur_cols), names, codes

    def _multivariate(self, data: dict[str, np.ndarray]) -> list[MultivariateDrift]:
        from .multivariate import classifier_drift, mmd_drift, pca_drift

        x_ref, x_cur, names, codes = self._matrices(data)
        out = []
        for method in self.multivariate:
            if not names or x_cur.shape[0] == 0:
                out.append(
                    MultivariateDrift(
                        method,
                        None,
                        None,
                        None,
                        self.alpha,
                        0.0,
                        False,
                        x_ref.shape[0],
                        x_cur.shape[0],
                        "No numeric or categorical column with current rows to "
                        "compare; not tested.",
                        {"columns": names},
                    )
                )
                continue
            x_r = np.where(np.isinf(x_ref), np.nan, x_ref)
            x_c = np.where(np.isinf(x_cur), np.nan, x_cur)
            common: dict[str, Any] = {
                "alpha": self.alpha,
                "random_state": self.random_state,
                "columns": names,
            }
            if method == "classifier":  # categories count-encoded on the training half only
                for i, (ref_codes, cur_codes) in codes.items():
                    x_r[:, i], x_c[:, i] = ref_codes, cur_codes
                out.append(
                    classifier_drift(
                        x_r, x_c, max_rows=self.max_rows, count_encode=sorted(codes), **common
                    )
                )
            elif method == "mmd":
                out.append(mmd_drift(x_r, x_c, **common))
            else:
                out.append(pca_drift(x_r, x_c, **common))
        return out


_FINITE = NumericSample([])  # a window with nothing missing or infinite, for _data_notes


def _block_result(
    col: PreparedColumn, m: int, d: float, p: float, w: float, repeats: int, plot: dict[str, Any]
) -> tuple[ColumnDrift, dict[str, Any], str]:
    """One block column as :meth:`PreparedColumn.compare` reports it (statistic, p-value,
    effect size, raw verdict, notes; the reason is written by the policy, which every
    column with a p-value goes through)."""
    ref = col.sample
    test = col._test("ks")
    n = ref.n
    notes = []
    if ref.n_repeats + repeats > 0.01 * (n + m):  # as KolmogorovSmirnov._compute says it
        notes.append(
            f"{(ref.n_repeats + repeats) / (n + m):.0%} of the values are ties; the KS "
            "p-value assumes continuous data and is conservative with ties (valid, less "
            "powerful)."
        )
    if ref.std > 0:
        effect: float | None = w / ref.std
    else:
        effect = w
        notes.append(
            "The reference is constant, so the effect size is the unscaled Wasserstein distance."
        )
    if effect is not None and not np.isfinite(effect):
        effect = None
    effect = _residue_to_zero(effect)
    note = " ".join(notes)
    extra = ((f" {note}" if note else "") + _data_notes(ref, _FINITE)).strip()
    drifted = p < test.threshold and (effect is None or effect >= test.min_effect)
    column = ColumnDrift(
        col.name,
        col.kind.value,
        "ks",
        d,
        p,
        None,
        effect,
        float(test.threshold),
        test.min_effect,
        drifted,
        n,
        m,
        "",
    )
    return column, plot, " ".join(([extra] if extra else []) + col.notes)


def _rows(rng: np.random.Generator, n: int, limit: int) -> np.ndarray:
    return np.sort(rng.permutation(n)[:limit]) if n > limit else np.arange(n)


def _pooled_shares(ref: CategoricalSample, cur: CategoricalSample) -> dict[str, float]:
    """Each category's share of the reference and current rows together.

    Encoding by the *pooled* share is a symmetric function of both samples, so without
    drift the two sides stay exchangeable (the MMD and PCA tests use it; the classifier
    count-encodes on its training half instead, see ``classifier_drift``). Encoding by
    the reference share alone put categories unseen in the reference at 0.0, a value no
    reference row has: with many levels the classifier then "detected" drift in no-drift
    data (AUC 0.52–0.55, p down to 1e-10).
    """
    total = max(ref.n + cur.n, 1)
    shares = {lv: c / total for lv, c in zip(ref.levels.tolist(), ref.counts.tolist(), strict=True)}
    for lv, c in zip(cur.levels.tolist(), cur.counts.tolist(), strict=True):
        shares[lv] = shares.get(lv, 0.0) + c / total
    return shares


def _encode(values: Any, rows: np.ndarray, *maps: dict[str, float]) -> tuple[np.ndarray, ...]:
    """The selected rows of a categorical column through each map (category → number;
    every category of the rows is in the maps). A coded column maps its distinct values
    once and indexes by code; other columns map each row's string form."""
    if isinstance(values, CodedColumn):
        names = [v if isinstance(v, str) else str(v) for v in values.levels.tolist()]
        picked = values.codes[rows]  # -1 (missing) takes the table's last entry
        return tuple(
            np.array([m.get(k, np.nan) for k in names] + [m.get(MISSING_LEVEL, np.nan)])[picked]
            for m in maps
        )
    import pandas as pd

    s = pd.Series(values[rows], dtype=object)
    keys = s.where(s.isna(), s.astype(str)).fillna(MISSING_LEVEL)
    return tuple(keys.map(m).to_numpy(dtype=np.float64) for m in maps)


def _check_fraction(name: str, value: Any, *, open_right: bool) -> None:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value > 0
        and (value < 1 if open_right else value <= 1)
    )
    if not ok:
        interval = "(0, 1)" if open_right else "(0, 1]"
        raise InvalidParameterError(
            f"The '{name}' parameter must be a float in {interval}. Got {value!r} instead."
        )


def _multivariate_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    methods = (value,) if isinstance(value, str) else tuple(value)
    bad = [m for m in methods if m not in MULTIVARIATE_METHODS]
    if bad:
        raise InvalidParameterError(
            f"'multivariate' must be None or among {list(MULTIVARIATE_METHODS)}. Got {bad}."
        )
    return methods


def detect_drift(reference: Any, current: Any, method: str = "auto", **options: Any) -> DriftReport:
    """Compare a current table with a reference table, column by column and as a whole.

    Every column gets one test: ``auto`` uses Kolmogorov–Smirnov for numeric columns,
    chi-squared for categorical ones (z-test or Fisher's exact test when binary), a TF-IDF
    domain classifier plus descriptor tests for text, and a domain classifier for
    embeddings. P-values are corrected by Benjamini–Hochberg across the columns. A column
    drifts when its corrected p-value is below ``alpha`` (0.05) and its effect size
    reaches the method's minimum: 0.1 reference σ of Wasserstein distance for numeric
    tests, 0.05 total variation for chi-squared, 0.1 Cohen's h for binary tests, AUC 0.55
    for classifiers. Significance alone would flag any shift in a large enough window;
    the effect floor keeps the alarms to changes that matter. Distances (``psi``, ``js``,
    ...) drift at their thresholds. The data set drifts when at least ``drift_share``
    (0.5) of the tested columns drift or the domain classifier on all numeric and
    categorical columns detects drift.

    Missing values are ignored in numeric columns and form a ``<missing>`` category in
    categorical ones; infinities are ignored; categories unseen in the reference count
    as their own; empty or all-missing columns are reported as not tested; columns present
    on one side only are listed in the report. The reason of each column says what happened.

    Args:
        reference: pandas or polars DataFrame, pyarrow Table, or mapping of columns.
        current: the window to compare, of any of the same types.
        method: ``"auto"`` or a catalog method name for every column it applies to.
        **options: any keyword of :class:`DriftDetector` (``per_column``, ``schema``,
            ``alpha``, ``min_effect``, ``correction``, ``multivariate``, ...).

    Examples:
        >>> import numpy as np, pandas as pd
        >>> rng = np.random.default_rng(1)
        >>> ref = pd.DataFrame({"x": rng.normal(size=3000), "y": rng.normal(size=3000)})
        >>> cur = pd.DataFrame({"x": rng.normal(size=3000), "y": rng.normal(1, 1, 3000)})
        >>> report = detect_drift(ref, cur)
        >>> report.drifted_columns, report.dataset_drift
        (['y'], True)
    """
    return _OneShot(reference, method=method, **options).compare(current)


def _check_detector_options(
    alpha: float, drift_share: float, correction: str, embedding_method: str, method: str
) -> None:
    """Refuse a bad option of :class:`DriftDetector` with a message naming it."""
    _check_fraction("alpha", alpha, open_right=True)
    _check_fraction("drift_share", drift_share, open_right=False)
    if correction not in ("bh", "none"):
        raise InvalidParameterError(
            f"'correction' must be 'bh' or 'none'. Got {correction!r} instead."
        )
    if embedding_method not in ("classifier", "mmd"):
        raise InvalidParameterError(
            f"'embedding_method' must be 'classifier' or 'mmd'. Got {embedding_method!r}."
        )
    if method != "auto":
        get_test(method)


def _column_names(
    data: Mapping[str, Any],
    schema: ModelSchema | None,
    columns: Sequence[str] | None,
    per_column: Mapping[str, str],
) -> list[str]:
    """The reference columns to watch: the schema's features (else every column), cut to
    ``columns``; unknown ``columns`` or ``per_column`` names are refused."""
    names = list(data)
    if schema is not None:
        names = [f.name for f in schema.features if f.name in data]
    if columns is not None:
        unknown = [c for c in columns if c not in data]
        if unknown:
            raise InvalidParameterError(
                f"Columns {unknown} are not in the reference. It has: {list(data)[:20]}."
            )
        names = [c for c in names if c in set(columns)]
    unknown = sorted(set(per_column) - set(names))
    if unknown:
        raise InvalidParameterError(f"'per_column' names columns not in the reference: {unknown}.")
    return names


def _column_method(
    name: str, kind: FeatureKind, method: str, per_column: Mapping[str, str]
) -> str | None:
    """The test of one column: its ``per_column`` method (checked against its kind), else
    ``method``; ``"auto"`` for text and embeddings; None when the detector-wide ``method``
    does not apply to the column's kind (it falls back to auto, with a note)."""
    col_method = per_column.get(name, method)
    if kind in (FeatureKind.TEXT, FeatureKind.EMBEDDING):
        if name in per_column:
            raise InvalidParameterError(
                f"Column {name!r} is {kind.value}; per-column methods apply to "
                "numeric and categorical columns only."
            )
        return "auto"
    if col_method != "auto":
        if name in per_column:
            get_test(col_method, kind)
        elif kind not in CATALOG[col_method].kinds:
            return None
    return col_method


class _OneShot(DriftDetector):
    """A detector compared once (``detect_drift``): each numeric reference column is
    sorted when its turn comes and dropped after, so a wide table holds one sorted copy
    at a time instead of all of them (peak memory near the numpy/scipy floor's)."""

    _one_shot = True
