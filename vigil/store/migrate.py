"""Alembic migrations shipped in the package, run on vigil's own engine."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

_SCRIPTS = Path(__file__).with_name("migrations")


def _config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revisions() -> frozenset[str]:
    """The newest migration of each branch this vigil ships.

    Each concern (store core, registry, alerts, ...) may keep its own branch of
    migrations off the initial one, so there can be several heads; the database is
    current when it is at all of them.
    """
    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


def head_revision() -> str:
    """The heads as one sorted, comma-separated string (for messages)."""
    return ",".join(sorted(head_revisions()))


def current_revisions(engine: sa.Engine) -> frozenset[str]:
    """The migrations the database is at (empty for an empty database)."""
    with engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def current_revision(engine: sa.Engine) -> str | None:
    """The database's revisions as one sorted string, or None for an empty database."""
    revisions = current_revisions(engine)
    return ",".join(sorted(revisions)) if revisions else None


def upgrade(engine: sa.Engine, revision: str = "heads") -> None:
    """Migrate the database up to ``revision``."""
    with engine.connect() as conn:
        conn.info["vigil_write"] = True
        try:
            command.upgrade(_config(conn), revision)
            conn.commit()
        finally:
            conn.info.pop("vigil_write", None)


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` ("base" drops everything)."""
    with engine.connect() as conn:
        conn.info["vigil_write"] = True
        try:
            command.downgrade(_config(conn), revision)
            conn.commit()
        finally:
            conn.info.pop("vigil_write", None)
