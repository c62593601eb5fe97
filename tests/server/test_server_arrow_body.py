"""Arrow IPC stream bodies give the same records as JSON bodies (vigil/server/arrow_body)."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pyarrow as pa
import pytest
import sqlalchemy as sa

from vigil.engine.ingest.payload import parse_json
from vigil.errors import InvalidParameterError
from vigil.server.arrow_body import records_from_arrow

JSON_RECORDS: list[dict[str, Any]] = [
    {
        "id": "p1",
        "version": "3",
        "ts": 1_700_000_000.25,
        "latency_s": 0.012,
        "inputs": {"age": 31.0, "plan": "pro", "tenure": 4.0},
        "outputs": 1,
        "proba": [0.2, 0.8],
        "subject_id": "u1",
    },
    {
        "id": "p2",
        "version": "3",
        "ts": 1_700_000_001.5,
        "latency_s": 0.4,
        "inputs": {"age": 54.0, "plan": None, "tenure": 12.0},
        "outputs": 0,
        "error": "timeout: took 0.4 s > budget 0.25 s",
        "error_type": "timeout",
    },
    {
        "id": "p3",
        "version": "4",
        "ts": 1_700_000_002.0,
        "inputs": {"age": 22.0, "plan": "free", "tenure": None},
        "outputs": None,
        "error": "OOVError: unknown plan",
        "error_type": "OOVError",
    },
]


def stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=2):  # several record batches
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def columns(records: list[dict[str, Any]], *, struct_inputs: bool) -> dict[str, Any]:
    """The records as Arrow columns, built independently of the code under test."""
    out: dict[str, Any] = {}
    for key in ("id", "version", "ts", "latency_s", "error", "error_type", "subject_id", "outputs"):
        out[key] = [r.get(key) for r in records]
    out["proba"] = pa.array([r.get("proba") for r in records], pa.list_(pa.float64()))
    if struct_inputs:
        out["inputs"] = [r["inputs"] for r in records]
    else:
        for name in records[0]["inputs"]:
            out[f"inputs.{name}"] = [r["inputs"][name] for r in records]
    return out


def without_nulls(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Top-level nulls and absent fields mean the same thing to the Ingestor."""
    return [{k: v for k, v in r.items() if v is not None} for r in records]


@pytest.mark.parametrize("struct_inputs", [False, True], ids=["inputs.<name>", "struct"])
def test_an_arrow_stream_gives_the_json_records(struct_inputs):
    from_json, json_non_finite = parse_json(orjson.dumps({"records": JSON_RECORDS}))
    table = pa.table(columns(JSON_RECORDS, struct_inputs=struct_inputs))
    records, non_finite = records_from_arrow(stream(table))
    assert records == without_nulls(from_json["records"])
    assert non_finite is json_non_finite is False
    assert [r["inputs"] for r in records] == [r["inputs"] for r in JSON_RECORDS]


def test_timestamps_durations_dictionaries_decimals_and_maps_become_json_values():
    import datetime as dt
    from decimal import Decimal

    table = pa.table(
        {
            "ts": pa.array([dt.datetime(2023, 11, 14, 22, 13, 20, 250000)], pa.timestamp("ms")),
            "latency_s": pa.array([dt.timedelta(milliseconds=12)], pa.duration("us")),
            "inputs.plan": pa.array(["pro"]).dictionary_encode(),
            "inputs.price": pa.array([Decimal("9.50")], pa.decimal128(5, 2)),
            "proba": pa.array([[("yes", 0.75), ("no", 0.25)]], pa.map_(pa.string(), pa.float64())),
        }
    )
    (rec,), _ = records_from_arrow(stream(table))
    assert set(rec) == {"ts", "latency_s", "inputs", "proba"}
    assert rec["ts"] == pytest.approx(1_700_000_000.25)
    assert rec["latency_s"] == pytest.approx(0.012)
    assert rec["inputs"] == {"plan": "pro", "price": 9.5}
    assert rec["proba"] == {"yes": 0.75, "no": 0.25}
    zoned = pa.table({"ts": pa.array([0], pa.timestamp("s", tz="Europe/Paris"))})
    assert records_from_arrow(stream(zoned))[0][0]["ts"] == 0.0  # Arrow stores UTC


