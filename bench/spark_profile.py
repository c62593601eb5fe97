"""Profile N rows x 25 columns with Spark local[2] (vigil.spark), the pandas path
(Profile.from_frame on chunks, merged) and whylogs' Spark profiling; CPU, wall, peak memory.

Each engine runs in its own child process; the parent samples the RSS of that process and
all its descendants (the JVM and Spark's Python workers) from /proc every 0.2 s and keeps
the peak. CPU is the user+system time of the whole process tree, from just before the
data is profiled to just after (Spark's JVM start-up is reported apart).

Usage::

    PYTHONPATH=$PWD python bench/spark_profile.py --rows 1000000 --engines spark,pandas
    PYTHONPATH=$PWD python bench/spark_profile.py --rows 1000000 --engines whylogs \\
        --python /tmp/wl-venv/bin/python        # whylogs in its own virtualenv

Data: 10 normal and 8 uniform float columns (one with 5% nulls), 2 integer-valued
columns, 3 string categories (5, 50 and 500 values), 1 boolean, 1 two-valued text column.
Spark generates it with ``spark.range`` + expressions (inside the profiled job); pandas
generates the same distributions with numpy in chunks of ``--chunk`` rows (generation
time is excluded from pandas' numbers, included in Spark's: it is a small share).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve()


def tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu(proc: psutil.Process) -> float:
    """User+system seconds of the live process tree (and the children it has reaped)."""
    total = 0.0
    for p in tree(proc):
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def tree_cpu_split(proc: psutil.Process) -> dict[str, float]:
    """:func:`tree_cpu` per process name (``java`` for the JVM, ``python`` for the rest)."""
    out: dict[str, float] = {}
    for p in tree(proc):
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            key = "java" if "java" in p.name() else "python"
            out[key] = out.get(key, 0.0) + t.user + t.system + t.children_user + t.children_system
    return out


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in tree(proc):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


# ------------------------------------------------------------------ child: one engine
def spark_session(parallelism: int, memory: str) -> Any:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{parallelism}]")
        .appName("vigil-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", memory)
        .config("spark.sql.shuffle.partitions", str(parallelism))
        .config("spark.python.worker.reuse", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_frame(spark: Any, rows: int, partitions: int) -> Any:
    from pyspark.sql import functions as F

    cols = []
    for i in range(10):
        cols.append((F.randn(seed=i) * (i + 1) + i).alias(f"n{i}"))
    for i in range(8):
        c = F.rand(seed=100 + i) * 100
        if i == 0:
            c = F.when(F.rand(seed=200) < 0.05, F.lit(None)).otherwise(c)
        cols.append(c.alias(f"u{i}"))
    for i in range(2):
        cols.append((F.rand(seed=300 + i) * 1000).cast("long").alias(f"i{i}"))
    for i, k in enumerate((5, 50, 500)):
        cols.append(
            F.concat(F.lit("k"), (F.rand(seed=400 + i) * k).cast("int").cast("string")).alias(
                f"c{i}"
            )
        )
    cols.append((F.rand(seed=500) < 0.3).alias("flag"))
    cols.append(
        F.when(F.rand(seed=600) < 0.5, F.lit("a short text"))
        .otherwise(F.lit("a much longer text value here"))
        .alias("text")
    )
    return spark.range(0, rows, numPartitions=partitions).select(*cols)


def pandas_chunk(rows: int, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(10):
        data[f"n{i}"] = rng.standard_normal(rows) * (i + 1) + i
    for i in range(8):
        u = rng.random(rows) * 100
        if i == 0:
            u[rng.random(rows) < 0.05] = np.nan
        data[f"u{i}"] = u
    for i in range(2):
        data[f"i{i}"] = (rng.random(rows) * 1000).astype(np.int64)
    for i, k in enumerate((5, 50, 500)):
        labels = np.array([f"k{j}" for j in range(k)], dtype=object)
        data[f"c{i}"] = labels[rng.integers(0, k, rows)]
    data["flag"] = rng.random(rows) < 0.3
    texts = np.array(["a short text", "a much longer text value here"], dtype=object)
    data["text"] = texts[(rng.random(rows) < 0.5).astype(int)]
    return pd.DataFrame(data)


def run_engine(args: argparse.Namespace) -> dict[str, Any]:
    me = psutil.Process()
    out: dict[str, Any] = {"engine": args.worker, "rows": args.rows}
    if args.worker == "pandas":
        from vigil.profile import Profile

        profile = Profile()
        cpu = wall = 0.0
        done = 0
        seed = 0
        while done < args.rows:
            n = min(args.chunk, args.rows - done)
            frame = pandas_chunk(n, seed)
            c0, w0 = tree_cpu(me), time.perf_counter()
            profile = profile.merge(Profile.from_frame(frame))
            cpu += tree_cpu(me) - c0
            wall += time.perf_counter() - w0
            done += n
            seed += 1
            del frame
        out.update(
            cpu_s=cpu,
            wall_s=wall,
            n_rows=profile.n_rows,
            p50_n0=profile["n0"].quantile(0.5),
            distinct_c2=profile["c2"].distinct_estimate,
        )
        return out
    c0, w0 = tree_cpu(me), time.perf_counter()
    spark = spark_session(args.parallelism, args.memory)
    df = spark_frame(spark, args.rows, args.partitions)
    df.limit(10).collect()  # JVM, codegen and a Python-free job warm before timing
    out["startup_cpu_s"] = tree_cpu(me) - c0
    out["startup_wall_s"] = time.perf_counter() - w0
    c0, w0 = tree_cpu(me), time.perf_counter()
    split0 = tree_cpu_split(me)
    if args.worker == "spark":
        import vigil.spark

        profile = vigil.spark.profile(df)
        out.update(
            n_rows=profile.n_rows,
            p50_n0=profile["n0"].quantile(0.5),
            distinct_c2=profile["c2"].distinct_estimate,
        )
    elif args.worker == "spark-scan":  # the floor: generate the rows, touch nothing
        df.write.format("noop").mode("overwrite").save()
    elif args.worker == "whylogs":
        from whylogs.api.pyspark.experimental import collect_dataset_profile_view

        view = collect_dataset_profile_view(input_df=df)
        summary = view.get_column("n0").to_summary_dict()
        out.update(
            n_rows=int(summary.get("counts/n", 0)), p50_n0=summary.get("distribution/median")
        )
    else:
        raise SystemExit(f"unknown engine {args.worker!r}")
    out["cpu_s"] = tree_cpu(me) - c0
    split1 = tree_cpu_split(me)
    out["cpu_split_s"] = {k: round(v - split0.get(k, 0.0), 2) for k, v in split1.items()}
    out["wall_s"] = time.perf_counter() - w0
    spark.stop()
    return out


# ------------------------------------------------------------------ parent: measure
def measure(engine: str, args: argparse.Namespace) -> dict[str, Any]:
    python = args.python if engine == "whylogs" and args.python else sys.executable
    cmd = [
        python,
        str(HERE),
        "--worker",
        engine,
        "--rows",
        str(args.rows),
        "--chunk",
        str(args.chunk),
        "--partitions",
        str(args.partitions),
        "--parallelism",
        str(args.parallelism),
        "--memory",
        args.memory,
    ]
    env = {**os.environ, "PYSPARK_PYTHON": python}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    root = psutil.Process(proc.pid)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(root))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        return {"engine": engine, "rows": args.rows, "error": f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = round(peak / 2**20)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engines", default="spark,pandas")
    parser.add_argument("--chunk", type=int, default=1_000_000, help="pandas rows per chunk")
    parser.add_argument(
        "--partitions",
        type=int,
        default=0,
        help="Spark partitions (default: one per 1M rows, at least 2)",
    )
    parser.add_argument("--parallelism", type=int, default=2, help="local[N]")
    parser.add_argument("--memory", default="2g", help="spark.driver.memory")
    parser.add_argument("--python", default="", help="interpreter for whylogs")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.partitions:
        args.partitions = max(2, args.rows // 1_000_000)
    if args.worker:
        print(json.dumps(run_engine(args)))
        return
    for engine in args.engines.split(","):
        result = measure(engine, args)
        if "cpu_s" in result:
            result["cpu_us_per_row"] = round(result["cpu_s"] / args.rows * 1e6, 2)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
