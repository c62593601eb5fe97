"""Append at ingest, fold off the request path: idempotent, complete, bounded error kinds."""

from __future__ import annotations

import asyncio
import collections
import time

import sqlalchemy as sa

from vigil.engine.ingest.ingestor import Ingestor
from vigil.store import tables as t
from vigil.store.ingest.aggregation import pending_count
from vigil.store.ingest.rollups import OTHER, TOP_ERROR_TYPES, merge_error_types

SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}


def _rollups(store, model_id):
    with store.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(
                    t.rollups.c.version,
                    t.rollups.c.minute,
                    t.rollups.c.count,
                    t.rollups.c.errors,
                    t.rollups.c.latency_count,
                    t.rollups.c.latency_sum,
                    t.rollups.c.error_types,
                )
                .where(t.rollups.c.model_id == model_id)
                .order_by(t.rollups.c.version, t.rollups.c.minute)
            )
        ]


def test_ingest_only_appends_and_fold_is_complete_and_idempotent(store):
    ingest = Ingestor(store)
    ingest.register_model({"name": "m", "schema": SCHEMA})
    model = store.get_model("m")
    now = time.time()
    records = [
        {
            "id": f"r{i}",
            "version": "ab"[i % 2],
            "ts": now - 60 * (i % 4),
            "latency_s": i / 100,
            "inputs": {"x": i},
            "error": "TimeoutError: slow" if i % 5 == 0 else None,
        }
        for i in range(40)
    ]
    assert ingest.ingest_predictions("m", records).accepted == 40
    assert _rollups(store, model.id) == []  # nothing touched on the request path
    assert pending_count(store, model.id) == 1
    assert store.fold_pending(model.id) == 1
    folded = _rollups(store, model.id)
    assert store.fold_pending(model.id) == 0  # folding again changes nothing
    assert _rollups(store, model.id) == folded
    # complete: equal to a recount of the raw rows
    want = collections.Counter()
    for r in records:
        want[(r["version"], int(r["ts"] // 60) * 60)] += 1
    assert {(v, m): c for v, m, c, *_ in folded} == dict(want)
    assert sum(r[3] for r in folded) == 8
    assert all(r[6] == {"TimeoutError": r[3]} for r in folded if r[3])
    # a re-sent batch is all duplicates and leaves nothing pending
    assert ingest.ingest_predictions("m", records).duplicates == 40
    assert pending_count(store, model.id) == 0


def test_error_kinds_keep_the_top_kinds_and_sum_the_rest():
    parts = [{f"E{i}": i + 1 for i in range(30)}, {"E0": 100, OTHER: 4}]
    merged = merge_error_types(*parts)
    total = collections.Counter()
    for part in parts:
        total.update(part)
    assert len(merged) == TOP_ERROR_TYPES
    assert sum(merged.values()) == sum(total.values())
    ranked = [
        k
        for k, _ in sorted(
            ((k, n) for k, n in total.items() if k != OTHER), key=lambda kv: (-kv[1], kv[0])
        )
    ]
    assert set(merged) - {OTHER} == set(ranked[: TOP_ERROR_TYPES - 1])


def test_folding_from_memory_equals_folding_from_the_database(store):
    from vigil.profile import Profile
    from vigil.store.ingest.aggregation import RecentBatches

    assert store.recent_batches.max_rows == 0  # off unless an aggregator loop runs here
    store.recent_batches = RecentBatches(max_rows=10_000)
    ingest = Ingestor(store)
    now = time.time()
    records = [
        {
            "id": f"r{i}",
            "version": "ab"[i % 2],
            "ts": now - 60 * (i % 3),
            "latency_s": i / 1000,
            "inputs": {"x": i * 0.5},
            "error": "OOVError: z" if i % 7 == 0 else None,
        }
        for i in range(300)
    ]
    for name in ("db", "mem"):
        ingest.register_model({"name": name, "schema": SCHEMA})
        ingest.ingest_predictions(name, records)
        if name == "db":  # forget its rows: its fold reads them back from the database
            store.recent_batches = RecentBatches(max_rows=10_000)
    mem_batch = max(store.recent_batches._rows)
    folded = {}
    for name in ("mem", "db"):
        model = store.get_model(name)
        rows = store.rollup_rows(model.id, now - 600, now + 60)
        folded[name] = [
            (
                r.version,
                r.minute,
                r.count,
                r.errors,
                r.latency_count,
                round(r.latency_sum, 9),
                r.error_types,
                round(Profile.from_bytes(r.profile)["x"].mean, 9),
            )
            for r in rows
        ]
    assert store.recent_batches.take(mem_batch) is None  # "mem" was folded from memory
    assert folded["mem"] == folded["db"]
    assert sum(r[2] for r in folded["db"]) == 300


def test_rows_are_stored_as_sent_whatever_their_characters(store):
    from vigil.store.quality import queries as qs

    ingest = Ingestor(store)
    ingest.register_model(
        {
            "name": "m",
            "schema": {
                "features": [{"name": "x", "kind": "numeric"}, {"name": "t", "kind": "text"}]
            },
        }
    )
    tricky = ["tab\there", "new\nline", "back\\slash \\N", "quote \" ' ", "é漢字🙂", "\\.", ""]
    records = [
        {
            "id": f"r{i}",
            "inputs": {"x": i, "t": text},
            "outputs": {"label": text},
            "error": f"ValueError: {text}",
        }
        for i, text in enumerate(tricky)
    ]
    assert ingest.ingest_predictions("m", records).accepted == len(tricky)
    model = store.get_model("m")
    stored = {p["id"]: p for p in qs.predictions(store, model.id, None, None)}
    for rec in records:
        got = stored[rec["id"]]
        assert got["inputs"] == rec["inputs"]
        assert got["outputs"] == rec["outputs"]
        assert got["error"] == rec["error"] and got["error_type"] == "ValueError"


def test_the_loop_folds_early_when_the_kept_batches_fill_half_their_room(store):
    """With an interval far beyond the test, only the memory pressure can start a round:
    the batches are folded from memory (none read back) once they fill half the room."""
    from support.aio import run_async

    from vigil.engine.windows.aggregate import Aggregator

    ingest = Ingestor(store)
    ingest.register_model({"name": "m", "schema": SCHEMA})
    model = store.get_model("m")
    aggregator = Aggregator(store, interval_s=3600.0)
    store.recent_batches.max_rows = 100  # half: 50 rows
    now = time.time()

    def batch(start: int) -> list[dict]:
        return [{"id": f"r{i}", "ts": now, "inputs": {"x": i}} for i in range(start, start + 30)]

    async def scenario() -> tuple[int, int, int]:
        aggregator.start()
        deadline = time.monotonic() + 60
        while aggregator.rounds < 1 and time.monotonic() < deadline:  # the first round
            await asyncio.sleep(0.02)
        rounds = aggregator.rounds
        await asyncio.to_thread(ingest.ingest_predictions, "m", batch(0))  # 30 rows: under half
        kept_under_half = pending_count(store, model.id)
        await asyncio.to_thread(ingest.ingest_predictions, "m", batch(30))  # 60 rows: over half
        while pending_count(store, model.id) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await aggregator.stop()
        return rounds, kept_under_half, aggregator.folded

    rounds, kept_under_half, folded = run_async(scenario())
    assert rounds == 1
    assert kept_under_half == 1  # one batch under half the room waits for the interval
    assert pending_count(store, model.id) == 0 and folded == 2
    with store.read() as conn:
        total = conn.execute(sa.select(sa.func.sum(t.rollups.c.count))).scalar()
    assert total == 60
    assert store.recent_batches.on_pressure is None  # stopped: the ingest thread calls nothing
