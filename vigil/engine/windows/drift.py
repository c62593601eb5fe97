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
import time
from typing import Any

from vigil.engine.windows.metrics import check_time
from vigil.errors import InvalidParameterError, NotFoundError
from vigil.schema import ModelSchema
from vigil.store import ModelRecord, Store
from vigil.store.references.queries import (
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
            '\'window\' must be an object {"start": unix seconds, "end": unix seconds, '
            f'"version": optional}}. Got {type(spec).__name__}.'
        )
    unknown = sorted(set(spec) - {"start", "end", "version"})
    if unknown:
        raise InvalidParameterError(
            f"'window' has unknown fields {unknown}; it takes start, end and version."
        )
    bounds = {}
    for key in ("start", "end"):
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameterError(
                f"'window.{key}' must be a number of Unix seconds. Got {value!r}."
            )
        bounds[key] = float(value)
    version = spec.get("version")
    if version is not None and not isinstance(version, str):
        raise InvalidParameterError(f"'window.version' must be a string. Got {version!r}.")
    start, end = bounds["start"], bounds["end"]
    if not end > start:
        raise InvalidParameterError(f"'window.end' ({end}) must be after 'window.start' ({start}).")
    n = count_window(store, model.id, start, end, version)
    if n == 0:
        raise InvalidParameterError(
            f"The window [{start}, {end}){f' of version {version!r}' if version else ''} "
            "holds no predictions; nothing to take as the reference."
        )
    if n > WINDOW_LIMIT:
        raise InvalidParameterError(
            f"The window holds {n} predictions; a reference window may hold at most "
            f"{WINDOW_LIMIT}. Narrow 'window.start'..'window.end'."
        )
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
    save_reference(
        store,
        model.id,
        n_rows=len(frame),
        sample_rows=len(sample),
        columns=list(frame.columns),
        profile=profile.to_bytes(),
        sample=buffer.getvalue(),
        source=source,
    )
    return {
        "model": model.name,
        "n_rows": len(frame),
        "sample_rows": len(sample),
        "columns": list(frame.columns),
    }


def set_reference_profile(
    store: Store, model: ModelRecord, data: bytes, source: str | None
) -> dict:
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
                f"{columns[:20]}."
            )
        wrong = [
            f"{f.name} ({profile[f.name].kind.value}, schema: {f.kind.value})"
            for f in schema.features
            if f.name in profile and profile[f.name].kind is not f.kind
        ]
        if wrong:
            raise InvalidParameterError(
                f"The reference profile's kinds differ from the model's schema: {wrong}. "
                "Profile with kinds=... or schema=... matching the model."
            )
        columns = [f.name for f in schema.features if f.name in profile]
        profile = Profile(profile.n_rows, {c: profile[c] for c in columns})
    save_reference(
        store,
        model.id,
        n_rows=profile.n_rows,
        sample_rows=0,
        columns=columns,
        profile=profile.to_bytes(),
        sample=b"",
        source=source or "profile",
    )
    return {"model": model.name, "n_rows": profile.n_rows, "sample_rows": 0, "columns": columns}


def profile_window_drift(
    store: Store, model: ModelRecord, data: bytes, method: str = "auto"
) -> dict[str, Any]:
    """Drift of an uploaded profile (a window of the model's inputs profiled elsewhere,
    e.g. by :mod:`vigil.spark`) against the reference, in sketch mode. Nothing is stored.
    """
    from vigil.profile import Profile

    current = Profile.from_bytes(data)
    reference = get_reference(store, model.id)
    if reference is None:
        raise NotFoundError(
            f"Model {model.name!r} has no reference data set; upload one with "
            f"POST /api/v1/models/{model.name}/reference."
        )
    out: dict[str, Any] = {
        "model": model.name,
        "version": None,
        "n_current": current.n_rows,
        "n_reference": reference.n_rows,
        "mode": "sketch",
    }
    return {
        **out,
        **_sketch_profiles(reference, current, method, "tested from the uploaded profile"),
    }


