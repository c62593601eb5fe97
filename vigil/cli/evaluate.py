"""``vigil evaluate``: score a model on a golden data set and store the run."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vigil.cli.common import DbOption, HomeOption, console, settings_from
from vigil.errors import InvalidParameterError, NotFoundError

_TARGETS = ("target", "label", "y", "actual")


def load_callable(spec: str) -> Callable[[Any], Any]:
    """``"pkg.module:function"`` → the function (the current folder is importable)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidParameterError(f"--predict must be 'package.module:function'. Got {spec!r}.")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidParameterError(f"Cannot import {module_name!r} for --predict: {exc}") from None
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise InvalidParameterError(f"{module_name!r} has no attribute {attr!r} (--predict).")
    if not callable(fn):
        raise InvalidParameterError(f"--predict {spec!r} is not callable.")
    return fn


def resolve_version(
    store: Any, home: Path, ref: str, version: str | None
) -> tuple[str, str, str | None]:
    """``NAME``, ``NAME:VERSION`` or ``NAME@ALIAS`` → ``(model, version, alias)``; an alias
    is resolved through the registry, a bare name takes ``version`` or the newest one."""
    if "@" in ref or ":" in ref:
        from vigil.registry import Registry, parse_ref

        name, alias, pinned = parse_ref(ref)
        if alias is not None:
            resolved = Registry(store, home).resolve(ref)["version"]
            return name, str(resolved), alias
        return name, str(pinned), None
    if version:
        return ref, version, None
    record = store.get_model(ref)
    versions = store.list_versions(record.id) if record else []
    return ref, versions[-1]["version"] if versions else "default", None


def evaluate_command(
    model: str = typer.Option(
        ..., "--model", help="NAME, NAME:VERSION or NAME@ALIAS (resolved in the registry)."
    ),
    dataset: str = typer.Option(
        ...,
        "--dataset",
        help="A Parquet/CSV/JSONL file (registered "
        "as a golden set) or the name of a registered one.",
    ),
    predict: str | None = typer.Option(
        None,
        "--predict",
        help="pkg.module:function taking a DataFrame of inputs, returning predictions.",
    ),
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="URL the inputs are POSTed to, one row per request."
    ),
    target: str | None = typer.Option(
        None, "--target", help="Label column (default: target, label, y or actual)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Golden set name (default: the file's stem)."
    ),
    version: str | None = typer.Option(
        None, "--version", help="Version evaluated (for a bare model name; default its newest)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the run as JSON."),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Score a model on a golden data set, in-process (--predict) or over HTTP
    (--endpoint); store the metrics with the version it ran against."""
    from vigil.engine.quality.evaluation import evaluate, register_dataset
    from vigil.io import read_frame
    from vigil.store import open_store

    if (predict is None) == (endpoint is None):
        raise InvalidParameterError("Give exactly one of --predict and --endpoint.")
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise InvalidParameterError(f"--endpoint must be an http(s) URL. Got {endpoint!r}.")
    fn = load_callable(predict) if predict else None
    settings = settings_from(db, home)
    store = open_store(settings.db_url)
    try:
        model_name, resolved, alias = resolve_version(store, settings.home, model, version)
        record = store.get_model(model_name)
        if record is None:
            raise NotFoundError(f"No model named {model_name!r} is registered.")
        path = Path(dataset)
        if path.is_file():
            frame = read_frame(path)
            column = target or next((c for c in _TARGETS if c in frame.columns), None)
            if column is None:
                raise InvalidParameterError(
                    f"{dataset} has no target/label/y/actual column; name it with --target."
                )
            set_name = name or path.stem
            register_dataset(store, record, set_name, frame, column)
        else:
            set_name = dataset
        run = evaluate(
            store, record, set_name, version=resolved, predict=fn, endpoint=endpoint, alias=alias
        )
    finally:
        store.close()
    if json_out is not None:
        json_out.write_text(json.dumps(run, indent=2, default=str), encoding="utf-8")
    if run["status"] != "succeeded":
        console.print(f"[red]Evaluation failed:[/red] {run['error']}", highlight=False)
        raise typer.Exit(1)
    table = Table(
        "metric",
        "value",
        title=f"{model_name} {resolved} on {set_name} ({run['n_rows']} rows, run {run['id']})",
    )
    for key, value in run["metrics"].items():
        if isinstance(value, int | float):
            table.add_row(key, f"{value:.6g}")
    for key, value in (run["latency"] or {}).items():
        table.add_row(f"latency {key}", f"{value:.6g}")
    console.print(table)
