"""A real temporary PostgreSQL server from the installed binaries (pytest-postgresql).

Debian keeps the server binaries off PATH (``pg_config --bindir`` names them) and
PostgreSQL refuses to run as root; when the tests run as root, ``pg_ctl`` is called
through ``runuser -u postgres`` and the data folder is owned by that user.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from port_for import get_port
from pytest_postgresql.executors import PostgreSQLExecutor


def pg_bindir() -> Path | None:
    """The folder with pg_ctl, or None when no PostgreSQL server is installed."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if (folder / "pg_ctl").is_file():
            return folder
    return None


def start_postgres() -> tuple[PostgreSQLExecutor, Path]:
    """Start a throw-away server on a free port; return it and its folder (to remove)."""
    bindir = pg_bindir()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (pg_ctl) found")
    base = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
    executable = str(bindir / "pg_ctl")
    if os.geteuid() == 0:
        os.chmod(base, 0o755)
        shutil.chown(base, "postgres", "postgres")
        wrapper = base / "pg_ctl"
        wrapper.write_text(
            f'#!/bin/sh\ncd /\nexec runuser -u postgres -- "{executable}" "$@"\n', encoding="utf-8"
        )
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        executable = str(wrapper)
    executor = PostgreSQLExecutor(
        executable=executable,
        host="127.0.0.1",
        port=get_port(None),
        datadir=str(base / "data"),
        unixsocketdir=str(base),
        logfile=str(base / "pg.log"),
        startparams="-w",
        dbname="vigil",
        user="postgres",
        password=None,
    )
    executor.start()
    executor.wait_for_postgres()
    return executor, base
