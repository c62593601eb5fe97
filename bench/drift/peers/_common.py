"""Shared loop of the per-peer runners (stdlib, numpy and pandas only: each runner runs in
its peer's own virtual environment, where vigil is not installed).

A runner is called as ``python run_<peer>.py JOB OUT``. JOB (JSON) names the numeric and
categorical columns and lists tasks: a reference and a current Parquet file. For each task
the runner reads both files (not timed), lets the peer prepare them (``prepare``, not timed:
e.g. encoding categories as integers for a peer that only takes arrays), then times
``detect`` (CPU of the whole process, all threads, and wall) and measures its peak
resident memory (the kernel's high-water mark is reset before, read after). OUT (JSON)
gets, per task, the columns the peer flagged and the figures.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

Detect = Callable[[Any, Any, list[str], list[str]], list[str]]


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def run(
    version: str,
    detect: Detect,
    prepare: Callable[[pd.DataFrame, pd.DataFrame, list[str], list[str]], tuple[Any, Any]]
    | None = None,
) -> None:
    """Run every task of the job in ``sys.argv[1]``; write results to ``sys.argv[2]``."""
    job = json.loads(Path(sys.argv[1]).read_text())
    num, cat = job["numeric"], job["categorical"]
    out: list[dict[str, Any]] = []
    for task in job["tasks"]:
        ref = pd.read_parquet(task["reference"])
        cur = pd.read_parquet(task["current"])
        row: dict[str, Any] = {"id": task["id"]}
        try:
            a, b = prepare(ref, cur, num, cat) if prepare else (ref, cur)
            del ref, cur
            base = _status_kib("VmRSS")
            _reset_peak()
            c0, w0 = time.process_time(), time.perf_counter()
            flagged = detect(a, b, num, cat)
            row["wall_s"] = time.perf_counter() - w0
            row["cpu_s"] = time.process_time() - c0
            row["peak_mib"] = _status_kib("VmHWM") / 1024
            row["extra_mib"] = (_status_kib("VmHWM") - base) / 1024
            row["drifted"] = sorted(flagged)
        except Exception as exc:  # report the peer's failure, go on with the next task
            row["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        out.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "drifted"}), flush=True)
    Path(sys.argv[2]).write_text(json.dumps({"version": version, "tasks": out}))
