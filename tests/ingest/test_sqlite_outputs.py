"""SQLite stores a batch's outputs as their JSON text would be stored, numbers bound or not.

A column of plain numbers is bound as numbers (no JSON serialising); the oracle is
SQLite itself storing each value's JSON text in a column of the same declared type.
"""

from __future__ import annotations

import sqlite3
import time

import orjson
import pytest

from vigil.engine.ingest.ingestor import Ingestor
from vigil.store import open_store

SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
CASES = {
    "ints": [1, 0, 1, -5],
    "floats": [0.5, 3.0, 1e20, -0.0, 1e-7, 0.1 + 0.2, 2.5e-300],
    "with nulls": [1, None, 2.5, None],
    "bools": [True, False, True],
    "past 64 bits": [2**63 + 5, 1, 2],
    "large ints": [2**62, -(2**62), 9007199254740993],
    "mixed kinds": [1, "a", 2.5],
    "lists": [[0.1, 0.9], [0.5, 0.5]],
}


@pytest.mark.parametrize("outputs", list(CASES.values()), ids=list(CASES))
def test_outputs_are_stored_as_their_json_text_would_be(tmp_path, outputs):
    path = tmp_path / "outputs.db"
    store = open_store(f"sqlite:///{path}")
    try:
        ingestor = Ingestor(store)
        ingestor.register_model({"name": "m", "schema": SCHEMA})
        now = time.time()
        records = [
            {"id": f"r{i}", "ts": now - 10, "inputs": {"x": 1.0}}
            | ({} if v is None else {"outputs": v})
            for i, v in enumerate(outputs)
        ]
        assert ingestor.ingest_predictions("m", records).accepted == len(outputs)
        stored = (
            sqlite3.connect(path)
            .execute("SELECT outputs, typeof(outputs) FROM predictions ORDER BY id")
            .fetchall()
        )
    finally:
        store.close()
    oracle = sqlite3.connect(":memory:")
    oracle.execute("CREATE TABLE t (i INTEGER, outputs JSON)")
    oracle.executemany(
        "INSERT INTO t VALUES (?, ?)",
        [(i, None if v is None else orjson.dumps(v).decode()) for i, v in enumerate(outputs)],
    )
    expected = oracle.execute("SELECT outputs, typeof(outputs) FROM t ORDER BY 'r' || i").fetchall()
    assert stored == expected
