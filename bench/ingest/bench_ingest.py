"""Ingest throughput over HTTP: 25-feature records in batches of 1,000, rollups included.

Starts a real ``vigil server`` process (SQLite, and PostgreSQL when its binaries are
installed), sends pre-serialised batches from client threads and reports sustained
predictions/s. The reference in the same run is the floor of the same database: the same
rows inserted with plain ``executemany`` (no HTTP, validation or rollups).

    python bench/ingest/bench_ingest.py [--batches 200] [--clients 2] [--no-postgres]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
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
    assert body is not None and not rest, "bench records must all fit one Arrow table"
    return body


def run_http(db_url: str, bodies: list[bytes], clients: int) -> tuple[float, float]:
    """Records/s over HTTP and the server's CPU µs per record (user + system), the
    aggregation into rollups included (the closing metrics read folds what is pending)."""
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
    try:
        wait_ready(url, proc=proc)
        httpx.post(
            f"{url}/api/v1/models", json={"name": "bench", "schema": SCHEMA}
        ).raise_for_status()
        warm = httpx.post(
            f"{url}/api/v1/models/bench/predictions",
            content=bodies[0],
            headers={"content-type": "application/json"},
            timeout=60,
        )
        warm.raise_for_status()
        work = list(enumerate(bodies[1:]))
        lock = threading.Lock()
        failures = []

        def client() -> None:
            with httpx.Client(base_url=url, timeout=120) as c:
                while True:
                    with lock:
                        if not work:
                            return
                        _, body = work.pop()
                    r = c.post(
                        "/api/v1/models/bench/predictions",
                        content=body,
                        headers={"content-type": "application/json"},
                    )
                    if r.status_code != 200 or r.json()["accepted"] != BATCH:
                        failures.append(r.text[:200])

        threads = [threading.Thread(target=client) for _ in range(clients)]
        server = psutil.Process(proc.pid)
        cpu0 = sum(server.cpu_times()[:2])
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        if failures:
            raise RuntimeError(f"{len(failures)} batches failed: {failures[0]}")
        count = httpx.get(
            f"{url}/api/v1/models/bench/metrics", params={"start": time.time() - 3600}
        ).json()["summary"]["count"]
        assert count == len(bodies) * BATCH, count
        cpu_us = (sum(server.cpu_times()[:2]) - cpu0) / ((len(bodies) - 1) * BATCH) * 1e6
        return (len(bodies) - 1) * BATCH / elapsed, cpu_us
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def sqlite_floor(batches: list[list[dict]]) -> float:
    folder = tempfile.mkdtemp()
    db = sqlite3.connect(Path(folder) / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE p (id TEXT PRIMARY KEY, version TEXT, ts REAL, latency_s REAL, "
        "error TEXT, inputs TEXT, outputs TEXT)"
    )
    t0 = time.perf_counter()
    for recs in batches:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO p VALUES (?,?,?,?,?,?,?)",
            [
                (
                    r["id"],
                    r["version"],
                    r["ts"],
                    r["latency_s"],
                    r["error"],
                    orjson.dumps(r["inputs"]).decode(),
                    orjson.dumps(r["outputs"]).decode(),
                )
                for r in recs
            ],
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    db.close()
    shutil.rmtree(folder, ignore_errors=True)
    return len(batches) * BATCH / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    batches = make_batches(args.batches)
    bodies = [orjson.dumps({"records": b}) for b in batches]
    floor = sqlite_floor(batches)
    print(f"records: {args.batches} batches x {BATCH}, 25 features (20 numeric, 5 categorical)")
    print(f"reference  sqlite3 executemany floor (no HTTP/validation/rollups): {floor:,.0f}/s")
    folder = tempfile.mkdtemp(prefix="vigil-bench-db-")
    rate, cpu = run_http(f"sqlite:///{folder}/vigil.db", bodies, args.clients)
    print(
        f"vigil HTTP ingest, SQLite:      {rate:,.0f} predictions/s  "
        f"(ratio to floor {rate / floor:.2f}; target >= 50,000/s); "
        f"server CPU {cpu:.1f} us/record"
    )
    shutil.rmtree(folder, ignore_errors=True)
    if not args.no_postgres:
        from support.pg import pg_bindir, start_postgres

        if pg_bindir() is None:
            print("PostgreSQL: server binaries not installed, skipped")
            return
        executor, base = start_postgres()
        try:
            url = f"postgresql+psycopg://postgres@127.0.0.1:{executor.port}/postgres"
            rate, cpu = run_http(url, bodies, args.clients)
            print(
                f"vigil HTTP ingest, PostgreSQL:  {rate:,.0f} predictions/s  "
                f"(ratio to SQLite floor {rate / floor:.2f}); server CPU {cpu:.1f} us/record"
            )
        finally:
            executor.stop()
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
