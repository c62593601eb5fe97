"""Prepared samples: a column's values cleaned, sorted or counted once and reused.

A :class:`NumericSample` keeps the sorted finite values and derives (lazily, once) the
moments, the running integral of the empirical CDF used by the fast Wasserstein distance,
and quantile bin edges. A :class:`CategoricalSample` keeps the category counts. Every batch
test fits on one of these, so a reference shared by several tests is prepared only once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from itertools import repeat
from typing import Any

import numpy as np

MISSING_LEVEL = "<missing>"
_BLOCK = 64  # values per block of the float64 running integral


class NumericSample:
    """The finite values of a numeric column, sorted, with counts of what was dropped.

    Args:
        values: any 1-D array-like of numbers; NaN and None count as missing, ±inf as
            infinite; both are dropped from the sorted values.
        out: where to keep the sorted values when there are as many as it holds (a row
            of the block the detector keeps its numeric references in), else a new array.

    Examples:
        >>> s = NumericSample([3.0, 1.0, float("nan"), float("inf"), 2.0])
        >>> s.sorted.tolist(), s.n, s.n_missing, s.n_infinite
        ([1.0, 2.0, 3.0], 3, 1, 1)
    """

    def __init__(self, values: Any, out: np.ndarray | None = None) -> None:
        arr = np.asarray(values)
        if arr.dtype == object:
            arr = np.array([np.nan if v is None else v for v in arr.ravel()], dtype=np.float64)
        arr = np.asarray(arr, dtype=np.float64).ravel()
        finite_mask = np.isfinite(arr)
        if finite_mask.all():  # the common case: one pass, no copy before the sort
            self.n_missing = self.n_infinite = 0
            finite = arr
        else:
            self.n_missing = int(np.isnan(arr).sum())
            self.n_infinite = int(arr.size - finite_mask.sum()) - self.n_missing
            finite = arr[finite_mask]
        if out is not None and out.shape == finite.shape:  # sorted into the caller's row
            out[:] = finite
            out.sort()
            self.sorted: np.ndarray = out
        else:
            self.sorted = np.sort(finite)
        self.n = int(self.sorted.size)

    @classmethod
    def of(cls, values: Any) -> NumericSample:
        """``values`` itself when already prepared, else a new sample."""
        return values if isinstance(values, NumericSample) else cls(values)

    @cached_property
    def mean(self) -> float:
        return float(self.sorted.mean()) if self.n else 0.0

    @cached_property
    def std(self) -> float:
        """Population standard deviation (ddof=0)."""
        return float(self.sorted.std()) if self.n else 0.0

    @cached_property
    def cdf_integral(self) -> np.ndarray:
        """``H[i] = ∫ F(t) dt`` from the minimum to ``sorted[i]`` (extended precision)."""
        u = self.sorted.astype(np.longdouble)
        steps = np.arange(1, self.n, dtype=np.longdouble) / self.n * np.diff(u)
        return np.concatenate([np.zeros(1, dtype=np.longdouble), np.cumsum(steps)])

    @cached_property
    def cdf_blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:attr:`cdf_integral` in float64 parts: ``(pairs, head, rest)`` with
        ``pairs[i] = (sorted[i], local[i])`` and ``H[i] = head[b] + (rest[b] + local[i])``,
        ``b = i // 64``.

        Built in blocks of 64 values: within a block a float64 running sum of the
        non-negative steps (``local``, relative error below 64 ε of the block's own sum),
        the blocks' starts summed in long double and split into a float64 ``head`` and its
        remainder ``rest``. Differences ``H[j] - H[i]`` keep about 1e-14 of relative
        precision; only ``n / 64`` values are long doubles (the whole table in long double
        took 0.1 s per million rows), and a window's look-ups touch one ``pairs`` row each.
        """
        n = self.n
        steps = np.zeros(-(-n // _BLOCK) * _BLOCK)
        if n > 1:
            np.multiply(np.arange(1, n) / n, np.diff(self.sorted), out=steps[1:n])
        local = np.cumsum(steps.reshape(-1, _BLOCK), axis=1)
        totals = local[:, -1].astype(np.longdouble)
        starts = np.concatenate([np.zeros(1, dtype=np.longdouble), np.cumsum(totals)[:-1]])
        head = starts.astype(np.float64)
        rest = (starts - head).astype(np.float64)
        pairs = np.empty((n, 2))
        pairs[:, 0] = self.sorted
        pairs[:, 1] = local.ravel()[:n]
        return pairs, head, rest

    @cached_property
    def cdf_sq_integral(self) -> np.ndarray:
        """``H2[i] = ∫ F(t)² dt`` from the minimum to ``sorted[i]`` (extended precision)."""
        u = self.sorted.astype(np.longdouble)
        steps = (np.arange(1, self.n, dtype=np.longdouble) / self.n) ** 2 * np.diff(u)
        return np.concatenate([np.zeros(1, dtype=np.longdouble), np.cumsum(steps)])

    @cached_property
    def n_repeats(self) -> int:
        """How many sorted values equal their predecessor (ties), counted once."""
        return int(np.count_nonzero(self.sorted[1:] == self.sorted[:-1])) if self.n else 0

    def ranks_in(self, ref: NumericSample) -> np.ndarray:
        """For each of this sample's sorted values, how many ``ref`` values are ``<=`` it.

        One binary search of the window in the reference, shared by the KS statistic and
        the Wasserstein effect size of the same pair (cached for the last ``ref``).
        """
        cached = self.__dict__.get("_ranks")
        if cached is not None and cached[0] is ref:
            return cached[1]
        ranks = np.searchsorted(ref.sorted, self.sorted, side="right")
        self.__dict__["_ranks"] = (ref, ranks)
        return ranks

    @cached_property
    def self_ranks(self) -> tuple[np.ndarray, np.ndarray]:
        """For each sorted value: how many values are smaller, and how many are equal."""
        less = np.searchsorted(self.sorted, self.sorted, side="left")
        equal = np.searchsorted(self.sorted, self.sorted, side="right") - less
        return less, equal

    def integral_at(self, x: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """``∫ F(t) dt`` from -inf to each ``x`` given ``ranks = #values <= x``."""
        u = self.sorted
        km1 = np.maximum(ranks - 1, 0)
        xl = np.asarray(x, dtype=np.longdouble)
        val = self.cdf_integral[km1] + ranks.astype(np.longdouble) / self.n * (xl - u[km1])
        return np.where(ranks > 0, val, np.longdouble(0))

    def integral_to(self, x: np.ndarray, power: int = 1) -> np.ndarray:
        """``∫ F(t)^power dt`` from -inf to each ``x`` (F: this sample's right-continuous ECDF).

        Args:
            x: points, any order.
            power: 1 or 2.
        """
        u = self.sorted
        table = self.cdf_integral if power == 1 else self.cdf_sq_integral
        k = np.searchsorted(u, x, side="right")
        km1 = np.maximum(k - 1, 0)
        xl = np.asarray(x, dtype=np.longdouble)
        val = table[km1] + (k.astype(np.longdouble) / self.n) ** power * (xl - u[km1])
        return np.where(k > 0, val, np.longdouble(0))

    def bin_edges(self, bins: int) -> np.ndarray:
        """Interior edges of ``bins`` equal-frequency bins (fewer when values repeat)."""
        cache: dict[int, np.ndarray] = self.__dict__.setdefault("_edges", {})
        if bins not in cache:
            if self.n == 0:
                cache[bins] = np.empty(0)
            else:
                qs = np.quantile(self.sorted, np.linspace(0, 1, bins + 1)[1:-1])
                cache[bins] = np.unique(qs)
        return cache[bins]

    def histogram(self, edges: np.ndarray) -> np.ndarray:
        """Counts in ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
        cum = np.searchsorted(self.sorted, edges, side="right")
        return np.diff(np.concatenate([[0], cum, [self.n]])).astype(np.int64)


class CodedColumn:
    """A column of categories held as integer codes and its distinct values, not objects.

    Tables hand string and categorical columns over as Arrow dictionaries or pandas
    categoricals; keeping them as ``codes`` (``-1`` for missing) and ``levels`` avoids a
    Python object per row (a million strings were 60 MB and most of a column's time).
    It answers what the drift code asks of a column array — ``shape``, ``dtype`` (object),
    ``len``, ``tolist`` and row selection, which returns the selected values as an object
    array — and :class:`CategoricalSample` counts it with one ``bincount``.

    Args:
        codes: one integer per row, an index into ``levels`` or -1 when missing.
        levels: the distinct values (strings).

    Examples:
        >>> col = CodedColumn(np.array([0, 1, -1, 0]), np.array(["a", "b"], dtype=object))
        >>> col.shape, col[1:].tolist()
        ((4,), ['b', None, 'a'])
        >>> s = CategoricalSample(col)
        >>> dict(zip(s.levels.tolist(), s.counts.tolist()))
        {'a': 2, 'b': 1, '<missing>': 1}
    """

    dtype = np.dtype(object)
    ndim = 1
    arrow: Any = None
    """The column's Arrow strings when it came from them (see :meth:`from_arrow`)."""
    _encode: Callable[[], tuple[np.ndarray, np.ndarray]]

    def __init__(self, codes: np.ndarray, levels: np.ndarray) -> None:
        self._coded: tuple[np.ndarray, np.ndarray] | None = (
            np.asarray(codes),
            np.asarray(levels, dtype=object),
        )
        self._length = int(self._coded[0].shape[0])

    @classmethod
    def from_arrow(
        cls, arrow: Any, encode: Callable[[], tuple[np.ndarray, np.ndarray]]
    ) -> CodedColumn:
        """A column of Arrow strings whose codes and levels ``encode`` makes on first use:
        a window compared with a prepared reference looks its strings up in the
        reference's levels instead (:meth:`CategoricalSample.from_arrow`) and never
        needs them."""
        out = cls.__new__(cls)
        out._coded, out._length = None, len(arrow)
        out.arrow, out._encode = arrow, encode
        return out

    def _encoded(self) -> tuple[np.ndarray, np.ndarray]:
        if self._coded is None:
            codes, levels = self._encode()
            self._coded = (np.asarray(codes), np.asarray(levels, dtype=object))
        return self._coded

    @property
    def codes(self) -> np.ndarray:
        """One integer per row, an index into :attr:`levels` or -1 when missing."""
        return self._encoded()[0]

    @property
    def levels(self) -> np.ndarray:
        """The distinct values."""
        return self._encoded()[1]

    @property
    def shape(self) -> tuple[int]:
        return (self._length,)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, rows: Any) -> np.ndarray:
        codes = self.codes[rows]
        out = np.empty(codes.shape, dtype=object)
        present = codes >= 0
        out[present] = self.levels[codes[present]]
        out[~present] = None
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __iter__(self) -> Any:
        return iter(self[:].tolist())

    def tolist(self) -> list[Any]:
        """The values as Python objects (None where missing)."""
        return self[:].tolist()

    def counts(self) -> tuple[np.ndarray, np.ndarray, int]:
        """``(levels, counts, n_missing)`` of the present levels, in the order of ``levels``."""
        codes = self.codes
        n_missing = int(np.count_nonzero(codes < 0))
        present = codes[codes >= 0] if n_missing else codes
        cnt = np.bincount(present, minlength=self.levels.size).astype(np.int64)
        names = [v if isinstance(v, str) else str(v) for v in self.levels.tolist()]
        levels = np.asarray(names, dtype=object)
        if len(set(names)) < len(names):  # e.g. categories 1 and "1": one level, as for objects
            levels, inverse = np.unique(np.asarray(names, dtype=str), return_inverse=True)
            cnt = np.bincount(inverse, weights=cnt, minlength=levels.size).astype(np.int64)
            levels = levels.astype(object)
        used = cnt > 0
        return levels[used], cnt[used], n_missing


class CategoricalSample:
    """Category counts of a column; missing values form their own level ``<missing>``.

    Args:
        values: any 1-D array-like; values are compared by their string form.

    Examples:
        >>> s = CategoricalSample(["a", "b", "a", None])
        >>> dict(zip(s.levels.tolist(), s.counts.tolist())), s.n
        ({'a': 2, 'b': 1, '<missing>': 1}, 4)
    """

    def __init__(self, values: Any) -> None:
        self.n_infinite = 0
        if isinstance(values, CodedColumn):
            levels, cnt, self.n_missing = values.counts()
        else:
            import pandas as pd

            series = pd.Series(np.asarray(values, dtype=object).ravel(), dtype=object)
            missing = series.isna()
            self.n_missing = int(missing.sum())
            counts = series[~missing].astype(str).value_counts(sort=False)
            levels = counts.index.to_numpy(dtype=object)
            cnt = counts.to_numpy(dtype=np.int64)
        if self.n_missing:
            levels = np.append(levels, MISSING_LEVEL)
            cnt = np.append(cnt, self.n_missing)
        order = np.argsort(-cnt, kind="stable")
        self.levels: np.ndarray = levels[order]
        self.counts: np.ndarray = cnt[order]
        self.n = int(self.counts.sum())

    @classmethod
    def from_arrow(cls, ref: CategoricalSample, arrow: Any) -> CategoricalSample | None:
        """A window of Arrow strings counted over the levels of ``ref`` in one Arrow pass
        (``index_in``: each string hashed once, no Python object, no codes of its own),
        or None when it holds a value ``ref`` has not seen (the caller then counts it the
        general way, which names the unseen levels). Its alignment with ``ref`` is the one
        :func:`aligned_counts` gives, kept on it."""
        import pyarrow as pa
        import pyarrow.compute as pc

        lookups: dict[Any, Any] = ref.__dict__.setdefault("_arrow_levels", {})
        value_set = lookups.get(arrow.type)
        if value_set is None:
            try:
                value_set = pa.array(ref.levels.tolist(), type=arrow.type)
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
                return None
            lookups[arrow.type] = value_set
        try:
            found = pc.index_in(arrow, value_set=value_set)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # a string type it cannot hash
            return None
        n_missing = arrow.null_count
        if found.null_count != n_missing:
            return None
        if n_missing:
            at = ref.index.get(MISSING_LEVEL)
            if at is None:
                return None
            found = found.fill_null(at)
        codes = found.to_numpy() if len(found) else np.empty(0, dtype=np.int64)
        counts = np.bincount(codes, minlength=ref.levels.size).astype(np.int64)
        out = cls.__new__(cls)
        out.n_infinite, out.n_missing = 0, int(n_missing)
        present = np.flatnonzero(counts)
        order = np.argsort(-counts[present], kind="stable")
        out.levels, out.counts = ref.levels[present][order], counts[present][order]
        out.n = int(counts.sum())
        aligned = (ref.levels.view(), ref.counts.view(), counts)
        for shared in aligned:  # handed to every caller: read-only
            shared.flags.writeable = False
        out.__dict__["_aligned"] = (ref, (*aligned, 0))
        return out

    @cached_property
    def index(self) -> dict[str, int]:
        """Position of each level in :attr:`levels` (built on first use: a reference's
        is looked up by every window, a window's seldom)."""
        return {lv: i for i, lv in enumerate(self.levels.tolist())}

    @classmethod
    def of(cls, values: Any) -> CategoricalSample:
        """``values`` itself when already prepared, else a new sample."""
        return values if isinstance(values, CategoricalSample) else cls(values)


def aligned_counts(
    ref: CategoricalSample, cur: CategoricalSample
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Counts of both samples over the reference levels followed by unseen current ones
    (in the window's order, most frequent first). Kept on ``cur`` for the last ``ref``:
    the choice of test, the test and the plot of a window share one alignment.

    Returns:
        ``(levels, ref_counts, cur_counts, n_unseen_levels)``.
    """
    cached = cur.__dict__.get("_aligned")
    if cached is not None and cached[0] is ref:
        return cached[1]
    k = ref.levels.size
    names = cur.levels.tolist()
    at = np.fromiter(
        map(ref.index.get, names, repeat(-1, len(names))), dtype=np.intp, count=len(names)
    )
    seen = at >= 0
    cur_aligned = np.zeros(k, dtype=np.int64)
    cur_aligned[at[seen]] = cur.counts[seen]
    unseen = ~seen
    levels = np.concatenate([ref.levels, cur.levels[unseen]])
    ref_counts = np.concatenate([ref.counts, np.zeros(int(unseen.sum()), dtype=np.int64)])
    cur_counts = np.concatenate([cur_aligned, cur.counts[unseen]])
    for shared in (levels, ref_counts, cur_counts):  # handed to every caller: read-only
        shared.flags.writeable = False
    out = (levels, ref_counts, cur_counts, int(unseen.sum()))
    cur.__dict__["_aligned"] = (ref, out)
    return out
