"""Columnar prediction batches: an Arrow IPC stream instead of JSON (background only).

When pyarrow is installed (``vigil[sdk-arrow]``, or any environment that has it) and the
transport is HTTP to a server off this machine (or ``HttpTransport(columnar=True)``), the
sender encodes prediction batches as one Arrow table: each
field and each input feature is one column, so its name travels once per batch instead
of once per record, and the values are copied into typed buffers in C. The server reads
it on the same route as JSON (``Content-Type: application/vnd.apache.arrow.stream``,
:mod:`vigil.server.arrow_body`) into the same records, so both bodies store the same rows.

A record goes into the table only when it keeps its exact JSON meaning there: every
column must hold values of one Python type (``bool``, ``int``, ``float`` or ``str``, or
None; ``proba`` a list of floats) and every record the same input names. The records
that do not fit (a feature that is an int in one record and a float in the next, nested
inputs, an extra input, a numpy scalar...) are sent as JSON beside the table, so no
value ever changes type on the way. Without pyarrow everything is JSON.

The body starts with Arrow's continuation marker ``0xFFFFFFFF`` (a JSON body starts with
``{``), which is how the transport, the spool and the retry paths tell the two apart.
"""

from __future__ import annotations

import functools
import importlib.util
from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

#: The media type of an Arrow IPC stream body.
ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: Record fields sent as top-level columns (``inputs`` becomes ``inputs.<name>`` columns).
_FIELDS = (
    "id",
    "version",
    "ts",
    "latency_s",
    "error",
    "error_type",
    "subject_id",
    "outputs",
    "proba",
)
_SCALARS = (bool, int, float, str)
_NONE = type(None)


@functools.cache
def arrow_available() -> bool:
    """Whether pyarrow can be imported (checked without importing it)."""
    return importlib.util.find_spec("pyarrow") is not None


def is_columnar(body: bytes) -> bool:
    """Whether an encoded body is an Arrow IPC stream (else it is JSON).

    Examples:
        >>> is_columnar(b'{"records": []}'), is_columnar(b"\\xff\\xff\\xff\\xff")
        (False, True)
    """
    return body[:1] == b"\xff"


def split_columnar(records: list[dict[str, Any]]) -> tuple[bytes | None, list[dict[str, Any]]]:
    """Encode the records that fit one Arrow table; return its body (None when none fit,
    or pyarrow is missing) and the records left for JSON, in their order.

    Examples:
        >>> recs = [{"id": "a", "ts": 1.5, "inputs": {"x": 1.0}, "outputs": 1},
        ...         {"id": "b", "ts": 2.5, "inputs": {"x": 2}, "outputs": 0},
        ...         {"id": "c", "ts": 3.5, "inputs": {"x": 3.0}, "outputs": 1}]
        >>> body, rest = split_columnar(recs)
        >>> [r["id"] for r in records_from_columnar(body)], [r["id"] for r in rest]
        (['a', 'c'], ['b'])
    """
    if not records or not arrow_available():
        return None, records
    inputs = [r.get("inputs") for r in records]
    odd: set[int] = set()
    names, values = _input_columns(inputs, odd)
    if not names or "" in names:
        return None, records  # no inputs to make columns of: JSON says it as it is
    columns: dict[str, Sequence[Any]] = {
        field: [r.get(field) for r in records] for field in _FIELDS
    }
    for name, column in zip(names, values, strict=True):
        columns["inputs." + name] = column
    kinds = {key: _kind(key, column, odd) for key, column in columns.items()}
    rest = []
    if odd:
        keep = [i for i in range(len(records)) if i not in odd]
        if not keep:
            return None, records
        columns = {key: [column[i] for i in keep] for key, column in columns.items()}
        rest = [records[i] for i in sorted(odd)]
    body = _encode(columns, kinds)
    return (body, rest) if body is not None else (None, records)


def _input_columns(inputs: list[Any], odd: set[int]) -> tuple[tuple[str, ...], list[Sequence[Any]]]:
    """The input names most records have (in the first such record's order) and their
    columns; the records with other names, or no dict of inputs, are added to ``odd``
    (their cells hold None)."""
    first = inputs[0]
    if (
        type(first) is dict
        and first
        and set(map(type, inputs)) == {dict}
        and len(set(map(len, inputs))) == 1
    ):
        names = tuple(first)
        try:  # the usual case: the same names everywhere, transposed in C
            rows = list(map(itemgetter(*names), inputs))
        except KeyError:
            pass
        else:
            return names, list(zip(*rows, strict=True)) if len(names) > 1 else [rows]
    shapes = Counter(tuple(i) if type(i) is dict else None for i in inputs)
    shape = max((s for s in shapes if s is not None), key=lambda s: shapes[s], default=None)
    if shape is None:
        odd.update(range(len(inputs)))
        return (), []
    keys = set(shape)
    odd.update(i for i, row in enumerate(inputs) if type(row) is not dict or row.keys() != keys)
    return shape, [
        [None if i in odd else row[name] for i, row in enumerate(inputs)] for name in shape
    ]


def _kind(key: str, values: Sequence[Any], odd: set[int]) -> Any:
    """The column's value type: the most common one among its non-null values; records
    holding another type are added to ``odd``. Returns a Python type, ``list`` (a list of
    floats: proba) or None (all null)."""
    types = set(map(type, values))
    types.discard(_NONE)
    if len(types) == 1:
        (kind,) = types
        if kind in _SCALARS:
            return kind
        if kind is list and key == "proba":
            odd.update(
                i
                for i, v in enumerate(values)
                if v is not None and not all(type(x) is float for x in v)
            )
            return list
    elif not types:
        return None
    counts = Counter(t for t in map(type, values) if t is not _NONE)
    fits = [t for t in counts if t in _SCALARS]
    common = max(fits, key=lambda t: counts[t]) if fits else None
    odd.update(i for i, v in enumerate(values) if v is not None and type(v) is not common)
    return common


def _encode(columns: dict[str, Sequence[Any]], kinds: dict[str, Any]) -> bytes | None:
    import pyarrow as pa

    types = {
        bool: pa.bool_(),
        int: pa.int64(),
        float: pa.float64(),
        str: pa.string(),
        list: pa.list_(pa.float64()),
        None: pa.null(),
    }
    arrays, names = [], []
    for key, values in columns.items():
        kind = kinds[key]
        if kind is None and not key.startswith("inputs.") and key != "outputs":
            continue  # a field null in every record: left out, as in JSON
        try:
            arrays.append(pa.array(values, type=types[kind]))
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            return None  # an int beyond 64 bits, ...: JSON can still carry it
        names.append(key)
    table = pa.Table.from_arrays(arrays, names=names)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def records_from_columnar(body: bytes) -> list[dict[str, Any]]:
    """The prediction records of a body made by :func:`split_columnar` (retries, the
    spool, a server that refuses Arrow: they go out again as JSON)."""
    import pyarrow as pa

    with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
        table = reader.read_all()
    fields = [n for n in table.column_names if not n.startswith("inputs.")]
    features = [n for n in table.column_names if n.startswith("inputs.")]
    field_values = [table.column(n).to_pylist() for n in fields]
    feature_values = [table.column(n).to_pylist() for n in features]
    names = [n[len("inputs.") :] for n in features]
    records = []
    for i in range(table.num_rows):
        rec = {f: v[i] for f, v in zip(fields, field_values, strict=True) if v[i] is not None}
        rec["inputs"] = {n: v[i] for n, v in zip(names, feature_values, strict=True)}
        records.append(rec)
    return records