@pytest.mark.parametrize("column", ["inputs.age", "outputs", "proba", "inputs"])
def test_nan_and_infinity_are_reported_like_the_json_parser_does(column):
    values: dict[str, Any] = {
        "inputs.age": [1.0, math.nan],
        "outputs": [1.0, math.inf],
        "proba": pa.array([[0.5, 0.5], [math.nan, 1.0]], pa.list_(pa.float64())),
        "inputs": [{"x": {"deep": 1.0}}, {"x": {"deep": -math.inf}}],
    }
    table = pa.table({"id": ["a", "b"], column: values[column]})
    records, non_finite = records_from_arrow(stream(table))
    assert non_finite is True
    assert len(records) == 2
    clean = pa.table({"id": ["a"], "inputs.age": [1.0]})
    assert records_from_arrow(stream(clean))[1] is False


def test_an_empty_stream_has_no_records():
    schema = pa.schema([("id", pa.string()), ("inputs.x", pa.float64())])
    assert records_from_arrow(stream(schema.empty_table())) == ([], False)


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        (b"not arrow at all", "body", "not a readable Arrow IPC stream"),
        (b"", "body", "not a readable Arrow IPC stream"),
        ("file-format", "body", "not a readable Arrow IPC stream"),
        ("truncated", "body", "not a readable Arrow IPC stream"),
        ({"id": ["a"], "colour": ["red"]}, "colour", "unknown columns ['colour']"),
        ({"id": ["a"], "inputs.": [1]}, "inputs.", "unknown columns"),
        ({"inputs": [{"x": 1}], "inputs.x": [1]}, "inputs", "both an 'inputs' struct"),
        ({"inputs.x": pa.array([b"\x00"], pa.binary())}, "inputs.x", "binary"),
        ({"inputs": pa.array([{"b": b"x"}])}, "inputs", "binary"),
        ({"outputs": pa.array([0], pa.date32())}, "outputs", "only 'ts' may be a timestamp"),
    ],
)
def test_bad_streams_are_refused_naming_the_column(body, field, needle):
    if body == "file-format":
        sink = pa.BufferOutputStream()
        table = pa.table({"id": ["a"]})
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        body = sink.getvalue().to_pybytes()
    elif body == "truncated":
        body = stream(pa.table({"id": ["a"] * 100, "inputs.x": list(range(100))}))[:-40]
    elif isinstance(body, dict):
        body = stream(pa.table(body))
    with pytest.raises(InvalidParameterError, match=needle.replace("[", r"\[")) as info:
        records_from_arrow(body)
    assert info.value.details == {"field": field}


def test_duplicate_columns_are_refused():
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["id", "id"])
    with pytest.raises(InvalidParameterError, match="duplicate columns"):
        records_from_arrow(stream(table))


@pytest.mark.parametrize("struct_inputs", [False, True], ids=["inputs.<name>", "struct"])
def test_the_ingestor_answers_both_bodies_alike(store, struct_inputs):
    """Both bodies through the same Ingestor: the same accepted records, the same
    per-record rejections (here: a NaN input and a negative latency)."""
    from vigil.engine.ingest.ingestor import Ingestor

    schema = {
        "features": [
            {"name": "age", "kind": "numeric"},
            {"name": "plan", "kind": "categorical"},
            {"name": "tenure", "kind": "numeric"},
        ]
    }
    bad = [
        dict(JSON_RECORDS[0], id="p4", inputs={"age": math.nan, "plan": "pro", "tenure": 1.0}),
        dict(JSON_RECORDS[0], id="p5", latency_s=-1.0),
    ]
    # error_type left out: the server accepts it from the datapath branch on; the
    # conversion of that column is checked above.
    records = [{k: v for k, v in r.items() if k != "error_type"} for r in JSON_RECORDS + bad]
    ingestor = Ingestor(store)
    answers = []
    # Ids differ per model: before the datapath branch, ids are global across models.
    as_arrow_records = [dict(r, id=f"a-{r['id']}") for r in records]
    for name, body_records, non_finite in (
        ("as-json", *_json_records(records)),
        (
            "as-arrow",
            *records_from_arrow(
                stream(pa.table(columns(as_arrow_records, struct_inputs=struct_inputs)))
            ),
        ),
    ):
        ingestor.register_model({"name": name, "task": "binary_classification", "schema": schema})
        result = ingestor.ingest_predictions(name, body_records, non_finite=non_finite)
        answers.append(result.to_dict())
    as_json, as_arrow = answers
    assert as_json["accepted"] == as_arrow["accepted"] == 3
    assert [(r["index"], r["id"]) for r in as_json["rejected"]] == [(3, "p4"), (4, "p5")]
    assert [dict(r, id=r["id"][2:]) for r in as_arrow["rejected"]] == as_json["rejected"]


