"""Inputs that arrive as JSON texts are written as they are, until someone reads one."""

from __future__ import annotations

from vigil.store.ingest.aggregation import _copy_json
from vigil.store.ingest.rows import JsonObjects, PredictionRows
from vigil.store.store import _json_column


def test_the_texts_are_written_until_an_object_is_read_then_the_objects_are():
    texts = ['{"plan":"pro","x":1.5}', '{"plan":"free","x":null}']
    objects = JsonObjects(texts)
    assert _json_column(objects, nullable=False) is texts  # no parse, no serialisation
    assert len(objects) == 2 and objects.texts is texts
    objects[0]["plan"] = "[redacted]"  # a redaction policy rewrites in place
    assert objects.texts is None
    assert _json_column(objects, nullable=False) == [
        '{"plan":"[redacted]","x":1.5}',
        '{"plan":"free","x":null}',
    ]


def test_rows_built_from_the_batch_read_the_objects_and_the_store_writes_their_changes():
    texts = ['{"email":"a@example.com"}', '{"email":"b@example.com"}']
    batch = PredictionRows(
        {
            "id": ["a", "b"],
            "version": ["1", "1"],
            "ts": [1.0, 2.0],
            "latency_s": [None, None],
            "error": [None, None],
            "error_type": [None, None],
            "subject_id": [None, None],
            "inputs": JsonObjects(texts),
            "outputs": [None, None],
            "proba": [None, None],
        },
        3.0,
        1,
    )
    for row in batch.rows():
        row["inputs"]["email"] = "***"
    assert _json_column(batch.column("inputs"), nullable=False) == ['{"email":"***"}'] * 2


def test_copy_escapes_the_backslashes_of_texts_for_postgres():
    objects = JsonObjects(['{"path":"C:\\\\temp"}', '{"path":"/tmp"}'])
    assert _copy_json(objects) == ['{"path":"C:\\\\\\\\temp"}', '{"path":"/tmp"}']
