"""Per-minute rollups: what a batch adds to each (version, minute) bucket, and the merge.

The aggregator (:mod:`vigil.store.ingest.aggregation`) reads the rows of claimed ingest batches,
builds one :class:`RollupDelta` per (version, minute) here and merges it into the stored
row, in the same transaction that deletes the claimed batches, so a batch is counted
exactly once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
from datasketches import kll_doubles_sketch

from vigil.profile import Profile
from vigil.schema import ModelSchema
from vigil.store.ingest.rows import PredictionRows

KLL_K = 200  # normalised rank error ≈ 1.65 % at k=200 (DataSketches KLL docs)
TOP_ERROR_TYPES = 20  # error kinds kept per bucket; the rest are summed under "other"
OTHER = "other"
UNKNOWN = "unknown"  # an error whose kind was neither given nor derivable
log = logging.getLogger("vigil.store")


@dataclass(slots=True)
class BatchColumns:
    """What the rollups need of some appended prediction rows, as columns.

    ``inputs`` maps an input name to its values (None where a row lacks it; a numeric
    input may be a float64 array, NaN where a row lacks it). Ingest hands
    the columns it validated straight to the aggregator (no record is looked at again);
    rows read back from the database are transposed once by :meth:`from_rows`.
    """

    n: int
    version: list[str]
    ts: list[float]
    latency_s: list[float | None]
    error: list[str | None]
    error_type: list[str | None]
    inputs: dict[str, Any]

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Mapping[str, Any]],
        inputs: Mapping[str, Any] | None = None,
    ) -> BatchColumns:
        """Columns of prediction rows; ``inputs`` when the caller has the inputs as
        columns already (aligned with ``rows``)."""
        n = len(rows)
        if not n:
            return cls(0, [], [], [], [], [], {})
        get = itemgetter("version", "ts", "latency_s", "error", "error_type")
        version, ts, latency, error, error_type = (
            list(c) for c in zip(*map(get, rows), strict=True)
        )
        if inputs is None:
            inputs = _input_columns([r["inputs"] for r in rows])
        return cls(n, version, ts, latency, error, error_type, dict(inputs))

    @classmethod
    def from_prediction_rows(
        cls, rows: PredictionRows, inputs: Mapping[str, Any] | None = None
    ) -> BatchColumns:
        """Columns of ingest's batch (its own columns, no dict per row while it has none);
        ``inputs`` as in :meth:`from_rows`."""
        if not rows.n:
            return cls(0, [], [], [], [], [], {})
        if inputs is None:
            inputs = _input_columns(rows.column("inputs"))
        return cls(
            rows.n,
            rows.column("version"),
            rows.column("ts"),
            rows.column("latency_s"),
            rows.column("error"),
            rows.column("error_type"),
            dict(inputs),
        )

    def take(self, index: list[int]) -> BatchColumns:
        """The rows at ``index``, as columns."""
        pick = itemgetter(*index) if len(index) > 1 else (lambda c: (c[index[0]],))
        rows = np.asarray(index, dtype=np.intp)
        return BatchColumns(
            len(index),
            list(pick(self.version)),
            list(pick(self.ts)),
            list(pick(self.latency_s)),
            list(pick(self.error)),
            list(pick(self.error_type)),
            {
                k: c[rows] if isinstance(c, np.ndarray) else list(pick(c))
                for k, c in self.inputs.items()
            },
        )

    def groups(self) -> dict[tuple[str, int], BatchColumns]:
        """The rows per (version, minute), the usual single bucket without copying."""
        minutes = (np.asarray(self.ts, dtype=np.float64) // 60).astype(np.int64) * 60
        versions = set(self.version)
        if len(versions) == 1 and (minutes == minutes[0]).all():
            return {(self.version[0], int(minutes[0])): self}
        index: dict[tuple[str, int], list[int]] = defaultdict(list)
        for i, key in enumerate(zip(self.version, minutes.tolist(), strict=True)):
            index[key].append(i)
        return {key: self.take(idx) for key, idx in index.items()}


def _input_columns(inputs: list[Any]) -> dict[str, list[Any]]:
    """One list per input name over rows' inputs objects (None where one lacks it)."""
    dicts = [i if isinstance(i, Mapping) else {} for i in inputs]
    if not dicts:
        return {}
    names = list(dicts[0])
    if names and len(set(map(len, dicts))) == 1:
        try:  # the same names in every row: transposed in C
            rows = list(map(itemgetter(*names), dicts))
        except KeyError:
            pass
        else:
            if len(names) == 1:
                return {names[0]: rows}
            return {k: list(c) for k, c in zip(names, zip(*rows, strict=True), strict=True)}
    seen = dict.fromkeys(k for d in dicts for k in d)
    return {k: [d.get(k) for d in dicts] for k in seen}


