"""vigil's store: SQLAlchemy Core tables, Alembic migrations and queries (SQLite, PostgreSQL)."""

from vigil.store.entities import ApiKeyRecord, ModelRecord, RollupRow
from vigil.store.store import Store, open_store

__all__ = ["ApiKeyRecord", "ModelRecord", "RollupRow", "Store", "open_store"]
