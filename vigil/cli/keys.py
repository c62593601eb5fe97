"""``vigil keys``: API keys, made directly in the database (to bootstrap the first one)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vigil.cli.common import DbOption, HomeOption, console, read_settings, settings_from

app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


@app.command()
def create(
    scope: list[str] = typer.Option(
        ..., "--scope", help="ingest, read, write or admin; repeat for several."
    ),
    name: str = typer.Option("cli", "--name", help="A label to recognise the key by."),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from vigil.server.auth import check_scopes
    from vigil.store import open_store

    scopes = check_scopes([s.strip() for item in scope for s in item.split(",")])
    store = open_store(settings_from(db, home).db_url)
    try:
        record, secret = store.create_api_key(name, scopes)
        store.audit("cli", "key.create", record.id, {"name": name, "scopes": scopes})
    finally:
        store.close()
    console.print(
        f"Created key {record.id} ({', '.join(scopes)}). Store it now; it is not shown again:"
    )
    typer.echo(secret)


@app.command("list")
def list_keys(db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """List keys (never their secrets)."""
    from vigil.store import open_store

    store = open_store(read_settings(db, home).db_url)
    try:
        keys = store.list_api_keys()
    finally:
        store.close()
    table = Table("id", "name", "scopes", "state")
    for k in keys:
        table.add_row(
            k.id, k.name, ",".join(sorted(k.scopes)), "revoked" if k.revoked_at else "active"
        )
    console.print(table)


@app.command()
def revoke(key_id: str, db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """Revoke a key by id."""
    from vigil.errors import NotFoundError
    from vigil.store import open_store

    store = open_store(settings_from(db, home).db_url)
    try:
        if not store.revoke_api_key(key_id):
            raise NotFoundError(f"No active API key with id {key_id!r}; see `vigil keys list`.")
        store.audit("cli", "key.revoke", key_id)
    finally:
        store.close()
    console.print(f"Revoked {key_id}.")
