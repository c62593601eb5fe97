"""``vigil profile`` through a Typer app of its own (the main app registers the same function)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from vigil.cli.profile import profile_command
from vigil.profile import Profile

app = typer.Typer()
app.command("profile")(profile_command)
app.command("other")(lambda: None)  # a second command keeps "profile" as a subcommand
runner = CliRunner()


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 5000
    return pd.DataFrame(
        {
            "x": rng.normal(5, 2, n),
            "plan": rng.choice(["free", "pro", "team"], n),
            "n": rng.integers(0, 100, n),
        }
    )


def test_parquet_streamed_in_batches_matches_in_memory(tmp_path: Path, frame) -> None:
    src = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(frame), src, row_group_size=700)
    out = tmp_path / "sub" / "data.profile"
    result = runner.invoke(
        app,
        [
            "profile",
            str(src),
            "-o",
            str(out),
            "--batch-size",
            "512",
            "--json",
            str(tmp_path / "p.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "5,000 rows" in result.output
    streamed = Profile.from_bytes(out.read_bytes())
    whole = Profile.from_frame(frame)
    assert streamed.n_rows == 5000
    for name in frame.columns:
        s, w = streamed[name], whole[name]
        assert (s.kind, s.count, s.null_count, s.min, s.max) == (
            w.kind,
            w.count,
            w.null_count,
            w.min,
            w.max,
        )
        if w.mean is None:  # categorical columns have no moments
            assert s.mean is None
        else:
            assert s.mean == pytest.approx(w.mean, rel=1e-12)
        assert s.frequent_items(3) == w.frequent_items(3)
    summary = orjson.loads((tmp_path / "p.json").read_bytes())
    assert summary["n_rows"] == 5000


def test_csv_with_kinds_and_nulls(tmp_path: Path, frame) -> None:
    src = tmp_path / "data.csv"
    frame.loc[::10, "x"] = np.nan
    frame.to_csv(src, index=False)
    out = tmp_path / "data.profile"
    result = runner.invoke(
        app, ["profile", str(src), "-o", str(out), "--kind", "n=categorical", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    p = Profile.from_bytes(out.read_bytes())
    assert p["n"].kind == "categorical"
    assert (p["x"].count, p["x"].null_count) == (4500, 500)
    assert p["x"].mean == pytest.approx(frame["x"].mean(), rel=1e-9)


def test_tsv_and_explicit_format(tmp_path: Path) -> None:
    src = tmp_path / "data.tsv"
    src.write_text("a\tb\n1\tx\n2\ty\n")
    out = tmp_path / "o.profile"
    assert runner.invoke(app, ["profile", str(src), "-o", str(out)]).exit_code == 0
    assert Profile.from_bytes(out.read_bytes())["b"].item_counts() == {"x": 1, "y": 1}
    odd = tmp_path / "data.txt"
    odd.write_text("a,b\n1,x\n")
    assert (
        runner.invoke(app, ["profile", str(odd), "-o", str(out), "--format", "csv"]).exit_code == 0
    )


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, [], "no such file"),
        ("data.xlsx", [], "cannot tell the format"),
        ("data.csv", ["--format", "orc"], "format must be one of parquet, csv, tsv"),
        ("data.csv", ["--kind", "a"], "NAME=KIND"),
        ("data.csv", ["--kind", "zz=numeric"], "does not have: ['zz']"),
        ("data.csv", ["--kind", "b=numeric"], "not numbers"),
        ("data.parquet", [], "cannot read"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_1(
    tmp_path: Path, setup: str | None, args: list[str], message: str
) -> None:
    name = setup or "missing.parquet"
    if setup is not None:
        (tmp_path / name).write_text("a,b\n1,x\n")  # not a real Parquet file for .parquet
    cmd = ["profile", str(tmp_path / name), "-o", str(tmp_path / "o.profile"), *args]
    result = runner.invoke(app, cmd)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "o.profile").exists()
