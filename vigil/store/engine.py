"""Engine construction per URL scheme: SQLite (WAL, one writer) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event

from vigil.errors import ConfigurationError


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _json_loads(value: Any) -> Any:
    # SQLite gives columns declared JSON numeric affinity, so a scalar JSON number
    # (e.g. outputs=1) comes back as an int or float rather than its text.
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url`` with vigil's pragmas and orjson serialisation.

    SQLite runs in WAL mode (readers never block the writer) with a busy timeout; write
    transactions start with ``BEGIN IMMEDIATE`` so two writers queue instead of failing
    mid-transaction. PostgreSQL needs the psycopg 3 driver (``postgresql+psycopg://``).
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigurationError(
            f"VIGIL_DB_URL / --db must be a database URL such as sqlite:///vigil-data/vigil.db "
            f"or postgresql+psycopg://user:pass@host/db. Got {url!r}."
        ) from None
    backend = parsed.get_backend_name()
    common: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:":  # a file: a pool of connections
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            # last in, first out: a checkout gets the connection used last, whose page
            # cache is warm (SQLite empties a connection's cache once another connection
            # has written); taken in turn, ingest read 40% more pages under load
            common["pool_use_lifo"] = True
        engine = sa.create_engine(parsed, **common)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg",):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10, **common)
    raise ConfigurationError(
        f"vigil stores data in SQLite or PostgreSQL; the URL {url!r} names {backend!r}."
    )


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # vigil emits BEGIN itself (see _on_begin)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # deleted rows are overwritten with zeros, not left in free pages (erasure, retention)
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("vigil_write") else "BEGIN")


def display_url(url: str) -> str:
    """``url`` with its password masked, for logs and banners."""
    return sa.make_url(url).render_as_string(hide_password=True)


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT of one row generated (SQLAlchemy types it Optional because
    statements other than a single-row INSERT have none)."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("The statement inserted no row with a generated key.")
    return int(key[0])
