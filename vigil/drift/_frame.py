"""Turning pandas, polars or Arrow tables into named NumPy columns, and guessing kinds.

Nothing here imports polars or pyarrow: a table is recognised by its module name, so a
user without polars never pays for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.schema import FeatureKind, infer_kind

from .batch._sample import CodedColumn

_SAMPLE = 200  # values looked at to guess the kind of an object column


def table_columns(data: Any, label: str) -> dict[str, Any]:
    """The columns of a pandas/polars DataFrame, pyarrow Table or mapping as 1-D arrays.

    String and categorical columns of pandas, polars and Arrow tables come back as a
    :class:`~vigil.drift.batch._sample.CodedColumn` (integer codes and distinct values),
    which quacks like an object array but holds no Python object per row.

    Args:
        data: the table.
        label: "reference" or "current", for error messages.

    Examples:
        >>> import pandas as pd
        >>> cols = table_columns(pd.DataFrame({"a": [1, 2], "b": ["x", None]}), "reference")
        >>> {k: v.tolist() for k, v in cols.items()}
        {'a': [1.0, 2.0], 'b': ['x', None]}
    """
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        return {str(c): _pandas_column(data[c]) for c in data.columns}
    if module == "polars" and hasattr(data, "get_column"):
        return {str(c): _polars_column(data.get_column(c)) for c in data.columns}
    if module == "pyarrow" and hasattr(data, "column_names"):
        return {str(c): _arrow_column(data.column(c)) for c in data.column_names}
    if isinstance(data, Mapping):
        out = {}
        for name, values in data.items():
            arr = np.asarray(values) if not isinstance(values, list) else _list_column(values)
            out[str(name)] = arr
        lengths = {v.shape[0] for v in out.values()}
        if len(lengths) > 1:
            raise InvalidParameterError(
                f"The {label} columns must all have the same length. Got lengths {sorted(lengths)}."
            )
        return out
    raise InvalidParameterError(
        f"The {label} data must be a pandas or polars DataFrame, a pyarrow Table or a "
        f"mapping of column name to values. Got {type(data).__name__} instead."
    )


def _list_column(values: list[Any]) -> np.ndarray:
    if values and any(isinstance(v, list | tuple | np.ndarray) for v in values):
        out = np.empty(len(values), dtype=object)
        out[:] = [None if v is None else v for v in values]
        return out
    return np.asarray(values, dtype=object if any(v is None for v in values) else None)


def _pandas_column(series: Any) -> np.ndarray | CodedColumn:
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype == np.float64:  # the common case, checked first
        return series.to_numpy(dtype=np.float64, copy=False)  # NaN is missing: a view
    if isinstance(dtype, pd.CategoricalDtype):
        return CodedColumn(series.cat.codes.to_numpy(), series.cat.categories.to_numpy(object))
    if isinstance(dtype, pd.StringDtype):
        to_arrow = getattr(series.array, "__arrow_array__", None)
        if to_arrow is not None and dtype.storage == "pyarrow":  # kept as Arrow strings
            return CodedColumn.from_arrow(to_arrow(), lambda: _factorized(series))
        return CodedColumn(*_factorized(series))
    if pd.api.types.is_bool_dtype(dtype):
        return series.astype(object).where(series.notna(), None).to_numpy()
    if dtype == np.float64:  # NaN is its own missing value: a view, not a copy
        return series.to_numpy(dtype=np.float64, copy=False)
    if pd.api.types.is_numeric_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _datetimes(series.to_numpy())
    return series.to_numpy(dtype=object)


def _factorized(series: Any) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _polars_column(series: Any) -> np.ndarray | CodedColumn:
    dtype = str(series.dtype)
    if dtype.startswith(("Int", "UInt", "Float", "Decimal")):
        return series.cast(float).to_numpy()
    if dtype == "Boolean":
        return np.asarray(series.to_list(), dtype=object)
    if dtype.startswith(("List", "Array")):
        return _list_column(series.to_list())
    if dtype.startswith(("String", "Utf8", "Categorical", "Enum")):
        return _arrow_coded(series.to_arrow())
    arr = series.to_numpy()
    if arr.dtype.kind in "mM":
        return _datetimes(arr)
    return arr.astype(object) if arr.dtype != object else arr


def _arrow_column(column: Any) -> np.ndarray | CodedColumn:
    import pyarrow as pa
    import pyarrow.types as pat

    t = column.type
    if pat.is_integer(t) or pat.is_floating(t) or pat.is_decimal(t):
        return column.cast(pa.float64()).to_numpy()
    if pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t):
        return _list_column(column.to_pylist())
    if pat.is_temporal(t):
        return _datetimes(column.to_numpy())
    if pat.is_dictionary(t):
        column = column.cast(t.value_type)
        t = t.value_type
    if pat.is_string(t) or pat.is_large_string(t) or pat.is_string_view(t):
        return _arrow_coded(column)
    return np.asarray(column.to_pylist(), dtype=object)


def _arrow_coded(column: Any) -> CodedColumn:
    """An Arrow string or dictionary column as codes and distinct values (made on first
    use; the strings are kept for :meth:`CategoricalSample.from_arrow`)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)

    def encode() -> tuple[np.ndarray, np.ndarray]:
        encoded = column.dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return codes, np.asarray(encoded.dictionary.to_pylist(), dtype=object)

    return CodedColumn.from_arrow(column, encode)


