"""Can the store take writes? For ``/readyz`` and for a clear error at startup.

A database that answers ``SELECT 1`` may still refuse every write: a read-only file or
file system, a full disk, a PostgreSQL standby. Readiness must say so, or a load balancer
keeps sending ingest traffic that can only fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import sqlalchemy as sa

from vigil.errors import ConfigurationError, StoreError
from vigil.store.store import Store


class _Rollback(Exception):
    """Ends the probe's transaction without committing."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL and in-memory databases)."""
    parsed = sa.make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database.removeprefix("file:").split("?", 1)[0])


def check_writable(store: Store, min_free_bytes: int = 0) -> None:
    """Raise :class:`StoreError` naming the cause unless a write would succeed: enough
    free space beside a SQLite file, and a write statement accepted (rolled back)."""
    path = sqlite_path(store.url)
    if path is not None and min_free_bytes:
        free = shutil.disk_usage(path.parent).free
        if free < min_free_bytes:
            raise StoreError(
                f"Only {free} bytes are free on the file system of {path.parent} "
                f"(VIGIL_MIN_FREE_BYTES is {min_free_bytes})."
            )
    try:
        with store.write() as conn:
            # a write statement that changes nothing: refused by a read-only database
            conn.execute(sa.text("UPDATE models SET name = name WHERE 1 = 0"))
            raise _Rollback
    except _Rollback:
        return
    except StoreError as exc:  # name the database's own reason (read-only, disk full, ...)
        cause = exc.__cause__
        reason = getattr(cause, "orig", None) or cause or exc.message
        raise StoreError(f"The database does not accept writes: {reason}") from exc


def check_data_folder(url: str) -> None:
    """Before opening a SQLite store: its folder exists (or can be made) and takes files;
    else a one-line :class:`ConfigurationError` naming the path and the cause."""
    path = sqlite_path(url)
    if path is None:
        return
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot create the data folder {folder}: {exc.strerror or exc} "
            "(set VIGIL_HOME / --home or VIGIL_DB_URL / --db to a writable place)."
        ) from None
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigurationError(
            f"The data folder {folder} is not writable: {exc.strerror or exc} "
            "(set VIGIL_HOME / --home or VIGIL_DB_URL / --db to a writable place)."
        ) from None
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists() and not os.access(candidate, os.R_OK | os.W_OK):
            raise ConfigurationError(
                f"The database file {candidate} is not writable by "
                "this process: fix its owner or mode."
            )
        if candidate.exists():
            try:
                with open(candidate, "r+b"):
                    pass
            except OSError as exc:
                raise ConfigurationError(
                    f"The database file {candidate} cannot be opened for writing: "
                    f"{exc.strerror or exc}."
                ) from None
