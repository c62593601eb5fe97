"""Validation per column: the columnar path answers exactly as the record-by-record path.

The record-by-record check (``Ingestor._rows_per_record``) is the oracle: for batches
mixing clean records with every kind of bad value, the columnar path must reject the same
records with the same fields and reasons, count the same duplicates and build the same
rows. Over HTTP, the same bad values sent as JSON and as an Arrow stream get the same
answer, and both bodies store the same rows and rollups.
"""

from __future__ import annotations

import json
import math
import random
import time
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from support.arrow_bodies import arrow_stream

from vigil.engine.ingest.columns import PredictionColumns
from vigil.engine.ingest.ingestor import Ingestor, IngestResult
from vigil.profile import Profile
from vigil.store import open_store
from vigil.store import tables as t

SCHEMA = {
    "task": "binary_classification",
    "features": [
        {"name": "age", "kind": "numeric"},
        {"name": "plan", "kind": "categorical"},
        {"name": "note", "kind": "text"},
        {"name": "vec", "kind": "embedding", "dim": 2},
    ],
}
MAX_CHARS = 40
NOW = time.time()


def _clean(i: int) -> dict[str, Any]:
    return {
        "id": f"r{i}",
        "version": "v1",
        "ts": NOW - 120 + i * 0.01,
        "latency_s": 0.001 * (i % 50),
        "inputs": {"age": 20.5 + i, "plan": "ab"[i % 2], "note": "fine", "vec": [0.1, i]},
        "outputs": i % 2,
    }


# (field path in the record, bad or unusual value): each one put into a clean record
VARIANTS: list[tuple[tuple[str, ...], Any]] = [
    (("ts",), -5.0),
    (("ts",), 0),
    (("ts",), NOW + 3 * 86400),
    (("ts",), True),
    (("ts",), "2026-01-01T00:00:00Z"),
    (("ts",), "2026-01-01T00:00:00"),
    (("ts",), "yesterday"),
    (("ts",), int(NOW) - 60),
    (("ts",), None),
    (("ts",), [1]),
    (("latency_s",), -1.0),
    (("latency_s",), "fast"),
    (("latency_s",), 3),
    (("latency_s",), False),
    (("latency_s",), None),
    (("id",), ""),
    (("id",), "x" * 65),
    (("id",), 7),
    (("id",), "a\x00b"),
    (("id",), None),
    (("version",), ""),
    (("version",), None),
    (("version",), "v" * 101),
    (("version",), 3),
    (("version",), "a\x00"),
    (("subject_id",), "u" * 201),
    (("subject_id",), "u1"),
    (("subject_id",), 5),
    (("error",), True),
    (("error",), False),
    (("error",), "TimeoutError: slow"),
    (("error",), "plain failure"),
    (("error",), 5),
    (("error",), "e" * (MAX_CHARS + 5)),
    (("error_type",), "timeout"),
    (("error_type",), "k" * 101),
    (("error_type",), 3),
    (("outputs",), "x" * (MAX_CHARS + 1)),
    (("outputs",), "nul\x00"),
    (("outputs",), {"label": "a", "scores": [0.1, 0.9]}),
    (("outputs",), [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]),
    (("outputs",), 1.5),
    (("outputs",), True),
    (("outputs",), None),
    (("proba",), [0.2, 0.8]),
    (("proba",), "p" * (MAX_CHARS + 1)),
    (("inputs",), None),
    (("inputs",), [1, 2]),
    (("inputs", "age"), "old"),
    (("inputs", "age"), True),
    (("inputs", "age"), None),
    (("inputs", "age"), 31),
    (("inputs", "plan"), 1.5),
    (("inputs", "plan"), 3),
    (("inputs", "plan"), False),
    (("inputs", "plan"), "p" * (MAX_CHARS + 1)),
    (("inputs", "plan"), "a\x00"),
    (("inputs", "plan"), None),
    (("inputs", "note"), 12),
    (("inputs", "note"), "n" * (MAX_CHARS + 1)),
    (("inputs", "vec"), [1.0]),
    (("inputs", "vec"), [1.0, "x"]),
    (("inputs", "vec"), "v"),
]


