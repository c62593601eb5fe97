"""What every command shares: settings from options, the store, consoles."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from vigil.config import Settings, load_settings

console = Console()
err_console = Console(stderr=True)

DbOption = typer.Option(None, "--db", help="Database URL (default: VIGIL_DB_URL or SQLite in "
                        "VIGIL_HOME).", show_default=False)
HomeOption = typer.Option(None, "--home", help="Data folder (default: VIGIL_HOME or "
                          "./vigil-data).", show_default=False)


def settings_from(db: str | None = None, home: Path | None = None, **extra: object) -> Settings:
    """Settings with the command's options on top of environment, vigil.toml and defaults."""
    return load_settings(db_url=db, home=home, **extra)


class UsageError(Exception):
    """A mistake on the command line (a bad option value): printed by :func:`fail`."""


def fail(message: str) -> NoReturn:
    """Print ``message`` as one ``error:`` line on standard error and exit with status 1."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)
