"""Waiting for a condition instead of sleeping: a loaded machine only makes it slower."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(
    predicate: Callable[[], Any], timeout_s: float = 30.0, message: str = "the condition never held"
) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or fail after
    ``timeout_s`` -- generous, so a busy 2-core machine passes too."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{message} within {timeout_s:g} s"
        time.sleep(0.05)
