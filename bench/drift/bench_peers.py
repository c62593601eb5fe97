"""Drift detection side by side: vigil, Evidently, NannyML, alibi-detect and whylogs on
the very same data sets, each peer in its own virtual environment.

Data: 25 columns (20 numeric N(0, 1); 5 categorical with 10, 50, 100, 500 and 1,000
Zipf-weighted levels). Seven columns drift in the "drift" data sets (see ``DRIFTED``);
the "no drift" data sets draw every column from the reference's distribution. Every data
set is written once as Parquet into a temporary folder; each peer runs in a subprocess
with its own venv's python (``bench/drift/peers/run_<peer>.py``), which reads the files,
times its drift detection (CPU of the whole process and wall) and measures its peak RSS.

Printed: per peer, precision and recall of the per-column verdicts on the drift data sets
(the drifted columns are known), the detection rate of each drifted column, the
false-alarm rate per column and per data set on the no-drift data sets, and time and
memory on one drift data set per ``--time-rows`` size.

Run (venvs as in bench/drift/README.md "Peers")::

    python bench/drift/bench_peers.py                        # 20k rows, 10 seeds, 100k timed
    python bench/drift/bench_peers.py --time-rows 100000 1000000 --peers vigil alibi
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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PEERS = ("vigil", "evidently", "nannyml", "alibi", "whylogs")
NUMERIC = [f"num_{i}" for i in range(20)]
LEVELS = (10, 50, 100, 500, 1000)
CATEGORICAL = [f"cat_{k}" for k in LEVELS]
DRIFTED = {
    "num_0": "mean +0.2σ",
    "num_1": "mean +0.5σ",
    "num_2": "scale ×1.3",
    "num_3": "10% of rows +2σ",
    "num_4": "mean +0.3σ",
    "cat_10": "Zipf weights reversed (TV 0.44)",
    "cat_100": "two most frequent levels swapped (TV 0.10)",
}


def make(n: int, seed: int, drift: bool) -> pa.Table:
    """One data set of ``n`` rows; ``drift`` applies the shifts of :data:`DRIFTED`."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for name in NUMERIC:
        x = rng.normal(0.0, 1.0, n)
        if drift and name in DRIFTED:
            if name == "num_2":
                x *= 1.3
            elif name == "num_3":
                x[rng.random(n) < 0.1] += 2.0
            else:
                x += {"num_0": 0.2, "num_1": 0.5, "num_4": 0.3}[name]
        cols[name] = x
    for k, name in zip(LEVELS, CATEGORICAL, strict=True):
        p = 1.0 / np.arange(1, k + 1)
        if drift and name == "cat_10":
            p = p[::-1]
        if drift and name == "cat_100":
            p[[0, 1]] = p[[1, 0]]
        p /= p.sum()
        levels = np.array([f"L{x}" for x in range(k)])
        cols[name] = pa.array(levels[rng.choice(k, n, p=p)])
    return pa.table(cols)


def python_of(peer: str, venvs: Path) -> str:
    return sys.executable if peer == "vigil" else str(venvs / peer / "bin" / "python")