def _variant(i: int, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    rec = _clean(i)
    target = rec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return rec


def _odd_records(n: int) -> list[Any]:
    """Whole-record oddities: not an object, unknown fields, no inputs, a missing input."""
    base = _clean(n)
    no_age = _clean(n + 3)
    del no_age["inputs"]["age"]
    return [
        "not a record",
        dict(base, id=f"r{n + 1}", colour="red"),
        {k: v for k, v in _clean(n + 2).items() if k != "inputs"},
        no_age,
        dict(_clean(n + 4), id="r0"),  # a duplicate of the first record's id
    ]


def _both_paths(ingestor: Ingestor, name: str, records: list[Any]):
    model, schema = ingestor._model(name)
    now = time.time()
    by_record, by_column = IngestResult(), IngestResult()
    rows_r, idx_r = ingestor._rows_per_record(
        records, model, schema, "default", now, False, by_record
    )
    rows_c, idx_c, _ = ingestor._rows_per_column(
        PredictionColumns.from_records(records), model, schema, "default", now, by_column
    )
    return (by_record, rows_r, idx_r), (by_column, rows_c, idx_c)


def _comparable(rows: list[dict[str, Any]], records: list[Any], idx: list[int]) -> list:
    """Rows with the ids made for records that sent none blanked (they are random)."""
    out = []
    for row, i in zip(rows, idx, strict=True):
        sent_id = records[i].get("id") if isinstance(records[i], dict) else None
        out.append({**row, "id": row["id"] if sent_id is not None else "<made>"})
    return out


@pytest.fixture
def ingestor(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    ing = Ingestor(store, max_field_chars=MAX_CHARS)
    ing.register_model({"name": "loose", "schema": SCHEMA})
    ing.register_model({"name": "strict", "schema": SCHEMA, "strict": True})
    yield ing
    store.close()


@pytest.mark.parametrize("name", ["loose", "strict"])
def test_each_bad_value_is_answered_as_the_per_record_check_answers(ingestor, name):
    records: list[Any] = [_clean(0)]
    records += [_variant(i + 1, path, value) for i, (path, value) in enumerate(VARIANTS)]
    records += _odd_records(len(records))
    records.append(dict(_clean(900), inputs={**_clean(900)["inputs"], "extra": 1}))
    (res_r, rows_r, idx_r), (res_c, rows_c, idx_c) = _both_paths(ingestor, name, records)
    assert res_c.rejected == res_r.rejected
    assert res_c.duplicates == res_r.duplicates == 1
    assert idx_c == idx_r
    assert _comparable(rows_c, records, idx_c) == _comparable(rows_r, records, idx_r)
    # the batch really mixes answers: some of each
    assert 30 < len(res_r.rejected) < len(records) - 10


@pytest.mark.parametrize("seed", range(6))
def test_random_mixes_of_bad_values_are_answered_alike(ingestor, seed):
    rng = random.Random(seed)
    records: list[Any] = []
    for i in range(400):
        if rng.random() < 0.85:
            records.append(_clean(i))
        else:
            path, value = rng.choice(VARIANTS)
            records.append(_variant(i, path, value))
    for odd in _odd_records(1000):
        records.insert(rng.randrange(len(records)), odd)
    for name in ("loose", "strict"):
        (res_r, rows_r, idx_r), (res_c, rows_c, idx_c) = _both_paths(ingestor, name, records)
        assert res_c.rejected == res_r.rejected
        assert res_c.duplicates == res_r.duplicates
        assert _comparable(rows_c, records, idx_c) == _comparable(rows_r, records, idx_r)


def test_a_clean_batch_never_takes_the_per_record_path(ingestor, monkeypatch):
    """Clean records are built from the columns: the per-record check is not called."""
    import vigil.engine.ingest.ingestor as module

    calls = []
    original = module._prediction_row
    monkeypatch.setattr(
        module, "_prediction_row", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    result = ingestor.ingest_predictions("loose", [_clean(i) for i in range(300)])
    assert result.accepted == 300 and not calls
    bad = [_clean(i) for i in range(300, 310)] + [_variant(310, ("ts",), -1.0)]
    result = ingestor.ingest_predictions("loose", bad)
    assert result.accepted == 10 and len(calls) == 1  # only the flagged record


# -- over HTTP: the same bad values as JSON and as Arrow --------------------------------

HTTP_SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "age", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
}
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}


def _http_records(now: float) -> list[dict[str, Any]]:
    recs = [
        {
            "id": f"p{i}",
            "version": "1" if i % 2 else "2",
            "ts": now - 300 + i,
            "latency_s": 0.01 * (i % 7),
            "inputs": {"age": float(20 + i), "plan": "ab"[i % 2]},
            "outputs": float(i % 2),
        }
        for i in range(40)
    ]
    bad = {
        3: ("inputs", "age", math.nan),
        5: ("inputs", "age", math.inf),
        8: (None, "latency_s", -1.0),
        11: (None, "latency_s", math.inf),
        13: (None, "ts", now + 3 * 86400),
        17: (None, "ts", -10.0),
        19: (None, "id", "x" * 65),
        23: (None, "version", "v" * 101),
        27: ("inputs", "plan", "bad\x00value"),
        29: ("inputs", "plan", "p" * 1100),
        31: (None, "outputs", math.nan),
        37: (None, "subject_id", "s" * 201),
    }
    for rec in recs:
        rec["subject_id"] = None
    for i, (where, key, value) in bad.items():
        (recs[i]["inputs"] if where else recs[i])[key] = value
    return recs


def _arrow(records: list[dict[str, Any]]) -> bytes:
    fields = ("id", "version", "ts", "latency_s", "subject_id", "outputs")
    return arrow_stream(records, fields, types={"subject_id": pa.string()})


def _stored(store, model_id: int) -> tuple[list, list]:
    p, r = t.predictions, t.rollups
    store.fold_pending(model_id)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(
                p.c.id, p.c.version, p.c.ts, p.c.latency_s, p.c.error, sa.cast(p.c.inputs, sa.Text)
            )
            .where(p.c.model_id == model_id)
            .order_by(p.c.id)
        ).all()
        rollups = conn.execute(
            sa.select(
                r.c.version, r.c.minute, r.c.count, r.c.latency_count, r.c.latency_sum, r.c.profile
            )
            .where(r.c.model_id == model_id)
            .order_by(r.c.version, r.c.minute)
        ).all()
    summary = []
    for version, minute, count, n_lat, sum_lat, blob in rollups:
        prof = Profile.from_bytes(bytes(blob))
        cols = {
            name: (c.count, c.null_count, round(c.mean or 0.0, 9), c.min, c.max)
            if name == "age"
            else (c.count, c.null_count)
            for name, c in prof.columns.items()
        }
        summary.append((version, minute, count, n_lat, round(sum_lat, 9), prof.n_rows, cols))
    return [tuple(x) for x in rows], summary