@dataclass(slots=True)
class RollupDelta:
    """What one fold adds to one (version, minute) bucket."""

    version: str
    minute: int
    parts: list[BatchColumns] = field(default_factory=list)
    count: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    error_types: dict[str, int] = field(default_factory=dict)
    sketch: kll_doubles_sketch | None = None
    profile: Profile | None = None

    def prepare(self, schema: ModelSchema) -> RollupDelta:
        """Count, and build the latency sketch and the input profile of the schema's
        features, from the parts' columns in bulk.

        Only features in the schema are profiled (inputs that appear are added to the
        schema at ingest); a profile that cannot be built is logged and left out rather
        than holding the batch back, so the counts stay complete.
        """
        parts = self.parts
        self.count = sum(p.n for p in parts)
        for part in parts:
            latency = part.latency_s
            # membership and counts of None run in C (no generator per value)
            if None in latency:
                self.latencies.extend(v for v in latency if v is not None)
            else:
                self.latencies.extend(latency)  # type: ignore[arg-type]  # no None in it
            if part.error.count(None) != len(part.error):
                for err, kind in zip(part.error, part.error_type, strict=True):
                    if err is not None:
                        self.errors += 1
                        kind = kind or UNKNOWN
                        self.error_types[kind] = self.error_types.get(kind, 0) + 1
        if self.latencies:
            self.sketch = kll_doubles_sketch(KLL_K)
            self.sketch.update(np.asarray(self.latencies, dtype=np.float64))
        names = schema.feature_names
        try:
            if names:
                columns = {n: _concat([_column(p, n) for p in parts]) for n in names}
                self.profile = Profile.from_columns(
                    columns, kinds={f.name: f.kind for f in schema.features}
                )
            else:
                self.profile = Profile(self.count, {})
        except Exception:  # a value that does not fit its column must not block the batch
            log.exception("profiling minute %s of version %s failed", self.minute, self.version)
            self.profile = Profile(self.count, {})
        return self


def _column(part: BatchColumns, name: str) -> Any:
    column = part.inputs.get(name)
    return [None] * part.n if column is None else column


def _concat(columns: list[Any]) -> Any:
    """One column from the parts' (lists, or float64 arrays of numeric inputs)."""
    if len(columns) == 1:
        return columns[0]
    if all(isinstance(c, np.ndarray) for c in columns):
        return np.concatenate(columns)
    out: list[Any] = []
    for c in columns:
        out.extend(c.tolist() if isinstance(c, np.ndarray) else c)
    return out


def build_deltas(
    parts: Sequence[BatchColumns | Sequence[Mapping[str, Any]]], schema: ModelSchema
) -> list[RollupDelta]:
    """Group appended rows (as :class:`BatchColumns`, or row mappings) into prepared
    deltas, one per (version, minute), sorted by that key."""
    buckets: dict[tuple[str, int], RollupDelta] = {}
    for part in parts:
        cols = part if isinstance(part, BatchColumns) else BatchColumns.from_rows(part)
        if not cols.n:
            continue
        for key, group in cols.groups().items():
            delta = buckets.get(key)
            if delta is None:
                delta = buckets[key] = RollupDelta(*key)
            delta.parts.append(group)
    return [buckets[key].prepare(schema) for key in sorted(buckets)]


