"""``vigil report drift REF CUR -o report.html [--json out.json]``: a drift report from files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from vigil.cli.common import UsageError, fail
from vigil.errors import VigilError
from vigil.io import read_arrow

app = typer.Typer(
    help="Build reports (drift between a reference and a current data set).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _reports() -> None:
    """Build reports (drift between a reference and a current data set)."""


def _parse_methods(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, method = item.partition("=")
        if not sep or not name or not method:
            raise UsageError(f"--column-method must look like NAME=METHOD. Got {item!r}.")
        out[name] = method
    return out


def _summary(report: Any) -> Table:
    table = Table(title="Drift", show_lines=False)
    for col in ("column", "kind", "method", "statistic", "adj. p", "effect", "drift"):
        table.add_column(
            col, justify="right" if col in ("statistic", "adj. p", "effect") else "left"
        )

    def fmt(x: float | None) -> str:
        return "—" if x is None else f"{x:.3g}"

    for c in report.columns:
        verdict = (
            "[red]drift[/red]"
            if c.drifted
            else "[dim]not tested[/dim]"
            if c.statistic is None
            else "[green]no[/green]"
        )
        p = c.p_value_adjusted if c.p_value_adjusted is not None else c.p_value
        table.add_row(
            c.column, c.kind, c.method, fmt(c.statistic), fmt(p), fmt(c.effect_size), verdict
        )
    return table


@app.command("drift")
def drift(
    reference: Path = typer.Argument(
        ..., help="Reference data (Parquet or CSV).", show_default=False
    ),
    current: Path = typer.Argument(..., help="Current data (Parquet or CSV).", show_default=False),
    output: Path = typer.Option(
        Path("drift-report.html"), "-o", "--output", help="Where to write the HTML report."
    ),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the report as JSON.", show_default=False
    ),
    method: str = typer.Option(
        "auto", "--method", help="Test for every column: auto, ks, psi, chi2, ..."
    ),
    column_method: list[str] = typer.Option(
        [], "--column-method", help="Test for one column as NAME=METHOD; repeatable."
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level (BH-corrected)."),
    multivariate: str = typer.Option(
        "classifier",
        "--multivariate",
        help="Multivariate tests, comma-separated (classifier, mmd, pca) or 'none'.",
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="parquet or csv (default: from the extension)."
    ),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help="Exit with status 2 when the data set drifts."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress and no table."),
) -> None:
    """Compare CURRENT with REFERENCE and write an offline HTML (and JSON) drift report."""
    from vigil.drift import detect_drift

    console = Console(stderr=True, quiet=quiet)
    multi = (
        None
        if multivariate.strip().lower() in ("", "none")
        else [m.strip() for m in multivariate.split(",") if m.strip()]
    )
    try:
        per_column = _parse_methods(column_method)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task(f"Reading {reference.name}", total=None)
            ref = read_arrow(reference, fmt)
            progress.update(task, description=f"Reading {current.name}")
            cur = read_arrow(current, fmt)
            progress.update(task, description=f"Testing {ref.num_columns} columns")
            report = detect_drift(
                ref, cur, method=method, per_column=per_column, alpha=alpha, multivariate=multi
            )
            progress.update(task, description="Writing the report")
            report.save_html(output)
            if json_out is not None:
                report.save_json(json_out)
    except UsageError as exc:
        fail(str(exc))
    except VigilError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot write the report: {exc}")
    if not quiet:
        Console().print(_summary(report))
    verdict = "drift" if report.dataset_drift else "no drift"
    console.print(
        f"Data set: {verdict} ({len(report.drifted_columns)} of {len(report.columns)} columns "
        f"drifted). Wrote {output}" + (f" and {json_out}" if json_out else "") + "."
    )
    if fail_on_drift and report.dataset_drift:
        raise typer.Exit(2)
