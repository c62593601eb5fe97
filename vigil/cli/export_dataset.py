"""``vigil export dataset``: predictions with their labels and feedback as a training set."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import typer

from vigil.cli.common import DbOption, HomeOption, console, read_settings
from vigil.errors import InvalidParameterError, NotFoundError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str | None, option: str, now: float) -> float | None:
    """Unix seconds, an ISO 8601 time, or a duration before now (``90m``, ``24h``, ``7d``).

    Examples:
        >>> parse_time("2d", "--since", 1_000_000.0)
        827200.0
    """
    if text is None:
        return None
    text = text.strip()
    if text and text[-1] in _UNITS and text[:-1].replace(".", "", 1).isdigit():
        return now - float(text[:-1]) * _UNITS[text[-1]]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterError(
            f"{option} must be unix seconds, an ISO 8601 time or a duration like 7d. Got {text!r}."
        ) from None
    if parsed.tzinfo is None:
        raise InvalidParameterError(f"{option} {text!r} needs a UTC offset (e.g. Z).")
    return parsed.timestamp()


def dataset(
    model: str = typer.Option(..., "--model", help="Model name."),
    out: Path = typer.Option(..., "-o", "--output", help="Parquet file to write."),
    since: str | None = typer.Option(
        None, "--since", help="Unix seconds, ISO time or a duration before now (7d, 24h)."
    ),
    until: str | None = typer.Option(None, "--until", help="Same forms; default now."),
    version: str | None = typer.Option(None, "--version", help="Only this version."),
    labelled_only: bool = typer.Option(
        False, "--labelled-only", help="Only predictions with a label."
    ),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Write predictions with their labels and feedback as a training set (Parquet).

    The columns are those of the ``retrain`` action's exports (vigil.engine.exports.datasets).
    """
    from vigil.engine.exports.datasets import labelled_count, training_table, write_parquet
    from vigil.store import open_store

    now = time.time()
    start, end = parse_time(since, "--since", now), parse_time(until, "--until", now)
    store = open_store(read_settings(db, home).db_url)
    try:
        record = store.get_model(model)
        if record is None:
            raise NotFoundError(f"No model named {model!r} is registered.")
        table = training_table(store, record, start, end, version, labelled_only=labelled_only)
    finally:
        store.close()
    write_parquet(table, out)
    console.print(
        f"Wrote {len(table)} predictions ({labelled_count(table)} labelled) to {out}",
        highlight=False,
    )
