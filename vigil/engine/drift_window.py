"""Drift of a model's live inputs against its reference data set.

The reference is uploaded once (Parquet, CSV or JSON records) and kept as a profile of
every row plus a bounded random sample. A window with at most ``EXACT_LIMIT``
predictions is tested exactly on its raw inputs against the sample
(:func:`vigil.detect_drift`, scipy-exact tests); a larger one is tested from the merged
per-minute rollup profiles (:func:`vigil.profile.profile_drift`, sketch-based, whole
minutes), so a 30-day window costs what a 30-minute one does. Both modes apply one policy
(Benjamini–Hochberg across the columns, the same effect-size floors) and every column
states its ``mode`` and ``error_bound``, so a verdict does not flip at the boundary.
"""

from __future__ import annotations

import io
from typing import Any

from vigil.errors import InvalidParameterError, NotFoundError
from vigil.schema import ModelSchema
from vigil.store import ModelRecord, Store
from vigil.store.references import (
    count_window,
    get_reference,
    save_reference,
    window_inputs,
)

SAMPLE_ROWS = 50_000
EXACT_LIMIT = 20_000


WINDOW_LIMIT = 1_000_000
"""Most predictions a past window may hold to become the reference."""


def window_frame(store: Store, model: ModelRecord, spec: Any) -> tuple[Any, str]:
    """The inputs of a past window of the model's own traffic, as a reference frame.

    ``spec`` is ``{"start": unix s, "end": unix s, "version": optional}``. The rows are
    copied (profiled and sampled by :func:`set_reference`), so the reference is a frozen
    snapshot: later traffic, retention or erasure in that window does not change it.
    Returns the frame and a description of its source.
    """
    import pandas as pd

    if not isinstance(spec, dict):
        raise InvalidParameterError(
            "'window' must be an object {\"start\": unix seconds, \"end\": unix seconds, "
            f"\"version\": optional}}. Got {type(spec).__name__}.")
    unknown = sorted(set(spec) - {"start", "end", "version"})
    if unknown:
        raise InvalidParameterError(f"'window' has unknown fields {unknown}; it takes start, "
                                    "end and version.")
    bounds = {}
    for key in ("start", "end"):
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameterError(
                f"'window.{key}' must be a number of Unix seconds. Got {value!r}.")
        bounds[key] = float(value)
    version = spec.get("version")
    if version is not None and not isinstance(version, str):
        raise InvalidParameterError(f"'window.version' must be a string. Got {version!r}.")
    start, end = bounds["start"], bounds["end"]
    if not end > start:
        raise InvalidParameterError(f"'window.end' ({end}) must be after 'window.start' "
                                    f"({start}).")
    n = count_window(store, model.id, start, end, version)
    if n == 0:
        raise InvalidParameterError(
            f"The window [{start}, {end}){f' of version {version!r}' if version else ''} "
            "holds no predictions; nothing to take as the reference.")
    if n > WINDOW_LIMIT:
        raise InvalidParameterError(
            f"The window holds {n} predictions; a reference window may hold at most "
            f"{WINDOW_LIMIT}. Narrow 'window.start'..'window.end'.")
    frame = pd.DataFrame.from_records(window_inputs(store, model.id, start, end, version))
    source = f"window {start:.0f}..{end:.0f}" + (f" version {version}" if version else "")
    return frame, source


