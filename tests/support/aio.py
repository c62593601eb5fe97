"""Running a coroutine to its end from a synchronous test."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` in a thread of its own, returning its result or raising its
    exception. An xdist worker that ran a dashboard test keeps Playwright's event loop
    running in its main thread for the session, and ``asyncio.run`` refuses to start
    there; a fresh thread has no loop."""
    with ThreadPoolExecutor(1, thread_name_prefix="test-loop") as pool:
        return pool.submit(asyncio.run, coro).result()
