"""``vigil profile DATA -o FILE``: profile a Parquet or CSV file in constant memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vigil.cli.common import UsageError, fail
from vigil.errors import VigilError
from vigil.io import file_format
from vigil.schema import FeatureKind

_STREAMED = ("parquet", "csv", "tsv")  # the formats read batch by batch


def profile_command(
    data: Path = typer.Argument(..., help="Parquet or CSV file to profile.", show_default=False),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Where to write the profile (binary).", show_default=False
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="parquet or csv (default: from the file extension)."
    ),
    kind: list[str] = typer.Option(
        [],
        "--kind",
        help="Column kind as NAME=KIND (numeric, categorical, text, embedding); "
        "repeat for several. Other columns are inferred from the first batch.",
    ),
    batch_size: int = typer.Option(65_536, "--batch-size", min=1, help="Rows per batch."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the JSON summary here.", show_default=False
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no table."),
) -> None:
    """Profile a Parquet or CSV file batch by batch and write a mergeable profile."""
    console = Console(stderr=True, quiet=quiet)
    try:
        kinds = _parse_kinds(kind)
        source = file_format(data, fmt, allowed=_STREAMED)
        batches, total = _open(data, source, batch_size)
        profile = _profile_batches(batches, total, kinds, console)
        _write(output, profile.to_bytes())
        if json_out is not None:
            import orjson

            _write(json_out, orjson.dumps(profile.to_dict(), option=orjson.OPT_INDENT_2))
    except UsageError as exc:
        fail(str(exc))
    except VigilError as exc:
        fail(exc.message)
    except OSError as exc:
        fail(f"cannot read or write a file: {exc}")
    except Exception as exc:  # pyarrow reports unreadable data as ArrowInvalid and friends
        if type(exc).__module__.startswith("pyarrow"):
            fail(f"cannot read {data} as {source}: {exc}")
        raise
    if not quiet:
        Console().print(_table(profile, data))
    console.print(f"Wrote {output} ({profile.n_rows:,} rows, {len(profile)} columns).")


def _parse_kinds(items: list[str]) -> dict[str, FeatureKind]:
    kinds: dict[str, FeatureKind] = {}
    allowed = ", ".join(k.value for k in FeatureKind)
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or value not in {k.value for k in FeatureKind}:
            raise UsageError(f"--kind takes NAME=KIND with KIND one of {allowed}; got {item!r}.")
        kinds[name] = FeatureKind(value)
    return kinds


def _open(data: Path, source: str, batch_size: int) -> tuple[Iterator[Any], int | None]:
    """Batches of the file and its row count when the format knows it up front."""
    if source == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(data)
        return pf.iter_batches(batch_size=batch_size), pf.metadata.num_rows
    import pyarrow.csv as pcsv

    delimiter = "\t" if source == "tsv" else ","
    reader = pcsv.open_csv(
        data,
        read_options=pcsv.ReadOptions(block_size=max(batch_size * 64, 1 << 20)),
        parse_options=pcsv.ParseOptions(delimiter=delimiter),
    )
    return iter(reader), None


def _profile_batches(
    batches: Iterator[Any], total: int | None, kinds: dict[str, FeatureKind], console: Console
) -> Any:
    from vigil.profile import Profile

    profile = Profile()
    fixed = dict(kinds)
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("profiling", total=total)
        for batch in batches:
            names = set(batch.schema.names)
            unknown = sorted(set(kinds) - names)
            if unknown and profile.n_rows == 0:
                raise UsageError(f"--kind names columns the file does not have: {unknown}.")
            batch_kinds = {n: k for n, k in fixed.items() if n in names}
            part = Profile.from_columns(
                {n: batch.column(i) for i, n in enumerate(batch.schema.names)}, kinds=batch_kinds
            )
            for name, col in part.columns.items():  # the first values seen fix each kind
                if name not in fixed and col.count:
                    fixed[name] = col.kind
            profile = profile.merge(part) if profile.n_rows else part
            progress.advance(task, batch.num_rows)
    return profile


def _write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _table(profile: Any, data: Path) -> Table:
    table = Table(title=f"{data.name}: {profile.n_rows:,} rows")
    for header in ("column", "kind", "count", "nulls", "mean", "std", "min", "p50", "max"):
        table.add_column(header, justify="left" if header in ("column", "kind") else "right")
    table.add_column("distinct≈", justify="right")
    table.add_column("top value")
    for name, col in profile.columns.items():
        top = col.frequent_items(1)
        table.add_row(
            name,
            col.kind.value,
            f"{col.count:,}",
            f"{col.null_count:,}",
            _fmt(col.mean),
            _fmt(col.std),
            _fmt(col.min),
            _fmt(col.quantile(0.5)),
            _fmt(col.max),
            f"{col.distinct_estimate:,.0f}",
            f"{top[0][0][:30]} ({top[0][1]:,})" if top else "",
        )
    return table
