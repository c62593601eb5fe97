"""Plain immutable records the store returns (never ORM rows or driver objects)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """A registered model."""

    id: int
    name: str
    task: str
    schema: dict[str, Any]
    description: str | None
    created_at: float
    updated_at: float
    strict: bool = False  # unknown or missing inputs are rejected instead of evolving

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["id"]
        return out


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as stored: its hash, never the key itself."""

    id: str
    name: str
    scopes: frozenset[str]
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scopes"] = sorted(self.scopes)
        return out


@dataclass(frozen=True, slots=True)
class RollupRow:
    """One minute of one model version, as stored (sketches still serialised)."""

    version: str
    minute: int
    count: int
    errors: int
    latency_count: int
    latency_sum: float
    latency_sketch: bytes | None
    profile: bytes | None
    error_types: dict[str, int] | None = None  # errors per kind (top kinds + "other")
