"""The SDK alone against the full install: disk, packages, import and Monitor() time.

Builds a wheel of this checkout, installs it without extras into a fresh venv (`pip
install vigil`: the SDK alone, dependencies from the package registry) and measures

* the installed size and package count of that venv's site-packages, pip and setuptools
  left out, next to the same for ``vigil[server]``: the closure of its requirements as
  installed in the environment running this script (e.g. the project's venv);
* in fresh child processes, best of ``--runs``: the CPU time (``time.process_time``, all
  threads) of ``import vigil``, of ``vigil.Monitor("m", endpoint=<loopback URL>)`` (the
  spool folder from ``VIGIL_SPOOL_DIR``, as in a service) and of its ``close()``, and
  which heavy modules were loaded by then; once in the SDK venv,
  once with this checkout in this environment, and once with ``--baseline SRC`` (another
  checkout, e.g. the main branch before the split) in this environment.

Run: ``python bench/sdk/install_size.py [--runs 15] [--baseline /path/to/checkout]``
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata as md
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from support.sdk_venv import (  # noqa: E402  (the venv the SDK install test builds too)
    BASE,
    build_sdk_venv,
    clean_env,
    distribution_sizes,
)

HEAVY = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "sklearn",
    "fastapi",
    "sqlalchemy",
    "pydantic",
    "httpx",
)

TIMING = """
import sys, time
t0 = time.process_time()
import vigil
t1 = time.process_time()
mon = vigil.Monitor("m", endpoint="http://127.0.0.1:9")  # spool: VIGIL_SPOOL_DIR
t2 = time.process_time()
mon.close()
t3 = time.process_time()
heavy = sorted(m for m in sys.argv[1].split(",") if m in sys.modules)
print(t1 - t0, t2 - t1, t3 - t2, ",".join(heavy) or "-")
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(requirement: str) -> set[str]:
    """Distributions that ``requirement`` (e.g. ``vigil[server]``) pulls in, as installed."""
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [(Requirement(requirement), None)]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra or ""}):
            continue
        name = _norm(req.name)
        extras = set(req.extras)
        key = name + str(sorted(extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        for spec in dist.requires or []:
            sub = Requirement(spec)
            if sub.marker is None:
                todo.append((sub, None))
            else:
                for e in extras or {""}:
                    if sub.marker.evaluate({"extra": e}):
                        todo.append((sub, e))
                        break
    return {k.split("[")[0] for k in seen}


def installed_size(names: set[str]) -> int:
    total = 0
    for name in names:
        dist = md.distribution(name)
        for f in dist.files or []:
            with contextlib.suppress(OSError):
                total += os.path.getsize(dist.locate_file(f))
    return total


def timings(python: str, env: dict[str, str], runs: int, tmp: Path) -> dict[str, object]:
    best = [float("inf")] * 3
    heavy = ""
    for i in range(runs):
        out = subprocess.run(
            [python, "-c", TIMING, ",".join(HEAVY)],
            env={**env, "VIGIL_SPOOL_DIR": str(tmp / f"spool{i}")},
            cwd=tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        *values, heavy = out.stdout.split()
        best = [min(b, float(v)) for b, v in zip(best, values, strict=True)]
    return {
        "import_ms": best[0] * 1e3,
        "monitor_ms": best[1] * 1e3,
        "close_ms": best[2] * 1e3,
        "heavy_loaded": heavy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", help="another checkout, timed in this environment")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        venv = build_sdk_venv(ROOT, tmp)
        python = str(venv / "bin" / "python")
        sizes = distribution_sizes(python)
        sdk = {k: v for k, v in sizes.items() if k not in BASE}
        full = closure("vigil[server]")
        full_bytes = installed_size(full)
        print(
            f"SDK alone (pip install vigil): {len(sdk)} distributions, "
            f"{sum(sdk.values()) / 2**20:.1f} MiB (vigil itself "
            f"{sizes['vigil'] / 2**20:.1f} MiB; dependencies "
            f"{(sum(sdk.values()) - sizes['vigil']) / 2**20:.1f} MiB: "
            f"{', '.join(sorted(k for k in sdk if k != 'vigil'))})"
        )
        print(f"full (vigil[server]): {len(full)} distributions, {full_bytes / 2**20:.1f} MiB")
        rows = [
            ("SDK venv", python, clean_env()),
            ("this checkout, full env", sys.executable, clean_env(str(ROOT))),
        ]
        if args.baseline:
            rows.append(("baseline, full env", sys.executable, clean_env(args.baseline)))
        print(f"best of {args.runs} fresh processes, CPU ms (all threads):")
        for label, py, env in rows:
            t = timings(py, env, args.runs, tmp)
            print(
                f"  {label:24} import vigil {t['import_ms']:6.1f}  Monitor() "
                f"{t['monitor_ms']:6.1f}  close() {t['close_ms']:6.1f}  "
                f"heavy modules loaded: {t['heavy_loaded']}"
            )


if __name__ == "__main__":
    main()
