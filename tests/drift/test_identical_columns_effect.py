"""Identical columns report an effect of exactly 0 (never -1.6e-18), in Python and in JSON.

Floating residue of the running integrals used to leak out as tiny negative effects and a
2e-9 energy distance. A genuinely small difference must still read non-zero: scipy is the
oracle for that side.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import vigil
from vigil.drift.batch import EnergyDistance, Wasserstein

NUMERIC_METHODS = (
    "auto",
    "ks",
    "cvm",
    "anderson",
    "wasserstein",
    "energy",
    "psi",
    "jensenshannon",
    "hellinger",
    "kl",
)


def _frame(seed: int = 0, n: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "normal": rng.normal(size=n),
            "offset": 1e6 + rng.normal(scale=3.0, size=n),  # large magnitude, small spread
            "ints": rng.integers(0, 5, n),
            "ties": np.round(rng.normal(size=n) * 3) / 3,
            "plan": rng.choice(["a", "b", "c"], n),
        }
    )


@pytest.mark.parametrize("method", NUMERIC_METHODS)
def test_identical_numeric_columns_have_zero_effect(method: str) -> None:
    df = _frame()
    per_column = {"plan": "chi2"} if method != "auto" else None
    report = vigil.detect_drift(df, df.copy(), method=method, per_column=per_column)
    for col in report.columns:
        assert not col.drifted, col
        if col.effect_size is not None:
            assert col.effect_size == 0.0, (col.column, method, col.effect_size)
            assert not np.signbit(col.effect_size), (col.column, method)
        if col.p_value is None and col.statistic is not None:  # a distance: its own effect
            assert col.statistic == 0.0, (col.column, method, col.statistic)


def test_zero_effect_reaches_the_json_not_only_the_display() -> None:
    df = _frame(1)
    data = json.loads(vigil.detect_drift(df, df.copy()).to_json())
    effects = {name: c["effect_size"] for name, c in data["columns"].items()}
    assert effects == dict.fromkeys(effects, 0.0)
    assert all(isinstance(v, float) and str(v) == "0.0" for v in effects.values())


def test_cli_report_json_says_zero(tmp_path) -> None:
    df = _frame(2, 1_000)
    path = tmp_path / "same.parquet"
    df.to_parquet(path)
    out_json = tmp_path / "out.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil.cli.main",
            "report",
            "drift",
            str(path),
            str(path),
            "-o",
            str(tmp_path / "r.html"),
            "--json",
            str(out_json),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    columns = json.loads(out_json.read_text())["columns"]
    assert {c["effect_size"] for c in columns.values()} == {0.0}
    assert "e-1" not in out_json.read_text().split('"distributions"')[0]


@pytest.mark.parametrize("delta", [1e-6, 1e-3])
def test_small_real_differences_are_not_rounded_away(delta: float) -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(size=3_000)
    b = a.copy()
    b[:10] += delta
    w = Wasserstein().fit(a).compare(b)
    assert w.statistic == pytest.approx(stats.wasserstein_distance(a, b) / a.std(), rel=1e-6)
    assert w.statistic > 0
    e = EnergyDistance().fit(a).compare(b)
    sd = a.std()
    assert e.statistic == pytest.approx(stats.energy_distance(a / sd, b / sd), rel=1e-4)
    assert e.statistic > 0


def test_identical_single_value_windows() -> None:
    a = np.array([0.1, 0.2, 0.3, 0.7])
    r = Wasserstein().fit(a).compare(a.copy())
    assert r.statistic == 0.0
    assert EnergyDistance().fit(a).compare(a.copy()).statistic == 0.0