def set_reference(store: Store, model: ModelRecord, frame: Any, source: str | None) -> dict:
    """Profile ``frame``, keep a bounded sample, store both as the model's reference."""
    from vigil.profile import Profile

    schema = ModelSchema.from_dict(model.schema)
    if len(frame) == 0:
        raise InvalidParameterError("The reference has no rows.")
    if schema.features:
        missing = [f.name for f in schema.features if f.required and f.name not in frame]
        if missing:
            raise InvalidParameterError(
                f"The reference lacks the model's features {missing}; it has "
                f"{[str(c) for c in frame.columns][:20]}."
            )
        frame = frame[[f.name for f in schema.features if f.name in frame]]
    frame.columns = [str(c) for c in frame.columns]
    profile = Profile.from_frame(frame, schema=schema if schema.features else None)
    sample = frame.sample(n=SAMPLE_ROWS, random_state=0) if len(frame) > SAMPLE_ROWS else frame
    buffer = io.BytesIO()
    sample.reset_index(drop=True).to_parquet(buffer, index=False)
    save_reference(store, model.id, n_rows=len(frame), sample_rows=len(sample),
                   columns=list(frame.columns), profile=profile.to_bytes(),
                   sample=buffer.getvalue(), source=source)
    return {"model": model.name, "n_rows": len(frame), "sample_rows": len(sample),
            "columns": list(frame.columns)}


def set_reference_profile(store: Store, model: ModelRecord, data: bytes,
                          source: str | None) -> dict:
    """Store a profile (``Profile.to_bytes()``, e.g. from :mod:`vigil.spark`) as the
    model's reference. No raw rows come with it, so its windows are tested in sketch mode.
    """
    from vigil.profile import Profile

    profile = Profile.from_bytes(data)  # ProfileFormatError (a 400) on anything else
    if profile.n_rows == 0:
        raise InvalidParameterError("The reference profile has no rows.")
    schema = ModelSchema.from_dict(model.schema)
    columns = list(profile.columns)
    if schema.features:
        missing = [f.name for f in schema.features if f.required and f.name not in profile]
        if missing:
            raise InvalidParameterError(
                f"The reference profile lacks the model's features {missing}; it has "
                f"{columns[:20]}.")
        wrong = [f"{f.name} ({profile[f.name].kind.value}, schema: {f.kind.value})"
                 for f in schema.features
                 if f.name in profile and profile[f.name].kind is not f.kind]
        if wrong:
            raise InvalidParameterError(
                f"The reference profile's kinds differ from the model's schema: {wrong}. "
                "Profile with kinds=... or schema=... matching the model.")
        columns = [f.name for f in schema.features if f.name in profile]
        profile = Profile(profile.n_rows, {c: profile[c] for c in columns})
    save_reference(store, model.id, n_rows=profile.n_rows, sample_rows=0, columns=columns,
                   profile=profile.to_bytes(), sample=b"", source=source or "profile")
    return {"model": model.name, "n_rows": profile.n_rows, "sample_rows": 0,
            "columns": columns}


def profile_window_drift(store: Store, model: ModelRecord, data: bytes,
                         method: str = "auto") -> dict[str, Any]:
    """Drift of an uploaded profile (a window of the model's inputs profiled elsewhere,
    e.g. by :mod:`vigil.spark`) against the reference, in sketch mode. Nothing is stored.
    """
    from vigil.profile import Profile

    current = Profile.from_bytes(data)
    reference = get_reference(store, model.id)
    if reference is None:
        raise NotFoundError(
            f"Model {model.name!r} has no reference data set; upload one with "
            f"POST /api/v1/models/{model.name}/reference.")
    out: dict[str, Any] = {"model": model.name, "version": None, "n_current": current.n_rows,
                           "n_reference": reference.n_rows, "mode": "sketch"}
    return {**out, **_sketch_profiles(reference, current, method,
                                      "tested from the uploaded profile")}


