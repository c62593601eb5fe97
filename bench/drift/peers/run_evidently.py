"""Evidently's ``DataDriftPreset`` with its defaults (its own choice of test per column:
Wasserstein distance (normed) / Jensen-Shannon above 1,000 rows, each at threshold 0.1)."""

from __future__ import annotations

from typing import Any

import evidently
from _common import run
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def detect(ref: Any, cur: Any, num: list[str], cat: list[str]) -> list[str]:
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    flagged = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        # p-value tests drift below their threshold, distances at or above it
        drift = value < threshold if "p_value" in config["method"] else value >= threshold
        if drift:
            flagged.append(config["column"])
    return flagged


if __name__ == "__main__":
    run(evidently.__version__, detect)
