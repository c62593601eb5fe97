"""Sample model schema and records shared by the server and SDK tests."""

from __future__ import annotations

SCHEMA = {
    "task": "binary_classification",
    "features": [
        {"name": "age", "kind": "numeric"},
        {"name": "plan", "kind": "categorical"},
        {"name": "note", "kind": "text", "required": False},
        {"name": "emb", "kind": "embedding", "dim": 2, "required": False},
    ],
}


def record(i: int, **over):
    rec = {
        "id": f"p{i}",
        "version": "1",
        "latency_s": 0.01 * (1 + i % 5),
        "inputs": {"age": 30 + i, "plan": "pro" if i % 2 else "free"},
        "outputs": i % 2,
    }
    rec.update(over)
    return rec
