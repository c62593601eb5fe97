"""Prediction batches as columns, validated per column instead of per record.

A batch arrives as a list of JSON records or as an Arrow table. Either way it is turned
into one list per field (``id``, ``ts``, ...) and one per input feature, once, and each
column is checked as a whole: the set of its value types, numpy for the numbers (finite,
in range), the lengths and NUL characters of its strings. A record is looked at on its
own only when a column says one of its values needs it (a wrong type, a value out of
range, an error message to derive a kind from, a nested value): those records, and only
those, go through the record-by-record check of
:mod:`vigil.engine.ingest.ingestor`, which writes the same per-field rejections as
always. Every other record is built straight from the columns.

So a clean batch costs a few passes in C per column, and a batch with bad records answers
exactly as the record-by-record path would: the flagged set is a superset of the records
that path rejects, and for the others both paths build the same row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from vigil.schema import FeatureKind, ModelSchema
from vigil.store.ingest.rows import ROW_FIELDS

ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()
"""The value of a field a record does not have (JSON), told apart from an explicit null."""

FIELDS = tuple(name for name in ROW_FIELDS if name != "inputs")
"""The per-record fields besides the inputs, in the order rows hold them."""
_ALLOWED = frozenset((*FIELDS, "inputs"))
_NONE, _ABSENT_T = type(None), type(ABSENT)
_EMPTY = frozenset({_NONE, _ABSENT_T})
_NUMBERS = frozenset({float, int, _NONE, _ABSENT_T})
_STRINGS = frozenset({str, _NONE, _ABSENT_T})
_CATEGORIES = frozenset({str, int, bool, _NONE, _ABSENT_T})
_SCALAR_OUTPUTS = frozenset({float, bool, int, _NONE, _ABSENT_T})


class TypedColumn(Sequence[Any]):
    """An input column whose values' Python types are known without looking at each one
    (an Arrow column of a primitive type), with its float64 array (NaN for a null) when
    it holds numbers: the column checks take both instead of passes over the values. The
    values themselves are built only when something reads them (``values``: a list, or a
    function that makes it)."""

    __slots__ = ("_make", "_values", "array", "types")

    def __init__(
        self,
        values: list[Any] | Callable[[], list[Any]],
        types: frozenset[type],
        array: np.ndarray | None = None,
    ) -> None:
        self._values: list[Any] | None = values if isinstance(values, list) else None
        self._make = None if isinstance(values, list) else values
        self.types = types
        self.array = array

    def values(self) -> list[Any]:
        """The column's values as Python objects (built on first use)."""
        if self._values is None:
            assert self._make is not None
            self._values = self._make()
        return self._values

    def __len__(self) -> int:
        return len(self.values())

    def __getitem__(self, i: Any) -> Any:
        return self.values()[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values())


