"""The vigil command: version, db, keys, server as a real process, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from support.servers import free_port, start_server_process, wait_ready

from vigil._version import __version__
from vigil.store import migrate


def vigil(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_version_and_help():
    out = vigil("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"vigil {__version__}"
    helped = vigil("--help")
    for command in ("server", "demo", "db", "keys"):
        assert command in helped.stdout


def test_db_upgrade_and_current(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    up = vigil("db", "upgrade", "--db", url)
    assert up.returncode == 0
    heads = migrate.head_revision()  # one head per concern's migration branch
    assert f"-> {heads} (newest)" in up.stdout.replace("\n", "")
    assert f"database: {heads}" in vigil("db", "current", "--db", url).stdout.replace("\n", "")
    down = vigil("db", "downgrade", "base", "--db", url, "--yes")
    assert down.returncode == 0
    assert "database: empty" in vigil("db", "current", "--db", url).stdout


def test_keys_create_list_revoke(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    made = vigil(
        "keys", "create", "--scope", "ingest", "--scope", "read", "--name", "etl", "--db", url
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("vgl_")
    key_id = secret.split("_")[1]
    listed = vigil("keys", "list", "--db", url).stdout
    assert key_id in listed
    assert "ingest,read" in listed
    assert secret not in listed
    assert vigil("keys", "revoke", key_id, "--db", url).returncode == 0
    assert "revoked" in vigil("keys", "list", "--db", url).stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("keys", "create", "--scope", "root"), "Scopes must be one or more of"),
        (("keys", "revoke", "nope"), "No active API key"),
        (("db", "upgrade", "--db", "mysql://u@h/db"), "SQLite or PostgreSQL"),
        (("db", "upgrade", "--db", "::nonsense"), "VIGIL_DB_URL"),
        (("server", "--port", "99999"), "port"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_1(tmp_path, args, needle):
    if "--db" not in args:
        args = (*args, "--db", f"sqlite:///{tmp_path / 'e.db'}")
    out = vigil(*args)
    assert out.returncode == 1
    assert needle in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.stderr.strip().splitlines()) <= 3


def test_env_setting_errors_name_the_variable(tmp_path):
    import os

    env = {**os.environ, "VIGIL_AUTH": "sometimes"}
    out = vigil("keys", "list", "--db", f"sqlite:///{tmp_path / 'e.db'}", env=env)
    assert out.returncode == 1
    assert "VIGIL_AUTH" in out.stderr


def test_debug_shows_the_traceback(tmp_path):
    out = vigil(
        "--debug", "keys", "create", "--scope", "root", "--db", f"sqlite:///{tmp_path / 'e.db'}"
    )
    assert out.returncode != 0
    assert "Traceback" in out.stderr


@pytest.mark.integration
def test_server_off_loopback_requires_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    port = free_port()
    proc = start_server_process(url, port, "--host", "0.0.0.0")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc=proc)
        assert httpx.get(f"{base}/api/v1/models").status_code == 401
        made = vigil("keys", "create", "--scope", "read", "--db", url)
        secret = made.stdout.strip().splitlines()[-1]
        r = httpx.get(f"{base}/api/v1/models", headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.integration
def test_server_refuses_outdated_schema_with_no_upgrade(tmp_path):
    out = vigil(
        "server",
        "--db",
        f"sqlite:///{tmp_path / 'n.db'}",
        "--no-upgrade",
        "--port",
        str(free_port()),
    )
    assert out.returncode == 1
    assert "vigil db upgrade" in out.stderr
