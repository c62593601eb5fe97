"""A mergeable profile of a table: one :class:`ColumnProfile` per column."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vigil.errors import InvalidParameterError
from vigil.profile import serde
from vigil.profile.column import ColumnProfile
from vigil.profile.ingest import profile_column
from vigil.schema import FeatureKind, ModelSchema


class Profile:
    """Per-column counts, moments and sketches of a table, mergeable and serialisable.

    Build one with :meth:`from_columns`, :meth:`from_frame` or :meth:`from_records`;
    combine profiles of disjoint row sets with :meth:`merge`; store them with
    :meth:`to_bytes`. Every column satisfies ``count + null_count == n_rows``; a column
    absent from one side of a merge counts that side's rows as nulls.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> a = Profile.from_columns({"age": rng.normal(40, 5, 1000), "plan": ["a", "b"] * 500})
        >>> b = Profile.from_records([{"age": 50.0, "plan": "c"}, {"plan": None}])
        >>> p = a.merge(b)
        >>> p.n_rows, p.columns["age"].null_count, p.columns["plan"].frequent_items(1)
        (1002, 1, [('a', 500)])
        >>> round(p.columns["age"].mean, 1), Profile.from_bytes(p.to_bytes()).n_rows
        (39.8, 1002)
    """

    __slots__ = ("_columns", "_n_rows")

    def __init__(self, n_rows: int = 0, columns: Mapping[str, ColumnProfile] | None = None):
        self._n_rows = int(n_rows)
        self._columns = dict(columns or {})

    @property
    def n_rows(self) -> int:
        """Number of rows profiled."""
        return self._n_rows

    @property
    def columns(self) -> dict[str, ColumnProfile]:
        """Column profiles by name (a copy of the mapping; treat the profiles as read-only)."""
        return dict(self._columns)

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self._columns[name]
        except KeyError:
            raise InvalidParameterError(
                f"The profile has no column {name!r}. Columns: {sorted(self._columns)}."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __len__(self) -> int:
        return len(self._columns)

    def _repr_html_(self) -> str:
        """Jupyter's inline view: one row per column with a small histogram (offline)."""
        from vigil.report.notebook import profile_html

        return profile_html(self)

    def __repr__(self) -> str:
        return f"Profile(n_rows={self._n_rows}, columns={list(self._columns)})"

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_columns(
        cls,
        columns: Mapping[str, Any],
        kinds: Mapping[str, FeatureKind | str] | None = None,
    ) -> Profile:
        """Profile a mapping of column name to values.

        Args:
            columns: name to values; values are numpy arrays (2-D for embeddings), lists,
                pandas/polars Series or pyarrow arrays, all of the same length.
            kinds: optional kind per column (``"numeric"``, ``"categorical"``, ``"text"``,
                ``"embedding"``); columns not named are inferred from their type or values.

        Raises:
            InvalidParameterError: columns of different lengths, an unknown kind, or values
                that do not fit the column's kind.
        """
        if not isinstance(columns, Mapping):
            raise InvalidParameterError(
                f"'columns' must be a mapping of name to values. Got {type(columns).__name__}."
            )
        kinds = dict(kinds or {})
        unknown = sorted(set(kinds) - set(columns))
        if unknown:
            raise InvalidParameterError(
                f"'kinds' names columns that are not given: {unknown}. Columns: {sorted(columns)}."
            )
        profiled: dict[str, ColumnProfile] = {}
        n_rows: int | None = None
        for name, values in columns.items():
            if not isinstance(name, str):
                raise InvalidParameterError(f"Column names must be strings. Got {name!r}.")
            col = profile_column(name, values, kinds.get(name))
            rows = col.count + col.null_count
            if n_rows is None:
                n_rows = rows
            elif rows != n_rows:
                raise InvalidParameterError(
                    f"All columns must have the same length. Column {name!r} has {rows} "
                    f"values, the first column has {n_rows}."
                )
            profiled[name] = col
        return cls(n_rows or 0, profiled)

    @classmethod
    def from_frame(cls, frame: Any, schema: ModelSchema | None = None) -> Profile:
        """Profile a pandas or polars DataFrame or a pyarrow Table (or RecordBatch).

        Args:
            frame: the table.
            schema: kinds for the columns it names; the others are inferred.
        """
        module = type(frame).__module__.split(".")[0]
        if module == "polars":
            frame = frame.to_arrow()
            module = "pyarrow"
        if module == "pandas" and hasattr(frame, "columns") and hasattr(frame, "iloc"):
            columns = {str(c): frame[c] for c in frame.columns}
        elif module == "pyarrow" and hasattr(frame, "column_names"):
            columns = {str(n): frame.column(i) for i, n in enumerate(frame.column_names)}
        else:
            raise InvalidParameterError(
                "'frame' must be a pandas or polars DataFrame or a pyarrow Table. "
                f"Got {type(frame).__name__} instead."
            )
        if len(columns) == 0:
            return cls(len(frame), {})
        return cls.from_columns(columns, kinds=_schema_kinds(schema, columns))

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping[str, Any]], schema: ModelSchema | None = None
    ) -> Profile:
        """Profile input dicts as ingested: a missing key or ``None`` is a null.

        Args:
            records: one mapping of feature name to value per row.
            schema: kinds for the features it names; the others are inferred.
        """
        rows = list(records)
        names: dict[str, None] = {}
        for i, rec in enumerate(rows):
            if not isinstance(rec, Mapping):
                raise InvalidParameterError(
                    f"records[{i}] must be a mapping of feature name to value. "
                    f"Got {type(rec).__name__} instead."
                )
            names.update(dict.fromkeys(rec))
        if schema is not None:
            names.update(dict.fromkeys(schema.feature_names))
        columns = {str(n): [rec.get(n) for rec in rows] for n in names}
        if not columns:
            return cls(len(rows), {})
        return cls.from_columns(columns, kinds=_schema_kinds(schema, columns))

    # ------------------------------------------------------------ combining
    def merge(self, other: Profile) -> Profile:
        """A new profile of both profiles' rows; neither input changes.

        Counts and moments merge exactly (up to float rounding), sketches within their
        error bounds. The operation is associative and commutative.

        Raises:
            InvalidParameterError: ``other`` is not a Profile, or a column has different
                kinds on the two sides (an all-null column adopts the other side's kind).
        """
        if not isinstance(other, Profile):
            raise InvalidParameterError(
                f"Profile.merge takes a Profile. Got {type(other).__name__} instead."
            )
        merged: dict[str, ColumnProfile] = {}
        for name in {**self._columns, **other._columns}:
            left = self._columns.get(name) or _all_null(name, self._n_rows, other._columns)
            right = other._columns.get(name) or _all_null(name, other._n_rows, self._columns)
            merged[name] = left.merged(right)
        return Profile(self._n_rows + other._n_rows, merged)

    @classmethod
    def merge_all(cls, profiles: Iterable[Profile]) -> Profile:
        """Merge any number of profiles (an empty iterable gives an empty profile)."""
        out = cls()
        for p in profiles:
            out = out.merge(p)
        return out

    # ------------------------------------------------------------ (de)serialising
    def to_bytes(self) -> bytes:
        """The profile in vigil's compact, versioned binary format."""
        return serde.dump(self._n_rows, self._columns)

    @classmethod
    def from_bytes(cls, data: bytes) -> Profile:
        """Read :meth:`to_bytes`'s output.

        Raises:
            ProfileFormatError: the bytes are not a profile, are corrupt, or come from an
                incompatible format version.
        """
        n_rows, columns = serde.load(data)
        return cls(n_rows, columns)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary: rows and, per column, counts, moments, quantiles, top items."""
        return {
            "n_rows": self._n_rows,
            "columns": {name: col.to_dict() for name, col in self._columns.items()},
        }


def _all_null(name: str, n_rows: int, others: Mapping[str, ColumnProfile]) -> ColumnProfile:
    col = ColumnProfile(name, others[name].kind)
    col.add_nulls(n_rows)
    return col


def _schema_kinds(
    schema: ModelSchema | None, columns: Mapping[str, Any]
) -> dict[str, FeatureKind] | None:
    if schema is None:
        return None
    if not isinstance(schema, ModelSchema):
        raise InvalidParameterError(
            f"'schema' must be a vigil ModelSchema. Got {type(schema).__name__} instead."
        )
    return {f.name: f.kind for f in schema.features if f.name in columns}
