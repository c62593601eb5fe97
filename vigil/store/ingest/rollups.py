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
from typing import Any

import numpy as np
from datasketches import kll_doubles_sketch

from vigil.profile import Profile
from vigil.schema import ModelSchema

KLL_K = 200  # normalised rank error ≈ 1.65 % at k=200 (DataSketches KLL docs)
TOP_ERROR_TYPES = 20  # error kinds kept per bucket; the rest are summed under "other"
OTHER = "other"
UNKNOWN = "unknown"  # an error whose kind was neither given nor derivable
log = logging.getLogger("vigil.store")


@dataclass(slots=True)
class RollupDelta:
    """What one batch adds to one (version, minute) bucket."""

    version: str
    minute: int
    count: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    error_types: dict[str, int] = field(default_factory=dict)
    sketch: kll_doubles_sketch | None = None
    profile: Profile | None = None

    def prepare(self, schema: ModelSchema) -> RollupDelta:
        """Build the latency sketch and the input profile of the schema's features.

        Only features in the schema are profiled (inputs that appear are added to the
        schema at ingest); a profile that cannot be built is logged and left out rather
        than holding the batch back, so the counts stay complete.
        """
        if self.latencies:
            self.sketch = kll_doubles_sketch(KLL_K)
            self.sketch.update(np.asarray(self.latencies, dtype=np.float64))
        names = schema.feature_names
        try:
            if names:
                inputs = self.inputs
                columns = {n: [rec.get(n) for rec in inputs] for n in names}
                self.profile = Profile.from_columns(
                    columns, kinds={f.name: f.kind for f in schema.features}
                )
            else:
                self.profile = Profile(len(self.inputs), {})
        except Exception:  # a value that does not fit its column must not block the batch
            log.exception("profiling minute %s of version %s failed", self.minute, self.version)
            self.profile = Profile(len(self.inputs), {})
        return self


def build_deltas(rows: Sequence[Mapping[str, Any]], schema: ModelSchema) -> list[RollupDelta]:
    """Group prediction rows into prepared deltas, sorted by (version, minute)."""
    buckets: dict[tuple[str, int], RollupDelta] = {}
    for row in rows:
        key = (row["version"], int(row["ts"] // 60) * 60)
        delta = buckets.get(key)
        if delta is None:
            delta = buckets[key] = RollupDelta(*key)
        delta.count += 1
        if row["error"] is not None:
            delta.errors += 1
            kind = row.get("error_type") or UNKNOWN
            delta.error_types[kind] = delta.error_types.get(kind, 0) + 1
        latency = row["latency_s"]
        if latency is not None:
            delta.latencies.append(latency)
        delta.inputs.append(dict(row["inputs"]) if isinstance(row["inputs"], Mapping) else {})
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
