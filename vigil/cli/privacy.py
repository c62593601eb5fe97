"""``vigil privacy``: erase or export a data subject, redaction policies, retention."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vigil.cli.common import DbOption, HomeOption, console, read_settings, settings_from

app = typer.Typer(
    help="Privacy: erase or export a data subject, redaction policies, retention.",
    no_args_is_help=True,
)
policy_app = typer.Typer(help="Redaction policies applied at ingest.", no_args_is_help=True)
retention_app = typer.Typer(help="How long raw events are kept.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(retention_app, name="retention")

ACTOR = "cli"


@contextmanager
def _store(db: str | None, home: Path | None, read: bool = False) -> Iterator[Any]:
    from vigil.store import open_store

    store = open_store((read_settings if read else settings_from)(db, home).db_url)
    try:
        yield store
    finally:
        store.close()


def _json(data: Any) -> str:
    import orjson

    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode()


def _run(
    db: str | None, home: Path | None, fn: Callable[..., Any], *args: Any, read: bool = False
) -> Any:
    """``fn(store, *args)``; ``read``: it only reads, so no data means one error line."""
    with _store(db, home, read) as store:
        return fn(store, *args)


@app.command()
def erase(subject: str, db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """Erase SUBJECT's predictions, labels and feedback everywhere; print the receipt."""
    from vigil.engine.privacy.admin import erase as do_erase

    receipt = _run(db, home, do_erase, subject, ACTOR)
    total = sum(receipt["deleted"].values())
    console.print(
        f"Erased {total} rows of subject {subject!r} (receipt {receipt['id']}).", highlight=False
    )
    typer.echo(_json(receipt))


@app.command()
def export(
    subject: str,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write the JSON here (default: print it)."
    ),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Export every stored event of SUBJECT as JSON (an access request)."""
    from vigil.engine.privacy.admin import export as do_export

    text = _json(_run(db, home, do_export, subject, ACTOR, read=True))
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"Wrote {output}.", highlight=False)


@policy_app.command("set")
def policy_set(
    model: str,
    field: str,
    action: str = typer.Option(..., "--action", help="mask, hash or drop."),
    kind: list[str] | None = typer.Option(
        None, "--kind", help="PII kind to mask (repeat); default all."
    ),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Redact FIELD of MODEL at ingest (a feature name, 'outputs' or '*')."""
    from vigil.engine.privacy.admin import set_policy

    _run(db, home, set_policy, model, field, action, kind or None, ACTOR)
    console.print(f"{model}.{field}: {action}.", highlight=False)


@policy_app.command("delete")
def policy_delete(
    model: str, field: str, db: str | None = DbOption, home: Path | None = HomeOption
) -> None:
    """Stop redacting FIELD of MODEL."""
    from vigil.engine.privacy.admin import delete_policy

    _run(db, home, delete_policy, model, field, ACTOR)
    console.print(f"{model}.{field}: no policy.", highlight=False)


@policy_app.command("list")
def policy_list(model: str, db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """Show MODEL's redaction policies and retention."""
    from vigil.engine.privacy.admin import describe

    info = _run(db, home, describe, model, read=True)
    table = Table("field", "action", "kinds")
    for p in info["policies"]:
        table.add_row(p["field"], p["action"], ",".join(p["kinds"] or ["all"]))
    console.print(table)
    days = info["retention"]["days"] if info["retention"] else None
    console.print(f"retention: {f'{days} days' if days else 'none (kept forever)'}")


@retention_app.command("set")
def retention_set(
    model: str, days: int, db: str | None = DbOption, home: Path | None = HomeOption
) -> None:
    """Keep MODEL's raw events DAYS days."""
    from vigil.engine.privacy.admin import set_retention

    _run(db, home, set_retention, model, days, ACTOR)
    console.print(f"{model}: raw events kept {days} days.", highlight=False)


@retention_app.command("run")
def retention_run(db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """Enforce every retention policy now; print what was deleted."""
    from vigil.engine.privacy.admin import run_retention

    typer.echo(_json(_run(db, home, run_retention, ACTOR)))
