"""A window's numeric columns against their prepared references, as one 2-D array.

A 10k-row window against a million-row reference costs about 0.5 ms per numeric column
when each column goes through :mod:`~vigil.drift.batch.ks` and
:mod:`~vigil.drift.batch.wasserstein` alone, and most of it is numpy's per-call overhead:
some forty calls on arrays of 600 to 10,000 values. Here the window's KS columns are
stacked (one row per column) and every step is one numpy call over all of them: the sort,
the quantile bounds of KS's D (:func:`~vigil.drift.batch.ks._candidates`), the sign runs of
the Wasserstein integral (:func:`~vigil.drift.batch.wasserstein._from_integral`), their
running sums and the p-values (:func:`~vigil.drift.batch.ks.ks_pvalues`). The
references are searched for all columns at once (:meth:`NumericBlock.ranks`); only the
searches in each column's quantiles and the look-ups in its running-integral table stay
one call per column.

The arithmetic is that of the one-column functions, element for element: D is the same
expression at the same integer ranks as scipy's (bit-identical), W1 the same sums in the
same order. Windows with ties take the general form of both (tie groups, marked pieces).
A column takes this path when the one-column path would take the prepared-reference
route (window at most a quarter of the reference, or the reference's integral prepared,
more than 64 values, more than 10,000 on one side: scipy's asymptotic p-value) and all of
its window values are finite; any other column goes through :class:`PreparedColumn`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .batch._sample import _BLOCK, NumericSample
from .batch.ks import _BOUNDED_FROM, _GROUP, _MAX_EXACT_N, ks_pvalues
from .batch.wasserstein import _SHIFT, _crossings, _floor

if TYPE_CHECKING:
    from ._columns import PreparedColumn


def takes_block(ref: NumericSample, m: int) -> bool:
    """Whether a window of ``m`` values against ``ref`` goes the prepared-reference way."""
    if ref.n == 0 or m <= _BOUNDED_FROM or max(ref.n, m) <= _MAX_EXACT_N:
        return False
    return "cdf_blocks" in ref.__dict__ or m * 4 <= ref.n


class NumericBlock:
    """The references of several columns prepared for windows of ``m`` values: each
    column's crossings (:func:`~vigil.drift.batch.wasserstein._crossings`) as one row of
    stacked arrays, and the scalars the end of each integral needs."""

    buffer: np.ndarray | None = None
    """The 2-D array whose rows hold the references' sorted values, when they all do."""
    buffer_rows: np.ndarray | None = None

    def __init__(self, refs: list[NumericSample], m: int) -> None:
        self.refs, self.m = refs, m
        parts = [_crossings(r, m) for r in refs]
        self.levels = parts[0][0]
        self.q = np.stack([p[1] for p in parts])
        self.q_hi = np.stack([p[2] for p in parts])
        self.q_lo = np.stack([p[3] for p in parts])
        self.index = np.stack([p[4] for p in parts])  # a_0 = -1, a_1 .. a_{m-1}, a_m = n
        self.n = np.array([r.n for r in refs], dtype=np.int64)[:, None]
        ends = []
        for r in refs:
            pairs, head, rest = r.cdf_blocks
            end = (r.n - 1) >> _SHIFT
            ends.append((head[end], rest[end] + pairs[-1, 1], r.sorted[0], r.sorted[-1]))
        self.h_end_hi, self.h_end_lo, self.u_first, self.u_last = np.array(ends).T

    def rows(self, keep: np.ndarray) -> NumericBlock:
        """The same block cut to the columns ``keep`` (row numbers)."""
        out = object.__new__(NumericBlock)
        out.refs, out.m, out.levels = [self.refs[i] for i in keep.tolist()], self.m, self.levels
        for name in ("q", "q_hi", "q_lo", "index", "n", "h_end_hi", "h_end_lo"):
            setattr(out, name, getattr(self, name)[keep])
        out.u_first, out.u_last = self.u_first[keep], self.u_last[keep]
        if self.buffer is not None and self.buffer_rows is not None:
            out.buffer, out.buffer_rows = self.buffer, self.buffer_rows[keep]
        return out

    def ranks(self, row: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``#ref <= x`` for values ``x`` of the block's rows ``row``, each known to lie in
        ``[sorted[lo - 1], sorted[hi])`` (between two crossings).

        With the references in one 2-D array, one binary search runs over all the values
        of all rows in lockstep (about seven vectorised steps for a 100-value range): the
        look-ups of a step are independent, so their cache misses overlap, where a
        per-value search waits for each of its ~20 misses in turn (a million-row
        reference is far larger than the cache). Rows whose reference is not in that
        array (another number of finite values) are searched one by one.
        """
        out = np.empty(x.size, dtype=np.intp)
        slot = np.full(row.size, -1) if self.buffer_rows is None else self.buffer_rows[row]
        alone = np.flatnonzero(slot < 0)
        if alone.size:  # rows whose reference is not in the 2-D array
            cuts = np.searchsorted(row[alone], np.arange(len(self.refs) + 1))
            for r in np.flatnonzero(cuts[:-1] < cuts[1:]).tolist():
                at = alone[cuts[r] : cuts[r + 1]]
                out[at] = np.searchsorted(self.refs[r].sorted, x[at], side="right")
        together = np.flatnonzero(slot >= 0)
        if together.size and self.buffer is not None:
            n = self.buffer.shape[1]
            flat = self.buffer.reshape(-1)
            base, xs = slot[together] * n, x[together]
            k = lo[together].astype(np.intp)
            length = (hi[together] - lo[together]).astype(np.intp)
            for _ in range(int(length.max(initial=0)).bit_length()):
                half = length >> 1
                probe = k + half
                go = length > 0
                below = (flat[base + np.minimum(probe, n - 1)] <= xs) & go
                k = np.where(below, probe + 1, k)
                length = np.where(below, length - half - 1, np.where(go, half, 0))
            out[together] = k
        return out


def compare_block(
    block: NumericBlock, values: np.ndarray, *, in_place: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """KS's D, its p-value and the unscaled W1 of each row of ``values`` (finite, one row
    per column of ``block``), with the window's tie counts and its sorted values.

    Args:
        block: the prepared references.
        values: the window, one row per column.
        in_place: sort ``values`` itself (the caller's own copy) instead of a copy.

    Returns:
        ``(d, p, w1, n_repeats, sorted_values)``.
    """
    if in_place:
        values.sort(axis=1)
        v = values
    else:
        v = np.sort(values, axis=1)
    m = block.m
    equal = v[:, 1:] == v[:, :-1]
    repeats = np.count_nonzero(equal, axis=1)
    tied = np.flatnonzero(repeats)
    d = _ks_statistics(block, v, equal, tied)
    p = ks_pvalues(d, block.n[:, 0], m)
    w = _wasserstein(block, v, tied)
    return d, p, w, repeats, v


# -- KS -------------------------------------------------------------------------------


def _tie_counts(v: np.ndarray, equal: np.ndarray, tied: np.ndarray) -> tuple[Any, Any]:
    """Per position: the window values at or below it (``right``) and below it
    (``before``), as arrays of the shape of ``v``. Without ties these are ``p + 1`` and
    ``p`` (broadcast, nothing allocated)."""
    rows, m = v.shape
    right: Any = np.broadcast_to(np.arange(1, m + 1), (rows, m))
    before: Any = np.broadcast_to(np.arange(m), (rows, m))
    if tied.size == 0:
        return right, before
    right, before = np.array(right), np.array(before)
    position = np.arange(m)
    first = np.ones((tied.size, m), dtype=bool)
    np.logical_not(equal[tied], out=first[:, 1:])
    before[tied] = np.maximum.accumulate(np.where(first, position, 0), axis=1)
    last = np.ones((tied.size, m), dtype=bool)
    np.logical_not(equal[tied], out=last[:, :-1])
    upto = np.where(last, position + 1, m + 1)[:, ::-1]
    right[tied] = np.minimum.accumulate(upto, axis=1)[:, ::-1]
    return right, before


def _ks_statistics(
    block: NumericBlock, v: np.ndarray, equal: np.ndarray, tied: np.ndarray
) -> np.ndarray:
    """D of every row: :func:`~vigil.drift.batch.ks._candidates` on all rows at once
    (groups of 16 positions; a position in a tie group counts as its group's last value),
    then the exact ranks at the few candidates left."""
    rows, m = v.shape
    n, index = block.n, block.index
    right, before = _tie_counts(v, equal, tied)
    ends = np.append(np.arange(_GROUP - 1, m - 1, _GROUP), m - 1)
    firsts = np.concatenate([[0], ends[:-1] + 1])
    j_end = np.empty((rows, ends.size), dtype=np.intp)
    for r in range(rows):
        j_end[r] = np.searchsorted(block.q[r], v[r, ends], side="right")
    j_before = np.concatenate([np.zeros((rows, 1), dtype=np.intp), j_end[:, :-1]], axis=1)
    flat_index = index.reshape(-1)
    offset = (np.arange(rows) * index.shape[1])[:, None]
    r_lo = flat_index[offset + j_end] + 1
    r_hi = flat_index[offset + j_end + 1]
    if tied.size:
        rc_end, prev_first = right[:, ends] / m, before[:, firsts] / m
    else:  # every value distinct: p + 1 values at or below position p, p below it
        rc_end, prev_first = (ends + 1) / m, firsts / m
    bound = np.maximum((r_lo / n - rc_end).max(axis=1), (rc_end - r_hi / n).max(axis=1))
    group_hi = r_hi / n
    group_lo = (flat_index[offset + j_before] + 1) / n
    open_ = (group_hi - prev_first >= bound[:, None]) | (rc_end - group_lo >= bound[:, None])
    row, group = np.divmod(np.flatnonzero(open_), ends.size)
    pos = (firsts[group][:, None] + np.arange(_GROUP)).ravel()
    row = np.repeat(row, _GROUP)
    inside = pos <= np.repeat(ends[group], _GROUP)
    row, pos = row[inside], pos[inside]
    x = v[row, pos]
    j = np.empty(pos.size, dtype=np.intp)
    cuts = np.searchsorted(row, np.arange(rows + 1))
    for r in range(rows):
        a, b = cuts[r], cuts[r + 1]
        j[a:b] = np.searchsorted(block.q[r], x[a:b], side="right")
    nr = n[row, 0]
    at_j = offset[row, 0] + j
    lo_f, hi_f = (flat_index[at_j] + 1) / nr, flat_index[at_j + 1] / nr
    if tied.size:
        rc, prev = right[row, pos] / m, before[row, pos] / m
    else:
        rc, prev = (pos + 1) / m, pos / m
    reach = np.maximum(lo_f - rc, rc - hi_f)
    some = cuts[:-1] < cuts[1:]
    bound[some] = np.maximum(bound[some], np.maximum.reduceat(reach, cuts[:-1][some]))
    keep = (hi_f - prev >= bound[row]) | (rc - lo_f >= bound[row])
    row, pos, x, at_j = row[keep], pos[keep], x[keep], at_j[keep]
    rc, prev = (right[row, pos], before[row, pos]) if tied.size else (pos + 1, pos)
    right_ref = block.ranks(row, x, flat_index[at_j] + 1, flat_index[at_j + 1])
    left_ref = right_ref.copy()
    cuts = np.searchsorted(row, np.arange(rows + 1))
    for r in range(rows):  # values the reference holds too: F_ref just before them
        a, b = cuts[r], cuts[r + 1]
        u, w, found = block.refs[r].sorted, x[a:b], right_ref[a:b]
        shared = np.flatnonzero(u[np.maximum(found - 1, 0)] == w)
        shared = shared[found[shared] > 0]
        if shared.size:
            left_ref[a + shared] = np.searchsorted(u, w[shared], side="left")
    nr = n[row, 0]
    at = right_ref / nr - rc / m
    between = left_ref / nr - prev / m
    max_s = np.maximum(np.maximum.reduceat(at, cuts[:-1]), np.maximum.reduceat(between, cuts[:-1]))
    min_s = np.clip(-np.minimum.reduceat(at, cuts[:-1]), 0, 1)
    d = np.where(min_s > max_s, min_s, max_s)
    return d


# -- Wasserstein ----------------------------------------------------------------------


def _wasserstein(block: NumericBlock, v: np.ndarray, tied: np.ndarray) -> np.ndarray:
    """Unscaled W1 of every row, :func:`~vigil.drift.batch.wasserstein._from_integral`
    on all rows at once: the sign runs of ``F_ref - F_cur`` from two comparisons of the
    window with the crossings, the running integrals at the runs' ends, one area per run."""
    rows, m = v.shape
    c, q = block.levels, block.q
    big = np.maximum(block.u_last, v[:, -1])
    lo = np.minimum(block.u_first, v[:, 0])
    padded = np.empty((rows, m))  # ∫ F_cur over each gap, then one 0 per row
    np.subtract(v[:, 1:], v[:, :-1], out=padded[:, :-1])
    np.multiply(c, padded[:, :-1], out=padded[:, :-1])
    padded[:, -1] = 0.0
    row, start, crossing = _run_starts(q, v, big, tied)
    below = (start & 1).astype(bool)
    i = (start - 1) >> 1
    counts = np.bincount(row, minlength=rows)
    seg_start = np.concatenate([[0], np.cumsum(counts + 2)[:-1]])
    first_of_row = np.concatenate([[0], np.cumsum(counts)[:-1]])
    point = seg_start[row] + 1 + (np.arange(row.size) - first_of_row[row])
    end_point = seg_start + counts + 1
    total = int(end_point[-1]) + 1 if rows else 0
    h, g = np.zeros((3, total)), np.zeros((3, total))
    prefix = _prefix_at(padded, np.append(row, np.arange(rows)), np.append(i, np.full(rows, m - 1)))
    g[:2, point], g[:2, end_point] = prefix[:, : row.size], prefix[:, row.size :]
    at_q = np.flatnonzero(crossing)
    if at_q.size:
        q_row, gap, pt = row[at_q], i[at_q], point[at_q]
        h[0, pt], h[1, pt] = block.q_hi[q_row, gap], block.q_lo[q_row, gap]
        g[2, pt] = c[gap] * (q[q_row, gap] - v[q_row, gap])
    at_v = np.flatnonzero(~crossing)
    if at_v.size:
        cuts = np.searchsorted(row[at_v], np.arange(rows + 1))
        is_tied = np.zeros(rows, dtype=bool)
        is_tied[tied] = True
        # distinct values: a run starts at v_i only where q_{i-1} < v_i < q_i, so v_i's
        # rank in the reference lies between the crossings' ranks a_i and a_{i+1}
        v_row, v_gap = row[at_v], i[at_v]
        x = v[v_row, v_gap]
        plain = np.flatnonzero(~is_tied[v_row])
        ranks = np.empty(at_v.size, dtype=np.intp)
        ranks[plain] = block.ranks(
            v_row[plain],
            x[plain],
            block.index[v_row[plain], v_gap[plain]] + 1,
            block.index[v_row[plain], v_gap[plain] + 1],
        )
        for r in tied.tolist():  # ties: the rank searched, as _integral_at does
            a, b = cuts[r], cuts[r + 1]
            ranks[a:b] = np.searchsorted(block.refs[r].sorted, x[a:b], side="right")
        h[:, point[at_v]] = _integral_at_ranks(block, cuts, x, ranks)
    h[0, end_point], h[1, end_point] = block.h_end_hi, block.h_end_lo
    h[2, end_point] = big - block.u_last
    g[2, end_point] = big - v[:, -1]
    dh, dg = np.diff(h, axis=1), np.diff(g, axis=1)
    area = ((dh[0] - dg[0]) + (dh[1] - dg[1])) + (dh[2] - dg[2])
    area[point[below]] *= -1.0
    out = np.empty(rows)
    for r in range(rows):
        total_r = float(area[seg_start[r] : end_point[r]].sum())
        out[r] = _floor(total_r, float(big[r] - lo[r]))
    return out


def _integral_at_ranks(
    block: NumericBlock, cuts: np.ndarray, x: np.ndarray, k: np.ndarray
) -> np.ndarray:
    """:func:`~vigil.drift.batch.wasserstein._integral_at` of the values ``x`` of every
    row (row ``r``'s from ``cuts[r]`` to ``cuts[r + 1]``) given their ranks
    ``k = #ref <= x``: the table rows gathered per row, the arithmetic done once."""
    before = np.maximum(k - 1, 0)
    pair = np.empty((x.size, 2))
    head_at, rest_at, n = np.empty(x.size), np.empty(x.size), np.empty(x.size, dtype=np.int64)
    for r in np.flatnonzero(cuts[:-1] < cuts[1:]).tolist():
        a, b = cuts[r], cuts[r + 1]
        pairs, head, rest = block.refs[r].cdf_blocks
        at = before[a:b]
        pair[a:b], head_at[a:b], rest_at[a:b] = pairs[at], head[at >> _SHIFT], rest[at >> _SHIFT]
        n[a:b] = block.refs[r].n
    none = k == 0
    hi = np.where(none, 0.0, head_at)
    lo = np.where(none, 0.0, rest_at + pair[:, 1])
    tail = np.where(none, 0.0, k / n * (x - pair[:, 0]))
    return np.stack([hi, lo, tail])


def _run_starts(
    q: np.ndarray, v: np.ndarray, big: np.ndarray, tied: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The runs of one sign of every row as flat arrays ``(row, first piece, starts at a
    crossing)``, ordered by row then piece. Rows with distinct values take the short form
    (:func:`~vigil.drift.batch.wasserstein._run_starts_distinct`), rows with ties the
    marked pieces; both give the runs of ``_from_integral``."""
    rows, m = v.shape
    distinct = np.setdiff1d(np.arange(rows), tied) if tied.size else np.arange(rows)
    parts = []
    if distinct.size:
        qd, vd = (q, v) if distinct.size == rows else (q[distinct], v[distinct])
        left, right = qd > vd[:, :-1], qd < vd[:, 1:]
        before = np.empty_like(left)
        before[:, 0] = True
        before[:, 1:] = right[:, :-1]
        down = np.flatnonzero(left & before)
        up = np.flatnonzero(right & (left | ~before))
        tail = np.flatnonzero((big[distinct] > vd[:, -1]) & right[:, -1])
        gaps = m - 1
        parts.append(
            (
                np.concatenate([distinct[down // gaps], distinct[up // gaps], distinct[tail]]),
                np.concatenate(
                    [2 * (down % gaps) + 1, 2 * (up % gaps) + 2, np.full(tail.size, 2 * gaps + 1)]
                ),
                np.concatenate(
                    [np.zeros(down.size, bool), left.ravel()[up], np.zeros(tail.size, bool)]
                ),
            )
        )
    if tied.size:
        marked = np.empty((tied.size, 2 * m), dtype=bool)
        marked[:, 0] = True
        marked[:, -1] = big[tied] > v[tied, -1]
        np.greater(q[tied], v[tied, :-1], out=marked[:, 1:-1:2])
        np.less(q[tied], v[tied, 1:], out=marked[:, 2:-1:2])
        kept = np.flatnonzero(marked)
        odd = kept & 1
        flips = kept[np.flatnonzero(odd[1:] != odd[:-1]) + 1]
        r, k = np.divmod(flips, 2 * m)
        inner = k > 0  # a row's first piece (k = 0) never starts a run
        r, k, flips = r[inner], k[inner], flips[inner]
        parts.append((tied[r], k, (k & 1 == 0) & marked.ravel()[flips - 1]))
    row = np.concatenate([p[0] for p in parts])
    start = np.concatenate([p[1] for p in parts]).astype(np.intp)
    crossing = np.concatenate([p[2] for p in parts])
    order = np.argsort(row * (2 * m + 2) + start, kind="stable")
    return row[order], start[order], crossing[order]


def _prefix_at(padded: np.ndarray, row: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``Σ steps[row, :i]`` as float64 parts ``(hi, lo)``, with ``padded`` the steps of
    each row followed by one 0: the block sums, long-double block starts and partial sums
    of :func:`~vigil.drift.batch.wasserstein._prefix_at` (which pads the same way), over
    every row at once."""
    rows, width = padded.shape
    gaps = width - 1
    out = np.zeros((2, i.size))
    some = np.flatnonzero(i > 0)
    if gaps == 0 or some.size == 0:
        return out
    flat = padded.ravel()
    block_starts = np.arange(0, gaps, _BLOCK)
    nb = block_starts.size
    totals = np.add.reduceat(flat, (np.arange(rows)[:, None] * width + block_starts).ravel())
    totals = totals.reshape(rows, nb)
    starts = np.zeros((rows, nb), dtype=np.longdouble)
    np.cumsum(totals[:, :-1], axis=1, dtype=np.longdouble, out=starts[:, 1:])
    end, r = i[some], row[some]
    block = (end - 1) >> _SHIFT
    first, last = r * width + (block << _SHIFT), r * width + end
    # the pairs from the last start down: each odd slice of reduceat (from one pair's end
    # to the next pair's start) then runs backwards and costs one element, not a sum
    order = np.argsort(first)[::-1]
    bounds = np.empty(2 * end.size, dtype=np.intp)
    bounds[0::2], bounds[1::2] = first[order], last[order]
    partial = np.empty(end.size)
    partial[order] = np.add.reduceat(flat, bounds)[0::2]
    begin = starts[r, block]
    head = begin.astype(np.float64)
    out[0, some] = head
    out[1, some] = (begin - head).astype(np.float64) + partial
    return out


def block_plots(columns: list[PreparedColumn], v: np.ndarray) -> list[dict[str, Any]]:
    """Each column's plot data (:func:`~vigil.drift._columns._numeric_plot` with the
    column's prepared edges) from the sorted window rows."""
    rows, m = v.shape
    cum = np.empty((rows, columns[0].plot_edges.size - 2 if columns else 0), dtype=np.intp)
    for r, col in enumerate(columns):
        cum[r] = np.searchsorted(v[r], col.plot_edges[1:-1], side="left")
    counts = np.diff(cum, prepend=0, append=m, axis=1)
    shares = (counts / max(m, 1)).tolist()
    return [
        {
            "type": "numeric",
            "edges": list(col.plot_edge_list),
            "reference": list(col.reference_shares),
            "current": shares[r],
        }
        for r, col in enumerate(columns)
    ]