def window_drift(
    store: Store, model: ModelRecord, *, start: float, end: float,
    version: str | None = None, method: str = "auto", multivariate: bool = False,
) -> dict[str, Any]:
    """Per-feature and data set drift of ``[start, end)`` against the reference.

    ``multivariate`` adds the domain-classifier test to the data set verdict of exact
    windows (seconds per call; off by default so dashboards and rules stay cheap).
    """
    reference = get_reference(store, model.id)
    if reference is None:
        raise NotFoundError(
            f"Model {model.name!r} has no reference data set; upload one with "
            f"POST /api/v1/models/{model.name}/reference (Parquet, CSV or JSON records)."
        )
    if not end > start:
        raise InvalidParameterError(f"'end' ({end}) must be after 'start' ({start}).")
    n = count_window(store, model.id, start, end, version)
    out: dict[str, Any] = {"model": model.name, "version": version, "start": start,
                           "end": end, "n_current": n, "n_reference": reference.n_rows}
    if n == 0:
        return {**out, "mode": "none", "dataset_drift": False, "drift_share": 0.0,
                "drifted_columns": [], "columns": {},
                "reason": "no predictions in the window; nothing was tested"}
    schema = ModelSchema.from_dict(model.schema)
    if n <= EXACT_LIMIT and reference.sample_rows > 0:  # a profile reference: sketch
        return {**out, "mode": "exact", **_exact(reference, schema, store, model, start, end,
                                                 version, method, multivariate)}
    return {**out, "mode": "sketch", **_sketch(reference, store, model, start, end, version,
                                               method)}


def _exact(reference: Any, schema: ModelSchema, store: Store, model: ModelRecord,
           start: float, end: float, version: str | None, method: str,
           multivariate: bool) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq

    from vigil.drift import detect_drift

    ref = pq.read_table(io.BytesIO(reference.sample)).to_pandas()
    cur = pd.DataFrame.from_records(window_inputs(store, model.id, start, end, version),
                                    columns=reference.columns)
    report = detect_drift(ref, cur, method=method,
                          schema=schema if schema.features else None,
                          multivariate="classifier" if multivariate else None).to_dict()
    report.pop("n_current", None)
    report["n_reference_tested"] = report.pop("n_reference", len(ref))
    return report


_SKETCH_METHODS = {"ks": "ks", "chi2": "chi2", "psi": "psi", "jensenshannon": "js"}
"""Exact-mode catalog names the sketches can answer; other methods fall back to auto."""


def _sketch(reference: Any, store: Store, model: ModelRecord, start: float, end: float,
            version: str | None, method: str) -> dict[str, Any]:
    from vigil.profile import Profile

    rows = [r.profile for r in store.rollup_rows(model.id, start, end, version) if r.profile]
    current = Profile.merge_all([Profile.from_bytes(b) for b in rows])
    return _sketch_profiles(reference, current, method,
                            "tested from per-minute rollup sketches (whole minutes)")


def _sketch_profiles(reference: Any, current: Any, method: str, note: str) -> dict[str, Any]:
    from vigil.drift.batch import get_test
    from vigil.profile import Profile, profile_drift

    sketch_method = "auto"
    if method != "auto":
        get_test(method)  # an unknown name is a 400, as in exact mode
        sketch_method = _SKETCH_METHODS.get(method, "auto")
        if sketch_method == "auto":
            note += f"; method {method!r} needs raw rows, so sketch mode used 'auto'"
    import pyarrow.parquet as pq

    ref_profile = Profile.from_bytes(reference.profile)
    raw = None
    if reference.sample_rows > 0:  # a profile reference has no raw sample
        numeric = [n for n, c in ref_profile.columns.items() if c.kind.value == "numeric"]
        sample = pq.read_table(io.BytesIO(reference.sample),
                               columns=[c for c in numeric if c in reference.columns])
        raw = {c: _as_float(sample.column(c).to_numpy(zero_copy_only=False))
               for c in sample.column_names}
    result = profile_drift(ref_profile, current, method=sketch_method,
                           reference_values=raw).to_dict()
    share = result["share_drifted"]
    columns = result["columns"]
    for col in columns.values():
        col.pop("column", None)
    return {"dataset_drift": share >= 0.5, "drift_share": share, "drift_share_threshold": 0.5,
            "drifted_columns": result["drifted_columns"], "columns": columns,
            "alpha": result["alpha"], "correction": result["correction"],
            "multivariate": [], "note": note}


def _as_float(values: Any) -> Any:
    """A column of the stored reference sample as floats (non-numbers become NaN)."""
    import numpy as np
    import pandas as pd

    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
