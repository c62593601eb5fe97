"""One reader for tabular data: Parquet, CSV (and TSV), JSON records and JSON lines.

Every command and route that takes a data file or body reads it here, so each accepts the
same formats and reports the same one-line errors (:class:`InvalidParameterError`: a 400
over HTTP, one ``error:`` line on the command line). Files are told apart by extension
(or a named format), bodies by their Parquet magic bytes or Content-Type.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from vigil.errors import InvalidParameterError

FORMATS = ("parquet", "csv", "tsv", "json", "jsonl")
"""What :func:`read_frame` and :func:`read_arrow` read."""

SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

_CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json": "json",
}

Source = str | Path | bytes


def file_format(
    path: str | Path, fmt: str | None = None, allowed: tuple[str, ...] = FORMATS
) -> str:
    """The format of the file at ``path``: ``fmt`` when given, else from its extension.

    Raises:
        InvalidParameterError: no such file, a folder, an unknown extension or format.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidParameterError(f"no such file: {path}")
    if not path.is_file():
        raise InvalidParameterError(f"{path} is a folder, not a data file")
    if fmt is not None:
        if fmt.lower() not in allowed:
            raise InvalidParameterError(
                f"the format must be one of {', '.join(allowed)}. Got {fmt!r}."
            )
        return fmt.lower()
    found = SUFFIXES.get(path.suffix.lower())
    if found is None or found not in allowed:
        exts = ", ".join(s for s, f in SUFFIXES.items() if f in allowed)
        raise InvalidParameterError(
            f"cannot tell the format of {path.name!r} from its extension; use one of {exts} "
            f"or name the format ({', '.join(allowed)})."
        )
    return found


def body_format(body: bytes, content_type: str | None) -> str:
    """The format of a request body: Parquet by its magic bytes or Content-Type, CSV, TSV
    or JSON lines by Content-Type, JSON records otherwise."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if body[:4] == b"PAR1" or "parquet" in ctype:
        return "parquet"
    return _CONTENT_TYPES.get(ctype, "json")


def read_frame(source: Source, fmt: str | None = None) -> Any:
    """A pandas DataFrame from a file path (format from ``fmt`` or the extension) or from
    bytes (``fmt`` required; see :func:`body_format`)."""
    import pandas as pd

    fmt, name = _resolve(source, fmt)
    data: Any = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        if fmt == "parquet":
            return pd.read_parquet(data)
        if fmt in ("csv", "tsv"):
            return pd.read_csv(data, sep="\t" if fmt == "tsv" else ",")
        if fmt == "jsonl":
            return pd.read_json(data, lines=True)
        return pd.DataFrame.from_records(_json_records(source, name))
    except InvalidParameterError:
        raise
    except Exception as exc:  # pandas and pyarrow raise many types for unreadable data
        raise _unreadable(name, fmt, exc) from None


def read_arrow(source: Source, fmt: str | None = None) -> Any:
    """A pyarrow Table from a file path or bytes (as :func:`read_frame`)."""
    import pyarrow as pa

    fmt, name = _resolve(source, fmt)
    data: Any = pa.BufferReader(source) if isinstance(source, bytes) else str(source)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(data)
        if fmt in ("csv", "tsv"):
            from pyarrow import csv

            return csv.read_csv(
                data, parse_options=csv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
            )
        if fmt == "jsonl":
            from pyarrow import json

            return json.read_json(data)
        return pa.Table.from_pylist(_json_records(source, name))
    except InvalidParameterError:
        raise
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError and friends
        raise _unreadable(name, fmt, exc) from None


def _resolve(source: Source, fmt: str | None) -> tuple[str, str]:
    if isinstance(source, bytes):
        if not source:
            raise InvalidParameterError("The body is empty; send Parquet, CSV or JSON.")
        if fmt not in FORMATS:
            raise InvalidParameterError(
                f"the format must be one of {', '.join(FORMATS)}. Got {fmt!r}."
            )
        return fmt, "the body"
    return file_format(source, fmt), str(source)


def _json_records(source: Source, name: str) -> list[dict[str, Any]]:
    """A JSON list of objects, or ``{"records": [objects]}``."""
    import orjson

    try:
        data = orjson.loads(source if isinstance(source, bytes) else Path(source).read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidParameterError(
            f"cannot read {name} as JSON: {exc}. Send Parquet, CSV (Content-Type: text/csv) "
            'or JSON records ({"records": [{...}, ...]}).'
        ) from None
    if isinstance(data, dict):
        data = data.get("records")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidParameterError(
            f'{name}: JSON data must be a list of objects or {{"records": [objects]}}.'
        )
    return data


def _unreadable(name: str, fmt: str, exc: Exception) -> InvalidParameterError:
    return InvalidParameterError(f"cannot read {name} as {fmt}: {exc}".strip())
