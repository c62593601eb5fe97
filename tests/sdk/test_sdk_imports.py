"""The SDK stays light: no server, database or heavy statistics stack at import."""

from __future__ import annotations

import subprocess
import sys

import vigil
import vigil.sdk

HEAVY = (
    "sqlalchemy",
    "fastapi",
    "starlette",
    "uvicorn",
    "scipy",
    "sklearn",
    "alembic",
    "numpy",
    "pandas",
    "pyarrow",
    "pydantic",
    "pydantic_settings",
)


def test_importing_the_sdk_loads_no_heavy_module(child_env):
    code = (
        "import sys, vigil, vigil.sdk\n"
        "mon = vigil.Monitor('m', transport=vigil.sdk.MemoryTransport(), spool_dir='s')\n"
        "mon.log_prediction({'x': 1}, 1); mon.close()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=child_env,
    )
    assert out.stdout.strip() == "[]"


def test_a_monitor_of_a_server_loads_no_heavy_module_nor_an_http_client(child_env, tmp_path):
    """The spool folder from the settings (VIGIL_SPOOL_DIR) and an HTTP endpoint: neither
    pydantic nor httpx nor http.client until the sender's first request."""
    code = (
        "import sys, vigil\n"
        "mon = vigil.Monitor('m', endpoint='https://vigil.example.com')\n"
        f"print(sorted(m for m in {(*HEAVY, 'httpx', 'http.client')!r} if m in sys.modules))\n"
        "mon.close(0)\n"
    )
    env = {**child_env, "VIGIL_SPOOL_DIR": str(tmp_path / "spool")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "[]"


def test_monitor_is_exported():
    assert vigil.Monitor is vigil.sdk.Monitor
    assert sorted(vigil.sdk.__all__) == vigil.sdk.__all__
    for name in vigil.sdk.__all__:
        assert getattr(vigil.sdk, name) is not None
