"""``vigil registry``: register, list, show, edit, archive, deprecate, restore, search,
promote, rollback, canary, verify, diff, history, policy.

The commands work on the store (``--db``) and data folder (``--home``) directly, like
``vigil keys``: artifacts are hashed, scanned, copied and signed on this machine. Changes
are made in the name of the OS user (``--actor`` to name someone else), which the alias
history, the version history and the audit log keep.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vigil.cli.common import (
    DbOption,
    HomeOption,
    console,
    err_console,
    read_settings,
    settings_from,
)
from vigil.errors import InvalidParameterError

app = typer.Typer(
    help="Model registry: versions, signed artifacts, aliases, rollback.", no_args_is_help=True
)

FALLBACK_ACTOR = "cli"
ActorOption = typer.Option(
    None,
    "--actor",
    help="Who makes the change, for the history and the audit log (default: the OS user).",
    show_default=False,
)


def _actor(actor: str | None) -> str:
    """``--actor``, checked, or the OS user (``"cli"`` when the system cannot name one)."""
    if actor is None:
        from vigil.registry.registry import os_user

        return os_user(FALLBACK_ACTOR)
    actor = actor.strip()
    if not actor or len(actor) > 200:
        raise InvalidParameterError(f"--actor must be 1-200 characters. Got {actor!r}.")
    return actor


def _open(
    db: str | None,
    home: Path | None,
    signing_key: Path | None = None,
    actor: str | None = None,
    *,
    read: bool = False,
) -> Any:
    """The registry; ``read``: the command only reads, so no data means one error line."""
    from vigil.registry import Registry
    from vigil.store import open_store

    who = _actor(actor)
    settings = (read_settings if read else settings_from)(db, home)
    return Registry(open_store(settings.db_url), settings.home, signing_key=signing_key, actor=who)


def _pairs(items: list[str], what: str, number: bool = False) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidParameterError(f"--{what} takes KEY=VALUE. Got {item!r}.")
        if number:
            try:
                out[key] = float(value)
            except ValueError:
                raise InvalidParameterError(
                    f"--{what} {key} must be a number. Got {value!r}."
                ) from None
        else:
            out[key] = value
    return out or None


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


@app.command()
def register(
    model: str,
    version: str,
    artifact: Path | None = typer.Argument(None, help="File or directory of the model."),
    framework: str | None = typer.Option(None, help="sklearn, pytorch, onnx, ..."),
    notes: str | None = typer.Option(None, help="Notes or changelog of this version."),
    metric: list[str] = typer.Option([], help="Offline metric NAME=VALUE; repeat."),
    tag: list[str] = typer.Option([], help="Tag KEY=VALUE; repeat."),
    commit: str | None = typer.Option(None, help="Code commit the model was built from."),
    data: list[Path] = typer.Option([], help="Training-data file to fingerprint; repeat."),
    dvc: list[Path] = typer.Option([], help="DVC .dvc file whose hashes to record; repeat."),
    signing_key: Path | None = typer.Option(
        None, help="Ed25519 private key (PEM) to sign with; default VIGIL_HOME/keys/signing.pem."
    ),
    allow: list[str] = typer.Option(
        [],
        help="Import to accept although it is dangerous "
        "(module.name); repeat. Only for artifacts you trust.",
    ),
    allow_unparsed: bool = typer.Option(False, help="Accept pickles the scanner cannot parse."),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Register a version: hash, scan, store and sign its artifact (an artifact that
    imports dangerous code when unpickled is refused, as at load)."""
    metrics, tags = _pairs(metric, "metric", number=True), _pairs(tag, "tag")
    if signing_key is not None and not signing_key.is_file():
        # a mistyped path must not make (and trust) a new key
        raise InvalidParameterError(
            f"--signing-key {str(signing_key)!r} is not a file. Give an existing Ed25519 "
            "private key (PEM), or leave the option out to use VIGIL_HOME/keys/signing.pem."
        )
    reg = _open(db, home, signing_key, actor)
    try:
        row = reg.register(
            model,
            version,
            artifact,
            framework=framework,
            notes=notes,
            metrics=metrics,
            tags=tags,
            lineage={"code_commit": commit} if commit else None,
            data=data,
            dvc=dvc,
            allow=allow,
            allow_unparsed=allow_unparsed,
        )
        key = reg.keys.key_id if artifact is not None else None
    finally:
        reg.store.close()
    size = f", {row['artifact_size']} bytes in {row['files']} file(s)" if artifact else ""
    console.print(
        f"Registered {model}:{version}{size}"
        + (f", signed by key {key[:12]}" if key else "")
        + ".",
        highlight=False,
    )


