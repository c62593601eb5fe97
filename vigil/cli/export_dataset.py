"""``vigil export dataset``: predictions with their labels and feedback as a training set."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from vigil.cli.common import DbOption, HomeOption, console, settings_from
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
            f"{option} must be unix seconds, an ISO 8601 time or a duration like 7d. "
            f"Got {text!r}.") from None
    if parsed.tzinfo is None:
        raise InvalidParameterError(f"{option} {text!r} needs a UTC offset (e.g. Z).")
    return parsed.timestamp()


def training_rows(store: Any, model: Any, start: float | None, end: float | None,
                  version: str | None, labelled_only: bool) -> list[dict[str, Any]]:
    """One row per prediction: inputs flattened to ``input.*`` columns, prediction, proba,
    error and its kind, label, and its feedback (count, mean score, last comment)."""
    from vigil.engine.quality import prediction_value
    from vigil.store import quality as qs

    preds = qs.predictions(store, model.id, start, end, version)
    if labelled_only:
        preds = [p for p in preds if p["actual"] is not None]
    feedback: dict[str, list[dict[str, Any]]] = {}
    for f in qs.feedback(store, model.id, None, None):
        feedback.setdefault(f["prediction_id"], []).append(f)
    rows = []
    for p in preds:
        row: dict[str, Any] = {"prediction_id": p["id"], "version": p["version"],
                               "ts": p["ts"]}
        inputs = p["inputs"] if isinstance(p["inputs"], dict) else {}
        row.update({f"input.{k}": v for k, v in inputs.items()})
        row["prediction"] = prediction_value(p["outputs"])
        row["proba"] = p["proba"]
        row["error"] = p["error"]
        row["error_type"] = p["error_type"]
        row["label"] = p["actual"]
        fb = feedback.get(p["id"], [])
        row["feedback_count"] = len(fb)
        row["feedback_score"] = sum(f["score"] for f in fb) / len(fb) if fb else None
        row["feedback_comment"] = fb[-1]["comment"] if fb else None
        rows.append(row)
    return rows


def dataset(
    model: str = typer.Option(..., "--model", help="Model name."),
    out: Path = typer.Option(..., "-o", "--output", help="Parquet file to write."),
    since: str | None = typer.Option(None, "--since", help="Unix seconds, ISO time or a "
                                     "duration before now (7d, 24h)."),
    until: str | None = typer.Option(None, "--until", help="Same forms; default now."),
    version: str | None = typer.Option(None, "--version", help="Only this version."),
    labelled_only: bool = typer.Option(False, "--labelled-only", help="Only predictions "
                                       "with a label."),
    db: str | None = DbOption, home: Path | None = HomeOption,
) -> None:
    """Write predictions with their labels and feedback as a training set (Parquet)."""
    import pandas as pd

    from vigil.store import open_store

    now = time.time()
    start, end = parse_time(since, "--since", now), parse_time(until, "--until", now)
    store = open_store(settings_from(db, home).db_url)
    try:
        record = store.get_model(model)
        if record is None:
            raise NotFoundError(f"No model named {model!r} is registered.")
        rows = training_rows(store, record, start, end, version, labelled_only)
    finally:
        store.close()
    frame = pd.DataFrame.from_records(rows, columns=None if rows else [
        "prediction_id", "version", "ts", "prediction", "proba", "error", "error_type",
        "label", "feedback_count",
        "feedback_score", "feedback_comment"])
    for column in ("prediction", "label", "proba"):
        if column in frame and frame[column].dropna().map(type).nunique() > 1:
            frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    labelled = int(frame["label"].notna().sum()) if len(frame) else 0
    console.print(f"Wrote {len(frame)} predictions ({labelled} labelled) to {out}",
                  highlight=False)
