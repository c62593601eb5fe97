"""Fixtures for SDK tests: Monitors on a MemoryTransport with a private spool."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import vigil.sdk
from vigil.sdk import MemoryTransport, Monitor

#: The folder that holds the ``vigil`` package being tested.
SOURCE_ROOT = Path(vigil.sdk.__file__).resolve().parents[2]


@pytest.fixture
def child_env() -> dict[str, str]:
    """Environment for a child Python that imports this very checkout of vigil."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


@pytest.fixture
def sink() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def make_monitor(tmp_path: Path, sink: MemoryTransport) -> Iterator[Callable[..., Monitor]]:
    """Build Monitors that never wake on their own (flush explicitly); closed at teardown."""
    made: list[Monitor] = []

    def make(**kwargs: Any) -> Monitor:
        kwargs.setdefault("transport", sink)
        kwargs.setdefault("spool_dir", tmp_path / "spool")
        kwargs.setdefault("flush_interval_s", 3600)
        kwargs.setdefault("backoff_s", 0.001)
        kwargs.setdefault("max_backoff_s", 0.01)
        mon = Monitor(kwargs.pop("model", "m"), **kwargs)
        made.append(mon)
        return mon

    yield make
    for mon in made:
        mon.close(timeout_s=5)
