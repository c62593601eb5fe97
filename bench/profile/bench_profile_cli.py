"""Benchmark: peak memory and time of ``vigil profile`` on Parquet files of growing size.

Run::

    python bench/profile/bench_profile_cli.py [--rows 1000000 10000000] [--row-group 1000000]
    python bench/profile/bench_profile_cli.py --rows 1000000 4000000 --row-group 100000 \
        --compression none

Each file (seeded; written once into a temporary folder, not timed) has eight normal
float columns, one integer column (0..999), one categorical string column of 100 levels
and one string id per row (unique, as user or request ids are), in row groups of
``--row-group`` rows, snappy-compressed unless ``--compression`` says otherwise.
``vigil profile`` runs in a child process (the real CLI entry point) started from this
file's folder, so the ``vigil`` imported is the one on PYTHONPATH; the child reports its
own peak resident memory (VmHWM from ``/proc/self/status``) and CPU time at exit; wall
time is measured around it. Bounded memory means the peak stays flat as rows grow.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

_CHILD = """
import json, resource, sys
from pathlib import Path
from vigil.cli.main import main
sys.argv[0] = "vigil"
report = Path(sys.argv.pop())
try:
    main()
finally:
    hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    ru = resource.getrusage(resource.RUSAGE_SELF)
    report.write_text(json.dumps({"hwm_kib": int(hwm.split()[1]),
                                  "cpu_s": ru.ru_utime + ru.ru_stime}))
"""


def write(path: Path, rows: int, row_group: int, compression: str = "snappy") -> None:
    """Write ``rows`` rows in row groups of ``row_group`` rows, one group in memory at a
    time (``compression="none"``: uncompressed and plain-encoded, the layout on which
    pyarrow's pre-buffering was seen to keep every row group)."""
    rng = np.random.default_rng(0)
    levels = np.array([f"level_{i:03d}" for i in range(100)])
    writer = None
    for start in range(0, rows, row_group):
        n = min(row_group, rows - start)
        cols = {f"x{i}": rng.normal(size=n) for i in range(8)}
        cols["i"] = rng.integers(0, 1000, n)
        cols["plan"] = pa.array(levels[rng.integers(0, levels.size, n)])
        cols["id"] = pa.array([f"u{j:09d}" for j in range(start, start + n)])
        table = pa.table(cols)
        if writer is None:
            plain = compression == "none"
            writer = pq.ParquetWriter(
                path, table.schema, compression=compression, use_dictionary=not plain
            )
        writer.write_table(table, row_group_size=row_group)
    assert writer is not None
    writer.close()


def run(data: Path, out: Path) -> dict[str, float]:
    """Profile ``data`` in a child; its peak RSS (MiB), CPU and wall seconds."""
    report = out.with_suffix(".json")
    argv = [sys.executable, "-c", _CHILD, "profile", str(data), "-o", str(out), "-q"]
    t0 = time.perf_counter()
    # cwd: not the repository root, whose ``vigil`` would shadow the one on PYTHONPATH
    subprocess.run([*argv, str(report)], check=True, capture_output=True, cwd=Path(__file__).parent)
    wall = time.perf_counter() - t0
    child = json.loads(report.read_text())
    return {"peak_mib": child["hwm_kib"] / 1024, "cpu_s": child["cpu_s"], "wall_s": wall}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--row-group", type=int, default=1_000_000)
    parser.add_argument("--compression", default="snappy", help="snappy, zstd or none")
    args = parser.parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, pyarrow {pa.__version__}, "
        f"load average {os.getloadavg()[0]:.2f}, row groups of {args.row_group:,} rows, "
        f"compression {args.compression}"
    )
    print("| rows | file MB | peak RSS MiB | CPU s | wall s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            data = Path(tmp) / f"data_{rows}.parquet"
            write(data, rows, args.row_group, args.compression)
            got = run(data, Path(tmp) / f"data_{rows}.profile")
            size = data.stat().st_size / 1e6
            print(
                f"| {rows:,} | {size:.0f} | {got['peak_mib']:.0f} | {got['cpu_s']:.1f} "
                f"| {got['wall_s']:.1f} |",
                flush=True,
            )
            data.unlink()


if __name__ == "__main__":
    main()
