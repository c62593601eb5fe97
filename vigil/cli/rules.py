"""``vigil rules``: apply rules, notifiers and actions from TOML; list them and the metrics."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vigil.cli.common import DbOption, HomeOption, console, read_settings, settings_from

app = typer.Typer(help="Alert rules as code: apply, list, metrics, delete.", no_args_is_help=True)


@app.command()
def apply(
    file: Path = typer.Argument(
        ...,
        help="TOML with [[rules]], [notifiers.NAME], [actions.NAME] (other tables are ignored).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the changes, apply nothing."),
    prune: bool = typer.Option(
        False, "--prune", help="Delete rules, notifiers and actions that are not in the file."
    ),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Make the store match FILE (idempotent) and print the diff."""
    from vigil.engine.alerts.apply import apply as apply_config
    from vigil.engine.alerts.apply import parse_config, plan
    from vigil.errors import InvalidParameterError
    from vigil.store import open_store

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"Cannot read {file}: {exc}") from None
    config = parse_config(text, str(file))
    store = open_store(settings_from(db, home).db_url)
    try:
        if dry_run:
            changes = plan(store, config, prune=prune)
        else:
            changes = apply_config(store, config, prune=prune)
    finally:
        store.close()
    changed = [c for c in changes if c.op != "="]
    for change in changed:
        console.print(str(change), highlight=False, markup=False, soft_wrap=True)
    counts = {op: sum(c.op == op for c in changes) for op in "+~-="}
    verb = "would change" if dry_run else "applied"
    if not any(counts[op] for op in "+~-"):
        console.print(f"No changes ({counts['=']} unchanged).")
    else:
        console.print(
            f"{verb}: {counts['+']} created, {counts['~']} updated, "
            f"{counts['-']} deleted, {counts['=']} unchanged."
        )


@app.command("list")
def list_rules(db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """List the rules."""
    from vigil.engine.alerts.rules import Rule
    from vigil.store import open_store
    from vigil.store.alerts.queries import AlertStore

    store = open_store(read_settings(db, home).db_url)
    try:
        specs = AlertStore(store).list_rules()
    finally:
        store.close()
    table = Table("name", "rule", "severity", "notifiers", "actions", "enabled")
    for spec in specs:
        rule = Rule.from_dict({k: v for k, v in spec.items() if v is not None})
        table.add_row(
            rule.name,
            rule.describe(),
            rule.severity,
            ",".join(rule.notifiers),
            ",".join(rule.actions),
            "yes" if rule.enabled else "no",
        )
    console.print(table)


@app.command()
def metrics() -> None:
    """List the metrics rules can watch."""
    from vigil.engine.metric_sources import list_metrics

    table = Table("metric", "unit", "description")
    for m in list_metrics():
        table.add_row(m.name, m.unit, m.description)
    console.print(table)


@app.command()
def delete(name: str, db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """Delete one rule by name."""
    from vigil.errors import NotFoundError
    from vigil.store import open_store
    from vigil.store.alerts.queries import AlertStore

    store = open_store(settings_from(db, home).db_url)
    try:
        if not AlertStore(store).delete_rule(name):
            raise NotFoundError(f"No rule named {name!r}; see `vigil rules list`.")
        store.audit("cli", "rule.delete", name)
    finally:
        store.close()
    console.print(f"Deleted rule {name}.")
