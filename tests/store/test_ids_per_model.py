"""Ids are per model: deleting one model's prediction never touches another's events."""

from __future__ import annotations

import time

import sqlalchemy as sa

from vigil.engine.ingest.ingestor import Ingestor
from vigil.store.privacy import queries as privacy

SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}


def _labels(store) -> set[tuple[int, str]]:
    with store.read() as conn:
        rows = conn.execute(sa.text("SELECT model_id, prediction_id FROM labels")).all()
    return {(m, p) for m, p in rows}


def test_retention_and_erasure_stay_within_their_model(store):
    ingest = Ingestor(store)
    old = time.time() - 10 * 86400
    for name in ("a", "b"):
        ingest.register_model({"name": name, "schema": SCHEMA})
    ingest.ingest_predictions(
        "a", [{"id": "req", "ts": old, "inputs": {"x": 1}, "subject_id": "u1"}]
    )
    ingest.ingest_predictions("b", [{"id": "req", "inputs": {"x": 2}}])
    for name in ("a", "b"):
        ingest.ingest_labels(name, [{"prediction_id": "req", "actual": 1}])
        ingest.ingest_feedback(name, [{"prediction_id": "req", "score": 1}])
    a, b = store.get_model("a"), store.get_model("b")
    exported = privacy.export_subject(store, "u1")
    assert len(exported["labels"]) == 1 and len(exported["feedback"]) == 1

    privacy.purge_before(store, a.id, time.time() - 86400)
    assert _labels(store) == {(b.id, "req")}
    assert (store.count("predictions", a.id), store.count("predictions", b.id)) == (0, 1)
    assert store.count("feedback", b.id) == 1 and store.count("feedback", a.id) == 0

    ingest.ingest_predictions("a", [{"id": "req2", "inputs": {"x": 1}, "subject_id": "u2"}])
    ingest.ingest_predictions("b", [{"id": "req2", "inputs": {"x": 1}}])
    ingest.ingest_labels("b", [{"prediction_id": "req2", "actual": 0}])
    privacy.erase_subject(store, "u2", "test")
    assert (b.id, "req2") in _labels(store)
    assert store.count("predictions", b.id) == 2