def _versions_table(
    versions: list[dict[str, Any]], aliases: list[dict[str, Any]], found: bool = False
) -> Table:
    """``list``: version, status, aliases, framework, files, size, creator; ``search``
    (``found``): model, version, status, tags, metrics, creator."""
    if found:
        table = Table("model", "version", "status", "tags", "metrics", "created by")
        for v in versions:
            table.add_row(
                v["model"],
                v["version"],
                v["status"],
                ", ".join(f"{k}={x}" for k, x in sorted((v["tags"] or {}).items())),
                ", ".join(f"{k}={x:g}" for k, x in sorted((v["metrics"] or {}).items())),
                v["created_by"],
            )
        return table
    by_version: dict[str, list[str]] = {}
    for a in aliases:
        by_version.setdefault(a["resolved_version"], []).append(a["alias"])
    table = Table("version", "status", "aliases", "framework", "files", "size", "created by")
    for v in versions:
        table.add_row(
            v["version"],
            v["status"],
            ", ".join(by_version.get(v["version"], [])),
            v["framework"] or "",
            "" if v["files"] is None else str(v["files"]),
            str(v["artifact_size"] or ""),
            v["created_by"],
        )
    return table


@app.command("list")
def list_versions(
    model: str,
    all_: bool = typer.Option(False, "--all", help="Include archived versions."),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """List a model's versions (archived ones only with --all) and aliases."""
    reg = _open(db, home, read=True)
    try:
        versions, aliases = reg.versions(model, include_archived=all_), reg.aliases(model)
    finally:
        reg.store.close()
    console.print(_versions_table(versions, aliases))


@app.command()
def show(ref: str, db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """Print a version (``name:version`` or ``name@alias``) as JSON, manifest and the
    history of its edits included."""
    reg = _open(db, home, read=True)
    try:
        row = reg.resolve(ref)
        row["history"] = reg.version_history(row["model"], row["version"])
    finally:
        reg.store.close()
    row["metadata"] = row.pop("meta", None)
    _print_json(row)


@app.command()
def edit(
    model: str,
    version: str,
    note: str | None = typer.Option(None, "--note", help="New notes (replace the old)."),
    tag: list[str] = typer.Option([], help="Set tag KEY=VALUE; repeat."),
    untag: list[str] = typer.Option([], help="Remove tag KEY; repeat."),
    reason: str | None = typer.Option(None, help="Why (kept in the history)."),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Change a version's notes and tags; each change is kept in its history."""
    tags = _pairs(tag, "tag")
    reg = _open(db, home, actor=actor)
    try:
        row = reg.edit(model, version, notes=note, tags=tags, untag=untag, reason=reason)
    finally:
        reg.store.close()
    tags_now = ", ".join(f"{k}={v}" for k, v in sorted((row["tags"] or {}).items()))
    console.print(
        f"{model}:{version} tags: {tags_now or 'none'}; notes: {row['notes'] or 'none'}.",
        highlight=False,
        soft_wrap=True,
    )


def _set_status(
    model: str,
    version: str,
    status: str,
    reason: str | None,
    actor: str | None,
    db: str | None,
    home: Path | None,
) -> None:
    reg = _open(db, home, actor=actor)
    try:
        reg.set_status(model, version, status, reason=reason)
    finally:
        reg.store.close()
    console.print(f"{model}:{version} is {status}.", highlight=False)


@app.command()
def archive(
    model: str,
    version: str,
    reason: str | None = typer.Option(None, help="Why (kept in the history)."),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Archive a version: kept for the record, hidden from lists, never served by an
    alias (refused while an alias serves it)."""
    _set_status(model, version, "archived", reason, actor, db, home)


@app.command()
def deprecate(
    model: str,
    version: str,
    reason: str | None = typer.Option(None, help="Why (kept in the history)."),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Deprecate a version: still usable, but loading it warns."""
    _set_status(model, version, "deprecated", reason, actor, db, home)


@app.command()
def restore(
    model: str,
    version: str,
    reason: str | None = typer.Option(None, help="Why (kept in the history)."),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Make an archived or deprecated version active again."""
    _set_status(model, version, "active", reason, actor, db, home)


@app.command()
def search(
    tag: list[str] = typer.Option(
        [], help="KEY=VALUE, or KEY for any value; repeat (all must match)."
    ),
    metric: list[str] = typer.Option(
        [], help="Offline metric filter such as 'accuracy>=0.9' (>=, <=, >, <, ==, !=); repeat."
    ),
    model: str | None = typer.Option(None, help="Only this model's versions."),
    status: str | None = typer.Option(
        None, help="Only versions in this status (active, deprecated, archived)."
    ),
    all_: bool = typer.Option(False, "--all", help="Include archived versions."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Find versions of every model (or --model) by tag and offline metric."""
    reg = _open(db, home, read=True)
    try:
        rows = reg.search(
            model=model, tags=tag, metrics=metric, include_archived=all_, status=status
        )
    finally:
        reg.store.close()
    if as_json:
        _print_json(rows)
        return
    console.print(_versions_table(rows, [], found=True))


@app.command()
def promote(
    model: str,
    alias: str,
    version: str | None = typer.Argument(None),
    follow: str | None = typer.Option(None, help="Follow another alias instead."),
    reason: str | None = typer.Option(None, help="Why (kept in the history)."),
    expect_revision: int | None = typer.Option(
        None, help="Fail unless the alias is still at this revision."
    ),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Point ALIAS at VERSION (or make it follow another alias)."""
    reg = _open(db, home, actor=actor)
    try:
        row = reg.promote(
            model, alias, version, follow=follow, reason=reason, expected_revision=expect_revision
        )
    finally:
        reg.store.close()
    console.print(
        f"{model}@{alias} -> {row['resolved_version']} (revision {row['revision']}).",
        highlight=False,
    )


@app.command()
def rollback(
    model: str,
    alias: str,
    to: str | None = typer.Option(None, help="Version to go to; default the previous one."),
    reason: str | None = typer.Option(None, help="Why (kept in the history)."),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Return ALIAS to the version promoted before (or to --to)."""
    reg = _open(db, home, actor=actor)
    try:
        row = reg.rollback(model, alias, to, reason=reason)
    finally:
        reg.store.close()
    console.print(
        f"{model}@{alias}: {row['from']} -> {row['resolved_version']} "
        f"(revision {row['revision']}).",
        highlight=False,
    )


@app.command()
def verify(
    ref: str,
    allow: list[str] = typer.Option(
        [], help="Import to accept although it is dangerous (module.name); repeat."
    ),
    allow_unparsed: bool = typer.Option(False, help="Accept pickles the scanner cannot parse."),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Check signature, per-file SHA-256 and pickle safety; exit 1 when refused."""
    reg = _open(db, home, read=True)
    try:
        row = reg.resolve(ref)
        result = reg.verify(
            row["model"], row["version"], allow=allow, allow_unparsed=allow_unparsed
        )
    finally:
        reg.store.close()
    scan = result["scan"]
    if (row.get("status") or "active") != "active":
        err_console.print(
            f"[yellow]warning:[/yellow] {row['model']}:{row['version']} is "
            f"{row['status']}; choose a current version.",
            highlight=False,
        )
    console.print(
        f"OK {row['model']}:{row['version']} sha256 {result['digest'][:16]}..., "
        f"signed by {result['key_id'][:12]}, {len(scan['scanned'])} pickle(s) "
        f"scanned, {len(scan['suspicious'])} unknown import(s): {result['path']}",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def diff(
    model: str,
    a: str,
    b: str,
    hours: float = typer.Option(24.0, help="Live metrics over the last HOURS."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Compare two versions: offline metrics, live metrics, files changed."""
    import time

    reg = _open(db, home, read=True)
    try:
        now = time.time()
        result = reg.compare(model, a, b, start=now - hours * 3600, end=now)
    finally:
        reg.store.close()
    if as_json:
        _print_json(result)
        return
    table = Table("metric", a, b)
    rows = [(f"offline {k}", v) for k, v in result["offline_metrics"].items()]
    rows += [
        (k, v) for k, v in result["live_metrics"].items() if v[a] is not None or v[b] is not None
    ]
    for name, values in rows:
        table.add_row(name, *("" if values[x] is None else f"{values[x]:.4g}" for x in (a, b)))
    console.print(table)
    files = result["files"]
    console.print(
        f"files: {len(files['added'])} added, {len(files['removed'])} removed, "
        f"{len(files['changed'])} changed",
        highlight=False,
    )


@app.command()
def history(
    model: str, alias: str, db: str | None = DbOption, home: Path | None = HomeOption
) -> None:
    """Every change of ALIAS: when, what, who and why."""
    import datetime as dt

    reg = _open(db, home, read=True)
    try:
        rows = reg.history(model, alias)
    finally:
        reg.store.close()
    table = Table("when (UTC)", "action", "version", "from", "by", "reason")
    for h in rows:
        when = dt.datetime.fromtimestamp(h["ts"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            when,
            h["action"],
            h["version"] or f"@{h['target_alias']}",
            h["previous_version"] or "",
            h["actor"],
            h["reason"] or "",
        )
    console.print(table)


@app.command()
def policy(
    model: str,
    alias: str,
    max_: list[str] = typer.Option([], "--max", help="Roll back when METRIC > VALUE; repeat."),
    min_: list[str] = typer.Option([], "--min", help="Roll back when METRIC < VALUE; repeat."),
    watch_s: float = typer.Option(3600.0, help="Seconds a promoted version is watched."),
    window_s: float = typer.Option(300.0, help="Seconds of traffic each check looks at."),
    min_count: int = typer.Option(20, help="Predictions needed before judging."),
    notify: list[str] = typer.Option([], help="Notifier told of a rollback; repeat."),
    disable: bool = typer.Option(False, help="Disable the alias's policy."),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Set (or --disable) the automatic rollback policy of ALIAS."""
    from vigil.registry import set_rollback_policy

    spec = (
        None
        if disable
        else {
            "max": _pairs(max_, "max", number=True) or {},
            "min": _pairs(min_, "min", number=True) or {},
            "watch_s": watch_s,
            "window_s": window_s,
            "min_count": min_count,
            "notify": notify,
        }
    )
    reg = _open(db, home, actor=actor)
    try:
        checked = set_rollback_policy(reg.store, model, alias, spec, reg.actor)
    finally:
        reg.store.close()
    console.print(
        f"Policy of {model}@{alias}: " + ("disabled" if checked is None else json.dumps(checked)),
        highlight=False,
    )


@app.command()
def canary(
    model: str,
    alias: str,
    version: str | None = typer.Argument(
        None, help="The candidate version (omit to show the running canary and its evidence)."
    ),
    share: float = typer.Option(0.1, help="Share of the traffic (or of the inputs shadowed)."),
    mode: str = typer.Option(
        "canary",
        help="canary (serves its share) or shadow (runs on a copy of the inputs, never served).",
    ),
    alpha: float = typer.Option(0.05, help="Bound on each wrong decision's probability."),
    tolerance: list[str] = typer.Option(
        [],
        help="METRIC=VALUE: how much more often the "
        "canary may fail than stable and still be promoted; "
        "repeat.",
    ),
    metric: list[str] = typer.Option([], help="error_rate (default) and/or latency_p95; repeat."),
    min_count: int = typer.Option(50, help="Canary predictions needed before deciding."),
    max_duration_s: float = typer.Option(
        86400.0, help="Seconds before an undecided canary is settled by --on-timeout."
    ),
    on_timeout: str = typer.Option("rollback", help="rollback or promote."),
    latency_threshold_s: float | None = typer.Option(
        None, help="Latency above which a call is slow (default: stable's p95 over the last hour)."
    ),
    notify: list[str] = typer.Option([], help="Notifier told of the decision; repeat."),
    reason: str | None = typer.Option(None, help="Why, for the alias history."),
    abort: bool = typer.Option(
        False, help="Abort the running canary (the alias keeps its version)."
    ),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Start a canary (or shadow) release of VERSION on ALIAS; vigil promotes or rolls it
    back on the evidence. Without VERSION: show the running canary; --abort ends it."""
    import time

    from vigil.registry.canary import evidence

    reg = _open(db, home, actor=actor, read=version is None and not abort)
    try:
        if abort:
            row = reg.abort_canary(model, alias, reason=reason)
            console.print(
                f"{model}@{alias}: canary aborted, serving {row['version']} "
                f"(revision {row['revision']}).",
                highlight=False,
            )
            return
        if version is None:
            row = reg.alias(model, alias)
            if not row.get("canary"):
                console.print(
                    f"{model}@{alias} serves {row['resolved_version']}; no canary.", highlight=False
                )
                return
            record = reg.model(model)
            _print_json(
                {
                    "canary": row["canary"],
                    "evidence": evidence(reg.store, {**row, "model_id": record.id}, time.time()),
                }
            )
            return
        settings: dict[str, Any] = {
            "alpha": alpha,
            "min_count": min_count,
            "max_duration_s": max_duration_s,
            "on_timeout": on_timeout,
            "notify": notify,
        }
        if tolerance:
            settings["tolerance"] = _pairs(tolerance, "tolerance", number=True)
        if metric:
            settings["metrics"] = metric
        if latency_threshold_s is not None:
            settings["latency_threshold_s"] = latency_threshold_s
        row = reg.start_canary(
            model, alias, version, share=share, mode=mode, reason=reason, **settings
        )
    finally:
        reg.store.close()
    c = row["canary"]
    console.print(
        f"{model}@{alias}: {c['mode']} of {c['version']} on {c['share']:.0%} "
        f"beside {row['version']} (revision {row['revision']}); alpha {c['alpha']}.",
        highlight=False,
    )


@app.command("import-mlflow")
def import_mlflow_command(
    tracking_uri: str = typer.Option(..., "--tracking-uri", help="MLflow tracking URI."),
    registry_uri: str | None = typer.Option(
        None, "--registry-uri", help="MLflow registry URI if different."
    ),
    model: list[str] = typer.Option([], "--model", help="Model to import; repeat (default all)."),
    actor: str | None = ActorOption,
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Import an MLflow model registry: versions, artifacts, run metrics, aliases."""
    from vigil.registry.mlflow_import import import_mlflow

    reg = _open(db, home, actor=actor)
    try:
        summary = import_mlflow(reg, tracking_uri, registry_uri=registry_uri, models=model or None)
    finally:
        reg.store.close()
    console.print(
        f"Imported {len(summary['versions'])} version(s), skipped "
        f"{len(summary['skipped'])} already there, set {len(summary['aliases'])} "
        f"alias(es).",
        highlight=False,
    )
    for line in summary["failed"]:
        console.print(f"[red]failed:[/red] {line}", highlight=False, soft_wrap=True)
    if summary["failed"]:
        raise typer.Exit(1)
