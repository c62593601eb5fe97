"""Partitioned event tables on a real PostgreSQL: partitions of every table created ahead
(idempotently), exact per-model duplicate detection across partitions, labels joining,
one label, feedback and score per key, pruning shown by EXPLAIN (windows, joins, the
aggregator's read-back), and retention by dropping whole days of every table, exact to
the row. SQLite runs the same code unchanged.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.privacy import admin
from vigil.engine.privacy.policies import enforce_retention
from vigil.store import open_store, partitions
from vigil.store.genai.answers import write_scores
from vigil.store.partitions import DAY_S, partition_name
from vigil.store.privacy.scores import add_scores
from vigil.store.quality import queries as quality_q
from vigil.store.references import queries as reference_q

pytestmark = pytest.mark.postgres
SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
TODAY = int(time.time() // DAY_S)


def _day_ts(day: int, hour: float = 12.0) -> float:
    return day * DAY_S + hour * 3600


def _names(store) -> list[str]:
    with store.read() as conn:
        return [p.name for p in partitions.list_partitions(conn)]


def _where(store, model_id: int, pid: str) -> str:
    """The partition a stored prediction lives in."""
    with store.read() as conn:
        return conn.execute(
            sa.text(
                "SELECT tableoid::regclass::text FROM predictions WHERE model_id = :m AND id = :i"
            ),
            {"m": model_id, "i": pid},
        ).scalar_one()


@pytest.fixture
def pg_store(pg_url):
    s = open_store(pg_url)
    yield s
    s.close()


def test_partitions_are_created_ahead_and_maintenance_is_idempotent(pg_store):
    names = _names(pg_store)
    days = range(TODAY - 1, TODAY + partitions.AHEAD_DAYS + 1)
    for table in partitions.TABLES:  # every event table has the same days
        with pg_store.read() as conn:
            have = [p.name for p in partitions.list_partitions(conn, table)]
        assert have == [*(partition_name(d, table) for d in days), f"{table}_default"]
    assert partitions.ensure_partitions(pg_store) == []  # a second run changes nothing
    # ten days later the job adds the missing days, once, even when replicas race
    later = time.time() + 10 * DAY_S
    results: list[list[str]] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(partitions.ensure_partitions(pg_store, later))
        )
        for _ in range(3)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    added = sorted(n for r in results for n in r)
    # yesterday (seen from then) to AHEAD_DAYS ahead; the gap day before goes to default
    assert added == sorted(
        partition_name(d, table)
        for table in partitions.TABLES
        for d in range(TODAY + 9, TODAY + 10 + partitions.AHEAD_DAYS + 1)
    )
    added = [n for n in added if n.startswith("predictions_")]
    assert len(_names(pg_store)) == len(names) + len(added)


def test_duplicate_in_a_later_partition_is_detected_and_labels_join(pg_store):
    partitions.ensure_partitions(pg_store, _day_ts(TODAY - 5))  # days -6.. have partitions
    ingest = Ingestor(pg_store)
    for name in ("a", "b"):
        ingest.register_model({"name": name, "schema": SCHEMA})
    a, b = pg_store.get_model("a"), pg_store.get_model("b")
    first = ingest.ingest_predictions(
        "a", [{"id": "req-1", "ts": _day_ts(TODAY - 2), "inputs": {"x": 1}}]
    )
    assert (first.accepted, first.duplicates) == (1, 0)
    # the same id with a time two days later would land in another partition: still a dup
    # (times at most a day ahead: ingest rejects later ones)
    again = ingest.ingest_predictions(
        "a",
        [
            {"id": "req-1", "ts": _day_ts(TODAY, 0.5), "inputs": {"x": 9}},
            {"id": "req-2", "ts": _day_ts(TODAY, 0.5), "inputs": {"x": 2}},
            {"id": "req-2", "ts": _day_ts(TODAY - 1), "inputs": {"x": 3}},
        ],
    )
    assert (again.accepted, again.duplicates) == (1, 2)
    assert pg_store.count("predictions", a.id) == 2
    assert _where(pg_store, a.id, "req-1") == partition_name(TODAY - 2)
    other = ingest.ingest_predictions(
        "b", [{"id": "req-1", "ts": _day_ts(TODAY, 0.5), "inputs": {"x": 5}}]
    )
    assert (other.accepted, other.duplicates) == (1, 0)  # ids are per model
    assert _where(pg_store, b.id, "req-1") == partition_name(TODAY)

    labels = ingest.ingest_labels(
        "a", [{"prediction_id": "req-1", "actual": 4}, {"prediction_id": "nope", "actual": 1}]
    )
    assert labels.accepted == 2
    assert (
        pg_store.upsert_labels(
            a.id,
            [
                {
                    "prediction_id": "req-1",
                    "actual": 4,
                    "ts": time.time(),
                    "received_at": time.time(),
                }
            ],
        )
        == 1
    )
    joined = quality_q.labelled_predictions(
        pg_store, a.id, _day_ts(TODAY - 2, 0), _day_ts(TODAY - 2, 24)
    )
    assert [(r["id"], r["inputs"], r["actual"]) for r in joined] == [("req-1", {"x": 1}, 4)]
    assert quality_q.labelled_predictions(pg_store, b.id, None, None) == []


def test_concurrent_writers_store_a_shared_id_once(pg_store):
    ingest = Ingestor(pg_store)
    ingest.register_model({"name": "a", "schema": SCHEMA})
    barrier = threading.Barrier(4)
    accepted: list[int] = []

    def send(day: int) -> None:
        barrier.wait()
        rows = [{"id": f"r{i}", "ts": _day_ts(day), "inputs": {"x": i}} for i in range(300)]
        accepted.append(ingest.ingest_predictions("a", rows).accepted)

    threads = [threading.Thread(target=send, args=(TODAY - 4 + k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(accepted) == 300
    model = pg_store.get_model("a")
    assert pg_store.count("predictions", model.id) == 300
    with pg_store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM prediction_ids")).scalar_one() == 300


def test_rows_of_the_default_partition_move_to_their_own_day(pg_store):
    ingest = Ingestor(pg_store)
    ingest.register_model({"name": "a", "schema": SCHEMA})
    model = pg_store.get_model("a")
    old_day = TODAY - 400
    ingest.ingest_predictions(
        "a", [{"id": f"old-{i}", "ts": _day_ts(old_day, i), "inputs": {"x": i}} for i in range(3)]
    )
    assert _where(pg_store, model.id, "old-0") == partitions.DEFAULT
    assert partitions.ensure_partitions(pg_store) == [partition_name(old_day)]
    assert _where(pg_store, model.id, "old-0") == partition_name(old_day)
    assert pg_store.count("predictions", model.id) == 3
    dup = ingest.ingest_predictions("a", [{"id": "old-1", "inputs": {"x": 1}}])
    assert dup.duplicates == 1  # moving rows kept their ids


def _plan_relations(store, run) -> set[str]:
    """The tables PostgreSQL's plan reads for the statements ``run`` sends (EXPLAIN of
    each captured SELECT on predictions)."""
    captured: list[tuple[str, Any]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT") and "predictions" in statement:
            captured.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", grab)
    try:
        run()
    finally:
        event.remove(store.engine, "before_cursor_execute", grab)
    assert captured
    found: set[str] = set()
    with store.engine.connect() as conn:
        for statement, parameters in captured:
            plan = conn.exec_driver_sql(
                "EXPLAIN (FORMAT JSON) " + statement, parameters
            ).scalar_one()
            found |= set(_relations(plan))
    return {n for n in found if n.startswith("predictions")}


def _relations(node: Any) -> list[str]:
    if isinstance(node, list):
        return [n for item in node for n in _relations(item)]
    if isinstance(node, dict):
        own = [node["Relation Name"]] if "Relation Name" in node else []
        return own + [n for v in node.values() for n in _relations(v)]
    return []


def test_time_bounded_queries_read_only_their_partitions(pg_store):
    partitions.ensure_partitions(pg_store, _day_ts(TODAY - 5))  # days -6.. have partitions
    ingest = Ingestor(pg_store)
    ingest.register_model({"name": "a", "schema": SCHEMA})
    model = pg_store.get_model("a")
    ingest.ingest_predictions(
        "a",
        [
            {"id": f"p{d}-{i}", "ts": _day_ts(TODAY - 3 + d, i), "inputs": {"x": i}}
            for d in range(4)
            for i in range(5)
        ],
    )
    day = TODAY - 2
    window = reference_q.window_inputs  # the drift window read
    reads = _plan_relations(
        pg_store, lambda: window(pg_store, model.id, _day_ts(day, 1), _day_ts(day, 3), None)
    )
    assert reads == {partition_name(day)}
    joined = _plan_relations(
        pg_store,
        lambda: quality_q.labelled_predictions(
            pg_store, model.id, _day_ts(day, 0), _day_ts(day + 1, 6)
        ),
    )
    assert joined == {partition_name(day), partition_name(day + 1)}
    # unbounded reads still see every partition (the control: pruning is not vacuous)
    everything = _plan_relations(
        pg_store, lambda: quality_q.labelled_predictions(pg_store, model.id, None, None)
    )
    assert {
        partition_name(TODAY - 1),
        partition_name(TODAY),
        partitions.DEFAULT,
        partition_name(TODAY + 1),
    } <= everything


def test_aggregator_reads_a_batch_back_from_its_days_partitions_only(pg_store, pg_url):
    partitions.ensure_partitions(pg_store, _day_ts(TODAY - 5))  # days -6.. have partitions
    ingest = Ingestor(pg_store)
    ingest.register_model({"name": "a", "schema": SCHEMA})
    model = pg_store.get_model("a")
    day = TODAY - 3
    rows = [{"id": f"r{i}", "ts": _day_ts(day, i), "inputs": {"x": i}} for i in range(5)]
    ingest.ingest_predictions("a", rows)
    # rows on other days, folded already, so the read-back below has something to skip
    ingest.ingest_predictions(
        "a", [{"id": f"o{d}", "ts": _day_ts(d), "inputs": {"x": 1}} for d in (TODAY - 1, TODAY)]
    )
    pg_store.fold_pending(model.id)
    # a batch appended by another replica: this process has not its rows in memory
    other = open_store(pg_url)
    try:
        other.insert_predictions(
            model,
            [
                {
                    "id": f"late-{i}",
                    "version": "1",
                    "ts": _day_ts(day, 10 + i),
                    "latency_s": None,
                    "error": None,
                    "subject_id": None,
                    "inputs": {"x": i},
                    "outputs": None,
                    "proba": None,
                    "received_at": time.time(),
                }
                for i in range(3)
            ],
        )
    finally:
        other.close()
    reads = _plan_relations(pg_store, lambda: pg_store.fold_pending(model.id))
    assert reads == {partition_name(day)}
    rollups = pg_store.rollup_rows(model.id, _day_ts(day, 0), _day_ts(day, 24))
    assert sum(r.count for r in rollups) == 8  # every row folded once

    # control: a batch without bounds (appended before 0019) reads every partition
    other = open_store(pg_url)
    try:
        other.insert_predictions(
            model,
            [
                {
                    "id": "unbounded",
                    "version": "1",
                    "ts": _day_ts(day, 20),
                    "latency_s": None,
                    "error": None,
                    "subject_id": None,
                    "inputs": {"x": 1},
                    "outputs": None,
                    "proba": None,
                    "received_at": time.time(),
                }
            ],
        )
    finally:
        other.close()
    with pg_store.write() as conn:
        conn.execute(sa.text("UPDATE pending_batches SET ts_min = NULL, ts_max = NULL"))
    reads = _plan_relations(pg_store, lambda: pg_store.fold_pending(model.id))
    assert {partition_name(day), partition_name(TODAY), partitions.DEFAULT} <= reads


def _keys(store, table: str) -> set[tuple[str, str]]:
    """(model name, row key) of every stored row of ``table``."""
    key = {"predictions": "id", "feedback": "id"}.get(table, "prediction_id")
    with store.read() as conn:
        rows = conn.execute(
            sa.text(f"SELECT m.name, t.{key} FROM {table} t JOIN models m ON m.id = t.model_id")
        ).all()
    return {(m, k) for m, k in rows}


def test_retention_drops_whole_days_of_every_table_and_keeps_the_rest(pg_store):
    ingest = Ingestor(pg_store)
    for name in ("a", "b"):
        ingest.register_model({"name": name, "schema": SCHEMA})
    a, b = pg_store.get_model("a"), pg_store.get_model("b")
    now = _day_ts(TODAY, 12)
    # partitions for the eleven past days, a's rows on days -1..-10; b (no retention)
    # on day -8 only
    partitions.ensure_partitions(pg_store, now - 10 * DAY_S, ahead_days=10)
    ingest.ingest_predictions(
        "a",
        [
            {"id": f"a{k}-{i}", "ts": _day_ts(TODAY - k, 6 * i), "inputs": {"x": i}}
            for k in range(1, 11)
            for i in range(4)
        ],
    )
    ingest.ingest_predictions(
        "b", [{"id": "b-old", "ts": _day_ts(TODAY - 8, 1), "inputs": {"x": 1}}]
    )
    labels = {  # prediction id: the label's own day
        "a9-1": -9,  # its day goes (only a's labels in it)
        "a2-1": -1,  # kept
        "a5-0": -5,  # kept: day -5 is not wholly past the cutoff
        "a7-0": -1,  # came late for a prediction whose day is dropped: goes with it
        "a8-2": -2,  # came late for a prediction deleted row-wise (day -8 is b's too)
        "a3-0": -7,  # its own day is past, its prediction's is not: goes by its own day
        "a8-0": -8,  # day -8 of labels is b's too: deleted row-wise
    }
    for pid, day in labels.items():
        ingest.ingest_labels("a", [{"prediction_id": pid, "actual": 1, "ts": _day_ts(TODAY + day)}])
    ingest.ingest_labels("b", [{"prediction_id": "b-old", "actual": 0, "ts": _day_ts(TODAY - 8)}])
    ingest.ingest_feedback(
        "a",
        [
            {"id": "f1", "prediction_id": "a9-1", "score": 1, "ts": _day_ts(TODAY - 9)},
            {"id": "f2", "prediction_id": "a9-1", "score": 1, "ts": _day_ts(TODAY - 1)},
            {"id": "f3", "prediction_id": "a1-0", "score": 1, "ts": now},
        ],
    )
    for model, pid, day, hour in (
        (a, "a9-1", -9, 6),
        (a, "a8-1", -8, 6),
        (b, "b-old", -8, 1),
        (a, "a5-0", -5, 0),
    ):
        add_scores(
            pg_store,
            [
                {
                    "prediction_id": pid,
                    "model_id": model.id,
                    "version": "1",
                    "ts": _day_ts(TODAY + day, hour),
                    "ood_score": 0.5,
                    "ood": False,
                    "injection_score": None,
                    "flags": None,
                }
            ],
        )
    write_scores(
        pg_store,
        a.id,
        [
            {"prediction_id": pid, "version": "1", "ts": _day_ts(TODAY + day, 0), "tokens": 3}
            for pid, day in (("a10-0", -10), ("a4-0", -4))
        ],
    )
    admin.set_retention(pg_store, "a", 5, "test")  # cutoff: day -5, 12:00 -> day -5 00:00

    done = enforce_retention(pg_store, now=now)

    # whole days went: every table's days -6 and older holding only a's rows (or none)
    for table in partitions.TABLES:
        with pg_store.read() as conn:
            names = {p.name for p in partitions.list_partitions(conn, table)}
        shared = {-8} if table in ("predictions", "labels", "prediction_scores") else set()
        for k in range(5, 12):
            assert (partition_name(TODAY - k, table) in names) == (k == 5 or -k in shared), (
                table,
                k,
            )
    kept = {f"a{k}-{i}" for k in range(1, 6) for i in range(4)}
    assert _keys(pg_store, "predictions") == {("a", k) for k in kept} | {("b", "b-old")}
    assert _keys(pg_store, "labels") == {("a", "a2-1"), ("a", "a5-0"), ("b", "b-old")}
    assert _keys(pg_store, "feedback") == {("a", "f3")}
    assert _keys(pg_store, "prediction_scores") == {("a", "a5-0"), ("b", "b-old")}
    assert _keys(pg_store, "answer_scores") == {("a", "a4-0")}
    assert done["a"] == {
        "predictions": 20,
        "labels": 5,
        "feedback": 2,
        "prediction_scores": 2,
        "answer_scores": 1,
    }
    assert "b" not in done  # no retention: nothing of b is looked at
    with pg_store.read() as conn:
        ids = set(
            conn.execute(
                sa.text("SELECT id FROM prediction_ids WHERE model_id = :m"), {"m": a.id}
            ).scalars()
        )
    assert ids == kept  # the ids of dropped and deleted rows were released
    # a dropped id and a deleted one can be sent again
    again = ingest.ingest_predictions(
        "a", [{"id": "a9-1", "inputs": {"x": 1}}, {"id": "a8-0", "inputs": {"x": 1}}]
    )
    assert again.accepted == 2
    # a second run has nothing left to do
    assert not any(enforce_retention(pg_store, now=now)["a"].values())


def test_relabels_refeedback_and_rescoring_keep_one_row_per_key(pg_store):
    """Keys of the partitioned tables hold ts: the writers keep one row per id."""
    ingest = Ingestor(pg_store)
    ingest.register_model({"name": "a", "schema": SCHEMA})
    a = pg_store.get_model("a")
    ingest.ingest_predictions("a", [{"id": "p", "ts": _day_ts(TODAY - 1), "inputs": {"x": 1}}])
    ingest.ingest_labels("a", [{"prediction_id": "p", "actual": 1, "ts": _day_ts(TODAY - 1)}])
    ingest.ingest_labels("a", [{"prediction_id": "p", "actual": 2, "ts": _day_ts(TODAY, 0.5)}])
    with pg_store.read() as conn:
        assert conn.execute(sa.text("SELECT actual FROM labels")).scalars().all() == [2]
    first = ingest.ingest_feedback(
        "a", [{"id": "f", "prediction_id": "p", "score": 1, "ts": _day_ts(TODAY - 1)}]
    )
    second = ingest.ingest_feedback(
        "a", [{"id": "f", "prediction_id": "p", "score": 0, "ts": _day_ts(TODAY, 0.5)}]
    )
    assert (first.accepted, second.accepted, second.duplicates) == (1, 0, 1)
    with pg_store.read() as conn:
        assert conn.execute(sa.text("SELECT score FROM feedback")).scalars().all() == [1]
    for ts in (_day_ts(TODAY - 1), _day_ts(TODAY, 0.5)):  # a duplicate prediction's score
        row = {"prediction_id": "p", "model_id": a.id, "version": "1", "ts": ts}
        add_scores(
            pg_store,
            [{**row, "ood_score": 0.1, "ood": False, "injection_score": None, "flags": None}],
        )
    with pg_store.read() as conn:
        assert conn.execute(sa.text("SELECT ts FROM prediction_scores")).scalars().all() == [
            _day_ts(TODAY - 1)
        ]

    # writers racing on the same ids each with their own times still leave one row per id
    barrier = threading.Barrier(4)

    def relabel(k: int) -> None:
        barrier.wait()
        pg_store.upsert_labels(
            a.id,
            [
                {
                    "prediction_id": f"r{i}",
                    "actual": k,
                    "ts": _day_ts(TODAY - k),
                    "received_at": 1.0,
                }
                for i in range(200)
            ],
        )

    threads = [threading.Thread(target=relabel, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with pg_store.read() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT prediction_id) FROM labels "
                "WHERE prediction_id LIKE 'r%'"
            )
        ).one()
    assert tuple(rows) == (200, 200)


def test_erasure_releases_the_ids_of_erased_predictions(pg_store):
    ingest = Ingestor(pg_store)
    ingest.register_model({"name": "a", "schema": SCHEMA})
    ingest.ingest_predictions("a", [{"id": "e1", "subject_id": "alice", "inputs": {"x": 1}}])
    receipt = admin.erase(pg_store, "alice", "test")
    assert receipt["deleted"]["predictions"] == 1
    assert ingest.ingest_predictions("a", [{"id": "e1", "inputs": {"x": 2}}]).accepted == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_has_no_partitions_and_the_same_path_works(store):
    assert partitions.ensure_partitions(store) == []
    assert not store.partitioned()
    with store.read() as conn:
        assert partitions.list_partitions(conn) == []
    ingest = Ingestor(store)
    ingest.register_model({"name": "a", "schema": SCHEMA})
    first = ingest.ingest_predictions(
        "a", [{"id": "r", "ts": _day_ts(TODAY - 2), "inputs": {"x": 1}}]
    )
    dup = ingest.ingest_predictions(
        "a", [{"id": "r", "ts": _day_ts(TODAY, 0.5), "inputs": {"x": 1}}]
    )
    assert (first.accepted, dup.duplicates) == (1, 1)
