"""The SDK alone: `pip install vigil` into a fresh venv is small and runs README's snippet.

A wheel of this checkout is built and installed, without extras, into a new virtual
environment (pip resolves its dependencies from the package registry). The snippet then
runs in that venv against a real `vigil server` started from the full environment of
this test run, and the server's store must hold what it sent.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from support.sdk_venv import BASE, build_sdk_venv, clean_env, distribution_sizes, run
from support.servers import free_port, start_server_process, wait_ready

import vigil

#: The checkout under test (the folder that holds the ``vigil`` package).
SOURCE_ROOT = Path(vigil.__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.integration]

#: The SDK's dependencies (beyond vigil itself) may take at most this much disk.
_DEPS_MAX_BYTES = 8 * 1024 * 1024
#: And vigil with them (its wheel also holds the server's code, unused by the SDK).
_SDK_MAX_BYTES = 14 * 1024 * 1024

#: Modules the SDK must never load (they come with the `server` extra only).
HEAVY = (
    "pandas",
    "numpy",
    "pyarrow",
    "scipy",
    "sklearn",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "pydantic",
    "pydantic_settings",
    "uvicorn",
    "typer",
    "rich",
)


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory) -> Path:
    """A fresh venv holding `pip install <wheel of this checkout>` (the SDK alone)."""
    return build_sdk_venv(SOURCE_ROOT, tmp_path_factory.mktemp("sdk-install"))


def _clean_env() -> dict[str, str]:
    return clean_env(write_bytecode=False)


def test_the_sdk_alone_is_a_few_mb_and_imports_from_the_venv(sdk_venv: Path):
    python = str(sdk_venv / "bin" / "python")
    where = run(
        [python, "-c", "import vigil; print(vigil.__file__)"],
        env=_clean_env(),
        cwd=sdk_venv,
        timeout=60,
    )
    assert Path(where.stdout.strip()).is_relative_to(sdk_venv)
    sizes = distribution_sizes(python)
    deps = {name: size for name, size in sizes.items() if name not in BASE | {"vigil"}}
    assert "orjson" in deps and "httpx" in deps
    for heavy in (
        "numpy",
        "pandas",
        "pyarrow",
        "scipy",
        "scikit-learn",
        "fastapi",
        "sqlalchemy",
        "pydantic",
    ):
        assert heavy not in sizes, f"{heavy} was installed with the SDK"
    assert len(deps) <= 10, sorted(deps)
    assert sum(deps.values()) <= _DEPS_MAX_BYTES, deps
    assert sum(deps.values()) + sizes["vigil"] <= _SDK_MAX_BYTES, sizes


def test_the_vigil_command_says_to_install_the_server_extra(sdk_venv: Path):
    out = subprocess.run(
        [str(sdk_venv / "bin" / "vigil"), "server"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "vigil[server]"' in lines[0], out.stderr


def test_optional_features_degrade_without_their_packages(sdk_venv: Path, tmp_path: Path):
    code = (
        "import sys, vigil\n"
        "from vigil.errors import ConfigurationError\n"
        "try:\n"
        "    vigil.Monitor('m', resources=True, spool_dir='s')\n"
        "except ConfigurationError as exc:\n"
        "    print('resources:', exc)\n"
        "from vigil.sdk.columnar import arrow_available\n"
        "print('arrow:', arrow_available())\n"
        "try:\n"
        "    vigil.Monitor('m', endpoint='sqlite:///local.db', spool_dir='s')\n"
        "except ConfigurationError as exc:\n"
        "    print('local:', exc)\n"
        "try:\n"
        "    vigil.detect_drift\n"
        "except ModuleNotFoundError as exc:\n"
        "    print('drift:', exc)\n"
    )
    out = run(
        [str(sdk_venv / "bin" / "python"), "-c", code], env=_clean_env(), cwd=tmp_path, timeout=60
    ).stdout
    assert "resources: Monitor(resources=True) samples with psutil" in out
    assert 'pip install "vigil[sdk-resources]"' in out
    assert "arrow: False" in out
    assert "local: Writing to a store directly (sqlite:///local.db) needs" in out
    assert "drift: vigil.detect_drift needs " in out
    assert out.count('pip install "vigil[server]"') == 2


def test_readme_snippet_runs_on_the_sdk_alone_against_a_real_server(sdk_venv: Path, tmp_path: Path):
    readme = (SOURCE_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(import vigil\n.*?)```", readme, re.S).group(1)
    port = free_port()
    db = tmp_path / "vigil.db"
    proc = start_server_process(f"sqlite:///{db}", port, home=tmp_path / "server")
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc=proc)
        code = block.replace("127.0.0.1:8765", f"127.0.0.1:{port}") + (
            "\nimport sys\n"
            f"print(sorted(m for m in {(*HEAVY, 'httpx')!r} if m in sys.modules))\n"
            "print(mon.stats['sent'])\n"
        )
        out = run(
            [str(sdk_venv / "bin" / "python"), "-c", code],
            env=_clean_env(),
            cwd=tmp_path,
            timeout=120,
        )
        loaded, sent = out.stdout.strip().splitlines()[-2:]
        assert loaded == "[]"  # on loopback not even httpx: http.client does it all
        assert sent == "3"  # two predictions and a label
        conn = sqlite3.connect(db)
        deadline = time.monotonic() + 60
        while conn.execute("SELECT count(*) FROM labels").fetchone()[0] < 1:
            assert time.monotonic() < deadline, "the label never reached the store"
            time.sleep(0.1)
        assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == 2
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