def merge_error_types(*parts: Mapping[str, int] | None) -> dict[str, int] | None:
    """Add error counts per kind, keeping the top kinds and summing the rest as "other"."""
    total: dict[str, int] = {}
    for part in parts:
        for kind, n in (part or {}).items():
            total[kind] = total.get(kind, 0) + int(n)
    if not total:
        return None
    if len(total) <= TOP_ERROR_TYPES:
        return total
    other = total.pop(OTHER, 0)
    ranked = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[: TOP_ERROR_TYPES - 1])
    kept[OTHER] = other + sum(n for _, n in ranked[TOP_ERROR_TYPES - 1 :])
    return kept


def merge_row(existing: Mapping[Any, Any] | None, delta: RollupDelta) -> dict[str, Any]:
    """The stored row after adding a prepared ``delta`` (``existing`` None for a new bucket)."""
    sketch = delta.sketch
    old_sketch = existing["latency_sketch"] if existing else None
    if old_sketch is not None:
        merged = kll_doubles_sketch.deserialize(old_sketch)
        if sketch is not None:
            merged.merge(sketch)
        sketch = merged
    profile = delta.profile
    assert profile is not None, "merge_row needs a prepared delta"
    if existing and existing["profile"] is not None:
        profile = Profile.from_bytes(existing["profile"]).merge(profile)
    return {
        "version": delta.version,
        "minute": delta.minute,
        "count": (existing["count"] if existing else 0) + delta.count,
        "errors": (existing["errors"] if existing else 0) + delta.errors,
        "latency_count": (existing["latency_count"] if existing else 0) + len(delta.latencies),
        "latency_sum": (existing["latency_sum"] if existing else 0.0) + float(sum(delta.latencies)),
        "latency_sketch": sketch.serialize() if sketch is not None else None,
        "profile": profile.to_bytes(),
        "error_types": merge_error_types(
            existing["error_types"] if existing else None, delta.error_types
        ),
    }


def merge_windows(rows: Sequence[Any], step: int) -> dict[int, dict[str, Any]]:
    """Merge minute rows into windows of ``step`` seconds: counts, errors, latency sketch."""
    windows: dict[int, dict[str, Any]] = defaultdict(
        lambda: {
            "count": 0,
            "errors": 0,
            "latency_count": 0,
            "latency_sum": 0.0,
            "sketch": None,
            "error_types": None,
        }
    )
    for row in rows:
        w = windows[int(row.minute // step) * step]
        w["count"] += row.count
        w["errors"] += row.errors
        if row.error_types:
            w["error_types"] = merge_error_types(w["error_types"], row.error_types)
        w["latency_count"] += row.latency_count
        w["latency_sum"] += row.latency_sum
        if row.latency_sketch is not None:
            sketch = kll_doubles_sketch.deserialize(row.latency_sketch)
            if w["sketch"] is None:
                w["sketch"] = sketch
            else:
                w["sketch"].merge(sketch)
    return dict(windows)


def merge_totals(windows: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Merge windows from :func:`merge_windows` into one (None when there are none).

    The first window's sketch absorbs the others, so use the windows before this.
    """
    total: dict[str, Any] | None = None
    for w in windows:
        if total is None:
            total = dict(w)
            continue
        for key in ("count", "errors", "latency_count", "latency_sum"):
            total[key] += w[key]
        total["error_types"] = merge_error_types(total.get("error_types"), w.get("error_types"))
        if w["sketch"] is not None:
            if total["sketch"] is None:
                total["sketch"] = w["sketch"]
            else:
                total["sketch"].merge(w["sketch"])
    return total
