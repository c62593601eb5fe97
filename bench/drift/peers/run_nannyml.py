"""NannyML's ``UnivariateDriftCalculator`` with its default methods (Jensen-Shannon on
both kinds) and thresholds (reference mean ± 3 standard deviations of the statistic over
the reference's chunks). NannyML compares chunks, so both sides are cut into 10 chunks of
n/10 rows; a column is flagged when more than half of the current side's chunks alert (a
single chunk per side leaves the standard deviation at 0 and every column alerting)."""

from __future__ import annotations

import warnings
from typing import Any

import nannyml as nml
from _common import run

CHUNKS = 10


def detect(ref: Any, cur: Any, num: list[str], cat: list[str]) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calc = nml.UnivariateDriftCalculator(
            column_names=num + cat,
            treat_as_categorical=cat,
            chunk_size=max(len(ref) // CHUNKS, 1),
        )
        calc.fit(ref)
        frame = calc.calculate(cur).filter(period="analysis").to_df()
    flagged = []
    for col in num + cat:
        alerts = frame[col].xs("alert", axis=1, level=-1)
        share = alerts.to_numpy(dtype=bool).any(axis=1).mean()
        if share > 0.5:
            flagged.append(col)
    return flagged


if __name__ == "__main__":
    run(nml.__version__, detect)
