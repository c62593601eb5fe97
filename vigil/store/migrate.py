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


def head_revision() -> str:
    """The newest migration this vigil ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
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
