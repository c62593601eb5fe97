"""Per-minute rollups: what a batch adds to each (version, minute) bucket, and the merge.

A :class:`RollupDelta` is built from the records that were really inserted (duplicates
excluded) and merged into the stored row inside the same write transaction, so a
re-sent batch never counts twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasketches import kll_doubles_sketch

from vigil.profile import Profile
from vigil.schema import ModelSchema

KLL_K = 200  # normalised rank error ≈ 1.65 % at k=200 (DataSketches KLL docs)


@dataclass(slots=True)
class RollupDelta:
    """What one batch adds to one (version, minute) bucket."""

    version: str
    minute: int
    count: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    sketch: kll_doubles_sketch | None = None
    profile: Profile | None = None

    def prepare(self, schema: ModelSchema) -> RollupDelta:
        """Build the latency sketch and input profile (done before the write lock)."""
        if self.latencies:
            self.sketch = kll_doubles_sketch(KLL_K)
            self.sketch.update(np.asarray(self.latencies, dtype=np.float64))
        self.profile = Profile.from_records(
            self.inputs, schema=schema if schema.features else None)
        return self


def build_deltas(rows: Sequence[dict[str, Any]], schema: ModelSchema) -> list[RollupDelta]:
    """Group prediction rows into prepared per-(version, minute) deltas."""
    buckets: dict[tuple[str, int], RollupDelta] = {}
    for row in rows:
        key = (row["version"], int(row["ts"] // 60) * 60)
        delta = buckets.get(key)
        if delta is None:
            delta = buckets[key] = RollupDelta(*key)
        delta.count += 1
        if row["error"] is not None:
            delta.errors += 1
        latency = row["latency_s"]
        if latency is not None:
            delta.latencies.append(latency)
        delta.inputs.append(row["inputs"])
    return [delta.prepare(schema) for delta in buckets.values()]


def merge_row(existing: dict[str, Any] | None, delta: RollupDelta) -> dict[str, Any]:
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
    }


def merge_windows(rows: Sequence[Any], step: int) -> dict[int, dict[str, Any]]:
    """Merge minute rows into windows of ``step`` seconds: counts, errors, latency sketch."""
    windows: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"count": 0, "errors": 0, "latency_count": 0, "latency_sum": 0.0, "sketch": None}
    )
    for row in rows:
        w = windows[int(row.minute // step) * step]
        w["count"] += row.count
        w["errors"] += row.errors
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
        if w["sketch"] is not None:
            if total["sketch"] is None:
                total["sketch"] = w["sketch"]
            else:
                total["sketch"].merge(w["sketch"])
    return total
