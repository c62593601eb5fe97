"""Columnar ingest bodies: an Arrow IPC stream turned into the JSON route's records.

``POST /api/v1/models/{m}/predictions`` with ``Content-Type:
application/vnd.apache.arrow.stream`` carries one table whose columns are the fields of a
prediction record: ``id``, ``version``, ``ts``, ``latency_s``, ``error``, ``error_type``,
``subject_id``, ``outputs``, ``proba`` and the inputs, either as one struct column
``inputs`` or as one column per feature named ``inputs.<name>``. Every column is optional
but the inputs (a record without inputs is rejected by the Ingestor, record by record,
as in JSON). :func:`records_from_arrow` converts the table column by column (each
column once, in Arrow's C++ code) into the list of dicts the JSON route hands the
:class:`~vigil.engine.ingest.ingestor.Ingestor`, so both bodies are validated and stored the same.

``ts`` may be a number of Unix seconds or an Arrow timestamp (any unit, with or without
a time zone: naive means UTC); ``latency_s`` a number of seconds or an Arrow duration.
A null field is left out of its record (the Ingestor reads it as null); a null input
is a JSON null. A stream that is not Arrow, has unknown or duplicate columns, or
column types no JSON record could hold (binary) is refused as a whole with a 400 that
names the column and the reason.
"""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING, Any

from vigil.engine.ingest.columns import ABSENT, FIELDS, PredictionColumns, TypedColumn
from vigil.errors import InvalidParameterError

if TYPE_CHECKING:
    import numpy as np

#: The media type of an Arrow IPC stream body.
ARROW_STREAM = "application/vnd.apache.arrow.stream"

_INPUT_PREFIX = "inputs."


