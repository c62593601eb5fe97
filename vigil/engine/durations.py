"""Durations as people write them in rules and requests: ``"90s"``, ``"5m"``, ``"1h30m"``.

Shared by alert rules, silences, actions and the insight features, so it sits below all
of them.

Examples:
    >>> parse_duration("1h30m"), format_duration(5400.0)
    (5400.0, '1h30m')
"""

from __future__ import annotations

import re
from typing import Any

from vigil.errors import ValidationFailedError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any, field_name: str = "duration") -> float:
    """Seconds from ``"90s"``, ``"5m"``, ``"1h30m"``, ``"7d"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValidationFailedError(f"'{field_name}' must be a duration like '5m'. Got {value!r}.")
    if isinstance(value, int | float):
        if value < 0:
            raise ValidationFailedError(f"'{field_name}' must not be negative. Got {value!r}.")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        parts = _DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return float(sum(float(n) * _UNIT[u] for n, u in parts))
    raise ValidationFailedError(
        f"'{field_name}' must be a duration like '30s', '5m', '1h30m', '7d' or a number of "
        f"seconds. Got {value!r}.",
        details=[{"field": field_name, "reason": "not a duration"}],
    )


def format_duration(seconds: float) -> str:
    """``5400.0`` -> ``"1h30m"`` (the shortest exact form)."""
    if seconds == 0:
        return "0s"
    out, rest = [], seconds
    for unit in ("w", "d", "h", "m", "s"):
        n = int(rest // _UNIT[unit])
        if n:
            out.append(f"{n}{unit}")
            rest -= n * _UNIT[unit]
    if rest > 1e-9:
        out.append(f"{round(rest * 1000)}ms")
    return "".join(out)
