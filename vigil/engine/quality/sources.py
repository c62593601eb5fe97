"""Quality metrics the rules engine can watch (registered in
:mod:`vigil.engine.metric_sources` when this module is imported).

Realised metrics use the labelled predictions of the window (None below
:data:`MIN_LABELLED` rows or for another task); estimated ones need a CBPE reference;
``evaluation_*`` read the newest evaluation run started in the window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil.engine.metric_sources import register_metric
from vigil.engine.quality.windows import (
    CLASSIFICATION,
    estimated_quality,
    feedback_summary,
    metrics_for,
    prepare,
)
from vigil.schema import Task
from vigil.store import ModelRecord, Store
from vigil.store.quality import queries as qs

MIN_LABELLED = 20  # fewer labelled rows in the window: None (rules neither fire nor resolve)
Fn = Callable[[Store, ModelRecord, "str | None", float, float], "float | None"]


def _step(start: float, end: float) -> int:
    return max(60, int(end - start) // 60 * 60)


def _realised(key: str, tasks: tuple[Task, ...]) -> Fn:
    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        task = Task(model.task)
        if task not in tasks:
            return None
        rows, _ = prepare(task, qs.labelled_predictions(store, model.id, start, end, version))
        if len(rows) < MIN_LABELLED:
            return None
        values = metrics_for(task, rows)
        if key == "f1" and "f1" not in values:
            return values.get("f1_macro")
        return values.get(key)

    metric.__name__ = key
    return metric


def _estimated(key: str) -> Fn:
    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        if Task(model.task) not in CLASSIFICATION:
            return None
        est = estimated_quality(
            store, model, start, end, _step(start, end), version, with_series=False
        )
        if not est or not est["summary"]:
            return None
        return est["summary"][key]["value"]

    metric.__name__ = f"estimated_{key}"
    return metric


def _feedback(key: str) -> Fn:
    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        return feedback_summary(store, model, start, end, _step(start, end), version)[key]

    return metric


def _drift_events(
    store: Store, model: ModelRecord, version: str | None, start: float, end: float
) -> float:
    return float(len(qs.drift_events(store, model.id, start, end, version)))


def _evaluation(key: str) -> Fn:
    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        for run in qs.list_runs(store, model.id, version=version, limit=50):
            if start <= run["started_at"] < end and run["status"] == "succeeded":
                value: Any = (run["metrics"] or {}).get(key)
                return None if value is None else float(value)
        return None

    return metric


_CLS = CLASSIFICATION
for _key, _tasks, _desc in (
    ("accuracy", _CLS, "Share of labelled predictions that were right."),
    ("f1", _CLS, "F1 of the positive class (binary) or macro F1 (multiclass)."),
    ("roc_auc", _CLS, "ROC AUC of the labelled predictions (needs proba)."),
    ("log_loss", _CLS, "Log loss of the labelled predictions (needs proba)."),
    ("mae", (Task.REGRESSION,), "Mean absolute error of the labelled predictions."),
    ("rmse", (Task.REGRESSION,), "Root mean squared error of the labelled predictions."),
    ("r2", (Task.REGRESSION,), "R² of the labelled predictions."),
    ("ndcg_at_k", (Task.RANKING,), "NDCG@10 of the labelled rankings."),
):
    register_metric(
        _key,
        _realised(_key, _tasks),
        _desc,
        unit="ratio" if _key in ("accuracy", "f1", "roc_auc") else "",
    )
for _key in ("accuracy", "f1", "roc_auc"):
    register_metric(
        f"estimated_{_key}",
        _estimated(_key),
        f"CBPE estimate of {_key} without labels (needs a fitted reference).",
        unit="ratio",
    )
register_metric("feedback_score", _feedback("score_mean"), "Mean feedback score.")
register_metric(
    "negative_feedback_rate",
    _feedback("negative_rate"),
    "Share of feedback with a score <= 0.",
    unit="ratio",
)
register_metric(
    "concept_drift_events",
    _drift_events,
    "Concept-drift detections on the error stream in the window.",
    unit="events",
)
for _key in ("accuracy", "f1_macro", "roc_auc", "mae", "rmse"):
    register_metric(
        f"evaluation_{_key}",
        _evaluation(_key),
        f"{_key} of the newest golden-set evaluation run in the window.",
    )
