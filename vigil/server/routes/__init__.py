"""One router per resource, and what their handlers share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from fastapi import Request

    from vigil.store import ModelRecord, Store

T = TypeVar("T")


async def on_model(request: Request, name: str, fn: Callable[[Store, ModelRecord], T]) -> T:
    """``fn(store, model)`` for the registered model ``name`` (404 when there is none), run
    in the thread pool: store calls block, the event loop must not."""
    state = request.app.state

    def run() -> T:
        return fn(state.store, state.ingestor.lookup_model(name))

    return await run_in_threadpool(run)