def records_from_arrow(body: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The prediction records of an Arrow IPC stream, and whether a float was NaN or ±inf.

    The second value is what the JSON route's parser reports for NaN/Infinity, so the
    Ingestor rejects exactly the records that hold a non-finite number.

    Raises:
        InvalidParameterError: the body is not a readable Arrow IPC stream, or its columns
            are unknown, duplicated, ambiguous or of a type no record field can hold.

    Examples:
        >>> import pyarrow as pa
        >>> table = pa.table({"id": ["a", "b"], "ts": [1700000000.0, 1700000001.5],
        ...                   "inputs.age": [31, None], "outputs": [1, 0]})
        >>> sink = pa.BufferOutputStream()
        >>> with pa.ipc.new_stream(sink, table.schema) as writer:
        ...     writer.write_table(table)
        >>> records, non_finite = records_from_arrow(sink.getvalue().to_pybytes())
        >>> records[1], non_finite
        ({'id': 'b', 'ts': 1700000001.5, 'outputs': 0, 'inputs': {'age': None}}, False)
    """
    table = _read(body)
    names = table.column_names
    _check_names(names)
    n = table.num_rows
    non_finite = False
    columns: dict[str, list[Any]] = {}
    inputs: dict[str, list[Any]] = {}
    struct_inputs: list[Any] | None = None
    for name, column in zip(names, table.columns, strict=True):
        values, bad = _values(name, column)
        non_finite = non_finite or bad
        if name == "inputs":
            struct_inputs = values
        elif name.startswith(_INPUT_PREFIX):
            inputs[name[len(_INPUT_PREFIX) :]] = values
        else:
            columns[name] = values
    keys = list(columns)
    # A null field is left out, as the SDK leaves it out of JSON: the same to the Ingestor.
    records = (
        [
            {k: v for k, v in zip(keys, row, strict=True) if v is not None}
            for row in zip(*columns.values(), strict=True)
        ]
        if keys
        else [{} for _ in range(n)]
    )
    if struct_inputs is not None:
        for rec, value in zip(records, struct_inputs, strict=True):
            rec["inputs"] = value
    elif inputs:
        features = list(inputs)
        for rec, row in zip(records, zip(*inputs.values(), strict=True), strict=True):
            rec["inputs"] = dict(zip(features, row, strict=True))
    return records, non_finite


def columns_from_arrow(body: bytes) -> PredictionColumns:
    """The Arrow IPC stream as columns for the Ingestor's per-column checks.

    The same table :func:`records_from_arrow` reads, left as columns: no record dict is
    built for a record unless a column check flags it. The records holding a NaN or ±inf
    (anywhere, nested values included) are listed, so only they get the deep check.

    Raises:
        InvalidParameterError: as :func:`records_from_arrow`.
    """
    table = _read(body)
    names = table.column_names
    _check_names(names)
    n = table.num_rows
    fields: dict[str, list[Any]] = {}
    inputs: dict[str, list[Any]] = {}
    input_dicts: list[Any] | None = None
    non_finite: set[int] = set()
    arrow_inputs: dict[str, Any] = {}
    floats: list[tuple[TypedColumn, Any]] = []  # float inputs without nulls: checked as one
    for name, column in zip(names, table.columns, strict=True):
        if name.startswith(_INPUT_PREFIX):
            typed = _typed_input(column, non_finite, floats)
            if typed is not None:
                inputs[name[len(_INPUT_PREFIX) :]] = typed  # type: ignore[assignment]  # a Sequence
                arrow_inputs[name[len(_INPUT_PREFIX) :]] = column
                continue
        values, bad = _values(name, column)
        if bad:
            non_finite.update(_non_finite_rows(column.combine_chunks()))
        if name == "inputs":
            input_dicts = values
        elif name.startswith(_INPUT_PREFIX):
            inputs[name[len(_INPUT_PREFIX) :]] = values
        elif column.null_count:
            fields[name] = [ABSENT if v is None else v for v in values]
        else:
            fields[name] = values
    if floats:
        _check_floats(floats, non_finite)
    for name in FIELDS:
        fields.setdefault(name, [ABSENT] * n)
    if input_dicts is not None:
        # the struct's rows are dicts (None where the struct is null: rejected as in JSON)
        cols = PredictionColumns.from_records([{"inputs": v} for v in input_dicts])
        inputs, odd, absent = cols.inputs or {}, cols.odd, cols.absent_inputs
    else:
        odd = set() if inputs else set(range(n))  # no inputs: rejected record by record
        absent = False
    texts = None
    if input_dicts is None and inputs and len(arrow_inputs) == len(inputs) and not non_finite:
        arrays = {
            k: c.array
            for k, c in inputs.items()
            if isinstance(c, TypedColumn) and c.array is not None
        }
        texts = _input_texts(arrow_inputs, arrays, n)
    return PredictionColumns(
        n, fields, inputs, input_dicts, None, odd, non_finite, absent, input_texts=texts
    )


_NONE = type(None)
_ESCAPED = re.compile(rb'["\\\x00-\x1f]')
"""Bytes JSON writes escaped: a string holding one is written by orjson, not spliced."""


def _typed_input(
    column: Any, non_finite: set[int], floats: list[tuple[TypedColumn, Any]]
) -> TypedColumn | None:
    """An input column of numbers, strings or booleans as a :class:`TypedColumn` (its
    values' types read off the Arrow type, numbers also as float64), adding the rows
    that hold a NaN or ±inf to ``non_finite``; None for any other type. A float column's
    Python values are built only if something reads them; one without nulls goes to
    ``floats``, whose arrays :func:`_check_floats` makes and checks all at once."""
    import numpy as np
    import pyarrow as pa

    typ = column.type
    if pa.types.is_dictionary(typ):
        return None
    nulls = frozenset({_NONE}) if column.null_count else frozenset()
    if (pa.types.is_float32(typ) or pa.types.is_float64(typ)) and not nulls:
        typed = TypedColumn(column.to_pylist, frozenset({float}))
        floats.append((typed, column))
        return typed
    if pa.types.is_float32(typ) or pa.types.is_float64(typ):
        array = _numpy(column).astype(np.float64, copy=False)  # nulls: NaN
        bad = ~np.isfinite(array)
        if nulls:
            bad &= _numpy(column.is_valid())
        if bad.any():
            non_finite.update(np.flatnonzero(bad).tolist())
        return TypedColumn(column.to_pylist, frozenset({float}) | nulls, array)
    if pa.types.is_integer(typ):
        ints = _numpy(column)
        array = ints.astype(np.float64)
        values = column.to_pylist() if nulls else ints.tolist()
        return TypedColumn(values, frozenset({int}) | nulls, array)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return TypedColumn(column.to_pylist(), frozenset({str}) | nulls)
    if pa.types.is_boolean(typ):
        return TypedColumn(column.to_pylist(), frozenset({bool}) | nulls)
    return None


def _numpy(column: Any) -> np.ndarray:
    """A chunked column's values as numpy through ``Array.to_numpy`` (no copy for one
    chunk of numbers without nulls) rather than ``ChunkedArray.to_numpy``, which goes
    through Arrow's pandas conversion and its thread pool."""
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return array.to_numpy(zero_copy_only=False)


def _check_floats(floats: list[tuple[TypedColumn, Any]], non_finite: set[int]) -> None:
    """Give the float columns (no nulls) their float64 arrays, rows of one block, and add
    the rows holding a NaN or ±inf in any of them to ``non_finite``: one pass for all."""
    import numpy as np

    block = np.stack([_numpy(column) for _, column in floats]).astype(np.float64, copy=False)
    finite = np.isfinite(block).all(axis=0)
    if not finite.all():
        non_finite.update(np.flatnonzero(~finite).tolist())
    for (typed, _), row in zip(floats, block, strict=True):
        typed.array = row


def _input_texts(
    columns: dict[str, Any], arrays: dict[str, np.ndarray], n: int
) -> list[str] | None:
    """Each row's inputs object as the JSON text orjson writes for its dict, built per
    column rather than per row. None unless every input is a float column, an integer
    column without nulls or a string column without nulls and without a character JSON
    escapes (then the rows' dicts are written one by one, as for a JSON body).

    The float columns go through orjson once, as one float64 block, the integer ones as
    one int64 block (:func:`_number_texts`); Arrow then joins each row's pieces between
    the keys. A null float is NaN in the block, which orjson writes as ``null``, as it
    writes the None of a JSON body; a NaN or ±inf sent as a value flags its record for
    the per-record check, which builds that batch's rows the other way."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not columns or not n:
        return None
    floats: list[str] = []
    ints: list[str] = []
    pieces: dict[str, Any] = {}
    wide = False
    for name, column in columns.items():
        typ = column.type
        if pa.types.is_float32(typ) or pa.types.is_float64(typ):
            floats.append(name)
        elif _fits_int64(typ) and not column.null_count:
            ints.append(name)
        elif (pa.types.is_string(typ) or pa.types.is_large_string(typ)) and not column.null_count:
            array = column.combine_chunks()
            data = array.buffers()[2]
            if data is not None and _ESCAPED.search(memoryview(data)) is not None:
                return None
            large = pa.types.is_large_string(typ)
            wide = wide or large
            pieces[name] = array.view(pa.large_binary() if large else pa.binary())
        else:
            return None
    for group, block in (
        (floats, lambda: np.stack([arrays[k] for k in floats])),
        (ints, lambda: np.stack([_numpy(columns[k]).astype(np.int64) for k in ints])),
    ):
        if group:
            numbers = _number_texts(block())
            if numbers is None:
                return None
            for j, name in enumerate(group):
                pieces[name] = numbers.slice(j * n, n)  # each value with its comma
    bare = set(floats) | set(ints)
    names = list(columns)
    if names[-1] in bare:  # the last value closes the object: no comma after it
        pieces[names[-1]] = pc.binary_slice(pieces[names[-1]], 0, -1)
    literals = _literals(tuple((k, k not in bare) for k in names), wide)
    args = [x for pair in zip(literals[:-1], (pieces[k] for k in names), strict=True) for x in pair]
    if wide:
        args = [
            a.cast(pa.large_binary()) if not pa.types.is_large_binary(a.type) else a for a in args
        ]
    joined = pc.binary_join_element_wise(*args, literals[-1], pa.scalar(b""))
    return joined.cast(pa.large_string() if wide else pa.string()).to_pylist()


def _number_texts(block: np.ndarray) -> Any:
    """The JSON text of each number of a (columns × rows) block, each followed by a
    comma, as one Arrow binary array (column after column): orjson writes the block
    once, and without its brackets that text is the values with their commas, so the
    commas' positions are the array's offsets (no copy). None if it does not split
    into one value per number (it always does for numbers)."""
    import numpy as np
    import orjson
    import pyarrow as pa

    text = orjson.dumps(block, option=orjson.OPT_SERIALIZE_NUMPY).translate(None, b"[]") + b","
    commas = np.flatnonzero(np.frombuffer(text, np.uint8) == ord(","))
    if commas.size != block.size or len(text) >= 2**31:
        return None
    offsets = np.empty(commas.size + 1, np.int32)
    offsets[0] = 0
    offsets[1:] = commas + 1
    return pa.Array.from_buffers(
        pa.binary(), commas.size, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )


def _fits_int64(typ: Any) -> bool:
    """Whether an Arrow integer type's values all fit an int64 (what orjson writes)."""
    import pyarrow as pa

    return bool(pa.types.is_signed_integer(typ)) or typ in (pa.uint8(), pa.uint16(), pa.uint32())


@functools.lru_cache(maxsize=64)
def _literals(keys: tuple[tuple[str, bool], ...], wide: bool) -> tuple[Any, ...]:
    """The texts between the values of a row: ``{"key":`` before the first, the next key
    after each (a float value brings its comma, a string value its closing quote is
    here), ``}`` at the end; as Arrow scalars, made once per set of columns."""
    import orjson
    import pyarrow as pa

    out = []
    before = b"{"
    for key, quoted in keys:
        out.append(before + orjson.dumps(key) + (b':"' if quoted else b":"))
        before = b'",' if quoted else b""
    out.append(b'"}' if keys[-1][1] else b"}")
    kind = pa.large_binary() if wide else pa.binary()
    return tuple(pa.scalar(x, kind) for x in out)


def _read(body: bytes) -> Any:
    import pyarrow as pa

    try:
        # one batch of a few thousand rows: Arrow's thread pool would only add hand-offs
        options = pa.ipc.IpcReadOptions(use_threads=False)
        with pa.ipc.open_stream(pa.py_buffer(body), options=options) as reader:
            return reader.read_all()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidParameterError(
            f"The body is not a readable Arrow IPC stream ({ARROW_STREAM}): {exc}. "
            "Write it with pyarrow.ipc.new_stream (not the file format).",
            details={"field": "body"},
        ) from None


def _non_finite_rows(array: Any) -> list[int]:
    """The rows of an Arrow array holding a NaN or ±inf, nested values included."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = array.type
    if pa.types.is_dictionary(typ):
        array = array.cast(typ.value_type)
        typ = typ.value_type
    if pa.types.is_floating(typ):
        bad = pc.fill_null(pc.invert(pc.is_finite(array)), False)
        return np.flatnonzero(bad.to_numpy(zero_copy_only=False)).tolist()
    if pa.types.is_struct(typ):
        rows: set[int] = set()
        for child in array.flatten():
            rows.update(_non_finite_rows(child))
        return sorted(rows)
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        inner = _non_finite_rows(pc.list_flatten(array))
        return sorted(set(parents[inner].tolist())) if inner else []
    if pa.types.is_decimal(typ):
        return []
    return [i for i, v in enumerate(_values("", pa.chunked_array([array]))[0]) if _bad(v)]


def _bad(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list | tuple | dict):
        items = value.values() if isinstance(value, dict) else value
        return any(_bad(v) for v in items)
    return False


def _check_names(names: list[str]) -> None:
    seen: set[str] = set()
    duplicates = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if duplicates:
        raise InvalidParameterError(
            f"The Arrow stream has duplicate columns {duplicates}; each field once.",
            details={"field": duplicates[0]},
        )
    unknown = sorted(
        n
        for n in names
        if n not in FIELDS
        and n != "inputs"
        and not (n.startswith(_INPUT_PREFIX) and len(n) > len(_INPUT_PREFIX))
    )
    if unknown:
        allowed = [*FIELDS, "inputs", "inputs.<name>"]
        raise InvalidParameterError(
            f"The Arrow stream has unknown columns {unknown}; allowed: {allowed}.",
            details={"field": unknown[0]},
        )
    if "inputs" in names and any(n.startswith(_INPUT_PREFIX) for n in names):
        raise InvalidParameterError(
            "The Arrow stream has both an 'inputs' struct column and 'inputs.<name>' "
            "columns; send the inputs one way.",
            details={"field": "inputs"},
        )


def _values(name: str, column: Any) -> tuple[list[Any], bool]:
    """The column as Python values (JSON-like), and whether it held a NaN or ±inf."""
    import pyarrow as pa

    typ = column.type
    if pa.types.is_dictionary(typ):
        column = column.cast(typ.value_type)
        typ = typ.value_type
    if _has_binary(typ):
        raise InvalidParameterError(
            f"The Arrow column '{name}' has type {typ}; binary values cannot be stored. "
            "Send text as strings.",
            details={"field": name},
        )
    if name == "ts" and pa.types.is_timestamp(typ):
        return _scaled(column.cast(pa.int64()), _UNIT_S[typ.unit]), False
    if name == "latency_s" and pa.types.is_duration(typ):
        return _scaled(column.cast(pa.int64()), _UNIT_S[typ.unit]), False
    if pa.types.is_decimal(typ):
        column = column.cast(pa.float64())
        typ = pa.float64()
    if pa.types.is_temporal(typ):
        raise InvalidParameterError(
            f"The Arrow column '{name}' has type {typ}; only 'ts' may be a timestamp and "
            "'latency_s' a duration. Send numbers or strings.",
            details={"field": name},
        )
    if pa.types.is_float64(typ) and not column.null_count:  # ts, latency_s: numpy, one pass
        import numpy as np

        array = _numpy(column)
        return array.tolist(), not bool(np.isfinite(array).all())
    non_finite = _nested_non_finite(column)
    values = column.to_pylist()
    if _has_map(typ):
        values = [_maps_to_dicts(v) for v in values]
    return values, non_finite


_UNIT_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def _scaled(ints: Any, unit_s: float) -> list[float | None]:
    return [None if v is None else v * unit_s for v in ints.to_pylist()]


def _has_binary(typ: Any) -> bool:
    import pyarrow as pa

    if (
        pa.types.is_binary(typ)
        or pa.types.is_large_binary(typ)
        or pa.types.is_fixed_size_binary(typ)
    ):
        return True
    return (
        any(_has_binary(typ.field(i).type) for i in range(typ.num_fields))
        if pa.types.is_nested(typ)
        else False
    )


def _has_map(typ: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_map(typ):
        return True
    return (
        any(_has_map(typ.field(i).type) for i in range(typ.num_fields))
        if pa.types.is_nested(typ)
        else False
    )


def _maps_to_dicts(value: Any) -> Any:
    """Arrow maps come back as lists of (key, value) pairs: make them JSON objects."""
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): _maps_to_dicts(v) for k, v in value}
        return [_maps_to_dicts(v) for v in value]
    if isinstance(value, dict):
        return {k: _maps_to_dicts(v) for k, v in value.items()}
    return value


def _nested_non_finite(column: Any) -> bool:
    """Whether a column holds a NaN or ±inf anywhere, nested ones included."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = column.type
    if pa.types.is_floating(typ):
        return bool(pc.sum(pc.invert(pc.is_finite(column)).cast(pa.int64())).as_py() or 0)
    if pa.types.is_struct(typ):
        return any(_nested_non_finite(child) for child in column.flatten())
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return _nested_non_finite(pc.list_flatten(column))
    if pa.types.is_map(typ):  # rare: look at the values themselves

        def bad(value: Any) -> bool:
            if isinstance(value, float):
                return not math.isfinite(value)
            if isinstance(value, list | tuple | dict):
                items = value.values() if isinstance(value, dict) else value
                return any(bad(v) for v in items)
            return False

        return any(bad(v) for v in column.to_pylist())
    return False
