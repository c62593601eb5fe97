"""Total CPU per recorded prediction: hot path + background ids, dicts, JSON, (gzip), send.

A tracked function is called with 25-feature records; the process CPU time
(``time.process_time``: every thread of this process, i.e. the caller and the SDK's
sender thread, user and system time) from the first call until ``flush`` returns, minus
the CPU of the same loop calling the bare function, divided by the number of records. The
main thread's own share (``time.thread_time``) is the hot path; the rest is background.

Transports: ``memory`` (a MemoryTransport that keeps nothing: everything but the socket,
no gzip, as to a server on loopback), ``memory-gzip`` (the same, gzipping bodies over
64 KiB as the SDK does for a remote server) and ``http`` (a real ``vigil server`` on
SQLite in a child process on loopback; its CPU is not ours and is not counted). Each has
an ``-arrow`` twin sending prediction batches as Arrow tables (``vigil.sdk.columnar``;
the SDK's default off loopback) instead of JSON (its default on loopback).

``--baseline SRC`` runs the very same measurement, interleaved round by round, in a child
Python that imports vigil from another checkout (e.g. the main branch), so "before" and
"after" share the machine's load; the table gives the median of ``--rounds``.

Run: ``python bench/sdk/cpu_per_record.py [--records 100000] [--rounds 3]
[--transport memory memory-arrow memory-gzip memory-gzip-arrow http http-arrow]
[--baseline /path/to/other/checkout]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from vigil.sdk import HttpTransport, MemoryTransport, Monitor

N_FEATURES = 25
_TRANSPORTS = ["memory", "memory-arrow", "memory-gzip", "memory-gzip-arrow", "http", "http-arrow"]


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
        arrow = transport_name.endswith("-arrow")
        if url is None:
            transport = MemoryTransport(
                compress=transport_name.startswith("memory-gzip"), keep=False
            )
            transport.columnar = arrow  # type: ignore[attr-defined]  # as HttpTransport's
        else:
            transport = HttpTransport(url, columnar=arrow)
        mon = Monitor(
            f"bench-cpu-{transport_name}",
            version="1",
            endpoint=url or "http://unused",
            transport=transport,
            spool_dir=spool,
            queue_size=10_000_000,
            batch_size=1000,
            flush_interval_s=0.5,
        )
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
    wire = sum(len(b) for _, _, b in getattr(transport, "bodies", ()))
    return {
        "total_us": total * 1e6,
        "hot_us": hot * 1e6,
        "background_us": (total - hot) * 1e6,
        "wall_s": wall1 - wall0,
        "sent": stats["sent"],
        "batches": stats["batches"],
        "wire_bytes_per_record": wire / n,
    }


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil.cli.main",
            "server",
            "--db",
            f"sqlite:///{tmp / 'bench.db'}",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the vigil server did not start")


def measure(name: str, rows: list[dict]) -> dict[str, float]:
    if not name.startswith("http"):
        return run(name, rows, None)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            return run(name, rows, url)
        finally:
            proc.kill()
            proc.wait()


def measure_in(src: str, name: str, n: int) -> dict[str, float]:
    """The same measurement in a child Python that imports vigil from ``src``."""
    env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.run(
        [sys.executable, __file__, "--records", str(n), "--transport", name, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--transport", nargs="+", default=["memory", "memory-gzip", "http"], choices=_TRANSPORTS
    )
    parser.add_argument("--baseline", help="another checkout to measure in the same run")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = make_rows(args.records)
    if args.json:  # one measurement for a parent run (see --baseline)
        print(json.dumps(measure(args.transport[0], rows)))
        return
    print(
        f"{args.records} records of {N_FEATURES} features, batches of 1000, "
        f"{os.cpu_count()} CPUs, {args.rounds} round(s), medians"
    )
    for name in args.transport:
        mine, base = [], []
        for _ in range(args.rounds):
            if args.baseline:
                base.append(measure_in(args.baseline, name, args.records))
            mine.append(measure_in(str(Path(__file__).resolve().parents[2]), name, args.records))
        for label, results in (("baseline", base), ("this", mine)):
            if not results:
                continue
            med = {k: statistics.median(r[k] for r in results) for k in results[0]}
            rounds = ", ".join(f"{r['total_us']:.2f}" for r in results)
            print(
                f"[{name:11}] {label:8} total CPU per record {med['total_us']:6.2f} us "
                f"(hot path {med['hot_us']:.2f} + background {med['background_us']:.2f})"
                f"  rounds: {rounds}"
                + (
                    f"; {med['wire_bytes_per_record']:.0f} B/record on the wire"
                    if med["wire_bytes_per_record"]
                    else ""
                )
            )


if __name__ == "__main__":
    main()