def _datetimes(arr: np.ndarray) -> np.ndarray:
    ints = arr.astype("datetime64[ns]" if arr.dtype.kind == "M" else "timedelta64[ns]")
    out = ints.astype(np.int64).astype(np.float64)
    out[np.isnat(ints)] = np.nan
    return out


def guess_kind(values: np.ndarray) -> FeatureKind:
    """The kind of a column from its dtype, or from a sample of its values.

    Examples:
        >>> import numpy as np
        >>> guess_kind(np.array([1.0, 2.0])).value, guess_kind(np.array(["a", "b"])).value
        ('numeric', 'categorical')
        >>> guess_kind(np.array(["a long sentence here", "another one"], dtype=object)).value
        'text'
    """
    if values.dtype.kind in "iuf":
        return FeatureKind.NUMERIC
    if values.dtype.kind == "b":
        return FeatureKind.CATEGORICAL
    sample = [v for v in values[: _SAMPLE * 5] if not is_missing(v)][:_SAMPLE]
    if not sample:
        return FeatureKind.NUMERIC
    kinds = [infer_kind(v.tolist() if isinstance(v, np.ndarray) else v) for v in sample]
    if all(k is FeatureKind.NUMERIC for k in kinds):
        return FeatureKind.NUMERIC
    if all(k is FeatureKind.EMBEDDING for k in kinds):
        return FeatureKind.EMBEDDING
    text = sum(k is FeatureKind.TEXT for k in kinds)
    return FeatureKind.TEXT if text * 2 > len(kinds) else FeatureKind.CATEGORICAL


def is_missing(value: Any) -> bool:
    """None, NaN, ``pd.NA`` or ``NaT`` — but never an array (embeddings)."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    return type(value).__name__ in ("NAType", "NaTType")


def as_numeric(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Values as float64; entries that are not numbers become NaN and are counted."""
    if values.dtype.kind in "iuf":
        return values.astype(np.float64, copy=False), 0
    out = np.full(values.shape[0], np.nan)
    bad = 0
    for i, v in enumerate(values.tolist()):
        if v is None or isinstance(v, bool):
            bad += v is not None
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            bad += 1
    return out, bad


def as_matrix(values: np.ndarray, dim: int | None = None) -> tuple[np.ndarray, int]:
    """Stack an embedding column into a 2-D float matrix; drops missing or ragged rows.

    Returns:
        ``(matrix, n_dropped)``.
    """
    rows = []
    dropped = 0
    for v in values.tolist() if values.dtype == object else list(values):
        if is_missing(v) or (dim is not None and len(v) != dim):
            dropped += 1
            continue
        row = np.asarray(v, dtype=np.float64)
        if dim is None:
            dim = row.size
        if row.size != dim or not np.all(np.isfinite(row)):
            dropped += 1
            continue
        rows.append(row)
    matrix = np.vstack(rows) if rows else np.empty((0, dim or 0))
    return matrix, dropped
