"""Dashboard sessions: an opaque random id in the browser, the API key id in the store.

The cookie holds 256 random bits, never the key; the store keeps only the id's SHA-256
(someone reading the database cannot take over a session) and the key id, so revoking
the key ends its sessions at once, and signing out deletes the row on every replica.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import sqlalchemy as sa

from vigil.store import tables as t
from vigil.store.store import Store
from vigil.store.tables import metadata

SESSION_TTL_S = 12 * 3600.0  # a session ends at the latest 12 h after sign-in

ui_sessions = sa.Table(
    "ui_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "key_id", sa.String(32), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def create_session(store: Store, key_id: str, ttl_s: float = SESSION_TTL_S) -> str:
    """A new session for ``key_id``; returns its id (for the cookie). Expired sessions
    are removed on the way."""
    session_id = secrets.token_urlsafe(32)
    now = time.time()
    with store.write() as conn:
        conn.execute(sa.delete(ui_sessions).where(ui_sessions.c.expires_at < now))
        conn.execute(
            sa.insert(ui_sessions).values(
                id_hash=_digest(session_id), key_id=key_id, created_at=now, expires_at=now + ttl_s
            )
        )
    return session_id


def session_key(store: Store, session_id: str) -> tuple[str, frozenset[str]] | None:
    """``(key id, scopes)`` of a live session whose key is not revoked, else None."""
    if not session_id or len(session_id) > 100:
        return None
    with store.read() as conn:
        row = conn.execute(
            sa.select(t.api_keys.c.id, t.api_keys.c.scopes)
            .select_from(ui_sessions.join(t.api_keys, ui_sessions.c.key_id == t.api_keys.c.id))
            .where(
                ui_sessions.c.id_hash == _digest(session_id),
                ui_sessions.c.expires_at > time.time(),
                t.api_keys.c.revoked_at.is_(None),
            )
        ).first()
    if row is None:
        return None
    return row.id, frozenset(s for s in row.scopes.split(",") if s)


def end_session(store: Store, session_id: str) -> bool:
    """Delete the session (sign-out); whether it existed."""
    with store.write() as conn:
        result = conn.execute(
            sa.delete(ui_sessions).where(ui_sessions.c.id_hash == _digest(session_id))
        )
    return bool(result.rowcount)
