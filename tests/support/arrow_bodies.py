"""Arrow IPC stream bodies for the predictions route, built from JSON-style records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa


def arrow_stream(
    records: list[dict[str, Any]],
    fields: Iterable[str],
    inputs: Iterable[str] = ("age", "plan"),
    types: dict[str, pa.DataType] | None = None,
) -> bytes:
    """One Arrow IPC stream of ``records``: a column per top-level field in ``fields``
    (missing values as nulls) and ``inputs.<name>`` per input, typed by ``types`` where a
    column's values alone would not say (an all-null column)."""
    columns: dict[str, list[Any]] = {key: [r.get(key) for r in records] for key in fields}
    for name in inputs:
        columns[f"inputs.{name}"] = [r["inputs"][name] for r in records]
    types = types or {}
    table = pa.table({k: pa.array(v, type=types.get(k)) for k, v in columns.items()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()
