"""Partitioned vs unpartitioned predictions on PostgreSQL at millions of stored rows.

    PYTHONPATH=$PWD python bench/pg_partitions.py --rows 10000000 [--days 30] [--models 10]

Starts a throw-away PostgreSQL (the test suite's helper), makes two databases at vigil's
newest schema - one as shipped (daily partitions of predictions, labels, feedback and
scores, migrations 0015 and 0019), one stepped back to the unpartitioned layout of 0009 -
and fills both with the same ``--rows`` predictions spread evenly over ``--days`` whole
UTC days (ending at today's midnight) and ``--models`` models, with labels for a tenth of
them (a third of those a day late, a third two days late), feedback for one in fifty and
input scores for one in five, written by SQL directly (``INSERT ... SELECT ... FROM
generate_series``, 1M rows per transaction) because the HTTP path would take hours at
this size. ANALYZE, then per layout:

- ingest: 20 batches of 500 through ``Store.insert_predictions`` (the server's path);
- overview: per-model counts of the last 24 h from the raw rows;
- 24 h metrics of one model (count of its predictions in the last day);
- drift window read: one model's inputs of the last hour (``window_inputs``);
- labelled join: one model's labelled predictions of the last 24 h;
- label matching: ``upsert_labels`` of 500 labels (ids looked up per model);
- aggregator read-back: 20 batches of 500 appended, then folded with the process's
  cache of them emptied (what a replica that did not append them does);
- retention of the oldest day (every model keeps ``--days - 1`` days, so exactly one
  whole day of every table is past it): partition drops vs row deletes.

Wall time is the median of 5 runs (retention: one run); database CPU is the user+system
time of every PostgreSQL process over the runs (from /proc), divided by the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from vigil.engine.privacy.policies import enforce_retention
from vigil.store import migrate, open_store, partitions
from vigil.store.ingest.aggregation import RecentBatches
from vigil.store.privacy import queries as privacy_q
from vigil.store.quality import queries as quality_q
from vigil.store.references import queries as reference_q
from vigil.store.store import Store

DAY = 86400
CHUNK = 1_000_000
SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}],
}
_TICKS = os.sysconf("SC_CLK_TCK")


def pg_cpu_s() -> float:
    """User + system CPU seconds of every PostgreSQL process alive now."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        name = raw[raw.index(b"(") + 1 : raw.rindex(b")")]
        if not name.startswith(b"postgres"):
            continue
        fields = raw[raw.rindex(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def load(store: Store, rows: int, days: int, models: int, end: float) -> float:
    """Fill predictions (and prediction_ids when partitioned) by SQL; return seconds."""
    start = end - days * DAY
    partitioned = store.partitioned()
    began = time.perf_counter()
    # what the daily job would have made while the data arrived: a partition per day
    partitions.ensure_partitions(store, now=start, ahead_days=days + 1)
    with store.write() as conn:
        for m in range(1, models + 1):
            conn.execute(
                sa.text(
                    "INSERT INTO models (id, name, task, schema, created_at, updated_at) "
                    "VALUES (:i, :n, 'binary_classification', :s, 0, 0)"
                ),
                {"i": m, "n": f"m{m}", "s": json.dumps(SCHEMA)},
            )
            conn.execute(sa.text("INSERT INTO model_versions VALUES (:i, 'v1', 0)"), {"i": m})
        conn.exec_driver_sql(f"SELECT setval('models_id_seq', {models})")
    ts = f"{start} + (g::float8 / {rows}) * {days * DAY}"
    for lo in range(0, rows, CHUNK):
        hi = min(rows, lo + CHUNK) - 1
        with store.write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO predictions (model_id, id, version, ts, latency_s, error, "
                "error_type, subject_id, inputs, outputs, proba, received_at, batch) "
                f"SELECT 1 + mod(g, {models}), 'p' || g, 'v1', {ts}, 0.01 + mod(g, 100) / 1000.0, "
                "NULL, NULL, NULL, jsonb_build_object('x', mod(g, 1000), 'c', 'k' || mod(g, 7)), "
                f"to_jsonb(mod(g, 2)), NULL, {ts}, NULL FROM generate_series({lo}, {hi}) g"
            )
            if partitioned:
                conn.exec_driver_sql(
                    f"INSERT INTO prediction_ids (model_id, id, ts) SELECT 1 + mod(g, {models}), "
                    f"'p' || g, {ts} FROM generate_series({lo}, {hi}) g"
                )
        print(f"  loaded {hi + 1:,} rows ({time.perf_counter() - began:.0f} s)", flush=True)
    for lo in range(0, rows, CHUNK):  # what belongs to the predictions, by their ids
        hi = min(rows, lo + CHUNK) - 1
        with store.write() as conn:
            conn.exec_driver_sql(  # a tenth labelled: on time, a day late, two days late
                "INSERT INTO labels (model_id, prediction_id, actual, ts, received_at) "
                f"SELECT 1 + mod(g, {models}), 'p' || g, to_jsonb(mod(g, 2)), "
                f"{ts} + mod(g / 10, 3) * {DAY}, {ts} FROM generate_series({lo}, {hi}) g "
                "WHERE mod(g, 10) = 3"
            )
            conn.exec_driver_sql(
                "INSERT INTO feedback (model_id, id, prediction_id, score, ts, received_at) "
                f"SELECT 1 + mod(g, {models}), 'f' || g, 'p' || g, 1, {ts} + 3600, {ts} "
                f"FROM generate_series({lo}, {hi}) g WHERE mod(g, 50) = 7"
            )
            conn.exec_driver_sql(
                "INSERT INTO prediction_scores (model_id, prediction_id, version, ts, "
                f"ood_score, ood) SELECT 1 + mod(g, {models}), 'p' || g, 'v1', {ts}, "
                f"mod(g, 97) / 97.0, mod(g, 97) > 90 FROM generate_series({lo}, {hi}) g "
                "WHERE mod(g, 5) = 1"
            )
        print(f"  children of {hi + 1:,} rows ({time.perf_counter() - began:.0f} s)", flush=True)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - began


def measure(run: Callable[[int], Any], reps: int = 5) -> tuple[float, float]:
    """(median wall ms, database CPU ms per run)."""
    walls = []
    cpu0 = pg_cpu_s()
    for i in range(reps):
        t0 = time.perf_counter()
        run(i)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls) * 1000, (pg_cpu_s() - cpu0) / reps * 1000


def bench_layout(store: Store, args: argparse.Namespace, end: float) -> dict[str, Any]:
    out: dict[str, Any] = {"load_s": load(store, args.rows, args.days, args.models, end)}
    model = store.get_model("m1")
    assert model is not None
    now = time.time()

    def ingest(i: int) -> None:
        for b in range(20):
            store.insert_predictions(
                model,
                [
                    {
                        "id": f"new-{i}-{b}-{k}",
                        "version": "v1",
                        "ts": end + 60,
                        "latency_s": 0.01,
                        "error": None,
                        "subject_id": None,
                        "inputs": {"x": k, "c": "k1"},
                        "outputs": 1,
                        "proba": None,
                        "received_at": now,
                    }
                    for k in range(500)
                ],
            )

    wall, cpu = measure(ingest)
    out["ingest 10k (20x500)"] = (wall, cpu)

    def overview(_i: int) -> None:
        with store.read() as conn:
            conn.execute(
                sa.text(
                    "SELECT model_id, count(*) FROM predictions WHERE ts >= :s "
                    "AND ts < :e GROUP BY model_id"
                ),
                {"s": end - DAY, "e": end},
            ).all()

    out["overview 24 h (all models)"] = measure(overview)
    out["one model 24 h count"] = measure(
        lambda _i: reference_q.count_window(store, model.id, end - DAY, end, None)
    )
    out["drift window read (1 h)"] = measure(
        lambda _i: reference_q.window_inputs(store, model.id, end - 3600, end, None)
    )
    out["labelled join 24 h"] = measure(
        lambda _i: quality_q.labelled_predictions(store, model.id, end - DAY, end)
    )
    with store.read() as conn:  # where the 24 h count's time goes: planning vs running
        for _ in range(3):
            plan = (
                conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, SUMMARY) SELECT count(*) FROM predictions WHERE "
                    f"model_id = {model.id} AND ts >= {end - DAY} AND ts < {end}"
                )
                .scalars()
                .all()
            )
    out["24 h count: planning / execution ms"] = " / ".join(
        line.split(":")[1].strip().split()[0] for line in plan if "Time:" in line
    )
    ids = [f"p{args.rows - 1 - k * args.models}" for k in range(500)]
    out["upsert 500 labels"] = measure(
        lambda i: store.upsert_labels(
            model.id,
            [{"prediction_id": pid, "actual": i, "ts": now, "received_at": now} for pid in ids],
        )
    )
    out["aggregator read-back (20 batches of 500)"] = measure_fold(store, model, end)
    for m in range(1, args.models + 1):
        privacy_q.set_retention(store, m, args.days - 1, "bench")
    removed: dict[str, int] = {}

    def retention(_i: int) -> None:
        for per_model in enforce_retention(store, now=end).values():
            for table, n in per_model.items():
                removed[table] = removed.get(table, 0) + n

    out["retention: oldest day"] = measure(retention, reps=1)
    out["retention removed"] = ", ".join(f"{t} {n:,}" for t, n in sorted(removed.items()) if n)
    return out


