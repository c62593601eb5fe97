"""Drift benchmark: vigil's detect_drift against a numpy/scipy floor in the same run.

Data: 25 columns (20 numeric, 5 categorical with 10, 50, 100, 500 and 1,000 levels, held
as pandas strings), the same number of rows on both sides; five numeric columns are
shifted by 0.3σ and the 10-level categorical column is reweighted (6 drifted columns).
Both sides run the same tests: KS with scipy's p-value and a Wasserstein/σ effect size
on numeric columns, chi-squared and total variation on categorical ones,
Benjamini–Hochberg across columns; the script asserts they find the same columns.

Printed: wall (``time.perf_counter``) and CPU (``time.process_time``) seconds, best of
``--repeat`` runs of each side interleaved (and the median CPU of ``detect_drift`` with
and without its default domain classifier); peak RSS of each side measured in a fresh
subprocess (the kernel's high-water mark, reset after the data is generated); then
``--windows`` windows of ``--window-rows`` rows against one prepared reference of
``--reference-rows`` rows; with ``--server``, the server's drift answer over a window
of 20,000 predictions (a real ``vigil server`` process on SQLite).

Run:
    python bench/drift/bench_drift.py                 # 100k rows per side, 1M reference
    python bench/drift/bench_drift.py --rows 1000000 --repeat 1 --windows 20
    python bench/drift/bench_drift.py --rows 20000 --windows 0 --server
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

LEVELS = (10, 50, 100, 500, 1000)


def make(n: int, seed: int, shift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(20):
        data[f"num_{i}"] = rng.normal(0.3 if shift and i < 5 else 0.0, 1.0, n)
    for j, k in enumerate(LEVELS):
        p = 1.0 / np.arange(1, k + 1)
        if shift and j == 0:
            p = p[::-1]
        p /= p.sum()
        names = np.array([f"L{x}" for x in range(k)], dtype=object)
        data[f"cat_{k}"] = pd.array(names[rng.choice(k, n, p=p)], dtype="str")
    return pd.DataFrame(data)


def floor(ref: pd.DataFrame, cur: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """The same tests written directly with numpy, pandas and scipy, nothing from vigil."""
    pvals, effects, names, mins = [], [], [], []
    for name in ref.columns:
        if ref[name].dtype.kind == "f":
            a, b = np.sort(ref[name].to_numpy()), np.sort(cur[name].to_numpy())
            pvals.append(stats.ks_2samp(a, b).pvalue)
            effects.append(stats.wasserstein_distance(a, b) / a.std())
            mins.append(0.1)
        else:
            ra, rb = ref[name].value_counts(), cur[name].value_counts()
            table = pd.concat([ra, rb], axis=1).fillna(0).to_numpy().T
            pvals.append(stats.chi2_contingency(table).pvalue)
            pa, pb = table[0] / table[0].sum(), table[1] / table[1].sum()
            effects.append(0.5 * np.abs(pa - pb).sum())
            mins.append(0.05)
        names.append(name)
    adjusted = stats.false_discovery_control(np.array(pvals), method="bh")
    return [
        n for n, p, e, m in zip(names, adjusted, effects, mins, strict=True) if p < alpha and e >= m
    ]


def numpy_floor(ref: pd.DataFrame, cur: pd.DataFrame, alpha: float = 0.05) -> list[str]:
    """The leanest hand-vectorised version of the same tests: per numeric column two sorts,
    one ``searchsorted`` for both KS's D and the merged Wasserstein integral, scipy's
    ``kstwo.sf``; per categorical column pandas ``value_counts`` and scipy's chi-squared."""
    pvals, effects, names, mins = [], [], [], []
    for name in ref.columns:
        if ref[name].dtype.kind == "f":
            a, b = np.sort(ref[name].to_numpy()), np.sort(cur[name].to_numpy())
            n, m = a.size, b.size
            k = np.searchsorted(a, b, side="right")
            from_b = np.zeros(n + m, dtype=bool)
            from_b[k + np.arange(m)] = True
            x = np.empty(n + m)
            x[from_b], x[~from_b] = b, a
            cb = np.cumsum(from_b)
            diff = np.arange(1, n + m + 1) / n - cb * (1 / n + 1 / m)  # F_a - F_b after x_i
            d = np.abs(diff[np.r_[x[1:] != x[:-1], True]]).max()
            en = np.round(n * m / (n + m))
            pvals.append(float(np.clip(stats.kstwo.sf(d, en), 0, 1)))
            effects.append(float(np.abs(diff[:-1]) @ np.diff(x)) / a.std())
            mins.append(0.1)
        else:
            ra, rb = ref[name].value_counts(), cur[name].value_counts()
            table = pd.concat([ra, rb], axis=1).fillna(0).to_numpy().T
            pvals.append(stats.chi2_contingency(table).pvalue)
            pa, pb = table[0] / table[0].sum(), table[1] / table[1].sum()
            effects.append(0.5 * np.abs(pa - pb).sum())
            mins.append(0.05)
        names.append(name)
    adjusted = stats.false_discovery_control(np.array(pvals), method="bh")
    return [
        n for n, p, e, m in zip(names, adjusted, effects, mins, strict=True) if p < alpha and e >= m
    ]


