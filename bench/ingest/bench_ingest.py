"""Ingest over HTTP against its floor: 25-feature records in batches of 1,000, rollups included.

Starts real ``vigil server`` processes (SQLite, and PostgreSQL 15 when its binaries are
installed), sends pre-built gzip bodies (JSON, and the SDK's Arrow body) from client
threads and reports records/s and the servers' CPU per record (user + system), the
aggregation into the rollups included: the closing read folds whatever is still pending.

The floor, measured in the same run as CPU per record of this process:

- SQLite: gunzip + orjson + ``executemany`` into vigil's own ``predictions`` table (its key
  and indexes, a fresh migrated database), one transaction per batch;
- PostgreSQL: gunzip + orjson + psycopg ``COPY`` of the same rows into the same table of a
  fresh migrated database on the same server, one transaction per batch.

``--workers 1 2`` runs 1 and 2 server processes on the same database (vigil has no
in-process worker option: each ``vigil server`` is one process, and several share one
database as replicas), with ``--clients`` client threads per process.

    python bench/ingest/bench_ingest.py [--batches 200] [--clients 2] [--workers 1 2]
        [--rounds 1] [--no-postgres] [--no-sqlite] [--no-arrow]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from support.servers import free_port, wait_ready

N_NUM, N_CAT, BATCH = 20, 5, 1000
SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": f"n{i}", "kind": "numeric"} for i in range(N_NUM)]
    + [{"name": f"c{i}", "kind": "categorical"} for i in range(N_CAT)],
}
ARROW = "application/vnd.apache.arrow.stream"
COLUMNS = "model_id, id, version, ts, latency_s, error, inputs, outputs, received_at, batch"


def make_batches(n_batches: int, seed: int = 0) -> list[list[dict]]:
    rng = np.random.default_rng(seed)
    now = time.time()
    batches = []
    for b in range(n_batches):
        nums = rng.normal(size=(BATCH, N_NUM)).round(5)
        cats = rng.integers(0, 50, size=(BATCH, N_CAT))
        recs = []
        for i in range(BATCH):
            inputs = {f"n{j}": float(nums[i, j]) for j in range(N_NUM)}
            inputs.update({f"c{j}": f"v{cats[i, j]}" for j in range(N_CAT)})
            recs.append(
                {
                    "id": f"b{b}-{i}",
                    "version": "1",
                    "ts": now - 30 + i * 1e-4,
                    "latency_s": float(abs(nums[i, 0]) / 100),
                    "inputs": inputs,
                    "outputs": int(nums[i, 1] > 0),
                    "error": None,
                }
            )
        batches.append(recs)
    return batches


def arrow_body(records: list[dict]) -> bytes:
    """The SDK's columnar body for ``records`` (every record fits the table here)."""
    from vigil.sdk.columnar import split_columnar

    body, rest = split_columnar(records)
    if body is None or rest:
        raise RuntimeError("bench records must all fit one Arrow table")
    return body


def start_server(db_url: str) -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    home = tempfile.mkdtemp(prefix="vigil-bench-")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil.cli.main",
            "server",
            "--db",
            db_url,
            "--port",
            str(port),
            "--home",
            home,
            "--auth",
            "off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc=proc)
    return proc, url, home


def run_http(
    db_url: str, bodies: list[bytes], media: str, clients: int, workers: int, model: str
) -> tuple[float, float]:
    """Records/s over HTTP and the servers' CPU µs per record (user + system), the
    aggregation into rollups included (the closing metrics read folds what is pending)."""
    servers = []
    try:
        for _ in range(workers):  # one after the other: the first one migrates
            servers.append(start_server(db_url))
        urls = [url for _, url, _ in servers]
        httpx.post(
            f"{urls[0]}/api/v1/models", json={"name": model, "schema": SCHEMA}
        ).raise_for_status()
        headers = {"content-type": media, "content-encoding": "gzip"}
        for url in urls:  # warm each server: imports, caches, the model's schema
            warm = httpx.post(
                f"{url}/api/v1/models/{model}/predictions",
                content=bodies.pop(),
                headers=headers,
                timeout=60,
            )
            warm.raise_for_status()
        sent = len(bodies)
        procs = [psutil.Process(p.pid) for p, _, _ in servers]
        cpu0 = sum(sum(p.cpu_times()[:2]) for p in procs)
        t0 = time.perf_counter()
        failures = post_all(urls * clients, model, bodies, headers)
        count = httpx.get(
            f"{urls[0]}/api/v1/models/{model}/metrics",
            params={"start": time.time() - 3600},
            timeout=120,
        ).json()["summary"]["count"]
        elapsed = time.perf_counter() - t0
        cpu = sum(sum(p.cpu_times()[:2]) for p in procs) - cpu0
        if failures:
            raise RuntimeError(f"{len(failures)} batches failed: {failures[0]}")
        assert count == (sent + workers) * BATCH, count
        return sent * BATCH / elapsed, cpu / (sent * BATCH) * 1e6
    finally:
        for proc, _, home in servers:
            proc.terminate()
            proc.wait(timeout=30)
            shutil.rmtree(home, ignore_errors=True)