def _json_records(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """The records through the JSON route's parser; NaN spelled as Python's json does."""
    import json

    value, non_finite = parse_json(json.dumps({"records": records}).encode())
    return value["records"], non_finite


def test_the_inputs_text_built_per_column_is_what_orjson_writes_for_each_record():
    """Arrow bodies whose inputs are float and plain string columns get each record's
    inputs JSON built per column; it must be byte for byte the text of the dict path."""
    from vigil.server.arrow_body import columns_from_arrow

    xs = [0.1, 100.0, -0.0, 1e16, 5e-324, 1.7976931348623157e308, None, 123456.789, -2.5e-7, 3]
    n = len(xs)
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "inputs.x": pa.array(xs, pa.float64()),
            "inputs.y": pa.array([i / 3 for i in range(n)], pa.float32()),
            "inputs.plan": ["pro", "é", "日本", "", "a b", "x" * 300, "%s", "{}", "null", "'q'"],
            'inputs.odd "key" %s': pa.array([float(i) for i in range(n)]),
            "inputs.count": pa.array([i * 10**15 - 7 for i in range(n)], pa.int64()),
            "inputs.small": pa.array(list(range(n)), pa.uint8()),
        }
    )
    orders = [
        table.column_names,  # a float column last
        ["id", "inputs.plan", "inputs.x", "inputs.y", 'inputs.odd "key" %s', "inputs.plan2"],
        ["id", "inputs.plan", "inputs.plan2"],  # strings only
        ["id", "inputs.y"],  # one float
        ["id", "inputs.count", "inputs.plan", "inputs.small"],  # integers first and last
    ]
    table = table.append_column("inputs.plan2", pa.array(["q"] * n))
    for order in orders:
        body = stream(table.select(order))
        cols = columns_from_arrow(body)
        records, non_finite = records_from_arrow(body)
        assert not non_finite
        assert cols.input_texts == [orjson.dumps(r["inputs"]).decode() for r in records], order
    assert orjson.loads(columns_from_arrow(stream(table)).input_texts[6])["x"] is None


@pytest.mark.parametrize(
    "column",
    [
        pa.array(['say "hi"', "b", "c"]),
        pa.array(["back\\slash", "b", "c"]),
        pa.array(["new\nline", "b", "c"]),
        pa.array(["a", None, "c"]),
        pa.array([1, None, 3]),
        pa.array([1, 2, 2**64 - 1], pa.uint64()),
        pa.array([True, False, True]),
        pa.array(["a", "b", "a"]).dictionary_encode(),
        pa.array([1.0, float("nan"), 2.0]),
    ],
    ids=[
        "quote",
        "backslash",
        "control",
        "null-string",
        "null-int",
        "uint64",
        "bool",
        "dictionary",
        "nan",
    ],
)
def test_inputs_the_columns_cannot_spell_go_the_dict_way_and_store_the_same(store, column):
    """Strings JSON escapes, nullable strings and other types are written per record
    (no text from the columns); either way the stored inputs are those of a JSON body."""
    from vigil.engine.ingest.ingestor import Ingestor
    from vigil.server.arrow_body import columns_from_arrow

    table = pa.table({"id": ["a", "b", "c"], "ts": [1.7e9] * 3, "inputs.v": column})
    cols = columns_from_arrow(stream(table))
    assert cols.input_texts is None
    ingestor = Ingestor(store)
    records, non_finite = records_from_arrow(stream(table))
    stored = []
    for name, body in (("as-arrow", cols), ("as-json", records)):
        ingestor.register_model({"name": name, "task": "regression"})
        ingestor.ingest_predictions(name, body, non_finite=non_finite)
        with store.read() as conn:
            stored.append(
                conn.execute(
                    sa.text(
                        "SELECT p.id, p.inputs FROM predictions p JOIN models m ON m.id = "
                        "p.model_id WHERE m.name = :name ORDER BY p.id"
                    ),
                    {"name": name},
                ).all()
            )
    assert stored[0] == stored[1]
    assert len(stored[0]) == (2 if "nan" in repr(column) else 3)
