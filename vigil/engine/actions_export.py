"""Write a model's recent predictions with labels and feedback as Parquet (for retraining).

Inputs become one ``input.<feature>`` column each; outputs, probabilities and labels keep
their Arrow type when it is consistent and are JSON text otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from vigil.store import ModelRecord, Store
from vigil.store.alerts import AlertStore


def _column(values: list[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in values],
                        type=pa.string())


def write_window(store: Store, model: ModelRecord, start: float, end: float, path: Path,
                 version: str | None = None) -> int:
    """Export ``[start, end)`` to ``path`` (written atomically); return the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = AlertStore(store).window_events(model.id, start, end, version)
    features = [f["name"] for f in model.schema.get("features", [])]
    for row in rows:
        for name in row["inputs"]:
            if name not in features:
                features.append(name)
    columns: dict[str, Any] = {
        "prediction_id": pa.array([r["id"] for r in rows], type=pa.string()),
        "version": pa.array([r["version"] for r in rows], type=pa.string()),
        "ts": pa.array([r["ts"] for r in rows], type=pa.float64()),
        "latency_s": pa.array([r["latency_s"] for r in rows], type=pa.float64()),
        "error": pa.array([r["error"] for r in rows], type=pa.string()),
    }
    for name in features:
        columns[f"input.{name}"] = _column([r["inputs"].get(name) for r in rows])
    columns["output"] = _column([r["outputs"] for r in rows])
    columns["proba"] = _column([r["proba"] for r in rows])
    columns["label"] = _column([r["label"] for r in rows])
    columns["feedback_score"] = pa.array([r["feedback_score"] for r in rows], type=pa.float64())
    columns["feedback_count"] = pa.array([r["feedback_count"] or 0 for r in rows],
                                         type=pa.int64())
    columns["feedback_comment"] = pa.array([r["feedback_comment"] for r in rows],
                                           type=pa.string())
    table = pa.table(columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return table.num_rows
