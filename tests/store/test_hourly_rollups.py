"""Hourly rollups: built from minutes, idempotent, rebuilt after late data, and reads of
6 h and longer that use them give the numbers minute reads give."""

from __future__ import annotations

import collections
import time

import numpy as np
import pytest
import sqlalchemy as sa
from datasketches import kll_doubles_sketch

from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.windows.metrics import window_metrics
from vigil.profile import Profile
from vigil.store import tables as t
from vigil.store.ingest.hourly import HOUR, mark_hours
from vigil.store.ingest.rollups import merge_windows

SCHEMA = {
    "task": "regression",
    "features": [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}],
}
RANK_ERROR = 0.0165 * 2  # KLL k=200, with margin (DataSketches' normalised rank error)


def _records(base: float, n: int, prefix: str, seed: int) -> list[dict]:
    """``n`` records spread over the 8 hours after ``base``: two versions, errors of two
    kinds, latencies and a numeric and a categorical input."""
    rng = np.random.default_rng(seed)
    ts = base + rng.uniform(0, 8 * HOUR, n)
    lat = rng.lognormal(-3, 0.5, n)
    x = rng.normal(10, 3, n)
    out = []
    for i in range(n):
        err = None if i % 9 else ("TimeoutError: slow" if i % 2 else "OOVError: zz")
        out.append(
            {
                "id": f"{prefix}{i}",
                "version": "ab"[i % 2],
                "ts": float(ts[i]),
                "latency_s": float(lat[i]),
                "error": err,
                "inputs": {"x": float(x[i]), "c": "uvw"[i % 3]},
            }
        )
    return out


def _hourly(store, model_id):
    h = t.hourly_rollups
    with store.read() as conn:
        return {
            (r.version, r.hour): r
            for r in conn.execute(sa.select(h).where(h.c.model_id == model_id))
        }


def _marked(store, model_id):
    p = t.rollup_hours_pending
    with store.read() as conn:
        return set(conn.execute(sa.select(p.c.hour).where(p.c.model_id == model_id)).scalars())