def measure_fold(store: Store, model: Any, end: float, reps: int = 5) -> tuple[float, float]:
    """(median wall ms, database CPU ms) of folding 20 batches read back from the table."""
    walls, cpu = [], 0.0
    for i in range(reps):
        for b in range(20):
            store.insert_predictions(
                model,
                [
                    {
                        "id": f"fold-{i}-{b}-{k}",
                        "version": "v1",
                        "ts": end - 1800 + k,
                        "latency_s": 0.01,
                        "error": None,
                        "subject_id": None,
                        "inputs": {"x": k, "c": "k2"},
                        "outputs": 1,
                        "proba": None,
                        "received_at": end,
                    }
                    for k in range(500)
                ],
            )
        store.recent_batches = RecentBatches()  # as on a replica that did not append them
        cpu0 = pg_cpu_s()
        t0 = time.perf_counter()
        store.fold_pending(model.id)
        walls.append(time.perf_counter() - t0)
        cpu += pg_cpu_s() - cpu0
    return statistics.median(walls) * 1000, cpu / reps * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument(
        "--url",
        help="an existing PostgreSQL server (postgresql+psycopg://"
        "user@host:port); default: start a throw-away one",
    )
    args = ap.parse_args()
    from support.pg import start_postgres

    executor = base = None
    if args.url is None:
        executor, base = start_postgres()
        server = f"postgresql+psycopg://postgres@127.0.0.1:{executor.port}"
    else:
        server = args.url.rstrip("/")
    end = float(time.time() // DAY * DAY)  # today's midnight: the days are whole
    results: dict[str, dict[str, Any]] = {}
    try:
        admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
        for layout in ("partitioned", "unpartitioned"):
            db = f"bench_{layout}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {db}")
                conn.exec_driver_sql(f"CREATE DATABASE {db}")
            store = open_store(f"{server}/{db}")
            if layout == "unpartitioned":
                migrate.downgrade(store.engine, "0015_partitions-1")
                store._partitioned = None
                with store.write() as conn:  # this code writes the batch bounds of 0019
                    conn.exec_driver_sql(
                        "ALTER TABLE pending_batches ADD COLUMN ts_min float8, "
                        "ADD COLUMN ts_max float8"
                    )
            print(f"{layout}: loading {args.rows:,} rows", flush=True)
            try:
                results[layout] = bench_layout(store, args, end)
            finally:
                store.close()
            with admin.connect() as conn:
                size = conn.exec_driver_sql(f"SELECT pg_database_size('{db}')").scalar()
                conn.exec_driver_sql(f"DROP DATABASE {db}")
            results[layout]["size_gb"] = size / 1e9
        admin.dispose()
    finally:
        if executor is not None:
            executor.stop()
            shutil.rmtree(base, ignore_errors=True)
    part, plain = results["partitioned"], results["unpartitioned"]
    print(f"\n{args.rows:,} stored predictions, {args.days} days, {args.models} models")
    print(
        f"load (SQL): partitioned {part['load_s']:.0f} s, unpartitioned "
        f"{plain['load_s']:.0f} s; size {part['size_gb']:.2f} GB vs {plain['size_gb']:.2f} GB"
    )
    print("| operation | partitioned wall ms | db CPU ms | unpartitioned wall ms | db CPU ms |")
    print("|---|---:|---:|---:|---:|")
    for key, value in part.items():
        if isinstance(value, str):
            print(f"| {key} | {value} | | {plain[key]} | |")
        if isinstance(value, tuple):
            other = plain[key]
            print(f"| {key} | {value[0]:.1f} | {value[1]:.0f} | {other[0]:.1f} | {other[1]:.0f} |")


if __name__ == "__main__":
    main()
