"""A fresh venv holding the SDK alone (`pip install <wheel of a checkout>`, no extras), and
what it installed: shared by tests/sdk/test_sdk_install.py and bench/sdk/install_size.py,
so the test and the benchmark measure the same install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: Distributions every venv has, left out of the SDK's size.
BASE = frozenset({"pip", "setuptools"})

# run by the venv's own Python: installed bytes per distribution
_SIZES = """
import importlib.metadata as md, json, os
sizes = {}
for dist in md.distributions():
    total = 0
    for f in dist.files or []:
        try:
            total += os.path.getsize(dist.locate_file(f))
        except OSError:
            pass
    sizes[dist.metadata["Name"].lower()] = total
print(json.dumps(sizes))
"""


def clean_env(pythonpath: str | None = None, *, write_bytecode: bool = True) -> dict[str, str]:
    """This environment without PYTHONPATH and VIRTUAL_ENV (they point at the checkout's
    environment, not the venv); ``pythonpath`` puts a checkout back on purpose."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(cmd: list[str], *, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` capturing its output; raise with that output when it fails."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if out.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def build_sdk_venv(source_root: Path, work: Path) -> Path:
    """Build a wheel of the checkout at ``source_root`` (from a copy, so the checkout gets
    no build/ or egg-info) and install it without extras into ``work/venv``; pip resolves
    the dependencies from the package registry. Return the venv's folder."""
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(source_root / name, src / name)
    shutil.copytree(
        source_root / "vigil", src / "vigil", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = work / "dist"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)])
    (wheel,) = dist.glob("vigil-*.whl")
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    run([*pip, "--disable-pip-version-check", str(wheel)], env=clean_env())
    return venv


def distribution_sizes(python: str) -> dict[str, int]:
    """Installed bytes per distribution (lower-case name) of the environment of ``python``."""
    out = run([python, "-c", _SIZES], env=clean_env(write_bytecode=False), timeout=120)
    sizes: dict[str, int] = json.loads(out.stdout)
    return sizes