def post_all(urls: list[str], model: str, bodies: list[bytes], headers: dict) -> list[str]:
    """Post ``bodies`` as prediction batches of ``model`` from one client thread per entry
    of ``urls`` (each takes the next body until none is left); return the failures (a
    status other than 200 or a batch not wholly accepted), empty when all went in."""
    work = list(bodies)
    lock = threading.Lock()
    failures: list[str] = []

    def client(url: str) -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            while True:
                with lock:
                    if not work:
                        return
                    body = work.pop()
                r = c.post(f"/api/v1/models/{model}/predictions", content=body, headers=headers)
                if r.status_code != 200 or r.json()["accepted"] != BATCH:
                    failures.append(r.text[:200])

    threads = [threading.Thread(target=client, args=(url,)) for url in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


def _rows(recs: list[dict], model_id: int, batch: int) -> list[tuple]:
    dumps, now = orjson.dumps, time.time()
    return [
        (
            model_id,
            r["id"],
            r["version"],
            r["ts"],
            r["latency_s"],
            r["error"],
            dumps(r["inputs"]).decode(),
            dumps(r["outputs"]).decode(),
            now,
            batch,
        )
        for r in recs
    ]


def _fresh_database(url: str) -> int:
    """Migrate a database with vigil and register the floor's model; return its id."""
    from vigil.store import open_store

    store = open_store(url)
    try:
        record, _ = store.upsert_model("floor", "binary_classification", SCHEMA, None, None)
        return record.id
    finally:
        store.close()


def sqlite_floor(bodies: list[bytes]) -> tuple[float, float]:
    """Records/s and CPU µs per record of gunzip + orjson + executemany into a fresh
    ``predictions`` table of vigil's own schema."""
    folder = tempfile.mkdtemp()
    path = Path(folder) / "floor.db"
    model_id = _fresh_database(f"sqlite:///{path}")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    insert = f"INSERT INTO predictions ({COLUMNS}) VALUES ({','.join('?' * 10)})"
    t0, c0 = time.perf_counter(), time.process_time()
    for batch, body in enumerate(bodies):
        recs = orjson.loads(gzip.decompress(body))["records"]
        db.execute("BEGIN")
        db.executemany(insert, _rows(recs, model_id, batch))
        db.execute("COMMIT")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    db.close()
    shutil.rmtree(folder, ignore_errors=True)
    n = len(bodies) * BATCH
    return n / wall, cpu / n * 1e6


def postgres_floor(admin_url: str, bodies: list[bytes]) -> tuple[float, float]:
    """Records/s and CPU µs per record (this process) of gunzip + orjson + psycopg COPY
    into a fresh ``predictions`` table of vigil's own schema on the same server."""
    import psycopg

    deadline = time.monotonic() + 60
    while True:  # "the database system is starting up" right after pg_ctl -w, at times
        try:
            admin = psycopg.connect(admin_url, autocommit=True)
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    with admin:
        admin.execute("DROP DATABASE IF EXISTS floor")
        admin.execute("CREATE DATABASE floor")
    url = admin_url.rsplit("/", 1)[0] + "/floor"
    model_id = _fresh_database(url.replace("postgresql://", "postgresql+psycopg://"))
    with psycopg.connect(url) as conn:
        t0, c0 = time.perf_counter(), time.process_time()
        for batch, body in enumerate(bodies):
            recs = orjson.loads(gzip.decompress(body))["records"]
            with conn.cursor() as cur, cur.copy(f"COPY predictions ({COLUMNS}) FROM STDIN") as cp:
                write = cp.write_row
                for row in _rows(recs, model_id, batch):
                    write(row)
            conn.commit()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = len(bodies) * BATCH
    return n / wall, cpu / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--clients", type=int, default=2, help="client threads per server")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=1, help="repeat all; print the medians")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--no-arrow", action="store_true")
    args = ap.parse_args()
    batches = make_batches(args.batches)
    json_bodies = [gzip.compress(orjson.dumps({"records": b}), 1) for b in batches]
    kinds = [("JSON", "application/json", json_bodies)]
    if not args.no_arrow:
        kinds.append(("Arrow", ARROW, [gzip.compress(arrow_body(b), 1) for b in batches]))
    # the floors run in this process: without the records the bodies were built from
    # (~150k dicts the collector would walk again and again while a floor runs)
    del batches
    gc.collect()
    print(f"records: {args.batches} batches x {BATCH}, 25 features (20 numeric, 5 categorical)")
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in psutil.getloadavg())}")
    results: dict[tuple[str, str, int], list[tuple[float, float, float]]] = {}

    def report(label: str, floor_cpu: float, db_url: str, round_: int) -> None:
        for workers in args.workers:
            for kind, media, bodies in kinds:
                model = f"bench-{kind.lower()}-{workers}-{round_}"
                rate, cpu = run_http(db_url, list(bodies), media, args.clients, workers, model)
                results.setdefault((label, kind, workers), []).append((rate, cpu, cpu / floor_cpu))
                print(
                    f"vigil {label} {kind:5} {workers} worker(s): {rate:9,.0f} records/s, "
                    f"server CPU {cpu:5.1f} us/record = {cpu / floor_cpu:.2f}x the floor"
                )

    def sqlite_round(round_: int) -> None:
        runs = [sqlite_floor(json_bodies) for _ in range(2)]
        rate, floor_cpu = min(runs, key=lambda r: r[1])  # the cheaper of two runs
        print(
            f"floor SQLite (gunzip + orjson + executemany, same table): {rate:,.0f} records/s, "
            f"{floor_cpu:.1f} us/record CPU"
        )
        folder = tempfile.mkdtemp(prefix="vigil-bench-db-")
        try:
            report("SQLite    ", floor_cpu, f"sqlite:///{folder}/vigil.db", round_)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    executor = base = None
    if not args.no_postgres:
        from support.pg import pg_bindir, start_postgres

        if pg_bindir() is None:
            print("PostgreSQL: server binaries not installed, skipped")
        else:
            executor, base = start_postgres()
    try:
        for round_ in range(args.rounds):
            if args.rounds > 1:
                print(f"-- round {round_ + 1} of {args.rounds}")
            if not args.no_sqlite:
                sqlite_round(round_)
            if executor is not None:
                admin = f"postgresql://postgres@127.0.0.1:{executor.port}/postgres"
                runs = [postgres_floor(admin, json_bodies) for _ in range(2)]
                rate, floor_cpu = min(runs, key=lambda r: r[1])
                print(
                    f"floor PostgreSQL (gunzip + orjson + psycopg COPY, same table): {rate:,.0f} "
                    f"records/s, {floor_cpu:.1f} us/record CPU (client side)"
                )
                url = f"postgresql+psycopg://postgres@127.0.0.1:{executor.port}/postgres"
                report("PostgreSQL", floor_cpu, url, round_)
    finally:
        if executor is not None:
            executor.stop()
            shutil.rmtree(base, ignore_errors=True)
    if args.rounds > 1:
        print(f"medians of {args.rounds} rounds (ratio: each round against its own floor):")
        for (label, kind, workers), rows in results.items():
            rate, cpu, ratio = (statistics.median(r[i] for r in rows) for i in range(3))
            spread = ", ".join(f"{r[2]:.2f}" for r in rows)
            print(
                f"vigil {label} {kind:5} {workers} worker(s): {rate:9,.0f} records/s, "
                f"server CPU {cpu:5.1f} us/record = {ratio:.2f}x the floor ({spread})"
            )


if __name__ == "__main__":
    main()
