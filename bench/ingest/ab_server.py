"""Server CPU per record over HTTP of two or more checkouts, interleaved, with the
event loop's share and the page reads.

On a shared machine one run's figure moves by a microsecond or two; what a change is
worth shows in the medians of several rounds that alternate the checkouts (each round
starts a fresh ``vigil server`` of each checkout on a fresh SQLite database, or a fresh
database of one throw-away PostgreSQL server with ``--postgres``).

Per run: records/s, the server's CPU per record (user + system, all threads, the
aggregation included: the closing read folds what is pending), the event loop thread's
part of it, and the bytes its process read (``/proc/<pid>/io``: the request bodies, plus
SQLite pages read back from the WAL and the file).

    python bench/ingest/ab_server.py /work/main . [--rounds 6] [--batches 100]
        [--clients 2] [--arrow] [--postgres]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from bench_ingest import ARROW, BATCH, SCHEMA, arrow_body, make_batches, post_all
from support.servers import free_port, wait_ready


def _thread_cpu(pid: int, tid: int) -> float:
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def one_run(
    checkout: str, db_url: str, bodies: list[bytes], media: str, clients: int
) -> tuple[float, float, float, float]:
    """Records/s, CPU µs per record, of which the event loop's, and MB read."""
    home = tempfile.mkdtemp(prefix="vigil-ab-")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(checkout).resolve())}
    command = [sys.executable, "-m", "vigil.cli.main", "server", "--db", db_url]
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--home", home, "--auth", "off"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc=proc)
        httpx.post(f"{url}/api/v1/models", json={"name": "m", "schema": SCHEMA}).raise_for_status()
        headers = {"content-type": media, "content-encoding": "gzip"}
        work = list(bodies)
        httpx.post(
            f"{url}/api/v1/models/m/predictions", content=work.pop(), headers=headers, timeout=60
        ).raise_for_status()  # warm: imports, caches, the model's schema
        sent = len(work)
        server = psutil.Process(proc.pid)
        cpu0, loop0 = sum(server.cpu_times()[:2]), _thread_cpu(proc.pid, proc.pid)
        read0 = _read_bytes(proc.pid)
        t0 = time.perf_counter()
        failures = post_all([url] * clients, "m", work, headers)
        if failures:
            raise RuntimeError(f"{len(failures)} batches failed: {failures[0]}")
        count = httpx.get(
            f"{url}/api/v1/models/m/metrics", params={"start": time.time() - 3600}, timeout=120
        ).json()["summary"]["count"]
        wall = time.perf_counter() - t0
        if count != (sent + 1) * BATCH:
            raise RuntimeError(f"{count} records counted, {(sent + 1) * BATCH} sent")
        n = sent * BATCH
        cpu = sum(server.cpu_times()[:2]) - cpu0
        loop = _thread_cpu(proc.pid, proc.pid) - loop0
        read = _read_bytes(proc.pid) - read0
        return n / wall, cpu / n * 1e6, loop / n * 1e6, read / 1e6
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkouts", nargs="+", help="vigil checkouts to compare (PYTHONPATH)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--arrow", action="store_true", help="Arrow IPC bodies instead of JSON")
    ap.add_argument("--postgres", action="store_true", help="a PostgreSQL 15 database each run")
    args = ap.parse_args()
    batches = make_batches(args.batches + 1)
    if args.arrow:
        bodies, media = [gzip.compress(arrow_body(b), 1) for b in batches], ARROW
    else:
        bodies = [gzip.compress(orjson.dumps({"records": b}), 1) for b in batches]
        media = "application/json"
    folder = tempfile.mkdtemp(prefix="vigil-ab-db-")
    urls = (f"sqlite:///{folder}/r{i}.db" for i in range(10**6))
    executor = base = None
    if args.postgres:
        import psycopg
        from support.pg import start_postgres

        executor, base = start_postgres()
        admin = f"postgresql://postgres@127.0.0.1:{executor.port}/postgres"

        def pg_urls():
            for i in range(10**6):
                deadline = time.monotonic() + 60
                while True:  # "the database system is starting up" right after start
                    try:
                        with psycopg.connect(admin, autocommit=True) as conn:
                            conn.execute(f"CREATE DATABASE r{i}")
                        break
                    except psycopg.OperationalError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.3)
                yield f"postgresql+psycopg://postgres@127.0.0.1:{executor.port}/r{i}"

        urls = pg_urls()
    results: dict[str, list[tuple[float, float, float, float]]] = {c: [] for c in args.checkouts}
    try:
        for _ in range(args.rounds):
            for checkout in args.checkouts:
                out = one_run(checkout, next(urls), bodies, media, args.clients)
                results[checkout].append(out)
                rate, cpu, loop, read = out
                print(
                    f"{checkout:24} {rate:8,.0f} records/s  {cpu:5.1f} us/record "
                    f"(event loop {loop:.2f})  read {read:6.1f} MB  "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        if executor is not None:
            executor.stop()
            shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    print("medians:")
    for checkout, runs in results.items():
        print(
            f"{checkout:24} {statistics.median(r[0] for r in runs):8,.0f} records/s  "
            f"{statistics.median(r[1] for r in runs):5.1f} us/record "
            f"(min {min(r[1] for r in runs):.1f}, event loop "
            f"{statistics.median(r[2] for r in runs):.2f})"
        )


if __name__ == "__main__":
    main()