@dataclass
class PredictionColumns:
    """One batch of prediction records as columns (see the module docstring).

    ``fields`` maps a record field to its values (:data:`ABSENT` where a JSON record lacks
    it; Arrow nulls are absent too, as the SDK leaves a null field out of JSON).
    ``inputs`` maps each input name to its values when the records' inputs can be told as
    columns (:data:`ABSENT` where a record lacks that input), or is None, and
    ``input_dicts`` holds each record's inputs object when it arrived as one (JSON), so it
    is stored as it came. ``odd`` lists records that must be checked on their own whatever
    their columns say (not an object, unknown fields, inputs that are not an object), and
    ``non_finite`` those holding a NaN or ±inf; ``absent_inputs`` says some record
    lacks an input another one has.
    """

    n: int
    fields: dict[str, list[Any]]
    inputs: dict[str, list[Any]] | None
    input_dicts: list[Any] | None = None
    records: Sequence[Any] | None = None
    odd: set[int] = field(default_factory=set)
    non_finite: set[int] = field(default_factory=set)
    absent_inputs: bool = False  # some record lacks an input others have
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # numeric inputs, by the checks
    input_texts: list[str] | None = None  # each record's inputs as JSON text (Arrow bodies)

    def input_columns(self, index: list[int] | None) -> dict[str, list[Any]] | None:
        """The inputs as columns for the rollups (None for a missing value), of the records
        at ``index`` (None: all of them)."""
        if self.inputs is None:
            return None
        arrays = self.arrays
        out: dict[str, Any] = {
            k: c.values() if isinstance(c, TypedColumn) and k not in arrays else c
            for k, c in self.inputs.items()
        }
        if self.absent_inputs:
            out = {k: [None if v is ABSENT else v for v in c] for k, c in out.items()}
        out.update(self.arrays)  # the numeric ones as checked: float64, NaN when missing
        if index is not None:
            pick = np.asarray(index, dtype=np.intp)
            out = {
                k: c[pick] if isinstance(c, np.ndarray) else [c[i] for i in index]
                for k, c in out.items()
            }
        return out

    def record(self, i: int) -> Any:
        """Record ``i`` as the JSON route would have it (built from the columns if need be)."""
        if self.records is not None:
            return self.records[i]
        rec = {k: v[i] for k, v in self.fields.items() if v[i] is not None and v[i] is not ABSENT}
        if self.input_dicts is not None:
            rec["inputs"] = self.input_dicts[i]
        elif self.inputs is not None:
            rec["inputs"] = {k: v[i] for k, v in self.inputs.items() if v[i] is not ABSENT}
        return rec

    def record_list(self) -> Sequence[Any]:
        """All records, lazily built (for the per-record paths that index them)."""
        return self.records if self.records is not None else _LazyRecords(self)

    @classmethod
    def from_records(cls, records: list[Any]) -> PredictionColumns:
        """Transpose JSON records into columns, in one pass per field."""
        n = len(records)
        odd: set[int] = set()
        dicts: list[Any] = records
        if set(map(type, records)) - {dict}:
            odd.update(i for i, r in enumerate(records) if type(r) is not dict)
            dicts = [r if type(r) is dict else {} for r in records]
        fields = _same_keys(dicts)  # the usual batch: one pass, the inputs column included
        keys: set[str] = set(fields) if fields is not None else set().union(*dicts)
        if not _ALLOWED.issuperset(keys):
            odd.update(i for i, r in enumerate(dicts) if not _ALLOWED.issuperset(r))
        if fields is None:
            fields = _transpose(dicts, [f for f in (*FIELDS, "inputs") if f in keys])[0]
        input_dicts = fields.pop("inputs", None) or [ABSENT] * n
        for f in FIELDS:
            if f not in fields:
                fields[f] = [ABSENT] * n
        objects = input_dicts
        if set(map(type, input_dicts)) - {dict}:
            odd.update(i for i, v in enumerate(input_dicts) if type(v) is not dict)
            objects = [v if type(v) is dict else {} for v in input_dicts]
        inputs, complete = _transpose(objects, None)
        return cls(n, fields, inputs, input_dicts, records, odd, absent_inputs=not complete)


class _LazyRecords(Sequence[Any]):
    """The records of a columnar batch, each built when indexed."""

    def __init__(self, columns: PredictionColumns) -> None:
        self._columns = columns

    def __len__(self) -> int:
        return self._columns.n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._columns.record(j) for j in range(self._columns.n)[i]]
        return self._columns.record(i)

    def __iter__(self) -> Iterator[Any]:
        return (self._columns.record(i) for i in range(self._columns.n))


def _same_keys(dicts: list[dict[str, Any]]) -> dict[str, list[Any]] | None:
    """The columns of ``dicts`` when every one has the keys of the first (one pass in C),
    else None. Equal sizes and every key of the first found means the same key set."""
    if not dicts or len(set(map(len, dicts))) != 1:
        return None
    names = list(dicts[0])
    if not names:
        return {}
    try:
        rows = list(map(itemgetter(*names), dicts))
    except KeyError:
        return None
    if len(names) == 1:
        return {names[0]: rows}
    return {k: list(col) for k, col in zip(names, zip(*rows, strict=True), strict=True)}


