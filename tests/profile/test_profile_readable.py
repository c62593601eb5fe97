"""``vigil profile`` reads at 80 columns, and a distinct count never exceeds the row count.

The old eleven-column table was squeezed by rich into ``cus…``/``2,0…`` at 80 columns, and
the HLL estimate said 2,033 distinct values for 2,000 rows. The oracle for counts and
moments is pandas on the same data.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import datasketches as ds
import numpy as np
import orjson
import pandas as pd
import pytest

from vigil.profile import Profile

N = 2_000


def _unique_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "uid": np.arange(N, dtype=float),  # 2,000 unique values: HLL overestimates them
            "user": [f"user-{i:05d}" for i in range(N)],
            "income": rng.lognormal(10, 1, N),
            "plan": rng.choice(["free", "pro", "enterprise-annual"], N, p=[0.5, 0.3, 0.2]),
            "note": [f"free text comment number {i % 40} with some words" for i in range(N)],
            "a_rather_long_feature_name_for_a_column": rng.normal(size=N),
        }
    )


def test_sketch_overestimates_and_the_profile_clamps() -> None:
    raw = ds.hll_sketch(12)
    for v in np.arange(N, dtype=float).tolist():
        raw.update(v)
    assert raw.get_estimate() > N  # the sketch alone says more distinct values than rows

    profile = Profile.from_frame(_unique_frame())
    for name in ("uid", "user"):
        col = profile[name]
        lo, hi = col.distinct_bounds()
        assert col.distinct_estimate <= col.count == N
        assert lo <= col.distinct_estimate <= hi <= N
        assert lo <= N <= hi  # the true count lies inside the 95% bounds
    halves = Profile.from_frame(_unique_frame().iloc[:1000]).merge(
        Profile.from_frame(_unique_frame().iloc[1000:])
    )
    assert halves["uid"].distinct_estimate <= N
    again = Profile.from_bytes(profile.to_bytes())
    assert again["uid"].distinct_estimate <= N
    summary = profile.to_dict()["columns"]["uid"]
    assert summary["distinct_estimate"] <= N
    assert summary["distinct_bounds"][1] <= N


def test_distinct_bounds_edge_cases() -> None:
    empty = Profile.from_columns({"x": [None, None]}, kinds={"x": "numeric"})["x"]
    assert empty.distinct_estimate == 0.0
    assert empty.distinct_bounds() == (0.0, 0.0)
    few = Profile.from_columns({"c": ["a", "b", "a", None]})["c"]
    assert round(few.distinct_estimate) == 2
    lo, hi = few.distinct_bounds(3)
    assert 1.0 <= lo <= 2.0 <= hi <= 3.0
    from vigil.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="num_std"):
        few.distinct_bounds(5)


def _run_profile(src: Path, out: Path, columns: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50"}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "profile", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.parametrize("columns", [80, 120])
def test_profile_output_fits_the_terminal(tmp_path: Path, columns: int) -> None:
    frame = _unique_frame()
    src = tmp_path / "users.parquet"
    frame.to_parquet(src)
    run = _run_profile(src, tmp_path / "users.profile", columns)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    too_long = [line for line in lines if len(line) > columns]
    assert not too_long, too_long
    text = run.stdout
    assert "2,000 rows" in text
    assert "…" not in "".join(line for line in lines if "plan" in line or "uid" in line)

    def row(name: str, table_marker: str | None = None) -> list[str]:
        """The cells of the first line starting with ``name`` (after an optional marker)."""
        start = text.index(table_marker) if table_marker else 0
        for line in text[start:].splitlines():
            cells = line.split()
            if cells and cells[0] == name:
                return cells
        raise AssertionError(f"no row for {name!r} in:\n{text}")

    uid = row("uid")
    assert uid[1:4] == ["numeric", "2,000", "0"]
    shown = int(uid[4].replace(",", ""))
    assert shown <= N
    if len(uid) > 5:  # "2,000 (1,967-2,000)": bounds within the row count
        lo, hi = (int(x.replace(",", "")) for x in re.findall(r"[\d,]+", uid[5]))
        assert lo <= shown <= hi <= N
    assert row("plan")[1:5] == ["categorical", "2,000", "0", "3"]
    income = row("income", "numeric summary")
    assert income[1] == f"{frame['income'].mean():.4g}"
    assert income[2] == f"{frame['income'].std():.4g}"
    assert income[3] == f"{frame['income'].min():.4g}"
    assert income[5] == f"{frame['income'].max():.4g}"
    top = row("plan", "most frequent value")
    counts = frame["plan"].value_counts()
    assert top[1:] == [counts.index[0], f"{counts.iloc[0]:,}"]
    assert "note (length)" in text  # a text column's numeric track says what it measures
    # a long name is folded across lines, never cut to an ellipsis
    long_name = "a_rather_long_feature_name_for_a_column"
    first_cells = [line.split()[0] if line.split() else "" for line in lines]
    start = next(i for i, c in enumerate(first_cells) if long_name.startswith(c) and c)
    joined = first_cells[start]
    for cell in first_cells[start + 1 :]:
        if not cell or not long_name.startswith(joined + cell):
            break
        joined += cell
    assert joined == long_name


def test_narrow_terminal_gets_one_block_per_column(tmp_path: Path) -> None:
    src = tmp_path / "users.parquet"
    _unique_frame().to_parquet(src)
    run = _run_profile(src, tmp_path / "users.profile", 50)
    assert run.returncode == 0, run.stderr
    assert max(map(len, run.stdout.splitlines())) <= 50
    blocks = {b.splitlines()[0]: b for b in run.stdout.split("\n\n")}
    assert "2,000 rows" in run.stdout
    uid = blocks["uid (numeric)"]
    assert "count 2,000  nulls 0" in uid
    shown = re.search(r"distinct ([\d,]+)", uid)
    assert shown is not None
    assert int(shown.group(1).replace(",", "")) <= N
    assert "top free (" in blocks["plan (categorical)"]
    assert "length mean" in blocks["note (text)"]


def test_json_summary_has_the_clamped_estimate(tmp_path: Path) -> None:
    src = tmp_path / "u.csv"
    _unique_frame()[["uid", "user"]].to_csv(src, index=False)
    out_json = tmp_path / "u.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil.cli.main",
            "profile",
            str(src),
            "-o",
            str(tmp_path / "u.profile"),
            "--json",
            str(out_json),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    columns = orjson.loads(out_json.read_bytes())["columns"]
    for name in ("uid", "user"):
        assert columns[name]["distinct_estimate"] <= N
        assert columns[name]["distinct_bounds"][1] <= N
