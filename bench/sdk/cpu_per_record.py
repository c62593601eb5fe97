"""Total CPU per recorded prediction: hot path + background ids, dicts, JSON, gzip, send.

A tracked function is called with 25-feature records; the process CPU time
(``time.process_time``: every thread of this process, i.e. the caller and the SDK's
sender thread) from the first call until ``flush`` returns, minus the CPU of the same loop
calling the bare function, divided by the number of records. The main thread's own share
(``time.thread_time``) is the hot path; the rest is background work.

Transports: ``memory`` (a MemoryTransport that orjson-encodes, gzips bodies over 64 KiB
and keeps the bytes: everything but the socket) and ``http`` (a real ``vigil server`` on
SQLite in a child process; its CPU is not ours and is not counted).

Run: ``python bench/sdk/cpu_per_record.py [--records 200000] [--transport memory http]``
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from vigil.sdk import MemoryTransport, Monitor

N_FEATURES = 25


def make_rows(n: int) -> list[dict]:
    rng = random.Random(7)
    plans = ["free", "pro", "team", "enterprise"]
    rows = []
    for _ in range(n):
        row = {f"num_{j}": round(rng.gauss(0, 1), 4) for j in range(N_FEATURES - 3)}
        row["plan"] = rng.choice(plans)
        row["country"] = rng.choice(["fr", "de", "us", "jp", "br"])
        row["age"] = rng.randint(18, 90)
        rows.append(row)
    return rows


def cpu_of_loop(fn, rows: list[dict]) -> float:
    t0 = time.process_time()
    for row in rows:
        fn(row)
    return time.process_time() - t0


def run(transport_name: str, rows: list[dict], url: str | None) -> dict[str, float]:
    def bare(row):
        return 1

    bare_cpu = min(cpu_of_loop(bare, rows) for _ in range(3))
    with tempfile.TemporaryDirectory() as spool:
        transport = MemoryTransport(compress=True, keep=False) if url is None else None
        mon = Monitor("bench-cpu", version="1", endpoint=url or "http://unused",
                      transport=transport, spool_dir=spool, queue_size=10_000_000,
                      batch_size=1000, flush_interval_s=0.5)
        tracked = mon.track(bare)
        tracked(rows[0])  # registers the model, opens the connection
        mon.flush()
        cpu0, main0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
        for row in rows:
            tracked(row)
        main1 = time.thread_time()
        ok = mon.flush(timeout_s=600)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        stats = mon.stats
        mon.close()
    if not ok or stats["dropped_queue_full"]:
        raise RuntimeError(f"not every record was delivered: {stats}")
    n = len(rows)
    total = (cpu1 - cpu0 - bare_cpu) / n
    hot = (main1 - main0 - bare_cpu) / n
    wire = sum(len(b) for _, _, b in transport.bodies) if transport is not None else 0
    return {"total_us": total * 1e6, "hot_us": hot * 1e6, "background_us": (total - hot) * 1e6,
            "wall_s": wall1 - wall0, "sent": stats["sent"], "batches": stats["batches"],
            "wire_bytes_per_record": wire / n}


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root),
                                                                    os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "vigil.cli.main", "server", "--db",
                             f"sqlite:///{tmp / 'bench.db'}", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the vigil server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--transport", nargs="+", default=["memory", "http"],
                        choices=["memory", "http"])
    args = parser.parse_args()
    rows = make_rows(args.records)
    print(f"{args.records} records of {N_FEATURES} features, batches of 1000, "
          f"{os.cpu_count()} CPUs")
    for name in args.transport:
        if name == "memory":
            result = run(name, rows, None)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                proc, url = start_server(Path(tmp))
                try:
                    result = run(name, rows, url)
                finally:
                    proc.kill()
                    proc.wait()
        print(f"[{name:6}] total CPU per record {result['total_us']:6.2f} us "
              f"(hot path {result['hot_us']:.2f} us + background {result['background_us']:.2f} us)"
              f"  target <= 15 us;  wall {result['wall_s']:.2f} s, sent {result['sent']}, "
              f"{result['batches']} batches"
              + (f", {result['wire_bytes_per_record']:.0f} B/record on the wire"
                 if result["wire_bytes_per_record"] else ""))


if __name__ == "__main__":
    main()
