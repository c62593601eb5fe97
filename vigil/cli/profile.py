"""``vigil profile DATA -o FILE``: profile a Parquet or CSV file in constant memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vigil.cli.common import UsageError, fail
from vigil.errors import VigilError
from vigil.io import file_format
from vigil.schema import FeatureKind

_STREAMED = ("parquet", "csv", "tsv")  # the formats read batch by batch
_READ_BUFFER = 1 << 20
"""Bytes of a Parquet column chunk read at a time (a buffered stream, not the whole chunk)."""


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
        out = Console()
        if out.width >= _TABLE_WIDTH:
            out.print(_tables(profile, data))
        else:
            out.print(_per_column(profile, data), highlight=False, markup=False)
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
    """Batches of the file and its row count when the format knows it up front.

    Parquet is read with ``pre_buffer=False`` and a buffered stream: pyarrow's default
    pre-buffering keeps every row group's coalesced column chunks cached for the life of
    ``iter_batches`` (memory grew ~160 MB per 2M rows), and an unbuffered read loads a
    whole column chunk at once; so peak memory stays independent of the file's size and
    of its row-group size.
    """
    if source == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(data, pre_buffer=False, buffer_size=_READ_BUFFER)
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


def _distinct(col: Any) -> str:
    """The distinct-count estimate, with its 95% bounds when they are not one number."""
    est = round(col.distinct_estimate)
    lo, hi = (round(b) for b in col.distinct_bounds(2))
    return f"{est:,}" if lo == hi else f"{est:,} ({lo:,}-{hi:,})"


_TABLE_WIDTH = 72
"""Below this many columns the summary is one block per column instead of tables."""
_TRACK = {FeatureKind.TEXT: " (length)", FeatureKind.EMBEDDING: " (norm)"}


def _tables(profile: Any, data: Path) -> Group:
    """Three narrow tables (overview, numeric summary, most frequent values) that stay
    readable at 80 columns, instead of one eleven-column table that rich squeezes to
    ellipses."""
    columns = profile.columns
    overview = Table(
        title=f"{data.name}: {profile.n_rows:,} rows, {len(columns)} columns",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
    )
    overview.add_column("column", overflow="fold", min_width=8)
    overview.add_column("kind", no_wrap=True)
    for header in ("count", "nulls"):
        overview.add_column(header, justify="right", no_wrap=True)
    overview.add_column("distinct", justify="right", no_wrap=True)
    numeric = Table(title="numeric summary", box=box.SIMPLE_HEAD, title_justify="left")
    numeric.add_column("column", overflow="fold", min_width=8)
    for header in ("mean", "std", "min", "p50", "max"):
        numeric.add_column(header, justify="right", overflow="fold")
    frequent = Table(title="most frequent value", box=box.SIMPLE_HEAD, title_justify="left")
    frequent.add_column("column", overflow="fold", min_width=8)
    frequent.add_column("value", overflow="ellipsis", no_wrap=True, max_width=40)
    frequent.add_column("count", justify="right", no_wrap=True)
    for name, col in columns.items():
        distinct = _distinct(col)
        if "(" in distinct:
            overview.caption = "distinct: sketch estimate (95% bounds)"
        overview.add_row(name, col.kind.value, f"{col.count:,}", f"{col.null_count:,}", distinct)
        if col.mean is not None:
            numeric.add_row(
                name + _TRACK.get(col.kind, ""),
                _fmt(col.mean),
                _fmt(col.std),
                _fmt(col.min),
                _fmt(col.quantile(0.5)),
                _fmt(col.max),
            )
        top = col.frequent_items(1)
        if top:
            frequent.add_row(name, top[0][0], f"{top[0][1]:,}")
    parts: list[Table] = [overview]
    parts += [t for t in (numeric, frequent) if t.row_count]
    return Group(*parts)


def _per_column(profile: Any, data: Path) -> str:
    """One short block per column, for terminals too narrow for the tables."""
    lines = [f"{data.name}: {profile.n_rows:,} rows, {len(profile)} columns"]
    for name, col in profile.columns.items():
        lines += [
            "",
            f"{name} ({col.kind.value})",
            f"  count {col.count:,}  nulls {col.null_count:,}",
            f"  distinct {_distinct(col)}",
        ]
        if col.mean is not None:
            track = _TRACK.get(col.kind, "").strip(" ()")
            lines.append(
                f"  {track + ' ' if track else ''}mean {_fmt(col.mean)}  std {_fmt(col.std)}"
            )
            lines.append(
                f"  min {_fmt(col.min)}  p50 {_fmt(col.quantile(0.5))}  max {_fmt(col.max)}"
            )
        top = col.frequent_items(1)
        if top:
            value = top[0][0] if len(top[0][0]) <= 30 else top[0][0][:29] + "…"
            lines.append(f"  top {value} ({top[0][1]:,})")
    return "\n".join(lines)
