"""The audit log as a hash chain: each entry's hash covers its content and the previous hash.

Changing, inserting or removing an entry anywhere but at the end breaks every later link,
which :func:`verify_chain` finds. The tables also refuse UPDATE and DELETE (triggers from
migration 0006_privacy), so tampering needs someone who can drop those triggers; keep the
head hash that :func:`verify_chain` reports somewhere else to detect a truncated tail too.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from vigil.store.tables import Json

if TYPE_CHECKING:
    from vigil.store.store import Store

# The audit log with its chain columns, for reads and writes of the chain only.
_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("ts", sa.Double),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("target", sa.String),
    sa.column("details", Json),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)

_PG_LOCK_KEY = 0x76696769  # "vigi": one advisory lock serialises appends on PostgreSQL


def _canonical(value: Any) -> Any:
    """JSON values as every backend gives them back (1.0 and 1 hash alike)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def entry_hash(
    prev_hash: str | None, ts: float, actor: str, action: str, target: str | None, details: Any
) -> str:
    """SHA-256 over the previous hash and one entry's content, canonically serialised.

    Examples:
        >>> entry_hash(None, 1.5, "cli", "key.create", "k1", {"b": 1.0, "a": [2]})[:12]
        'c334c7e3ba2e'
    """
    payload = orjson.dumps(
        [prev_hash or "", float(ts), actor, action, target, _canonical(details)],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY,
    )
    return hashlib.sha256(payload).hexdigest()


def append(
    conn: sa.Connection,
    ts: float,
    actor: str,
    action: str,
    target: str | None,
    details: dict[str, Any] | None,
) -> str:
    """Append one entry inside the caller's write transaction; return its hash."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    prev = conn.execute(sa.select(_log.c.hash).order_by(_log.c.id.desc()).limit(1)).scalar()
    digest = entry_hash(prev, ts, actor, action, target, details)
    conn.execute(
        _log.insert().values(
            ts=ts,
            actor=actor,
            action=action,
            target=target,
            details=details,
            prev_hash=prev,
            hash=digest,
        )
    )
    return digest


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of checking the audit log's chain."""

    ok: bool
    entries: int
    head_hash: str | None
    first_bad_id: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_log(store: Store, batch: int = 5000) -> ChainReport:
    """:func:`verify_chain` over ``store``'s audit log, on one read connection."""
    with store.read() as conn:
        return verify_chain(conn, batch)


def verify_chain(conn: sa.Connection, batch: int = 5000) -> ChainReport:
    """Walk the log in id order and recompute every link."""
    prev: str | None = None
    count, last_id = 0, 0
    while True:
        rows = conn.execute(
            sa.select(_log).where(_log.c.id > last_id).order_by(_log.c.id).limit(batch)
        ).all()
        if not rows:
            return ChainReport(True, count, prev)
        for row in rows:
            if row.prev_hash != prev:
                return ChainReport(
                    False,
                    count,
                    prev,
                    row.id,
                    "its prev_hash does not match the entry before it "
                    "(an entry was removed or inserted)",
                )
            if row.hash != entry_hash(prev, row.ts, row.actor, row.action, row.target, row.details):
                return ChainReport(
                    False,
                    count,
                    prev,
                    row.id,
                    "its content does not match its hash (it was changed)",
                )
            prev, count, last_id = row.hash, count + 1, row.id
