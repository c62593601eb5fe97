"""Training sets: a model's predictions with labels and feedback, in one column layout.

`vigil export dataset` and the ``retrain`` action write the same columns:
``prediction_id, version, ts, latency_s, error, error_type, input.<feature>...,
prediction, output, proba, label, feedback_count, feedback_score, feedback_comment``.
``prediction`` is the value quality metrics compare
(:func:`vigil.engine.quality.windows.prediction_value`), ``output`` the stored output as sent.
Columns keep their Arrow type when the values agree on one, and are JSON text otherwise.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson

from vigil.store import ModelRecord, Store
from vigil.store.alerts.queries import AlertStore

_END_OF_TIME = 1e18  # far beyond any stored ts, and a finite SQL parameter


def _column(values: list[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in values],
                        type=pa.string())


def training_table(store: Store, model: ModelRecord, start: float | None, end: float | None,
                   version: str | None = None, *, labelled_only: bool = False) -> Any:
    """Predictions with ``start <= ts < end`` (None: unbounded) as a pyarrow Table."""
    import pyarrow as pa

    from vigil.engine.quality.windows import prediction_value

    rows = AlertStore(store).window_events(
        model.id, -_END_OF_TIME if start is None else start,
        _END_OF_TIME if end is None else end, version)
    if labelled_only:
        rows = [r for r in rows if r["label"] is not None]
    features = [f["name"] for f in model.schema.get("features", [])]
    for row in rows:
        inputs = row["inputs"] if isinstance(row["inputs"], dict) else {}
        features.extend(name for name in inputs if name not in features)
    columns: dict[str, Any] = {
        "prediction_id": pa.array([r["id"] for r in rows], type=pa.string()),
        "version": pa.array([r["version"] for r in rows], type=pa.string()),
        "ts": pa.array([r["ts"] for r in rows], type=pa.float64()),
        "latency_s": pa.array([r["latency_s"] for r in rows], type=pa.float64()),
        "error": pa.array([r["error"] for r in rows], type=pa.string()),
        "error_type": pa.array([r["error_type"] for r in rows], type=pa.string()),
    }
    for name in features:
        columns[f"input.{name}"] = _column([
            r["inputs"].get(name) if isinstance(r["inputs"], dict) else None for r in rows])
    columns["prediction"] = _column([prediction_value(r["outputs"]) for r in rows])
    columns["output"] = _column([r["outputs"] for r in rows])
    columns["proba"] = _column([r["proba"] for r in rows])
    columns["label"] = _column([r["label"] for r in rows])
    columns["feedback_count"] = pa.array([r["feedback_count"] or 0 for r in rows],
                                         type=pa.int64())
    columns["feedback_score"] = pa.array([r["feedback_score"] for r in rows], type=pa.float64())
    columns["feedback_comment"] = pa.array([r["feedback_comment"] for r in rows],
                                           type=pa.string())
    return pa.table(columns)


def write_parquet(table: Any, path: Path) -> None:
    """Write ``table`` to ``path`` atomically (a uniquely named temporary file, renamed), so
    concurrent writers never share a temporary file and readers never see half a file."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def labelled_count(table: Any) -> int:
    """How many rows of a :func:`training_table` carry a label."""
    return int(len(table) - table.column("label").null_count) if len(table) else 0
