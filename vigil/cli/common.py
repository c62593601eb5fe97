"""What every command shares: settings from options, the store, consoles."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from vigil.config import Settings, load_settings

console = Console()
err_console = Console(stderr=True)

DbOption = typer.Option(
    None,
    "--db",
    help="Database URL (default: VIGIL_DB_URL or SQLite in VIGIL_HOME).",
    show_default=False,
)
HomeOption = typer.Option(
    None, "--home", help="Data folder (default: VIGIL_HOME or ./vigil-data).", show_default=False
)


def settings_from(db: str | None = None, home: Path | None = None, **extra: object) -> Settings:
    """Settings with the command's options on top of environment, vigil.toml and defaults."""
    return load_settings(db_url=db, home=home, **extra)


def read_settings(db: str | None = None, home: Path | None = None, **extra: object) -> Settings:
    """:func:`settings_from` for a command that only reads: exit with one line when there
    is no data yet, so that ``vigil alerts list`` in the wrong folder never leaves an empty
    ``./vigil-data`` behind (PostgreSQL URLs pass; the server owns their schema)."""
    settings = settings_from(db, home, **extra)
    require_data(settings.db_url)
    return settings


def require_data(db_url: str) -> None:
    """Exit 1 with ``no vigil data at PATH`` unless the SQLite database file exists."""
    from vigil.store.health import sqlite_path

    path = sqlite_path(db_url)
    if path is None or path.is_file():
        return
    where = path if path.parent.is_dir() else path.parent
    fail(f"no vigil data at {where.absolute()}; start `vigil server` or pass --home (or --db)")


class UsageError(Exception):
    """A mistake on the command line (a bad option value): printed by :func:`fail`."""


def fail(message: str) -> NoReturn:
    """Print ``message`` as one ``error:`` line on standard error and exit with status 1."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)