def _transpose(
    dicts: list[dict[str, Any]], names: list[str] | None
) -> tuple[dict[str, list[Any]], bool]:
    """Columns of ``names`` (or of every key seen, in first-seen order) over ``dicts``,
    and whether every dict had every name (else :data:`ABSENT` fills the gaps)."""
    if not dicts:
        return {k: [] for k in names or ()}, True
    if names is None:
        names = list(dicts[0])
        if not names or len(set(map(len, dicts))) != 1:
            names = list(dict.fromkeys(k for d in dicts for k in d))
    if not names:
        return {}, True
    try:  # every dict has every name: transposed in C
        rows = list(map(itemgetter(*names), dicts))
    except KeyError:
        names = list(dict.fromkeys([*names, *(k for d in dicts for k in d)]))
        return {k: [d.get(k, ABSENT) for d in dicts] for k in names}, False
    if len(names) == 1:
        return {names[0]: rows}, True
    return {k: list(col) for k, col in zip(names, zip(*rows, strict=True), strict=True)}, True


@dataclass
class Checked:
    """What the column checks found: the records the per-record path must check
    (``slow``), and whether any record names an input the schema does not know."""

    slow: set[int]
    unknown_inputs: bool  # some record has an input the schema does not know


def check_columns(
    cols: PredictionColumns,
    schema: ModelSchema,
    *,
    now: float,
    future_slack_s: float,
    max_chars: int,
    strict: bool,
    limits: Mapping[str, int],
) -> Checked:
    """Check a batch column by column; return the records the per-record path must see.

    A record is flagged when any of its values is not of the common, clearly valid shape
    (the per-record path then accepts or rejects it with the usual field and reason).
    """
    n = cols.n
    slow = set(cols.odd) | cols.non_finite
    f = cols.fields
    _strings(f["id"], 1, limits["id"], slow, nullable=True)
    _strings(f["version"], 1, limits["version"], slow, nullable=True, null_ok=False)
    _strings(f["subject_id"], 1, 200, slow, nullable=True)
    _numbers(f["ts"], slow, low=0.0, low_open=True, high=now + future_slack_s)
    _numbers(f["latency_s"], slow, low=0.0, low_open=False, high=None)
    for key in ("error", "error_type"):  # a message or kind: derived and trimmed per record
        column = f[key]
        if not _EMPTY.issuperset(set(map(type, column))):
            slow.update(i for i, v in enumerate(column) if v is not None and v is not ABSENT)
    for key in ("outputs", "proba"):
        _outputs(f[key], max_chars, slow)
    unknown = False
    if cols.inputs is None:
        slow.update(range(n))
    else:
        known = set(schema.feature_names)
        unknown = not known.issuperset(cols.inputs)
        if unknown and strict:
            for name, column in cols.inputs.items():
                if name not in known:
                    slow.update(i for i, v in enumerate(column) if v is not ABSENT)
        for feat in schema.features:
            values = cols.inputs.get(feat.name)
            if values is None:
                if strict and feat.required:
                    slow.update(range(n))
                continue
            _input(
                values,
                feat.kind,
                feat.required and strict,
                max_chars,
                slow,
                schema,
                feat.name,
                cols.arrays,
            )
    return Checked(slow, unknown)


def _strings(
    column: list[Any],
    low: int,
    high: int,
    slow: set[int],
    *,
    nullable: bool,
    null_ok: bool = True,
) -> None:
    """Flag values that are not strings of ``low``..``high`` characters without NUL."""
    types = set(map(type, column))
    allowed = {str, _ABSENT_T, _NONE} if null_ok else {str, _ABSENT_T}
    if not nullable:
        allowed.discard(_ABSENT_T)
    if not allowed.issuperset(types):
        slow.update(i for i, v in enumerate(column) if type(v) not in allowed)
    if str not in types:
        return
    strs = [v if type(v) is str else "x" for v in column] if len(types) > 1 else column
    lengths = np.fromiter(map(len, strs), dtype=np.int64, count=len(strs))
    bad = (lengths < low) | (lengths > high)
    if bad.any():
        slow.update(np.flatnonzero(bad).tolist())
    if "\x00" in "".join(strs):
        slow.update(i for i, v in enumerate(strs) if "\x00" in v)