def run_peer(peer: str, venvs: Path, job: Path, tmp: Path, timeout: float) -> dict[str, Any]:
    """Run one peer's runner on the job; its results, or the reason it could not run."""
    python = python_of(peer, venvs)
    if not Path(python).exists():
        return {"error": f"no venv at {venvs / peer}"}
    out = tmp / f"out_{peer}.json"
    env = dict(os.environ)
    if peer == "vigil":
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    else:
        env.pop("PYTHONPATH", None)
    script = HERE / "peers" / f"run_{peer}.py"
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [python, str(script), str(job), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not out.exists():
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {proc.returncode}: {last}"}
    result = json.loads(out.read_text())
    result["process_s"] = time.perf_counter() - t0
    return result


def score(tasks: list[dict[str, Any]], seeds: int) -> dict[str, Any]:
    """Precision, recall, per-column detection and false-alarm rates of one peer."""
    by_id = {t["id"]: t for t in tasks}
    tp = fp = 0
    per_col = dict.fromkeys(DRIFTED, 0)
    null_cols = null_sets = 0
    wrong: dict[str, int] = {}
    errors = 0
    for s in range(seeds):
        d, z = by_id.get(f"drift_{s}", {}), by_id.get(f"null_{s}", {})
        if "drifted" not in d or "drifted" not in z:
            errors += 1
            continue
        flagged = set(d["drifted"])
        tp += len(flagged & DRIFTED.keys())
        fp += len(flagged - DRIFTED.keys())
        for c in flagged & DRIFTED.keys():
            per_col[c] += 1
        null_cols += len(z["drifted"])
        for c in [*z["drifted"], *(flagged - DRIFTED.keys())]:
            wrong[c] = wrong.get(c, 0) + 1
        null_sets += bool(z["drifted"])
    done = seeds - errors
    n_cols = len(NUMERIC) + len(CATEGORICAL)
    return {
        "done": done,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (len(DRIFTED) * done) if done else float("nan"),
        "per_column": {c: v / done if done else float("nan") for c, v in per_col.items()},
        "fa_column": null_cols / (n_cols * done) if done else float("nan"),
        "fa_dataset": null_sets / done if done else float("nan"),
        "false_flags": dict(sorted(wrong.items(), key=lambda kv: -kv[1])),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per side, scored sets")
    parser.add_argument("--seeds", type=int, default=10, help="drift and no-drift data sets")
    parser.add_argument("--time-rows", type=int, nargs="*", default=[100_000])
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=PEERS)
    parser.add_argument("--venvs", type=Path, default=Path("/work/peers"))
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per peer")
    parser.add_argument("--json", type=Path, help="also write all results here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        tasks = []

        def add(task_id: str, n: int, ref_seed: int, cur_seed: int, drift: bool) -> None:
            ref, cur = tmp / f"{task_id}_ref.parquet", tmp / f"{task_id}_cur.parquet"
            pq.write_table(make(n, ref_seed, False), ref)
            pq.write_table(make(n, cur_seed, drift), cur)
            tasks.append({"id": task_id, "reference": str(ref), "current": str(cur)})

        add("warmup", 2_000, 99_998, 99_999, True)  # imports and first-call costs
        for s in range(args.seeds):
            add(f"drift_{s}", args.rows, 3 * s, 3 * s + 1, True)
            add(f"null_{s}", args.rows, 3 * s, 3 * s + 2, False)
        for n in args.time_rows:
            add(f"time_{n}", n, 10_000_001, 10_000_002, True)
        job = tmp / "job.json"
        job.write_text(json.dumps({"numeric": NUMERIC, "categorical": CATEGORICAL, "tasks": tasks}))

        results: dict[str, dict[str, Any]] = {}
        for peer in args.peers:
            print(f"running {peer} ...", file=sys.stderr, flush=True)
            results[peer] = run_peer(peer, args.venvs, job, tmp, args.timeout)

    load = os.getloadavg()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs; "
        f"{args.seeds} drift + {args.seeds} no-drift data sets of {args.rows:,} rows per side"
    )
    print()
    print("| peer | version | precision | recall | false alarms per column | per data set |")
    print("|---|---|---|---|---|---|")
    scores: dict[str, dict[str, Any]] = {}
    for peer, res in results.items():
        if "error" in res:
            print(f"| {peer} | — | failed: {res['error']} | | | |")
            continue
        sc = scores[peer] = score(res["tasks"], args.seeds)
        print(
            f"| {peer} | {res['version']} | {sc['precision']:.3f} | {sc['recall']:.3f} "
            f"| {sc['fa_column']:.4f} | {sc['fa_dataset']:.2f} |"
        )
    for peer, sc in scores.items():
        if sc["false_flags"]:
            flags = ", ".join(f"{c} {v}" for c, v in sc["false_flags"].items())
            print(f"- {peer}: stable columns flagged (times, all data sets): {flags}")
    print()
    print("Detection rate of each drifted column:")
    print()
    print("| column | shift | " + " | ".join(scores) + " |")
    print("|---|---|" + "---|" * len(scores))
    for col, what in DRIFTED.items():
        cells = " | ".join(f"{sc['per_column'][col]:.2f}" for sc in scores.values())
        print(f"| {col} | {what} | {cells} |")
    print()
    print("Time and memory of the drift computation on one drift data set (25 columns):")
    print()
    print("| rows/side | peer | CPU s | wall s | peak RSS MiB | above data MiB | flagged |")
    print("|---|---|---|---|---|---|---|")
    for n in args.time_rows:
        for peer, res in results.items():
            if "error" in res:
                continue
            t = next((t for t in res["tasks"] if t["id"] == f"time_{n}"), None)
            if t is None or "error" in t:
                reason = t["error"] if t else "missing"
                print(f"| {n:,} | {peer} | failed: {reason[:120]} | | | | |")
                continue
            print(
                f"| {n:,} | {peer} | {t['cpu_s']:.2f} | {t['wall_s']:.2f} "
                f"| {t['peak_mib']:.0f} | {t['extra_mib']:.0f} | {len(t['drifted'])} |"
            )
    if args.json:
        args.json.write_text(json.dumps({"results": results, "scores": scores}, indent=1))


if __name__ == "__main__":
    main()
