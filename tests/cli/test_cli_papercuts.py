"""CLI papercuts: read-only commands never create a data folder, and a taken port is one
line. Every command runs as a real ``vigil`` subprocess in an empty working folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

NO_DATA = "; start `vigil server` or pass --home (or --db)"

READ_ONLY = [
    ("alerts", "list"),
    ("alerts", "list", "--state", "all"),
    ("alerts", "show", "1"),
    ("rules", "list"),
    ("keys", "list"),
    ("registry", "list", "churn"),
    ("registry", "show", "churn:1"),
    ("registry", "verify", "churn:1"),
    ("registry", "diff", "churn", "1", "2"),
    ("registry", "history", "churn", "production"),
    ("registry", "canary", "churn", "production"),
    ("privacy", "export", "user-1"),
    ("privacy", "policy", "list", "churn"),
    ("audit", "verify-log"),
    ("audit", "compliance", "--model", "churn", "-o", "report.json"),
    ("export", "prometheus-rules", "-o", "rules.yml"),
    ("export", "dataset", "--model", "churn", "-o", "train.parquet"),
    ("db", "current"),
]


def _env() -> dict[str, str]:
    """The caller's environment without VIGIL_* settings (the default data folder applies)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}


def vigil(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env=_env(),
    )


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_command_without_data_creates_nothing(tmp_path: Path, args) -> None:
    out = vigil(tmp_path, *args)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stderr.strip() == f"error: no vigil data at {tmp_path / 'vigil-data'}{NO_DATA}"
    assert out.stdout == ""
    assert _tree(tmp_path) == []  # no ./vigil-data, no database, no output file


def test_home_and_db_options_name_the_missing_path(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    out = vigil(tmp_path, "alerts", "list", "--home", str(home))
    assert out.stderr.strip() == f"error: no vigil data at {home}{NO_DATA}"
    (tmp_path / "data").mkdir()
    db_file = tmp_path / "data" / "metrics.db"
    out = vigil(tmp_path, "rules", "list", "--db", f"sqlite:///{db_file}")
    assert out.returncode == 1
    assert out.stderr.strip() == f"error: no vigil data at {db_file}{NO_DATA}"
    assert _tree(tmp_path) == ["data"]


def test_read_only_commands_work_once_there_is_data(tmp_path: Path) -> None:
    assert vigil(tmp_path, "db", "upgrade").returncode == 0  # makes ./vigil-data
    assert (tmp_path / "vigil-data").is_dir()
    listed = vigil(tmp_path, "alerts", "list")
    assert listed.returncode == 0, listed.stderr
    assert "No active alerts." in listed.stdout
    rules = vigil(tmp_path, "rules", "list")
    assert rules.returncode == 0, rules.stderr
    assert "database:" in vigil(tmp_path, "db", "current").stdout


def test_commands_that_write_still_create_the_data_folder(tmp_path: Path) -> None:
    made = vigil(tmp_path, "keys", "create", "--scope", "read")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "vigil-data").is_dir()


def test_server_on_a_taken_port_prints_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "vigil.cli.main", "server", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            env=_env(),
        )
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"error: port {port} is in use on 127.0.0.1"]
    assert out.stdout == ""
    assert _tree(tmp_path) == []  # refused before the data folder is made


def test_server_on_a_taken_port_of_another_host_form(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET6) as taken:
        try:
            taken.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "vigil.cli.main",
                "server",
                "--host",
                "::1",
                "--port",
                str(port),
                "--home",
                str(tmp_path / "h"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
            env=_env(),
        )
    assert out.returncode == 1
    assert out.stderr.splitlines() == [f"error: port {port} is in use on ::1"]
    assert not (tmp_path / "h").exists()