def _numbers(
    column: list[Any], slow: set[int], *, low: float, low_open: bool, high: float | None
) -> None:
    """Flag values that are not finite numbers in range (None and absent pass)."""
    types = set(map(type, column))
    if not _NUMBERS.issuperset(types):
        slow.update(i for i, v in enumerate(column) if type(v) not in _NUMBERS)
    if not types & {float, int}:
        return
    values = np.array(
        [v if type(v) is float or type(v) is int else 1.0 for v in column]
        if types - {float, int}
        else column,
        dtype=np.float64,
    )
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values <= low if low_open else values < low)
        if high is not None:
            bad |= values > high
    if bad.any():
        slow.update(np.flatnonzero(bad).tolist())


def _outputs(column: list[Any], max_chars: int, slow: set[int]) -> None:
    """Flag outputs that might not be storable: long strings, NUL, nested values with a
    problem (the per-record path says which); non-finite floats come flagged already."""
    from vigil.engine.ingest.payload import field_problem

    types = set(map(type, column))
    if _SCALAR_OUTPUTS.issuperset(types):
        if float in types:
            _finite_floats(column, slow, types)
        return
    for i, v in enumerate(column):
        kind = type(v)
        if kind in _SCALAR_OUTPUTS:
            if kind is float and v - v != 0.0:
                slow.add(i)
        elif kind is str:
            if len(v) > max_chars or "\x00" in v:
                slow.add(i)
        elif field_problem(v, max_chars, slow=False) is not None:
            slow.add(i)


def _finite_floats(column: list[Any], slow: set[int], types: set[type] | None = None) -> None:
    """Flag the floats that are NaN or ±inf (other values are not looked at)."""
    if types is not None and types <= {float, int}:
        values = np.array(column, dtype=np.float64)  # ints of 64 bits at most: they fit
    else:
        values = np.array([v if type(v) is float else 0.0 for v in column], dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        slow.update(np.flatnonzero(bad).tolist())


def _input(
    column: Sequence[Any],
    kind: FeatureKind,
    required: bool,
    max_chars: int,
    slow: set[int],
    schema: ModelSchema,
    name: str,
    arrays: dict[str, np.ndarray],
) -> None:
    """Flag the input values the per-record check must look at; a numeric input's values
    go to ``arrays`` as float64 (NaN for a missing value) for the rollups."""
    typed = column if isinstance(column, TypedColumn) else None
    types = typed.types if typed is not None else set(map(type, column))
    if typed is not None and (kind is not FeatureKind.NUMERIC or typed.array is None):
        column = typed.values()
    if required and _ABSENT_T in types:
        slow.update(i for i, v in enumerate(column) if v is ABSENT)
    if kind is FeatureKind.NUMERIC:
        if not _NUMBERS.issuperset(types):
            slow.update(i for i, v in enumerate(column) if type(v) not in _NUMBERS)
        if typed is not None and typed.array is not None:
            values = typed.array
        elif types <= {float, int, _NONE}:
            values = np.array(column, dtype=np.float64)  # None: NaN
        else:
            values = np.array(
                [v if type(v) is float or type(v) is int else None for v in column],
                dtype=np.float64,
            )
        if float in types and typed is None:  # an Arrow column's NaN rows came flagged
            bad = ~np.isfinite(values)
            if bad.any():
                # a NaN here is a null unless the value itself is a float (NaN)
                slow.update(i for i in np.flatnonzero(bad).tolist() if type(column[i]) is float)
        arrays[name] = values
    elif kind is FeatureKind.CATEGORICAL or kind is FeatureKind.TEXT:
        allowed = _CATEGORIES if kind is FeatureKind.CATEGORICAL else _STRINGS
        if not allowed.issuperset(types):
            slow.update(i for i, v in enumerate(column) if type(v) not in allowed)
        if str in types:
            strs = [v if type(v) is str else "" for v in column] if len(types) > 1 else column
            if max(map(len, strs)) > max_chars:
                slow.update(i for i, v in enumerate(strs) if len(v) > max_chars)
            if "\x00" in "".join(strs):
                slow.update(i for i, v in enumerate(strs) if "\x00" in v)
    else:  # embeddings: each vector checked as the schema does
        check: Callable[[Any], str | None] = schema._by_name[name][1]
        for i, v in enumerate(column):
            if v is not None and v is not ABSENT and check(v) is not None:
                slow.add(i)
