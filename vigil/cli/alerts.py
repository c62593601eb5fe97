"""``vigil alerts``: list, show, acknowledge and silence alerts."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from vigil.cli.common import DbOption, HomeOption, console, read_settings, settings_from

app = typer.Typer(help="Alerts: list, show, ack, silence.", no_args_is_help=True)


def _when(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _store(db: str | None, home: Path | None, *, read: bool = False):
    """The store; ``read``: the command only reads, so no data means one error line."""
    from vigil.store import open_store

    return open_store((read_settings if read else settings_from)(db, home).db_url)


@app.command("list")
def list_alerts(
    state: str = typer.Option(
        "active",
        "--state",
        help="active (pending and firing), pending, firing, resolved, inactive or all.",
    ),
    rule: str | None = typer.Option(None, "--rule"),
    model: str | None = typer.Option(None, "--model"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """List alerts, newest first."""
    from vigil.engine.alerts.admin import public_alert
    from vigil.errors import InvalidParameterError
    from vigil.store.alerts.queries import AlertStore

    states = ("active", "pending", "firing", "resolved", "inactive", "all")
    if state not in states:
        raise InvalidParameterError(f"--state must be one of {', '.join(states)}. Got {state!r}.")
    store = _store(db, home, read=True)
    try:
        rows = AlertStore(store).list_alerts(
            state=None if state == "all" else state, rule=rule, model=model, limit=limit
        )
    finally:
        store.close()
    table = Table("id", "state", "rule", "model", "severity", "value", "since", "acked")
    for row in map(public_alert, rows):
        value = "" if row["value"] is None else f"{row['value']:.4g}"
        since = row["resolved_at"] or row["fired_at"] or row["started_at"]
        table.add_row(
            str(row["id"]),
            row["state"],
            row["rule"],
            row["labels"].get("model", ""),
            row["severity"],
            value,
            _when(since),
            "yes" if row["acked"] else "",
        )
    console.print(table)
    if not rows:
        console.print(f"No {state if state != 'all' else ''} alerts.".replace("  ", " "))


@app.command()
def show(alert_id: int, db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """One alert with its history."""
    from vigil.errors import NotFoundError
    from vigil.store.alerts.queries import AlertStore

    store = _store(db, home, read=True)
    try:
        row = AlertStore(store).get_alert(alert_id)
    finally:
        store.close()
    if row is None:
        raise NotFoundError(f"No alert with id {alert_id}; see `vigil alerts list --state all`.")
    console.print(
        f"alert {row['id']} [{row['state']}] {row['rule']} {row['labels']}",
        highlight=False,
        markup=False,
    )
    console.print(row["summary"] or "", highlight=False, markup=False)
    for event in row["history"]:
        console.print(
            f"  {_when(event['ts'])}  {event['kind']}  {event['details'] or ''}",
            highlight=False,
            markup=False,
        )


@app.command()
def ack(
    alert_id: int,
    for_: str | None = typer.Option(
        None,
        "--for",
        help="Expire the ack after this long (e.g. 2h); default until the alert resolves.",
    ),
    comment: str | None = typer.Option(None, "--comment"),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Acknowledge an alert: no repeat notifications while acked."""
    from vigil.engine.alerts.admin import ack_alert

    store = _store(db, home)
    try:
        row = ack_alert(store, alert_id, "cli", for_, comment)
    finally:
        store.close()
    until = f" until {_when(row['ack_until'])}" if row["ack_until"] else ""
    console.print(f"Acknowledged alert {alert_id}{until}.")


@app.command()
def silence(
    alert_id: int | None = typer.Argument(None, help="Silence this alert's rule and labels."),
    rule: str | None = typer.Option(None, "--rule", help="Or: silence this rule..."),
    model: str | None = typer.Option(None, "--model", help="...for this model only."),
    for_: str = typer.Option("1h", "--for", help="How long (e.g. 30m, 2h, 1d)."),
    comment: str | None = typer.Option(None, "--comment"),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Silence alerts for a while: they change state but notify nobody."""
    from vigil.engine.alerts.admin import create_silence
    from vigil.errors import InvalidParameterError, NotFoundError
    from vigil.store.alerts.queries import AlertStore

    store = _store(db, home)
    try:
        if alert_id is not None:
            row = AlertStore(store).get_alert(alert_id)
            if row is None:
                raise NotFoundError(f"No alert with id {alert_id}.")
            matchers = dict(row["labels"])
        else:
            matchers = {k: v for k, v in (("alertname", rule), ("model", model)) if v}
            if not matchers:
                raise InvalidParameterError("Give an alert id, or --rule and/or --model.")
        made = create_silence(store, matchers, for_, "cli", comment)
    finally:
        store.close()
    console.print(
        f"Silence {made['id']} until {_when(made['ends_at'])}: {matchers}",
        highlight=False,
        markup=False,
    )
