"""Shared by the GenAI ingest tests: the price table and reads of what vigil stored."""

from __future__ import annotations

from typing import Any

from vigil.store import Store
from vigil.store.quality import queries as qs

PRICES = {
    "gpt-4o": {"input": 2.5, "output": 10.0},
    "claude-sonnet-4-20250514": {"input": 3.0, "output": 15.0},
}


def stored(store: Store, model: str) -> dict[str, dict[str, Any]]:
    """The model's stored predictions by id (empty when the model does not exist)."""
    record = store.get_model(model)
    if record is None:
        return {}
    return {r["id"]: r for r in qs.predictions(store, record.id, None, None)}
