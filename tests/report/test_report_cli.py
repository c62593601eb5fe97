"""``vigil report drift`` through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from vigil.cli.report import app

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=800), "c": rng.choice(["a", "b"], 800)})
    cur = pd.DataFrame({"x": rng.normal(1, 1, 800), "c": ref["c"].sample(frac=1, random_state=1)})
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    return tmp_path / "ref.parquet", tmp_path / "cur.csv"


def test_drift_writes_html_and_json(files: tuple[Path, Path], tmp_path: Path) -> None:
    ref, cur = files
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    res = runner.invoke(app, ["drift", str(ref), str(cur), "-o", str(out), "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    data = json.loads(js.read_text())
    assert data["drifted_columns"] == ["x"]
    assert "Data set: drift" in res.output
    assert "ks" in res.output  # the Rich summary table


def test_fail_on_drift_and_options(files: tuple[Path, Path], tmp_path: Path) -> None:
    ref, cur = files
    res = runner.invoke(
        app,
        [
            "drift",
            str(ref),
            str(cur),
            "-o",
            str(tmp_path / "r.html"),
            "--fail-on-drift",
            "--column-method",
            "x=psi",
            "--multivariate",
            "none",
            "-q",
        ],
    )
    assert res.exit_code == 2
    res = runner.invoke(
        app, ["drift", str(ref), str(ref), "-o", str(tmp_path / "s.html"), "--fail-on-drift", "-q"]
    )
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.parquet", "{cur}"], "no such file"),
        (["{ref}", "{bad}"], "cannot read"),
        (["{ref}", "{txt}"], "cannot tell the format"),
        (["{ref}", "{cur}", "--method", "nope"], "Unknown drift method"),
        (["{ref}", "{cur}", "--column-method", "x"], "NAME=METHOD"),
    ],
)
def test_user_mistakes_are_one_line_errors(
    files: tuple[Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    ref, cur = files
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    txt = tmp_path / "data.txt"
    txt.write_text("x\n1\n")
    paths = {"ref": ref, "cur": cur, "bad": bad, "txt": txt}
    argv = ["drift", *[a.format(**paths) for a in args], "-o", str(tmp_path / "r.html")]
    res = runner.invoke(app, argv)
    assert res.exit_code == 1
    assert message in res.output
    assert "Traceback" not in res.output
