"""Load harness: N `vigil server` replicas x M SDK clients on one PostgreSQL.

Starts a throw-away PostgreSQL (the test suite's helper), N replicas (role ``all``: they
elect one leader per job, every one ingests) and M client processes. Each client is the
SDK's own HTTP transport (:class:`vigil.sdk.http.HttpTransport`) bound to one replica
(client i -> replica i mod N, as a load balancer would spread connections), sending
25-feature records in batches for ``--seconds``. Reported:

* per-replica throughput (records/s accepted) and server CPU per record;
* database write cost per record: WAL bytes, PostgreSQL CPU (all its processes) and
  tuples inserted per record (rows of predictions, pending batches and rollups);
* ingest latency per request (p50, p99) as the SDK saw it, and errors.

    PYTHONPATH=$PWD python bench/scale/run.py --replicas 1 2 3 --clients 4 --seconds 20

Numbers from a shared 2-core machine are a floor, not a capacity: clients, replicas and
PostgreSQL compete for the same two cores (see bench/README.md for the extrapolation).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from support.pg import start_postgres  # noqa: E402
from support.servers import free_port, wait_ready  # noqa: E402

N_NUM, N_CAT = 20, 5
SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": f"n{i}", "kind": "numeric"} for i in range(N_NUM)]
    + [{"name": f"c{i}", "kind": "categorical"} for i in range(N_CAT)],
}


def _bodies(client: int, n: int, batch: int) -> list[bytes]:
    rng = np.random.default_rng(client)
    now = time.time()
    out = []
    for _ in range(n):
        nums = rng.normal(size=(batch, N_NUM)).round(5)
        cats = rng.integers(0, 50, size=(batch, N_CAT))
        recs = []
        for i in range(batch):
            inputs = {f"n{j}": float(nums[i, j]) for j in range(N_NUM)}
            inputs.update({f"c{j}": f"v{cats[i, j]}" for j in range(N_CAT)})
            recs.append(
                {
                    "id": f"ROUND-{i}",
                    "version": "1",
                    "ts": now - 30 + i * 1e-4,
                    "latency_s": float(abs(nums[i, 0]) / 100),
                    "inputs": inputs,
                    "outputs": int(nums[i, 1] > 0),
                }
            )
        out.append(orjson.dumps({"records": recs}))
    return out


def _client(args: tuple[int, str, float, int, int, float]) -> dict:
    """One SDK transport sending batches until the time is up; its latencies and errors."""
    from vigil.sdk.http import HttpTransport

    client, url, start_at, batch, pool, seconds = args
    bodies = _bodies(client, pool, batch)
    transport = HttpTransport(url, timeout_s=60)
    latencies: list[float] = []
    accepted = errors = duplicates = 0
    while time.time() < start_at:  # every client starts at once, bodies made
        time.sleep(0.01)
    began = time.time()
    deadline = time.monotonic() + seconds
    k = 0
    while time.monotonic() < deadline:
        # every request new records: the template's ids get this client's round number
        body = bodies[k % pool].replace(b"ROUND", f"c{client}r{k}".encode())
        k += 1
        started = time.perf_counter()
        try:
            result = transport.send("bench", "predictions", body)
            accepted += int(result.get("accepted", 0))
            duplicates += int(result.get("duplicates", 0))
        except Exception:
            errors += 1
            continue
        latencies.append(time.perf_counter() - started)
    transport.close()
    return {
        "client": client,
        "url": url,
        "latencies": latencies,
        "records": accepted,
        "errors": errors,
        "duplicates": duplicates,
        "began": began,
        "ended": time.time(),
    }


def _pg_processes(datadir: Path) -> list[psutil.Process]:
    pid = int((datadir / "postmaster.pid").read_text().split()[0])
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _db_counters(engine: sa.Engine) -> dict[str, float]:
    with engine.connect() as conn:
        wal = conn.execute(sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")).scalar()
        row = (
            conn.execute(
                sa.text(
                    "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted "
                    "FROM pg_stat_database WHERE datname = current_database()"
                )
            )
            .mappings()
            .one()
        )
    return {"wal_bytes": float(wal), **{k: float(v or 0) for k, v in row.items()}}


def run(
    replicas: int, clients: int, seconds: float, batch: int, pg_url: str, datadir: Path
) -> dict:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # a clean slate per run (the schema stays)
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "db", "upgrade", "--db", pg_url],
        check=True,
        capture_output=True,
    )
    home = Path(tempfile.mkdtemp(prefix="vigil-scale-"))
    procs, urls = [], []
    try:
        for _ in range(replicas):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "vigil.cli.main",
                        "server",
                        "--db",
                        pg_url,
                        "--port",
                        str(port),
                        "--home",
                        str(home),
                        "--auth",
                        "off",
                        "--no-upgrade",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            wait_ready(url, timeout_s=120, proc=proc)
        r = httpx.post(
            f"{urls[0]}/api/v1/models", json={"name": "bench", "schema": SCHEMA}, timeout=60
        )
        r.raise_for_status()
        servers = [psutil.Process(p.pid) for p in procs]
        start_at = time.time() + 10 + clients  # bodies are made before the clock starts
        with mp.get_context("spawn").Pool(clients) as pool:
            pending = pool.map_async(
                _client,
                [(c, urls[c % replicas], start_at, batch, 8, seconds) for c in range(clients)],
            )
            while time.time() < start_at:
                time.sleep(0.01)
            cpu0 = [_cpu([s]) for s in servers]
            pg_procs = _pg_processes(datadir)
            pg_cpu0, db0 = _cpu(pg_procs), _db_counters(engine)
            results = pending.get()
        wall = max(r["ended"] for r in results) - min(r["began"] for r in results)
        # fold what is pending so the rollup cost is counted too
        httpx.get(f"{urls[0]}/api/v1/models/bench/metrics", timeout=120)
        pg_cpu = _cpu(_pg_processes(datadir)) - pg_cpu0
        db1 = _db_counters(engine)
        cpu = [_cpu([s]) - c for s, c in zip(servers, cpu0, strict=True)]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        engine.dispose()
    per_replica = []
    for i, url in enumerate(urls):
        mine = [r for r in results if r["url"] == url]
        n = sum(r["records"] for r in mine)
        per_replica.append(
            {
                "replica": i,
                "records_per_s": round(n / wall),
                "server_cpu_us_per_record": round(cpu[i] / max(n, 1) * 1e6, 1),
            }
        )
    total = sum(r["records"] for r in results)
    lat = np.array([x for r in results for x in r["latencies"]]) * 1000
    d = {k: db1[k] - db0[k] for k in db1}
    return {
        "replicas": replicas,
        "clients": clients,
        "batch": batch,
        "seconds": round(wall, 1),
        "records": total,
        "records_per_s": round(total / wall),
        "per_replica": per_replica,
        "errors": sum(r["errors"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results),  # must be 0: ids are new
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
        "latency_ms_p99": round(float(np.percentile(lat, 99)), 1) if lat.size else None,
        "db_wal_bytes_per_record": round(d["wal_bytes"] / max(total, 1)),
        "db_cpu_us_per_record": round(pg_cpu / max(total, 1) * 1e6, 1),
        "db_tuples_inserted_per_record": round(d["tup_inserted"] / max(total, 1), 2),
        "db_commits_per_record": round(d["xact_commit"] / max(total, 1), 4),
        "load_avg_1m": round(psutil.getloadavg()[0], 1),
    }


def _wait_for_database(url: str, timeout_s: float = 180.0) -> None:
    """pg_ctl -w may give up first on a loaded machine: poll until the server answers."""
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    executor, base = start_postgres()
    try:
        url = f"postgresql+psycopg://{executor.user}@{executor.host}:{executor.port}/postgres"
        _wait_for_database(url)
        rows = [
            run(n, args.clients, args.seconds, args.batch, url, base / "data")
            for n in args.replicas
        ]
    finally:
        executor.stop()
    for row in rows:
        print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
