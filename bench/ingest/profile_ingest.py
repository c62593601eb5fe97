"""Server CPU per record on the ingest path, in-process, with a profile of where it goes.

Builds the real app (SQLite store, Ingestor with the redactor and Prometheus hook) and
times what a ``POST .../predictions`` of 1,000 25-feature records costs on the server
thread: gunzip, body parse (JSON or Arrow), validation and append, then the aggregator's
fold. Beside it the floor of issue 14: gunzip + orjson + executemany into the same
``predictions`` table layout. HTTP itself (uvicorn, routing) is not in this figure; the
end-to-end one is ``bench_ingest.py``.

    python bench/ingest/profile_ingest.py [--batches 60] [--arrow] [--postgres]
        [--profile out.pstats]

``--postgres`` runs both on a throw-away PostgreSQL 15 server (the installed binaries):
the floor is then gunzip + orjson + psycopg ``COPY`` into the same table (client CPU,
as in ``bench_ingest.py``), and vigil's figure is this process's CPU (the database's
own CPU is in neither).
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import pstats
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import BATCH, SCHEMA, arrow_body, make_batches


def floor_us(bodies: list[bytes]) -> float:
    """gunzip + orjson + executemany into vigil's own ``predictions`` table (its key and
    indexes), one transaction per batch: what storing the rows costs at the least."""
    from vigil.store import open_store

    folder = tempfile.mkdtemp()
    path = Path(folder) / "floor.db"
    store = open_store(f"sqlite:///{path}")
    store.upsert_model("floor", "binary_classification", SCHEMA, None, None)
    store.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    model_id = db.execute("SELECT id FROM models WHERE name = 'floor'").fetchone()[0]
    dumps = orjson.dumps
    t0 = time.process_time()
    for batch, body in enumerate(bodies):
        recs = orjson.loads(gzip.decompress(body))["records"]
        now = time.time()
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO predictions (model_id, id, version, ts, latency_s, error, inputs, "
            "outputs, received_at, batch) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    model_id,
                    r["id"],
                    r["version"],
                    r["ts"],
                    r["latency_s"],
                    r["error"],
                    dumps(r["inputs"]),
                    dumps(r["outputs"]),
                    now,
                    batch,
                )
                for r in recs
            ],
        )
        db.execute("COMMIT")
    cpu = time.process_time() - t0
    db.close()
    shutil.rmtree(folder, ignore_errors=True)
    return cpu / (len(bodies) * BATCH) * 1e6


def vigil_us(
    bodies: list[bytes], arrow: bool, profile: str | None, fold_every: int, db_url: str | None
) -> float:
    from vigil.config import load_settings
    from vigil.engine.ingest.payload import decompress, parse_json
    from vigil.server.app import create_app, settle_process
    from vigil.store import open_store

    folder = tempfile.mkdtemp()
    store = open_store(db_url or f"sqlite:///{folder}/vigil.db")
    store.recent_batches.max_rows = 50_000  # as with the aggregator loop on
    app = create_app(load_settings(), store=store)
    ingestor = app.state.ingestor
    ingestor.register_model({"name": "bench", "schema": SCHEMA})
    settle_process()  # as `vigil server` does once started: the collector, one BLAS thread
    limit = 64 << 20

    def one(i: int, body: bytes) -> None:
        raw = decompress(body, "gzip", limit)
        if arrow:
            from vigil.server.arrow_body import columns_from_arrow

            records, non_finite = columns_from_arrow(raw), False
        else:
            records, non_finite = parse_json(raw)
        result = ingestor.ingest_predictions("bench", records, non_finite=non_finite)
        assert result.accepted == BATCH, result.to_dict()
        if i % fold_every == 0 or i == len(bodies) - 1:
            store.fold_pending(wait=False)

    one(0, bodies[0])
    prof = cProfile.Profile(time.process_time) if profile else None  # CPU, not waits
    if prof:
        prof.enable()
    t0 = time.process_time()
    for i, body in enumerate(bodies[1:], 1):
        one(i, body)
    cpu = time.process_time() - t0
    if prof:
        prof.disable()
        prof.dump_stats(profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    store.close()
    shutil.rmtree(folder, ignore_errors=True)
    return cpu / ((len(bodies) - 1) * BATCH) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--arrow", action="store_true", help="Arrow IPC bodies instead of JSON")
    ap.add_argument("--profile", help="write a cProfile of the vigil run here")
    ap.add_argument(
        "--fold-every",
        type=int,
        default=8,
        help="batches between folds (the server's loop folds what a second brought)",
    )
    ap.add_argument("--postgres", action="store_true", help="on PostgreSQL (floor: COPY)")
    args = ap.parse_args()
    batches = make_batches(args.batches)
    json_bodies = [gzip.compress(orjson.dumps({"records": b}), 1) for b in batches]
    bodies = [gzip.compress(arrow_body(b), 1) for b in batches] if args.arrow else json_bodies
    kind = "Arrow" if args.arrow else "JSON"
    if not args.postgres:
        floor = floor_us(json_bodies)
        ours = vigil_us(bodies, args.arrow, args.profile, args.fold_every, None)
        print(f"floor (gunzip + orjson + executemany): {floor:.1f} us/record")
        print(f"vigil {kind} ingest + fold, in-process: {ours:.1f} us/record ({ours / floor:.2f}x)")
        return
    from bench_ingest import postgres_floor

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from support.pg import start_postgres

    executor, base = start_postgres()
    try:
        admin = f"postgresql://postgres@127.0.0.1:{executor.port}/postgres"
        floor = postgres_floor(admin, json_bodies)[1]
        url = f"postgresql+psycopg://postgres@127.0.0.1:{executor.port}/postgres"
        ours = vigil_us(bodies, args.arrow, args.profile, args.fold_every, url)
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"floor PostgreSQL (gunzip + orjson + COPY): {floor:.1f} us/record")
    print(f"vigil {kind} ingest + fold on PostgreSQL: {ours:.1f} us/record ({ours / floor:.2f}x)")


if __name__ == "__main__":
    main()
