"""Turn columns of any supported container into :class:`ColumnProfile` updates.

Accepted column containers: numpy arrays (1-D, or 2-D for embeddings), Python lists,
pandas Series, polars Series and pyarrow arrays. Nulls are ``None``, missing record keys,
NaN (numeric columns) and Arrow nulls.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.profile.column import ColumnProfile
from vigil.schema import FeatureKind, infer_kind

_SAMPLE = 1000


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def normalize(values: Any) -> Any:
    """Return a numpy array, a pyarrow array/chunked array or a list for ``values``."""
    module = type(values).__module__.split(".")[0]
    if isinstance(values, np.ndarray | list):
        return values
    if module == "pyarrow":
        return values
    if module == "polars":
        return values.to_arrow()
    if module == "pandas":
        import pandas as pd

        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype
        ):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        import pyarrow as pa

        try:
            return pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return values.tolist()
    if isinstance(values, tuple | Sequence) and not isinstance(values, str | bytes):
        return list(values)
    raise InvalidParameterError(
        "A column must be a numpy array, list, pandas/polars Series or pyarrow array. "
        f"Got {type(values).__name__} instead."
    )


def infer_column_kind(values: Any) -> FeatureKind:
    """The kind of a normalized column: from its type, else from a sample of its values."""
    if isinstance(values, np.ndarray):
        if values.ndim == 2 and values.dtype.kind in "biuf":
            return FeatureKind.EMBEDDING
        if values.dtype.kind == "b":
            return FeatureKind.CATEGORICAL
        if values.dtype.kind in "iuf":
            return FeatureKind.NUMERIC
        sample = [v for v in values[: _SAMPLE * 4].tolist() if not _is_null(v)][:_SAMPLE]
        return _vote(sample)
    if isinstance(values, list):
        sample = []
        for v in values:
            if not _is_null(v):
                sample.append(v)
                if len(sample) >= _SAMPLE:
                    break
        return _vote(sample)
    import pyarrow as pa

    t = values.type
    if pa.types.is_boolean(t) or pa.types.is_dictionary(t):
        return FeatureKind.CATEGORICAL
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return FeatureKind.NUMERIC
    if pa.types.is_null(t):
        return FeatureKind.NUMERIC
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        head = values.drop_null().slice(0, _SAMPLE).to_pylist()
        return _vote(head)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return FeatureKind.EMBEDDING
    return FeatureKind.CATEGORICAL


def _vote(sample: list[Any]) -> FeatureKind:
    if not sample:
        return FeatureKind.NUMERIC
    votes = Counter(infer_kind(v) for v in sample)
    best = max(votes.values())
    for kind in (
        FeatureKind.CATEGORICAL,
        FeatureKind.NUMERIC,
        FeatureKind.TEXT,
        FeatureKind.EMBEDDING,
    ):
        if votes.get(kind) == best:
            return kind
    raise AssertionError("unreachable")  # pragma: no cover


def fill(col: ColumnProfile, values: Any) -> None:
    """Add one normalized column's values to ``col`` according to its kind."""
    if col.kind is FeatureKind.NUMERIC:
        col.update_numeric(_as_float(col.name, values))
    elif col.kind is FeatureKind.CATEGORICAL:
        nulls, counts = _item_counts(values)
        col.add_nulls(nulls)
        col.update_items(counts)
    elif col.kind is FeatureKind.TEXT:
        nulls, counts, lengths = _text(values)
        col.add_nulls(nulls)
        col.update_items(counts)
        col.update_track(lengths)
    else:
        _embedding(col, values)


def _as_float(name: str, values: Any) -> np.ndarray:
    try:
        if isinstance(values, np.ndarray):
            if values.ndim != 1:
                raise ValueError(f"expected a 1-D array, got shape {values.shape}")
            return values.astype(np.float64, copy=False)
        if isinstance(values, list):
            return np.array(values, dtype=np.float64)
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_null(values.type):
            return np.full(len(values), np.nan)
        return np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False))
    except (ValueError, TypeError, ImportError) as exc:
        raise InvalidParameterError(
            f"Column {name!r} is numeric but holds values that are not numbers ({exc}). "
            "Give it another kind, e.g. kinds={" + repr(name) + ": 'categorical'}."
        ) from None
    except Exception as exc:  # pyarrow's ArrowInvalid and friends
        raise InvalidParameterError(
            f"Column {name!r} is numeric but holds values that are not numbers ({exc})."
        ) from None