def window_drift(
    store: Store,
    model: ModelRecord,
    *,
    start: float,
    end: float,
    version: str | None = None,
    method: str = "auto",
    multivariate: bool = False,
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
    out: dict[str, Any] = {
        "model": model.name,
        "version": version,
        "start": start,
        "end": end,
        "n_current": n,
        "n_reference": reference.n_rows,
    }
    if n == 0:
        return {
            **out,
            "mode": "none",
            "dataset_drift": False,
            "drift_share": 0.0,
            "drifted_columns": [],
            "columns": {},
            "reason": "no predictions in the window; nothing was tested",
        }
    schema = ModelSchema.from_dict(model.schema)
    if n <= EXACT_LIMIT and reference.sample_rows > 0:  # a profile reference: sketch
        return {
            **out,
            "mode": "exact",
            **_exact(reference, schema, store, model, start, end, version, method, multivariate),
        }
    return {
        **out,
        "mode": "sketch",
        **_sketch(reference, store, model, start, end, version, method),
    }


def _exact(
    reference: Any,
    schema: ModelSchema,
    store: Store,
    model: ModelRecord,
    start: float,
    end: float,
    version: str | None,
    method: str,
    multivariate: bool,
) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq

    from vigil.drift import detect_drift

    ref = pq.read_table(io.BytesIO(reference.sample)).to_pandas()
    cur = pd.DataFrame.from_records(
        window_inputs(store, model.id, start, end, version), columns=reference.columns
    )
    report = detect_drift(
        ref,
        cur,
        method=method,
        schema=schema if schema.features else None,
        multivariate="classifier" if multivariate else None,
    ).to_dict()
    report.pop("n_current", None)
    report["n_reference_tested"] = report.pop("n_reference", len(ref))
    return report


_SKETCH_METHODS = {"ks": "ks", "chi2": "chi2", "psi": "psi", "jensenshannon": "js"}
"""Exact-mode catalog names the sketches can answer; other methods fall back to auto."""


def _sketch(
    reference: Any,
    store: Store,
    model: ModelRecord,
    start: float,
    end: float,
    version: str | None,
    method: str,
) -> dict[str, Any]:
    from vigil.profile import Profile

    rows = [
        r.profile for r in store.rollup_rows(model.id, start, end, version, hours=True) if r.profile
    ]
    current = Profile.merge_all([Profile.from_bytes(b) for b in rows])
    return _sketch_profiles(
        reference, current, method, "tested from per-minute rollup sketches (whole minutes)"
    )


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
        sample = pq.read_table(
            io.BytesIO(reference.sample), columns=[c for c in numeric if c in reference.columns]
        )
        raw = {
            c: _as_float(sample.column(c).to_numpy(zero_copy_only=False))
            for c in sample.column_names
        }
    result = profile_drift(
        ref_profile, current, method=sketch_method, reference_values=raw
    ).to_dict()
    share = result["share_drifted"]
    columns = result["columns"]
    for col in columns.values():
        col.pop("column", None)
    return {
        "dataset_drift": share >= 0.5,
        "drift_share": share,
        "drift_share_threshold": 0.5,
        "drifted_columns": result["drifted_columns"],
        "columns": columns,
        "alpha": result["alpha"],
        "correction": result["correction"],
        "multivariate": [],
        "note": note,
    }


def _as_float(values: Any) -> Any:
    """A column of the stored reference sample as floats (non-numbers become NaN)."""
    import numpy as np
    import pandas as pd

    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)


MAX_HISTORY_WINDOWS = 48
"""Most windows :func:`drift_history` tests (one drift test per window)."""


