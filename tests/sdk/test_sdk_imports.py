"""The SDK stays light: no server, database or heavy statistics stack at import."""

from __future__ import annotations

import subprocess
import sys

import vigil
import vigil.sdk

HEAVY = ("sqlalchemy", "fastapi", "starlette", "uvicorn", "scipy", "sklearn", "alembic")


def test_importing_the_sdk_loads_no_heavy_module(child_env):
    code = (
        "import sys, vigil, vigil.sdk\n"
        "mon = vigil.Monitor('m', transport=vigil.sdk.MemoryTransport(), spool_dir='s')\n"
        "mon.log_prediction({'x': 1}, 1); mon.close()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, env=child_env)
    assert out.stdout.strip() == "[]"


def test_monitor_is_exported():
    assert vigil.Monitor is vigil.sdk.Monitor
    assert sorted(vigil.sdk.__all__) == vigil.sdk.__all__
    for name in vigil.sdk.__all__:
        assert getattr(vigil.sdk, name) is not None
