"""Input checks shared by the quality metrics: arrays of equal length, finite numbers."""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError


def as_1d(values: Any, name: str, *, numeric: bool = False) -> np.ndarray:
    """``values`` as a 1-D array (numeric and finite when ``numeric``)."""
    arr = np.asarray(values, dtype=np.float64 if numeric else None)
    if arr.ndim != 1:
        raise InvalidParameterError(f"{name!r} must be one-dimensional. Got shape {arr.shape}.")
    if numeric and not np.isfinite(arr).all():
        raise InvalidParameterError(f"{name!r} holds non-finite numbers (NaN or infinity).")
    return arr


def same_length(**arrays: Any) -> int:
    """The common length of the named arrays; raise naming them when lengths differ."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        raise InvalidParameterError(f"The inputs must have the same length. Got {lengths}.")
    n = next(iter(lengths.values()), 0)
    if n == 0:
        raise InvalidParameterError("The inputs are empty; metrics need at least one row.")
    return n


def finite(value: float | np.floating[Any] | None) -> float | None:
    """``value`` as a JSON-safe float at full precision (None, NaN and ±inf become None).

    Public metrics are never finite: an MAE of 2.4e-6 must not read 2e-06. Round only
    where a number is displayed.
    """
    if value is None or not np.isfinite(value):
        return None
    return float(value)