def _item_counts(values: Any) -> tuple[int, dict[str, int]]:
    """Null count and ``{string form: count}`` of a column."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf" and values.ndim == 1:
        if values.dtype.kind == "f":
            nan = np.isnan(values)
            nulls = int(np.count_nonzero(nan))
            values = values[~nan]
        else:
            nulls = 0
        keys, counts = np.unique(values, return_counts=True)
        return nulls, _fold(zip(keys.tolist(), counts.tolist(), strict=True))
    if isinstance(values, np.ndarray | list):
        try:
            raw = Counter(values.tolist() if isinstance(values, np.ndarray) else values)
        except TypeError:  # unhashable values: lists, dicts
            bad = next(v for v in values if not isinstance(v, Hashable))
            raise InvalidParameterError(
                f"A categorical value must be a string, number or boolean. Got {bad!r:.80}."
            ) from None
        nulls = 0
        pairs = []
        for key, c in raw.items():
            if _is_null(key):
                nulls += c
            else:
                pairs.append((key, c))
        return nulls, _fold(pairs)
    import pyarrow.compute as pc

    nulls = values.null_count
    vc = pc.value_counts(values.drop_null())
    keys = vc.field("values").to_pylist()
    counts = vc.field("counts").to_pylist()
    return nulls, _fold(zip(keys, counts, strict=True))


def _fold(pairs: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, c in pairs:
        if isinstance(key, list | dict | tuple):
            raise InvalidParameterError(
                f"A categorical value must be a string, number or boolean. Got {key!r}."
            )
        s = key if isinstance(key, str) else str(key)
        out[s] = out.get(s, 0) + int(c)
    return out


def _text(values: Any) -> tuple[int, dict[str, int], np.ndarray]:
    if isinstance(values, np.ndarray | list):
        items = values.tolist() if isinstance(values, np.ndarray) else values
        strings = [v if isinstance(v, str) else str(v) for v in items if not _is_null(v)]
        nulls = len(items) - len(strings)
        lengths = np.fromiter(map(len, strings), dtype=np.float64, count=len(strings))
        return nulls, dict(Counter(strings)), lengths
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = pc.cast(values, pa.string())
    nulls, counts = _item_counts(values)
    lengths = pc.utf8_length(values.drop_null())
    return nulls, counts, np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.float64)


def _embedding(col: ColumnProfile, values: Any) -> None:
    if isinstance(values, np.ndarray) and values.ndim == 2:
        rows: list[Any] = list(values.astype(np.float64, copy=False))
    else:
        if isinstance(values, list):
            items = values
        else:
            items = values.tolist() if isinstance(values, np.ndarray) else values.to_pylist()
        rows = []
        for v in items:
            if v is None:
                rows.append(None)
                continue
            try:
                arr = np.asarray(v, dtype=np.float64)
            except (ValueError, TypeError):
                arr = None
            if arr is None or arr.ndim != 1 or arr.size == 0:
                raise InvalidParameterError(
                    f"Column {col.name!r} is an embedding; each value must be a non-empty "
                    f"list of numbers. Got {v!r:.80}."
                )
            rows.append(arr)
    valid = [r for r in rows if r is not None]
    col.add_nulls(len(rows) - len(valid))
    if not valid:
        return
    norms = np.array([math.sqrt(float(np.dot(r, r))) for r in valid])
    norms[~np.isfinite(norms)] = np.inf  # a NaN component makes the vector non-finite
    col.update_numeric(norms, distinct=False)
    col.update_distinct(hashlib.blake2b(r.tobytes(), digest_size=16).hexdigest() for r in valid)


def profile_column(name: str, values: Any, kind: FeatureKind | str | None) -> ColumnProfile:
    """Profile one column, inferring its kind when ``kind`` is None."""
    normalized = normalize(values)
    if kind is None:
        resolved = infer_column_kind(normalized)
    else:
        try:
            resolved = FeatureKind(kind)
        except ValueError:
            allowed = ", ".join(k.value for k in FeatureKind)
            raise InvalidParameterError(
                f"The kind of column {name!r} must be one of {allowed}. Got {kind!r} instead."
            ) from None
    col = ColumnProfile(name, resolved)
    fill(col, normalized)
    return col
