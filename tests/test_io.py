"""vigil.io: the one reader of data files and bodies, checked against files pandas wrote."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vigil.errors import InvalidParameterError
from vigil.io import body_format, file_format, read_arrow, read_frame

FRAME = pd.DataFrame({"x": [1.5, -2.0, 3.25], "plan": ["pro", "free", "pro"], "n": [1, 2, 3]})


def _write(path: Path) -> Path:
    fmt = path.suffix
    if fmt in (".parquet", ".pq"):
        FRAME.to_parquet(path)
    elif fmt == ".csv":
        FRAME.to_csv(path, index=False)
    elif fmt == ".tsv":
        FRAME.to_csv(path, index=False, sep="\t")
    elif fmt == ".json":
        FRAME.to_json(path, orient="records")
    else:
        FRAME.to_json(path, orient="records", lines=True)
    return path


@pytest.mark.parametrize(
    "name", ["d.parquet", "d.pq", "d.csv", "d.tsv", "d.json", "d.jsonl", "d.ndjson"]
)
def test_every_format_reads_back_what_pandas_wrote(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path / name)
    pd.testing.assert_frame_equal(read_frame(path)[list(FRAME.columns)], FRAME, check_dtype=False)
    table = read_arrow(path)
    assert table.column("plan").to_pylist() == ["pro", "free", "pro"]
    assert table.column("x").to_pylist() == [1.5, -2.0, 3.25]
    pd.testing.assert_frame_equal(
        read_frame(path.read_bytes(), file_format(path))[list(FRAME.columns)],
        FRAME,
        check_dtype=False,
    )


def test_a_named_format_wins_over_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    FRAME.to_csv(path, index=False)
    assert read_frame(path, "csv")["n"].tolist() == [1, 2, 3]
    with pytest.raises(InvalidParameterError, match=r"cannot tell the format of 'data\.txt'"):
        read_frame(path)


def test_json_records_may_be_wrapped() -> None:
    body = b'{"records": [{"a": 1}, {"a": 2}]}'
    assert read_frame(body, "json")["a"].tolist() == [1, 2]
    assert read_arrow(body, "json").column("a").to_pylist() == [1, 2]


def test_bodies_are_told_apart_by_magic_and_content_type(tmp_path: Path) -> None:
    parquet = _write(tmp_path / "d.parquet").read_bytes()
    assert body_format(parquet, None) == "parquet"
    assert body_format(b"x", "application/vnd.apache.parquet") == "parquet"
    assert body_format(b"a,b\n", "text/csv; charset=utf-8") == "csv"
    assert body_format(b"a\tb\n", "text/tab-separated-values") == "tsv"
    assert body_format(b"{}\n{}\n", "application/x-ndjson") == "jsonl"
    assert body_format(b"[]", None) == "json"


@pytest.mark.parametrize(
    ("setup", "fmt", "message"),
    [
        ("missing", None, "no such file"),
        ("folder", None, "is a folder"),
        ("d.xlsx", None, "cannot tell the format"),
        ("d.csv", "orc", "the format must be one of parquet, csv, tsv, json, jsonl. Got 'orc'"),
        ("d.parquet", None, "as parquet"),
        ("d.json", None, "as JSON"),
        ("list.json", None, "must be a list of objects"),
    ],
)
def test_the_same_one_line_errors_everywhere(
    tmp_path: Path, setup: str, fmt: str | None, message: str
) -> None:
    path = tmp_path / setup
    if setup == "folder":
        path.mkdir()
    elif setup == "list.json":
        path.write_text("[1, 2]")
    elif setup != "missing":
        path.write_text("not the format at all")
    for read in (read_frame, read_arrow):
        with pytest.raises(InvalidParameterError, match=message):
            read(path, fmt)


def test_bad_bodies_are_invalid_parameters() -> None:
    with pytest.raises(InvalidParameterError, match="empty"):
        read_frame(b"", "json")
    with pytest.raises(InvalidParameterError, match="cannot read the body as parquet"):
        read_frame(b"PAR1garbage", "parquet")
    with pytest.raises(InvalidParameterError, match="format must be one of"):
        read_frame(b"a,b", None)