def test_json_and_arrow_bodies_reject_the_same_values_alike_and_store_the_same(
    server_factory, store
):
    api = server_factory(auth="off", max_field_bytes=1024)
    for name in ("as-json", "as-arrow"):
        body = {"name": name, "schema": HTTP_SCHEMA}
        assert api.post("/api/v1/models", json=body).status_code == 201
    records = _http_records(time.time())
    as_json = api.post(
        "/api/v1/models/as-json/predictions",
        content=json.dumps({"records": records}).encode(),  # NaN and Infinity as Python writes
        headers={"Content-Type": "application/json"},
    )
    as_arrow = api.post(
        "/api/v1/models/as-arrow/predictions", content=_arrow(records), headers=ARROW
    )
    assert as_json.status_code == as_arrow.status_code == 207, as_arrow.text
    answer = as_json.json()
    assert answer == as_arrow.json()
    assert [r["index"] for r in answer["rejected"]] == [3, 5, 8, 11, 13, 17, 19, 23, 27, 29, 31, 37]
    fields = {r["index"]: [e["field"] for e in r["errors"]] for r in answer["rejected"]}
    assert fields[3] == ["records[3].inputs.age"] and fields[31] == ["records[31].outputs"]
    json_rows, json_rollups = _stored(store, store.get_model("as-json").id)
    arrow_rows, arrow_rollups = _stored(store, store.get_model("as-arrow").id)
    assert len(json_rows) == 28 and arrow_rows == json_rows
    assert sum(r[2] for r in json_rollups) == 28 and arrow_rollups == json_rollups