def _setup(store, n=3000):
    ingest = Ingestor(store)
    ingest.register_model({"name": "m", "schema": SCHEMA})
    base = (int(time.time()) // HOUR - 48) * HOUR + 1234.0  # ragged: 8 h span 9 clock hours
    records = _records(base, n, "r", 1)
    for i in range(0, n, 500):
        assert ingest.ingest_predictions("m", records[i : i + 500]).accepted == 500
    model = store.get_model("m")
    store.fold_pending(model.id)
    return ingest, model, base, records


def _check_hour_equals_its_records(row, records):
    """One hourly row against an independent recount of the raw records it covers."""
    assert row.count == len(records)
    assert row.errors == sum(r["error"] is not None for r in records)
    kinds = collections.Counter(r["error"].split(":")[0] for r in records if r["error"])
    assert row.error_types == dict(kinds)
    lat = np.array([r["latency_s"] for r in records])
    assert row.latency_count == len(lat)
    assert row.latency_sum == pytest.approx(lat.sum(), rel=1e-12)
    sketch = kll_doubles_sketch.deserialize(bytes(row.latency_sketch))
    assert sketch.n == len(lat)
    for q in (0.1, 0.5, 0.9):  # the value's rank in the raw data is within the rank error
        rank = float(np.mean(lat <= sketch.get_quantile(q)))
        assert abs(rank - q) <= RANK_ERROR
    prof = Profile.from_bytes(bytes(row.profile))
    assert prof.n_rows == len(records)
    xs = np.array([r["inputs"]["x"] for r in records])
    assert prof["x"].mean == pytest.approx(xs.mean(), rel=1e-9)


def test_hours_are_built_once_complete_equal_their_minutes_and_rebuilding_changes_nothing(store):
    _, model, _, records = _setup(store)
    hours = {int(r["ts"] // HOUR) * HOUR for r in records}
    assert _marked(store, model.id) == hours  # the fold marked every hour it touched
    assert _hourly(store, model.id) == {}
    last = max(hours)
    # only complete hours are built: "now" inside the last hour leaves it marked
    assert store.build_hours(now=last + 10) == len(hours) - 1
    assert _marked(store, model.id) == {last}
    assert store.build_hours(now=last + HOUR) == 1
    assert _marked(store, model.id) == set()
    built = _hourly(store, model.id)
    # complete: each hour equals a recount of its raw records
    for (version, hour), row in built.items():
        _check_hour_equals_its_records(
            row, [r for r in records if r["version"] == version and hour <= r["ts"] < hour + HOUR]
        )
    assert set(built) == {(r["version"], int(r["ts"] // HOUR) * HOUR) for r in records}
    # and equals the merge of its minutes: counts exactly, sketches as a merge of the same
    # minutes (KLL compaction is randomised, so the same quantiles within rank error)
    for (version, hour), row in built.items():
        minutes = store.rollup_rows(model.id, hour, hour + HOUR, version)
        _same_row(row, minutes)
    # idempotent: nothing to do, and rows unchanged
    assert store.build_hours(now=last + HOUR) == 0
    assert {k: tuple(v) for k, v in _hourly(store, model.id).items()} == {
        k: tuple(v) for k, v in built.items()
    }
    # a forced rebuild of every hour gives the same rows
    with store.write() as conn:
        mark_hours(store, conn, [(model.id, h) for h in hours])
    assert store.build_hours(now=last + HOUR) == len(hours)
    again = _hourly(store, model.id)
    assert set(again) == set(built)
    for key, row in again.items():
        _same_row(row, [built[key]])


def _same_row(row, parts):
    """An hourly row against the rows it should merge: counts exact, sketches close."""
    for key in ("count", "errors", "latency_count"):
        assert getattr(row, key) == sum(getattr(m, key) for m in parts), key
    assert row.latency_sum == pytest.approx(sum(m.latency_sum for m in parts), rel=1e-12)
    kinds = collections.Counter()
    for m in parts:
        kinds.update(m.error_types or {})
    assert (row.error_types or {}) == dict(kinds)
    merged = kll_doubles_sketch.deserialize(bytes(parts[0].latency_sketch))
    for m in parts[1:]:
        merged.merge(kll_doubles_sketch.deserialize(bytes(m.latency_sketch)))
    sketch = kll_doubles_sketch.deserialize(bytes(row.latency_sketch))
    assert sketch.n == merged.n
    for q in (0.1, 0.5, 0.9):  # each estimate's rank in the other sketch is close to q
        assert abs(merged.get_rank(sketch.get_quantile(q)) - q) <= RANK_ERROR
    prof = Profile.from_bytes(bytes(row.profile))
    ref = Profile.merge_all([Profile.from_bytes(bytes(m.profile)) for m in parts])
    assert prof.n_rows == ref.n_rows
    assert prof["x"].count == ref["x"].count
    assert prof["x"].mean == pytest.approx(ref["x"].mean, rel=1e-9)


def _from_minutes(store, model, start, end, step, version=None):
    """Windows of ``step`` merged from minute rows only (the reference read)."""
    rows = store.rollup_rows(model.id, start, end, version, profiles=False, hours=False)
    windows = merge_windows(rows, step)
    return {
        ts: (
            w["count"],
            w["errors"],
            w["error_types"],
            w["latency_sum"],
            w["sketch"].get_quantile(0.95),
        )
        for ts, w in windows.items()
    }


def _same_numbers(metrics, reference):
    """A window_metrics result against windows merged from minutes: counts exact,
    latency sums to rounding, p95 close (both are KLL estimates of the same values)."""
    got = {p["ts"]: p for p in metrics["series"]}
    assert set(got) == set(reference)
    for ts, (count, errors, kinds, lat_sum, p95) in reference.items():
        p = got[ts]
        assert (p["count"], p["errors"], p["errors_by_type"]) == (
            count,
            errors,
            dict(sorted(kinds.items())),
        )
        assert p["latency_mean_s"] * count == pytest.approx(lat_sum, rel=1e-9)
        assert p["latency_p95_s"] == pytest.approx(p95, rel=0.1)
    assert metrics["summary"]["count"] == sum(v[0] for v in reference.values())


def test_reads_of_six_hours_and_longer_use_hourly_rows_and_match_minute_reads(store):
    _, model, base, records = _setup(store)
    start, end = base - 1234.0 + 600.0, base + 8 * HOUR + 900.0  # ragged at both ends
    minute_rows = store.rollup_rows(model.id, start, end)
    store.build_hours(now=end + HOUR)
    rows = store.rollup_rows(model.id, start, end, hours=True)
    hourly = [
        r
        for r in rows
        if r.minute % HOUR == 0 and r.count > 0 and r.minute >= start and r.minute + HOUR <= end
    ]
    assert len(rows) < len(minute_rows) / 5  # whole hours came as one row each
    assert (
        sum(r.count for r in rows)
        == sum(r.count for r in minute_rows)
        == len([r for r in records if start // 60 * 60 <= r["ts"] < end])
    )
    assert hourly, "the read used hourly rows"
    # the same numbers as a minute read, whole range and hour windows, per version too
    calls = []
    real = store.rollup_rows

    def spy(*args, **kwargs):
        calls.append(kwargs.get("hours"))
        return real(*args, **kwargs)

    for version in (None, "a"):
        store.rollup_rows = spy
        metrics = window_metrics(store, model, start=start, end=end, step=3600, version=version)
        store.rollup_rows = real
        _same_numbers(metrics, _from_minutes(store, model, start, end, 3600, version))
    assert calls == [True, True]  # hour windows asked for hourly rows
    # a window grid that does not fit hours reads minutes only
    assert store.rollup_rows(model.id, start, end, hours=False) == minute_rows
    # shorter than 6 h: minutes, even when asked for hours
    short = store.rollup_rows(model.id, base, base + 5 * HOUR, hours=True)
    assert short == store.rollup_rows(model.id, base, base + 5 * HOUR)


def test_late_data_marks_the_hour_and_reads_stay_exact_until_it_is_rebuilt(store):
    ingest, model, base, records = _setup(store, n=1500)
    end = base + 8 * HOUR + 900.0
    store.build_hours(now=end + HOUR)
    hour = int((base + 3 * HOUR) // HOUR) * HOUR
    late = [{**r, "id": f"late{i}", "ts": hour + 30.0 + i} for i, r in enumerate(records[:200])]
    assert ingest.ingest_predictions("m", late).accepted == 200
    store.fold_pending(model.id)
    assert _marked(store, model.id) == {hour}
    everything = records + late

    def recount(version=None):
        return sum(
            1
            for r in everything
            if base - 1234.0 <= r["ts"] < end and (version is None or r["version"] == version)
        )

    rows = store.rollup_rows(model.id, base - 1234.0, end, hours=True)
    assert sum(r.count for r in rows) == recount()  # the marked hour came from minutes
    assert store.build_hours(now=end + HOUR, settle_s=3600) == 0  # not settled yet
    assert store.build_hours(now=end + HOUR) == 1
    row = _hourly(store, model.id)[("a", hour)]
    _check_hour_equals_its_records(
        row, [r for r in everything if r["version"] == "a" and hour <= r["ts"] < hour + HOUR]
    )
    rows = store.rollup_rows(model.id, base - 1234.0, end, "a", hours=True)
    assert sum(r.count for r in rows) == recount("a")


def test_drift_profiles_from_hours_match_profiles_from_minutes(store):
    _, model, base, records = _setup(store, n=2000)
    start, end = base - 1234.0, base + 8 * HOUR + 900.0
    store.build_hours(now=end + HOUR)
    from_hours = Profile.merge_all(
        [
            Profile.from_bytes(bytes(r.profile))
            for r in store.rollup_rows(model.id, start, end, hours=True)
        ]
    )
    from_minutes = Profile.merge_all(
        [Profile.from_bytes(bytes(r.profile)) for r in store.rollup_rows(model.id, start, end)]
    )
    xs = np.array([r["inputs"]["x"] for r in records])
    assert from_hours.n_rows == from_minutes.n_rows == len(records)
    assert from_hours["x"].mean == pytest.approx(xs.mean(), rel=1e-9)
    assert from_hours["x"].mean == pytest.approx(from_minutes["x"].mean, rel=1e-9)


def test_the_aggregator_round_builds_settled_complete_hours(store, monkeypatch):
    from vigil.engine.windows import aggregate

    ingest = Ingestor(store)
    ingest.register_model({"name": "m", "schema": SCHEMA})
    past = (int(time.time()) // HOUR - 3) * HOUR + 100.0
    records = _records(past - 9 * HOUR, 400, "r", 2)  # 8 hours ending 4 h ago
    assert ingest.ingest_predictions("m", records).accepted == 400
    model = store.get_model("m")
    agg = aggregate.Aggregator(store, interval_s=0)
    agg.run_once()  # folds; the hours were marked just now, so they have not settled
    assert agg.hours_built == 0 and _marked(store, model.id)
    monkeypatch.setattr(aggregate, "HOUR_SETTLE_S", 0.0)
    agg.run_once()
    assert agg.hours_built == len({int(r["ts"] // HOUR) for r in records})
    assert _marked(store, model.id) == set()
    assert sum(r.count for r in _hourly(store, model.id).values()) == 400
