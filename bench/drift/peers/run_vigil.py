"""vigil's default ``detect_drift`` (KS / chi-squared, BH across columns, effect floors)."""

from __future__ import annotations

from typing import Any

from _common import run

import vigil
from vigil.drift import detect_drift


def detect(ref: Any, cur: Any, num: list[str], cat: list[str]) -> list[str]:
    return list(detect_drift(ref, cur).drifted_columns)


if __name__ == "__main__":
    run(vigil.__version__, detect)
