"""``vigil db``: schema migrations."""

from __future__ import annotations

from pathlib import Path

import typer

from vigil.cli.common import DbOption, HomeOption, console, read_settings, settings_from

app = typer.Typer(
    help="Database schema: upgrade, downgrade, show the revision.", no_args_is_help=True
)


@app.command()
def upgrade(db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """Migrate the database to this vigil's newest schema."""
    from vigil.store import migrate
    from vigil.store.engine import make_engine

    settings = settings_from(db, home)
    engine = make_engine(settings.db_url)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    console.print(f"Schema {before or 'empty'} -> {after} (newest).")


@app.command()
def current(db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """Print the database's schema revision and this vigil's newest one."""
    from vigil.store import migrate
    from vigil.store.engine import make_engine

    engine = make_engine(read_settings(db, home).db_url)
    try:
        rev = migrate.current_revision(engine)
    finally:
        engine.dispose()
    console.print(f"database: {rev or 'empty'}  head: {migrate.head_revision()}")


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision, or 'base' to drop all tables."),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Migrate the database down (destroys data of the dropped tables)."""
    from vigil.store import migrate
    from vigil.store.engine import make_engine

    if not yes:
        typer.confirm(f"Downgrade to {revision}? Data in dropped tables is lost.", abort=True)
    engine = make_engine(settings_from(db, home).db_url)
    try:
        migrate.downgrade(engine, revision)
    finally:
        engine.dispose()
    console.print(f"Schema now at {revision}.")
