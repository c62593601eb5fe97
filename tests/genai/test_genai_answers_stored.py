"""The background answer-quality job: each prediction is scored once per window (a
prediction without a text answer is marked, not retried), new answers re-score their
window, and the stored scores go with their predictions (retention)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from vigil.engine.genai.quality import SCORE_STEP, score_pending
from vigil.engine.ingest.ingestor import Ingestor
from vigil.store.genai.answers import stored_scores
from vigil.store.genai.tables import answer_scores
from vigil.store.privacy.queries import purge_before


def _count(store) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(answer_scores)).scalar()


def test_job_scores_once_rescoring_a_window_with_new_answers_and_retention_purges(store):
    ingestor = Ingestor(store)
    ingestor.register_model(
        {
            "name": "qa",
            "task": "text_generation",
            "schema": {"features": [{"name": "question", "kind": "text"}]},
        }
    )
    ingestor.register_model(
        {
            "name": "clf",
            "task": "binary_classification",
            "schema": {"features": [{"name": "x", "kind": "numeric"}]},
        }
    )
    now = time.time()
    old = (now // SCORE_STEP) * SCORE_STEP - 3 * SCORE_STEP + 1
    ingestor.ingest_predictions(
        "qa",
        [
            {
                "id": "a",
                "ts": old,
                "inputs": {"question": "reset password"},
                "outputs": "reset the password in settings",
            },
            {
                "id": "b",
                "ts": old + 1,
                "inputs": {"question": "reset password"},
                "outputs": "open settings to reset the password",
            },
            {"id": "c", "ts": old + 2, "inputs": {"question": "no answer"}, "outputs": None},
        ],
    )
    ingestor.ingest_predictions("clf", [{"id": "z", "ts": old, "inputs": {"x": 1.0}, "outputs": 1}])
    assert score_pending(store, backend="tfidf") == {"qa": 3}
    assert score_pending(store, backend="tfidf") == {"qa": 0}  # nothing left; c is marked
    rows = {
        r["prediction_id"]: r for r in stored_scores(store, store.get_model("qa").id, old - 1, now)
    }
    assert set(rows) == {"a", "b"} and _count(store) == 3
    first = rows["a"]["consistency"]
    assert 0 < first < 1 and rows["a"]["refusal"] is False
    # a new, identical answer in the same window: the window is scored again
    ingestor.ingest_predictions(
        "qa",
        [
            {
                "id": "d",
                "ts": old + 3,
                "inputs": {"question": "Reset password!"},
                "outputs": "reset the password in settings",
            }
        ],
    )
    assert score_pending(store, backend="tfidf") == {"qa": 4}
    rows = {
        r["prediction_id"]: r for r in stored_scores(store, store.get_model("qa").id, old - 1, now)
    }
    assert rows["d"]["consistency"] is not None and rows["a"]["consistency"] > first
    assert rows["d"]["relevance"] == pytest.approx(rows["a"]["relevance"])
    # retention deletes the scores with their predictions
    deleted = purge_before(store, store.get_model("qa").id, now)
    assert deleted["answer_scores"] == 4 and _count(store) == 0
