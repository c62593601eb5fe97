"""A clean batch stays columns from validation to the store and the Prometheus hook.

Oracles: the record-by-record check (``Ingestor._rows_per_record``) for the rows built,
row dicts through the same store for what is written, and prometheus_client's own
``observe``/``inc`` per row for what ``/metrics`` shows.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from vigil.engine.ingest.columns import PredictionColumns
from vigil.engine.ingest.ingestor import Ingestor, IngestResult
from vigil.server.prom import LATENCY_BUCKETS, ServerMetrics, observe_many
from vigil.store import tables as t
from vigil.store.ingest.rows import PredictionRows

SCHEMA = {
    "task": "binary_classification",
    "features": [
        {"name": "age", "kind": "numeric"},
        {"name": "plan", "kind": "categorical"},
    ],
}
NOW = time.time()


def _record(i: int) -> dict[str, Any]:
    """Clean records with every benign shape the column checks let through."""
    rec: dict[str, Any] = {
        "id": f"r{i}",
        "version": "v1",
        "ts": NOW - 120 + i * 0.01,
        "latency_s": 0.001 * (i % 50),
        "inputs": {"age": 20.5 + i, "plan": "ab"[i % 2]},
        "outputs": i % 2,
    }
    shape = i % 9
    if shape == 1:
        del rec["id"]  # a new id is made
    elif shape == 2:
        del rec["version"]  # the default version
        rec["ts"] = int(rec["ts"])  # an int time
    elif shape == 3:
        rec["ts"] = None  # received now
        rec["latency_s"] = 3  # an int latency
    elif shape == 4:
        del rec["latency_s"]
        rec["subject_id"] = f"user-{i}"
    elif shape == 5:
        rec["latency_s"] = None
        rec["proba"] = [0.25, 0.75]
        rec["outputs"] = None
    elif shape == 6:
        del rec["outputs"]
        rec["subject_id"] = None
    return rec


@pytest.fixture
def ingestor(tmp_path):
    from vigil.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    ing = Ingestor(store)
    ing.register_model({"name": "m", "schema": SCHEMA})
    yield ing
    store.close()


def _blank_made_ids(rows: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**row, "id": row["id"] if "id" in rec else "<made>"}
        for row, rec in zip(rows, records, strict=True)
    ]


def test_a_clean_batch_is_built_as_columns_with_the_rows_the_record_check_builds(ingestor):
    records = [_record(i) for i in range(200)]
    model, schema = ingestor._model("m")
    now = time.time()
    by_record, by_column = IngestResult(), IngestResult()
    rows_r, idx_r = ingestor._rows_per_record(
        records, model, schema, "default", now, False, by_record
    )
    rows_c, idx_c, unknown = ingestor._rows_per_column(
        PredictionColumns.from_records(records), model, schema, "default", now, by_column
    )
    assert isinstance(rows_c, PredictionRows) and not rows_c.materialized  # columns only
    assert not by_record.rejected and not by_column.rejected and not unknown
    assert idx_c == idx_r == list(range(200))
    assert len(set(rows_c.column("id"))) == 200
    assert _blank_made_ids(rows_c, records) == _blank_made_ids(rows_r, records)


def test_repeated_ids_in_a_clean_batch_count_as_duplicates(ingestor):
    records = [_record(i) for i in range(20)] + [_record(0), _record(3)]
    result = ingestor.ingest_predictions("m", records)
    assert (result.accepted, result.duplicates, result.rejected) == (20, 2, [])


def _predictions(store, model_id: int) -> list[tuple]:
    p = t.predictions
    with store.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(
                    p.c.id,
                    p.c.version,
                    p.c.ts,
                    p.c.latency_s,
                    p.c.error,
                    p.c.error_type,
                    p.c.subject_id,
                    sa.cast(p.c.inputs, sa.Text),
                    sa.cast(p.c.outputs, sa.Text),
                    sa.cast(p.c.proba, sa.Text),
                    p.c.received_at,
                )
                .where(p.c.model_id == model_id)
                .order_by(p.c.id)
            )
        ]


def _row_dicts(n: int, seed: int, model_id: int, null_columns: bool) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            "id": f"p{seed}-{i:04d}",
            "version": rng.choice(["1", "2"]),
            "ts": NOW - rng.random() * 600,
            "latency_s": rng.choice([None, rng.random()]),
            "error": None,
            "error_type": None,
            "subject_id": None,
            "inputs": {"age": rng.random(), "plan": rng.choice("abc")},
            "outputs": rng.choice([None, 1, 0.5, "yes"]),
            "proba": None,
            "received_at": NOW,
            "model_id": model_id,
        }
        if not null_columns and i % 3 == 0:
            row.update(
                error="TimeoutError: slow",
                error_type="TimeoutError",
                subject_id=f"s{i}",
                proba=[0.1, 0.9],
            )
        rows.append(row)
    return rows


@pytest.mark.parametrize("null_columns", [True, False])
def test_columns_and_row_dicts_store_the_same_rows(store, null_columns):
    """The store writes ingest's columns exactly as it writes row dicts, also when whole
    columns are null (SQLite leaves them out of the statement)."""
    a, _ = store.upsert_model("as-columns", "binary_classification", SCHEMA)
    b, _ = store.upsert_model("as-dicts", "binary_classification", SCHEMA)
    for seed in range(3):
        dicts_a = _row_dicts(300, seed, a.id, null_columns)
        names = ("id", "version", "ts", "latency_s", "error", "error_type", "subject_id")
        columns = {k: [r[k] for r in dicts_a] for k in (*names, "inputs", "outputs", "proba")}
        batch = PredictionRows(columns, NOW, a.id)
        inserted = store.insert_predictions(a, batch)
        assert not batch.materialized
        assert inserted == set(columns["id"])
        assert store.insert_predictions(b, _row_dicts(300, seed, b.id, null_columns)) == inserted
    # the same batch again plus new rows: only the new ones go in
    again = _row_dicts(300, 0, a.id, null_columns) + _row_dicts(5, 9, a.id, null_columns)
    cols = {k: [r[k] for r in again] for k in again[0] if k not in ("received_at", "model_id")}
    assert store.insert_predictions(a, PredictionRows(cols, NOW, a.id)) == {
        f"p9-{i:04d}" for i in range(5)
    }
    store.insert_predictions(b, _row_dicts(5, 9, b.id, null_columns))
    stored_a, stored_b = _predictions(store, a.id), _predictions(store, b.id)
    assert len(stored_a) == 905 and stored_a == stored_b
    if not null_columns:
        assert sum(1 for r in stored_a if r[4] is not None) == 3 * 100 + 2
    store.fold_pending()
    rollups_a = store.rollup_rows(a.id, NOW - 3600, NOW + 60)
    rollups_b = store.rollup_rows(b.id, NOW - 3600, NOW + 60)
    assert [(r.version, r.minute, r.count, r.errors) for r in rollups_a] == [
        (r.version, r.minute, r.count, r.errors) for r in rollups_b
    ]


def test_materialised_rows_are_what_the_store_writes(store):
    """A hook that rewrites rows in place (a redaction policy) is what gets stored."""
    model, _ = store.upsert_model("m", "binary_classification", SCHEMA)
    dicts = _row_dicts(10, 0, model.id, True)
    batch = PredictionRows(
        {k: [r[k] for r in dicts] for k in dicts[0] if k not in ("received_at", "model_id")},
        NOW,
        model.id,
    )
    for row in batch:
        row["inputs"] = {**row["inputs"], "plan": "redacted"}
    assert batch.materialized
    store.insert_predictions(model, batch)
    stored = _predictions(store, model.id)
    assert len(stored) == 10 and all(json.loads(r[7])["plan"] == "redacted" for r in stored)


# -- Prometheus: per batch, the same series as per row ------------------------------------


def _oracle(rows: list[dict[str, Any]], model: str) -> bytes:
    """What the per-row hook exposed: prometheus_client's observe and inc for each row."""
    registry = CollectorRegistry(auto_describe=True)
    labels = ("model_name", "model_version")
    predictions = Counter("vigil_predictions", "Predictions ingested.", labels, registry=registry)
    errors = Counter("vigil_prediction_errors", "e", (*labels, "error_type"), registry=registry)
    latency = Histogram(
        "vigil_prediction_latency_seconds",
        "l",
        labels,
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    for row in rows:
        predictions.labels(model, row["version"]).inc()
        if row["error"] is not None:
            errors.labels(model, row["version"], row["error_type"] or "unknown").inc()
        if row["latency_s"] is not None:
            latency.labels(model, row["version"]).observe(row["latency_s"])
    return generate_latest(registry)


def _samples(text: bytes, prefix: str) -> dict[str, float]:
    out = {}
    for line in text.decode().splitlines():
        if line.startswith(prefix) and not line.startswith("#") and "_created" not in line:
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def test_prometheus_per_batch_shows_what_per_row_observations_showed():
    rng = random.Random(7)
    rows = []
    bounds = [*LATENCY_BUCKETS, 0.0, 11.0, 1e-9]
    for i in range(2000):
        latency = rng.choice([None, rng.random() * 3, rng.expovariate(50), rng.choice(bounds)])
        rows.append(
            {
                "id": f"p{i}",
                "version": rng.choice(["1", "2", "3"]),
                "latency_s": latency,
                "error": rng.choice([None, None, None, "boom"]),
                "error_type": rng.choice([None, "TimeoutError"]),
            }
        )
    metrics = ServerMetrics()
    for start in range(0, 2000, 500):  # four batches, as lists of row dicts ...
        metrics.observe_predictions("m", rows[start : start + 250])
        part = rows[start + 250 : start + 500]  # ... and as columns
        columns = {k: [r.get(k) for r in part] for k in ("id", "version", "latency_s")}
        columns.update(
            error=[r["error"] for r in part],
            error_type=[r["error_type"] for r in part],
            ts=[NOW] * len(part),
            subject_id=[None] * len(part),
            inputs=[{}] * len(part),
            outputs=[None] * len(part),
            proba=[None] * len(part),
        )
        metrics.observe_predictions("m", PredictionRows(columns, NOW, 1))
    ours, oracle = metrics.render(), _oracle(rows, "m")
    for prefix in ("vigil_predictions_total", "vigil_prediction_errors_total"):
        assert _samples(ours, prefix) == _samples(oracle, prefix)
    buckets = _samples(ours, "vigil_prediction_latency_seconds_bucket")
    assert buckets == _samples(oracle, "vigil_prediction_latency_seconds_bucket")
    assert len(buckets) == 3 * (len(LATENCY_BUCKETS) + 1)
    assert _samples(ours, "vigil_prediction_latency_seconds_count") == _samples(
        oracle, "vigil_prediction_latency_seconds_count"
    )
    sums, expected = (_samples(x, "vigil_prediction_latency_seconds_sum") for x in (ours, oracle))
    assert sums.keys() == expected.keys()
    for key, value in expected.items():
        assert sums[key] == pytest.approx(value, rel=1e-12)


def test_observe_many_matches_observe_on_bucket_edges():
    registry = CollectorRegistry()
    one = Histogram("a", "a", buckets=(0.1, 1.0, 10.0), registry=registry)
    bulk = Histogram("b", "b", buckets=(0.1, 1.0, 10.0), registry=registry)
    values = [0.0, 0.1, 0.1000001, 1.0, 9.99, 10.0, 10.5, 1e9, -1.0]
    for v in values:
        one.observe(v)
    observe_many(bulk, values)
    observe_many(bulk, [])
    assert [b.get() for b in bulk._buckets] == [b.get() for b in one._buckets] == [3, 2, 2, 2]
    assert bulk._sum.get() == pytest.approx(one._sum.get())


TRICKY = [
    "plain",
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "\\.",
    "quote\"s and 'apostrophes'",
    "unicode é ✓ 𝄞",
    "",
]


def test_stored_values_read_back_exactly_with_any_characters(store):
    """What the store writes (SQLite statement, PostgreSQL COPY text) reads back as the
    values given: strings with tabs, line breaks, backslashes and COPY's own markers,
    floats to the last bit, JSON with escapes."""
    model, _ = store.upsert_model("m", "binary_classification", SCHEMA)
    rng = random.Random(3)
    n = len(TRICKY) * 3
    columns: dict[str, list[Any]] = {
        "id": [f"{TRICKY[i % len(TRICKY)]}-{i}" for i in range(n)],
        "version": [TRICKY[(i + 1) % len(TRICKY)] or "v" for i in range(n)],
        "ts": [NOW - rng.random() * 1e4 for _ in range(n)],
        "latency_s": [None if i % 4 == 0 else rng.random() / 7 for i in range(n)],
        "error": [None if i % 3 else f"Err: {TRICKY[i % len(TRICKY)]}" for i in range(n)],
        "error_type": [None if i % 3 else "Err" for i in range(n)],
        "subject_id": [None if i % 2 else TRICKY[i % len(TRICKY)] or "s" for i in range(n)],
        "inputs": [
            {"age": rng.random() * 1e6, "plan": TRICKY[i % len(TRICKY)], "k\\ey": [1, "a\tb"]}
            for i in range(n)
        ],
        "outputs": [rng.choice([None, 1, 0.375, "yes\\no", {"a": "b\nc"}]) for _ in range(n)],
        "proba": [None if i % 2 else [0.25, 1 / 3] for i in range(n)],
    }
    received = NOW + 0.123456789
    assert store.insert_predictions(model, PredictionRows(columns, received, model.id)) == set(
        columns["id"]
    )
    stored = {r[0]: r for r in _predictions(store, model.id)}
    assert len(stored) == n
    for i, pid in enumerate(columns["id"]):
        row = stored[pid]
        expected = tuple(columns[k][i] for k in ("version", "ts", "latency_s", "error"))
        assert row[1:5] == expected
        assert row[5:7] == (columns["error_type"][i], columns["subject_id"][i])
        assert json.loads(row[7]) == columns["inputs"][i]
        for k, pos in (("outputs", 8), ("proba", 9)):
            want = columns[k][i]
            assert (None if row[pos] is None else json.loads(row[pos])) == want
        assert row[10] == received
