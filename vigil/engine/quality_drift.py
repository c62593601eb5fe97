"""Concept drift: an online detector per model version on its error stream.

As labels join predictions, each version's errors (0/1 for classifiers, absolute error
for regressors) are fed, in order of joining, to a River detector from
:mod:`vigil.drift.stream` (DDM and ADWIN by default). Its state is kept in the store
between runs, so detection continues across restarts and replicas; each detection is
stored as an event (``GET /api/v1/models/{m}/quality`` lists them, rules watch the
``concept_drift_events`` metric).
"""

from __future__ import annotations

import time
from typing import Any

from vigil.drift.stream import StreamDetector, make_detector
from vigil.engine.quality import CLASSIFICATION, prepare
from vigil.errors import ConflictError
from vigil.schema import Task
from vigil.store import ModelRecord, Store
from vigil.store import quality as qs

DEFAULT_DETECTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "classification": ("ddm", {}),
    "regression": ("adwin", {"delta": 0.002}),
}
SETTLE_S = 2.0  # rows whose join is younger than this wait for the next run
RECENT = 100  # rows summarised in an event's details


def _errors(task: Task, rows: list[dict[str, Any]]) -> list[float]:
    if task in CLASSIFICATION:
        return [float(r["prediction"] != r["actual"]) for r in rows]
    return [abs(float(r["prediction"]) - float(r["actual"])) for r in rows]


def update_concept_drift(
    store: Store, model: ModelRecord, *, now: float | None = None,
    detector: str | None = None, params: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Feed every version's newly joined labels to its detector; store detections.

    Args:
        store: the store.
        model: the model (classification or regression; other tasks are skipped).
        now: the current time (rows joined in the last :data:`SETTLE_S` wait).
        detector: detector name for versions seen the first time (default: DDM for
            classifiers, ADWIN for regressors).
        params: its parameters.

    Returns:
        Per version: ``{"fed": rows fed, "detections": events stored}``.
    """
    task = Task(model.task)
    if task in CLASSIFICATION:
        kind = "classification"
    elif task is Task.REGRESSION:
        kind = "regression"
    else:
        return {}
    now = time.time() if now is None else now
    name, defaults = DEFAULT_DETECTORS[kind]
    if detector is not None:
        name, defaults = detector, params or {}
    out: dict[str, dict[str, Any]] = {}
    for version in qs.labelled_versions(store, model.id):
        saved = qs.drift_state(store, model.id, version)
        cursor = saved["cursor"] if saved else 0.0
        raw = qs.joined_since(store, model.id, version, cursor, now - SETTLE_S)
        if not raw:
            continue
        det = (StreamDetector.from_state(saved["state"]) if saved
               else make_detector(name, **defaults))
        rows, _ = prepare(task, raw)
        errors = _errors(task, rows)
        start_seen = det.n_seen
        hits = det.update_many(errors) if errors else []
        events = []
        for i in hits:
            recent = errors[max(0, i - RECENT + 1): i + 1]
            events.append({
                "ts": rows[i]["ts"], "detected_at": now, "detector": det.name,
                "n_seen": start_seen + i + 1,
                "details": {"prediction_id": rows[i]["id"],
                            "recent_error_mean": round(sum(recent) / len(recent), 6),
                            "recent_rows": len(recent),
                            "error": "0/1 misclassification" if kind == "classification"
                            else "absolute error"}})
        state = {"detector": det.name, "state": det.to_state(),
                 "cursor": max(r["joined_at"] for r in raw), "n_seen": det.n_seen,
                 "updated_at": now}
        try:
            qs.save_drift(store, model.id, version, saved["cursor"] if saved else None, state,
                          events)
        except ConflictError:  # another replica fed these rows first
            continue
        out[version] = {"fed": len(errors), "detections": len(events)}
    return out
