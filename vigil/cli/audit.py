"""``vigil audit``: verify the audit log, compliance report, scan a data set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vigil.cli.common import DbOption, HomeOption, console, read_settings
from vigil.errors import InvalidParameterError

app = typer.Typer(
    help="Audits: the audit log's hash chain, compliance report, data scan.", no_args_is_help=True
)


def _json(data: Any) -> str:
    import orjson

    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode()


@app.command("verify-log")
def verify_log(db: str | None = DbOption, home: Path | None = HomeOption) -> None:
    """Recompute the audit log's hash chain; exit 1 where it is broken."""
    from vigil.store import audit_chain, open_store

    store = open_store(read_settings(db, home).db_url)
    try:
        report = audit_chain.verify_log(store)
    finally:
        store.close()
    if not report.ok:
        console.print(
            f"[red]audit log BROKEN[/red] at entry {report.first_bad_id}: "
            f"{report.reason} ({report.entries} entries verified before it).",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(
        f"audit log intact: {report.entries} entries, head {report.head_hash}", highlight=False
    )


@app.command()
def compliance(
    model: str = typer.Option(..., "--model", help="The model to report on."),
    output: Path = typer.Option(..., "-o", "--output", help="report.html or report.json"),
    db: str | None = DbOption,
    home: Path | None = HomeOption,
) -> None:
    """Write MODEL's compliance checklist (HTML or JSON by extension); exit 1 unless every
    item passes (an unknown item is not a pass)."""
    from vigil.audit.compliance import compliance_report, render_html
    from vigil.store import open_store

    suffix = output.suffix.lower()
    if suffix not in (".html", ".htm", ".json"):
        raise InvalidParameterError(f"-o must end in .html or .json. Got {output.name!r}.")
    settings = read_settings(db, home)
    store = open_store(settings.db_url)
    try:
        report = compliance_report(
            store,
            model,
            retention_interval_s=settings.retention_interval_s,
            auth_required=settings.auth_required,
        )
    finally:
        store.close()
    output.write_text(_json(report) if suffix == ".json" else render_html(report), encoding="utf-8")
    table = Table("item", "status", "reason")
    for c in report["checks"]:
        colour = {"pass": "green", "fail": "red"}.get(c["status"], "yellow")
        table.add_row(c["title"], f"[{colour}]{c['status']}[/{colour}]", c["reason"])
    console.print(table)
    console.print(f"Wrote {output}.", highlight=False)
    if not report["passed"]:
        raise typer.Exit(1)


def _read(path: Path) -> Any:
    from vigil.io import read_frame

    return read_frame(path)


@app.command()
def data(
    path: Path,
    reference: Path | None = typer.Option(
        None,
        "--reference",
        help="Reference data: rows unlike it are counted as out of distribution.",
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the result here."),
    fail_on_findings: bool = typer.Option(
        False, "--fail-on-findings", help="Exit 1 when PII or injection is found."
    ),
) -> None:
    """Scan PATH (Parquet, CSV, JSONL) for PII, prompt injection and OOD rows."""
    from vigil.audit.scan import scan_data

    frame = _read(path)
    result = scan_data(frame, _read(reference) if reference is not None else None)
    table = Table("column", "PII found", "injection rows")
    found = False
    for name, col in result["columns"].items():
        kinds = ", ".join(f"{k}: {n}" for k, n in sorted(col["pii"].items())) or "-"
        table.add_row(name, kinds, str(len(col["injection_rows"])))
        found = found or bool(col["pii"]) or bool(col["injection_rows"])
    console.print(table)
    if "ood" in result:
        console.print(
            f"out of distribution: {result['ood']['flagged']} of {result['rows']} rows",
            highlight=False,
        )
    if json_out is not None:
        json_out.write_text(_json(result), encoding="utf-8")
    if fail_on_findings and found:
        raise typer.Exit(1)
