"""Training sets: a model's predictions with labels and feedback, in one column layout.

`vigil export dataset` and the ``retrain`` action write the same columns:
``prediction_id, version, ts, latency_s, error, error_type, input.<feature>...,
prediction, output, proba, label, feedback_count, feedback_score, feedback_comment``.
``prediction`` is the value quality metrics compare
(:func:`vigil.engine.quality.windows.prediction_value`), ``output`` the stored output as sent.
Columns keep their Arrow type when the values agree on one, and are JSON text otherwise.
"""

from __future__ import annotations

import time
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
        return pa.array(
            [None if v is None else orjson.dumps(v).decode() for v in values], type=pa.string()
        )


def training_table(
    store: Store,
    model: ModelRecord,
    start: float | None,
    end: float | None,
    version: str | None = None,
    *,
    labelled_only: bool = False,
) -> Any:
    """Predictions with ``start <= ts < end`` (None: unbounded) as a pyarrow Table."""
    import pyarrow as pa

    from vigil.engine.quality.windows import prediction_value

    rows = AlertStore(store).window_events(
        model.id,
        -_END_OF_TIME if start is None else start,
        _END_OF_TIME if end is None else end,
        version,
    )
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
        columns[f"input.{name}"] = _column(
            [r["inputs"].get(name) if isinstance(r["inputs"], dict) else None for r in rows]
        )
    columns["prediction"] = _column([prediction_value(r["outputs"]) for r in rows])
    columns["output"] = _column([r["outputs"] for r in rows])
    columns["proba"] = _column([r["proba"] for r in rows])
    columns["label"] = _column([r["label"] for r in rows])
    columns["feedback_count"] = pa.array([r["feedback_count"] or 0 for r in rows], type=pa.int64())
    columns["feedback_score"] = pa.array([r["feedback_score"] for r in rows], type=pa.float64())
    columns["feedback_comment"] = pa.array([r["feedback_comment"] for r in rows], type=pa.string())
    if model.task == "text_generation":
        columns.update(_answer_columns(store, model, [r["id"] for r in rows]))
    return pa.table(columns)


def _answer_columns(store: Store, model: ModelRecord, ids: list[str]) -> dict[str, Any]:
    """The per-answer scores of a text model's predictions (``answer_relevance``,
    ``answer_consistency``, ``answer_refusal``, ``answer_tokens``) and the prompt's
    ``injection_score`` and ``ood`` of ingest; null where not scored (yet)."""
    import pyarrow as pa

    from vigil.engine.genai.quality import SCORE_LOOKBACK_S, score_range
    from vigil.store.genai.answers import scores_by_id
    from vigil.store.genai.queries import input_scores_by_id

    # windows the background job has not reached yet (older ones stay unscored: null)
    score_range(store, model, time.time() - SCORE_LOOKBACK_S, None, windows=10_000)
    answers = scores_by_id(store, model.id, ids)
    inputs = input_scores_by_id(store, model.id, ids)
    out: dict[str, Any] = {}
    for key, kind in (
        ("relevance", pa.float64()),
        ("consistency", pa.float64()),
        ("refusal", pa.bool_()),
        ("tokens", pa.int64()),
    ):
        out[f"answer_{key}"] = pa.array([(answers.get(i) or {}).get(key) for i in ids], type=kind)
    out["injection_score"] = pa.array(
        [(inputs.get(i) or {}).get("injection_score") for i in ids], type=pa.float64()
    )
    out["ood"] = pa.array([(inputs.get(i) or {}).get("ood") for i in ids], type=pa.bool_())
    return out


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