def drift_history(
    store: Store,
    model: ModelRecord,
    *,
    start: float | None = None,
    end: float | None = None,
    step: int | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Per-feature drift of each ``step``-second window of ``[start, end)`` against the
    reference (one :func:`window_drift` per window): the rows of a windows × features heat
    map. Each cell has the feature's ``effect_size`` (the colour the dashboard draws),
    the test's ``method`` and ``statistic``, ``p_value_adjusted`` and ``drifted``; a window
    without traffic has no cells. Defaults: the last 24 h in about 12 windows."""
    start, end = _time_range(start, end, 86400.0)
    if step is None:
        step = max(60, int((end - start) / 12) // 60 * 60)
    if not isinstance(step, int) or step <= 0 or step % 60:
        raise InvalidParameterError(f"'step' must be a positive multiple of 60 s. Got {step!r}.")
    first = int(start // step) * step
    starts = list(range(first, int(end), step))
    if len(starts) > MAX_HISTORY_WINDOWS:
        raise InvalidParameterError(
            f"start..end / step gives {len(starts)} windows; at most {MAX_HISTORY_WINDOWS} "
            "are tested, so use a larger 'step'."
        )
    windows, features = [], []
    for ts in starts:
        report = window_drift(
            store, model, start=max(ts, start), end=min(ts + step, end), version=version
        )
        cells = {
            name: {
                "effect_size": col.get("effect_size"),
                "drifted": bool(col.get("drifted")),
                "method": col.get("method"),
                "statistic": col.get("statistic"),
                "p_value_adjusted": col.get("p_value_adjusted"),
            }
            for name, col in report["columns"].items()
        }
        features += [name for name in cells if name not in features]
        windows.append(
            {
                "ts": ts,
                "n": report["n_current"],
                "mode": report["mode"],
                "drift_share": report["drift_share"],
                "dataset_drift": bool(report["dataset_drift"]),
                "columns": cells,
            }
        )
    return {
        "model": model.name,
        "version": version,
        "start": start,
        "end": end,
        "step": step,
        "colour": "effect_size",
        "features": features,
        "windows": windows,
    }


def feature_distributions(
    store: Store,
    model: ModelRecord,
    *,
    start: float | None = None,
    end: float | None = None,
    version: str | None = None,
    bins: int = 20,
) -> dict[str, Any]:
    """Reference against current distribution of every feature, from sketches: the
    reference profile and the merged per-minute rollup profiles of ``[start, end)``.

    Numeric features get ``bins`` equal-width bins between the lower of the two 1st
    percentiles and the higher of the two 99th, as shares of each side (the first and last
    bins also hold everything below and above; KLL ranks are within ``rank_error``);
    categorical ones the share of each of the 20 commonest categories on either side.
    Default range: the last hour.
    """
    from vigil.profile import Profile

    if not isinstance(bins, int) or not 2 <= bins <= 100:
        raise InvalidParameterError(f"'bins' must be an integer in [2, 100]. Got {bins!r}.")
    start, end = _time_range(start, end, 3600.0)
    reference = get_reference(store, model.id)
    if reference is None:
        raise NotFoundError(
            f"Model {model.name!r} has no reference data set; upload one with "
            f"POST /api/v1/models/{model.name}/reference (Parquet, CSV or JSON records)."
        )
    ref = Profile.from_bytes(reference.profile)
    rows = [
        r.profile for r in store.rollup_rows(model.id, start, end, version, hours=True) if r.profile
    ]
    cur = Profile.merge_all([Profile.from_bytes(b) for b in rows]) if rows else Profile()
    features = []
    for name, ref_col in ref.columns.items():
        cur_col = cur.columns.get(name)
        entry: dict[str, Any] = {
            "name": name,
            "kind": ref_col.kind.value,
            "n_reference": ref_col.count,
            "n_current": cur_col.count if cur_col is not None else 0,
        }
        if ref_col.kind.value == "numeric":
            entry.update(_numeric_bins(ref_col, cur_col, bins))
        elif ref_col.kind.value == "categorical":
            entry.update(_category_shares(ref_col, cur_col))
        else:
            continue
        features.append(entry)
    return {
        "model": model.name,
        "version": version,
        "start": start,
        "end": end,
        "bins": bins,
        "features": features,
    }


def _numeric_bins(ref: Any, cur: Any, bins: int) -> dict[str, Any]:
    sides = [c for c in (ref, cur) if c is not None and c.kll is not None and not c.kll.is_empty()]
    if not sides:
        return {"edges": [], "reference": [], "current": []}
    low = min(c.quantile(0.01) for c in sides)
    high = max(c.quantile(0.99) for c in sides)
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = [low + (high - low) * i / bins for i in range(bins + 1)]

    def shares(col: Any) -> list[float] | None:
        if col is None or col.kll is None or col.kll.is_empty():
            return None
        return [float(m) for m in col.kll.get_pmf(edges[1:-1], True)]

    return {
        "edges": edges,
        "reference": shares(ref),
        "current": shares(cur),
        "rank_error": max(c.rank_error for c in sides),
    }


def _category_shares(ref: Any, cur: Any, top: int = 20) -> dict[str, Any]:
    ref_counts = ref.item_counts()
    cur_counts = cur.item_counts() if cur is not None else {}
    total = {k: ref_counts.get(k, 0) + cur_counts.get(k, 0) for k in {*ref_counts, *cur_counts}}
    categories = sorted(total, key=lambda k: (-total[k], k))[:top]

    def shares(counts: dict[str, int], n: int) -> list[float] | None:
        return [counts.get(k, 0) / n for k in categories] if n else None

    return {
        "categories": categories,
        "reference": shares(ref_counts, ref.count),
        "current": shares(cur_counts, cur.count if cur is not None else 0),
    }


def _time_range(start: float | None, end: float | None, span: float) -> tuple[float, float]:
    """Checked unix-seconds bounds; ``end`` defaults to now and ``start`` to ``span``
    before it."""
    check_time(start, "start")
    check_time(end, "end")
    stop = time.time() if end is None else float(end)
    begin = stop - span if start is None else float(start)
    if not stop > begin:
        raise InvalidParameterError(
            f"'end' ({stop}) must be after 'start' ({begin}).",
            details=[{"field": "end", "reason": "not after start"}],
        )
    return begin, stop