def test_rollups_from_columns_count_missing_inputs_as_nulls(tmp_path):
    """Records lacking an input, or sending it as null, are nulls in the minute profile,
    whether the aggregator folds the batch from the ingest columns or reads it back."""
    from vigil.store.ingest.aggregation import RecentBatches

    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    ing = Ingestor(store)
    now = time.time() // 60 * 60 - 120  # one whole minute, two minutes ago
    records = []
    for i in range(300):
        inputs: dict[str, Any] = {"age": float(i) if i % 5 else None, "plan": "ab"[i % 2]}
        if i % 3 == 0:
            del inputs["plan"]
        records.append({"id": f"r{i}", "ts": now + i * 0.1, "inputs": inputs, "outputs": 1})
    expected = {
        "age": (sum(1 for r in records if r["inputs"]["age"] is not None), 300),
        "plan": (sum(1 for r in records if "plan" in r["inputs"]), 300),
    }
    profiles = []
    for name, memory in (("from-columns", True), ("read-back", False)):
        store.recent_batches = RecentBatches(max_rows=10_000 if memory else 0)
        ing.register_model({"name": name, "schema": HTTP_SCHEMA})
        assert ing.ingest_predictions(name, records).accepted == 300
        model_id = store.get_model(name).id
        if memory:
            assert store.recent_batches._rows  # the batch waits in memory as columns
        _, summary = _stored(store, model_id)
        assert not store.recent_batches._rows
        ((_, _, count, _, _, n_rows, cols),) = summary
        assert count == n_rows == 300
        for feature, (non_null, total) in expected.items():
            assert cols[feature][0] == non_null and sum(cols[feature][:2]) == total
        profiles.append(summary)
    assert profiles[0] == profiles[1]
    store.close()


def test_arrow_inputs_fold_from_their_columns_to_the_rollups_of_json_lists(tmp_path):
    """The inputs of an Arrow body reach the fold as the typed columns the checks took
    (floats as arrays, strings as lists): the minute rollups, row subsets per version and
    minute included, equal those of the same records sent as JSON."""
    import sqlalchemy as sa
    from support.arrow_bodies import arrow_stream

    from vigil.profile import Profile
    from vigil.server.arrow_body import columns_from_arrow
    from vigil.store import open_store
    from vigil.store import tables as t

    store = open_store(f"sqlite:///{tmp_path}/v.db")
    store.recent_batches.max_rows = 10_000  # as with the server's aggregator loop
    ingestor = Ingestor(store)
    schema = {
        "features": [
            {"name": "age", "kind": "numeric"},
            {"name": "plan", "kind": "categorical"},
            {"name": "note", "kind": "text"},
        ]
    }
    now = time.time() // 60 * 60
    records = [
        {
            "id": f"r{i}",
            "version": "ab"[i % 2],
            "ts": now - 120 + i,  # five minutes, two versions: the fold takes row subsets
            "inputs": {
                "age": float(i % 17),
                "plan": None if i % 11 == 0 else f"plan-{i % 7}",
                "note": f"note {i % 5} é",
            },
        }
        for i in range(300)
    ]
    summaries = []
    for name, body in (
        ("as-json", records),
        (
            "as-arrow",
            columns_from_arrow(
                arrow_stream(records, ("id", "version", "ts"), ("age", "plan", "note"))
            ),
        ),
    ):
        ingestor.register_model({"name": name, "task": "regression", "schema": schema})
        assert ingestor.ingest_predictions(name, body).accepted == 300
        model_id = store.get_model(name).id
        assert store.recent_batches._rows  # folded from memory, not read back
        store.fold_pending(model_id)
        with store.read() as conn:
            blobs = conn.execute(
                sa.select(t.rollups.c.version, t.rollups.c.minute, t.rollups.c.profile)
                .where(t.rollups.c.model_id == model_id)
                .order_by(t.rollups.c.version, t.rollups.c.minute)
            ).all()
        summaries.append([(v, m, Profile.from_bytes(bytes(b)).to_dict()) for v, m, b in blobs])
    assert len(summaries[0]) == 10  # five minutes, two versions
    assert summaries[0] == summaries[1]
    plan = summaries[1][0][2]["columns"]["plan"]
    assert plan["null_count"] > 0 and plan["count"] > 0
