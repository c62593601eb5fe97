"""Docs that cannot drift: README commands, settings, CLI commands and the SDK example."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.servers import free_port, start_server_process, wait_ready

import vigil
from vigil.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _bash_blocks() -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", README, re.S)]


def test_readme_has_the_two_commands_and_ci_runs_the_second():
    install_demo, install_test = _bash_blocks()[:2]
    assert install_demo == 'python -m pip install -e ".[server]" && vigil demo'
    assert "pytest" in install_test
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert install_test in ci.splitlines()


def test_every_setting_is_documented():
    for name in Settings.model_fields:
        assert f"`VIGIL_{name.upper()}`" in README, name


def test_every_cli_command_is_documented():
    from typer.main import get_command

    from vigil.cli.main import app

    group = get_command(app)
    for name in group.commands:
        assert f"`vigil {name}" in README, name


def test_public_api_is_exported_and_light():
    for name in vigil.__all__:
        assert getattr(vigil, name) is not None
    code = (
        "import sys, vigil; vigil.Monitor; heavy = [m for m in ('fastapi', 'sqlalchemy', "
        "'scipy', 'sklearn') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.integration
def test_readme_sdk_example_runs_as_written(tmp_path):
    import sqlite3

    block = re.search(r"```python\n(import vigil\n.*?)```", README, re.S).group(1)
    port = free_port()
    db = tmp_path / "vigil.db"
    proc = start_server_process(f"sqlite:///{db}", port, home=tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc=proc)
        code = block.replace("127.0.0.1:8765", f"127.0.0.1:{port}")
        subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60)
        conn = sqlite3.connect(db)
        deadline = time.time() + 10
        while conn.execute("SELECT count(*) FROM labels").fetchone()[0] < 1:
            assert time.time() < deadline
            time.sleep(0.1)
        assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == 2
    finally:
        proc.terminate()
        proc.wait(timeout=20)
