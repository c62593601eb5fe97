"""whylogs: profile both sides (``why.log``), then ``calculate_drift_scores`` on the two
profile views with its default thresholds (KS on the profiles' quantile sketches for
numeric columns, chi-squared on frequent items for categorical ones; p < 0.05 is
"DRIFT", 0.05-0.15 "POSSIBLE_DRIFT"). A column is flagged when its category is DRIFT."""

from __future__ import annotations

from typing import Any

import whylogs
from _common import run
from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores


def detect(ref: Any, cur: Any, num: list[str], cat: list[str]) -> list[str]:
    ref_view = whylogs.log(pandas=ref).view()
    cur_view = whylogs.log(pandas=cur).view()
    scores = calculate_drift_scores(
        target_view=cur_view, reference_view=ref_view, with_thresholds=True
    )
    return [c for c, s in scores.items() if s and s.get("drift_category") == "DRIFT"]


if __name__ == "__main__":
    run(whylogs.__version__, detect)