def prepared_floor(sorted_ref: dict[str, Any], cur: pd.DataFrame) -> int:
    """The floor with the reference sorted (numeric) and counted (categorical) once."""
    pvals = []
    for name, ref in sorted_ref.items():
        if isinstance(ref, np.ndarray):
            b = np.sort(cur[name].to_numpy())
            pvals.append(stats.ks_2samp(ref, b).pvalue)
            stats.wasserstein_distance(ref, b)
        else:
            table = pd.concat([ref, cur[name].value_counts()], axis=1).fillna(0).to_numpy().T
            pvals.append(stats.chi2_contingency(table).pvalue)
    adjusted = stats.false_discovery_control(np.array(pvals), method="bh")
    return int((adjusted < 0.05).sum())


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """``(wall s, CPU s, result)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_side(side: str, rows: int) -> None:
    """Run one side on fresh data; print its peak RSS (MiB) during the computation.

    The data is generated first; then the kernel's peak-RSS mark is reset to the current
    RSS (``/proc/self/clear_refs``), so the peak covers the imports, the data and the
    computation, not the data generation's own temporaries.
    """
    import ctypes
    import gc

    ref, cur = make(rows, 0, False), make(rows, 1, True)
    if side == "vigil":
        from vigil.drift import detect_drift
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status_kib("VmRSS")
    if side == "floor":
        floor(ref, cur)
    elif side == "numpy":
        numpy_floor(ref, cur)
    elif side == "vigil":
        detect_drift(ref, cur, multivariate=None)
    peak = max(_status_kib("VmHWM"), base)
    print(json.dumps({"side": side, "peak_mib": peak / 1024, "base_mib": base / 1024}))


def peak_rss(side: str, rows: int) -> tuple[float, float]:
    """``(peak MiB, MiB before the computation)`` of one side in a fresh process."""
    run = subprocess.run(
        [sys.executable, __file__, "--rss-side", side, "--rows", str(rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(run.stdout.strip().splitlines()[-1])
    return float(out["peak_mib"]), float(out["base_mib"])


def one_shot(args: argparse.Namespace) -> None:
    from vigil.drift import detect_drift

    ref, cur = make(args.rows, 0, False), make(args.rows, 1, True)
    best: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    results: dict[str, Any] = {}
    detect_drift(ref.head(2000), cur.head(2000))  # import scikit-learn outside the timing
    sides: dict[str, Callable[[], Any]] = {
        "floor": lambda: floor(ref, cur),
        "numpy": lambda: numpy_floor(ref, cur),
        "vigil": lambda: detect_drift(ref, cur, multivariate=None),
        "default": lambda: detect_drift(ref, cur),  # + the domain classifier
    }
    for _ in range(args.repeat):
        for side, fn in sides.items():
            wall, cpu, results[side] = timed(fn)
            old = best.get(side, [float("inf")] * 2)
            best[side] = [min(old[0], wall), min(old[1], cpu)]
            cpus.setdefault(side, []).append(cpu)
    report = results["vigil"]
    assert sorted(results["numpy"]) == sorted(results["floor"]), results
    assert sorted(report.drifted_columns) == sorted(results["floor"]), (
        report.drifted_columns,
        results["floor"],
    )
    report_mv = results["default"]
    (fw, fc), (nw, nc), (vw, vc) = best["floor"], best["numpy"], best["vigil"]
    wall_mv, cpu_mv = best["default"]
    print(f"rows per side: {args.rows:,}; 25 columns (20 numeric, 5 categorical)")
    print(f"  {'':32s} {'wall s':>8s} {'CPU s':>8s}")
    print(f"  {'numpy/scipy floor':32s} {fw:8.3f} {fc:8.3f}  drifted: {len(results['floor'])}")
    print(f"  {'numpy floor (lean)':32s} {nw:8.3f} {nc:8.3f}  drifted: {len(results['numpy'])}")
    print(
        f"  {'vigil detect_drift':32s} {vw:8.3f} {vc:8.3f}  drifted: "
        f"{len(report.drifted_columns)}; vigil/floor wall {vw / fw:.2f}, CPU {vc / fc:.2f}; "
        f"vigil/numpy floor wall {vw / nw:.2f}, CPU {vc / nc:.2f}"
    )
    print(
        f"  {'vigil + domain classifier':32s} {wall_mv:8.3f} {cpu_mv:8.3f}  "
        f"dataset_drift: {report_mv.dataset_drift}"
    )
    med_uni, med_mv = statistics.median(cpus["vigil"]), statistics.median(cpus["default"])
    print(
        f"  domain classifier: median CPU of {args.repeat} runs {med_mv:.3f} s with it, "
        f"{med_uni:.3f} s without ({med_mv / med_uni:.2f}x the univariate tests)"
    )
    if not args.no_rss:
        rss = {s: peak_rss(s, args.rows) for s in ("floor", "numpy", "vigil")}
        print(
            "  peak RSS (MiB; above the data and imports): "
            + ", ".join(f"{s} {p:.0f} ({p - b:.0f})" for s, (p, b) in rss.items())
            + f"; vigil/floor {rss['vigil'][0] / rss['floor'][0]:.2f}, "
            f"vigil/numpy floor {rss['vigil'][0] / rss['numpy'][0]:.2f}"
        )


def windows(args: argparse.Namespace) -> None:
    from vigil.drift import DriftDetector

    big = make(args.reference_rows, 2, False)
    wall, cpu, detector = timed(lambda: DriftDetector(big, multivariate=None))
    batch = [make(args.window_rows, 100 + i, i % 10 == 0) for i in range(args.windows)]
    first_wall, first_cpu, _ = timed(lambda: detector.compare(batch[0]))
    rest = batch[1:] or batch
    w_wall, w_cpu, alarms = timed(
        lambda: sum(bool(detector.compare(w).drifted_columns) for w in rest)
    )
    print(
        f"windows: {args.windows} x {args.window_rows:,} rows against a "
        f"{args.reference_rows:,}-row reference"
    )
    print(f"  prepare the reference once       {wall:8.3f} s wall {cpu:8.3f} s CPU")
    print(
        f"  first window (prepares the running integrals) {first_wall * 1000:8.1f} ms wall "
        f"{first_cpu * 1000:8.1f} ms CPU"
    )
    print(
        f"  vigil per window (the others)    {w_wall / len(rest) * 1000:8.1f} ms wall "
        f"{w_cpu / len(rest) * 1000:8.1f} ms CPU  (windows with drifted columns: {alarms}, "
        f"{sum(i % 10 == 0 for i in range(1, args.windows))} built with drift)"
    )
    prepared = {
        name: np.sort(big[name].to_numpy())
        if big[name].dtype.kind == "f"
        else big[name].value_counts()
        for name in big.columns
    }
    some = batch[: min(5, len(batch))]
    f_wall, f_cpu, _ = timed(lambda: [prepared_floor(prepared, w) for w in some])
    print(
        "  floor per window (scipy on a sorted, counted reference) "
        f"{f_wall / len(some) * 1000:8.1f} ms wall {f_cpu / len(some) * 1000:8.1f} ms CPU"
    )


def server(args: argparse.Namespace) -> None:
    """The drift answer of a real server over a 20,000-prediction window (SQLite)."""
    import httpx

    n = 20_000
    rng = np.random.default_rng(7)
    features = [{"name": f"x{i}", "kind": "numeric"} for i in range(8)]
    features += [{"name": f"c{i}", "kind": "categorical"} for i in range(2)]

    def frame(shift: float) -> pd.DataFrame:
        data: dict[str, Any] = {f"x{i}": rng.normal(shift, 1.0, n).round(5) for i in range(8)}
        for i in range(2):
            data[f"c{i}"] = rng.choice([f"v{j}" for j in range(20)], n)
        return pd.DataFrame(data)

    with tempfile.TemporaryDirectory() as home:
        port = 18000 + os.getpid() % 1000
        env = dict(os.environ, VIGIL_AUTH="off")
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli.main", "server", "--home", home, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            client = httpx.Client(base_url=url, timeout=120)
            deadline = time.monotonic() + 120
            while True:
                try:
                    if client.get("/healthz").status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("server did not start")
                time.sleep(0.2)
            schema = {"task": "regression", "features": features}
            client.post("/api/v1/models", json={"name": "m", "schema": schema}).raise_for_status()
            ref = frame(0.0)
            client.post(
                "/api/v1/models/m/reference", json={"records": ref.to_dict("records")}
            ).raise_for_status()
            cur = frame(0.2)
            now = time.time() - 600
            records = [
                {"id": f"p{i}", "ts": now + i * 1e-3, "inputs": row, "outputs": 0.0}
                for i, row in enumerate(cur.to_dict("records"))
            ]
            for i in range(0, n, 5000):
                client.post(
                    "/api/v1/models/m/predictions", json={"records": records[i : i + 5000]}
                ).raise_for_status()
            times, body = [], {}
            for _ in range(3):
                t = time.perf_counter()
                r = client.get("/api/v1/models/m/drift")
                times.append(time.perf_counter() - t)
                r.raise_for_status()
                body = r.json()
            print(
                f"server drift answer, {n:,} predictions x 10 inputs (SQLite): first "
                f"{times[0]:.3f} s, then {min(times[1:]):.3f} s; mode {body.get('mode')}, "
                f"n_current {body.get('n_current')}, dataset drift {body.get('dataset_drift')}"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows per side")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--window-rows", type=int, default=10_000)
    parser.add_argument("--server", action="store_true", help="also time the server's answer")
    parser.add_argument("--rss-side", choices=("floor", "numpy", "vigil"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_side:
        rss_side(args.rss_side, args.rows)
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    if args.rows:
        one_shot(args)
    if args.windows:
        windows(args)
    if args.server:
        server(args)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
