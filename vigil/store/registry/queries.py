"""Registry queries: versions, aliases (with optimistic revisions), alias history, policies.

Every function takes a :class:`~vigil.store.Store` and returns plain dicts. Alias changes
run in one write transaction: the current row is read, the caller's expectation checked,
the row updated only if its revision is still the one read (so two concurrent promotions
cannot both win), and the change appended to the history.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from vigil.errors import (
    AliasCycleError,
    AliasNotFoundError,
    StaleAliasError,
    VersionArchivedError,
    VersionExistsError,
    VersionNotFoundError,
)
from vigil.store import Store
from vigil.store import tables as t
from vigil.store.registry import tables as rt

MAX_ALIAS_DEPTH = 10
_VERSION_COLS = (
    "version",
    "artifact_kind",
    "artifact_digest",
    "artifact_size",
    "manifest",
    "signature",
    "framework",
    "meta",
    "notes",
    "metrics",
    "tags",
    "lineage",
    "created_by",
    "created_at",
    "status",
)


def _plain(row: Any) -> dict[str, Any]:
    """A row mapping as a dict with plain ``str`` keys (SQLAlchemy gives str subclasses)."""
    return {str(k): v for k, v in row.items()}


def insert_version(store: Store, model_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Store a new version record (and its backbone ``model_versions`` row).

    Raises:
        VersionExistsError: The version is registered already.
    """
    v = rt.registry_versions
    with store.write() as conn:
        exists = conn.execute(
            sa.select(v.c.version).where(v.c.model_id == model_id, v.c.version == values["version"])
        ).first()
        if exists is not None:
            raise VersionExistsError(
                f"Version {values['version']!r} is registered already; versions are "
                "immutable, register a new version name instead."
            )
        conn.execute(v.insert().values(model_id=model_id, **values))
        conn.execute(
            store._insert(t.model_versions).on_conflict_do_nothing(),
            [
                {
                    "model_id": model_id,
                    "version": values["version"],
                    "created_at": values["created_at"],
                }
            ],
        )
    return dict(values)


def get_version(store: Store, model_id: int, version: str) -> dict[str, Any] | None:
    """The version record, or None."""
    v = rt.registry_versions
    with store.read() as conn:
        row = (
            conn.execute(
                sa.select(*[v.c[c] for c in _VERSION_COLS]).where(
                    v.c.model_id == model_id, v.c.version == version
                )
            )
            .mappings()
            .first()
        )
    return _plain(row) if row else None


def list_versions(store: Store, model_id: int | None = None) -> list[dict[str, Any]]:
    """Every registered version of the model (of every model when ``model_id`` is None,
    with ``model``, the model's name), oldest first; manifests are left out, their file
    counts given as ``files`` (None without artifact)."""
    v, m = rt.registry_versions, t.models
    cols = [v.c[c] for c in _VERSION_COLS if c != "signature"]
    query = sa.select(m.c.name.label("model"), *cols).join(m, m.c.id == v.c.model_id)
    if model_id is not None:
        query = query.where(v.c.model_id == model_id)
    with store.read() as conn:
        rows = conn.execute(query.order_by(m.c.name, v.c.created_at, v.c.version)).mappings().all()
    out = []
    for r in rows:
        row = _plain(r)
        manifest = row.pop("manifest")
        row["files"] = len(manifest) if isinstance(manifest, list) else None
        out.append(row)
    return out


def update_version(
    store: Store,
    model_id: int,
    version: str,
    values: dict[str, Any],
    *,
    action: str,
    changes: dict[str, Any],
    actor: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """Change a version's editable fields (``notes``, ``tags``, ``status``) and append the
    change to its history, in one transaction; return the updated record.

    Raises:
        VersionNotFoundError: the version is not registered.
    """
    v, h = rt.registry_versions, rt.registry_version_history
    with store.write() as conn:
        done = conn.execute(
            v.update().where(v.c.model_id == model_id, v.c.version == version).values(**values)
        )
        if done.rowcount != 1:
            raise VersionNotFoundError(f"Version {version!r} is not registered.")
        conn.execute(
            h.insert().values(
                model_id=model_id,
                version=version,
                action=action,
                changes=changes,
                actor=actor,
                reason=reason,
                ts=time.time(),
            )
        )
    return get_version(store, model_id, version)  # type: ignore[return-value]


def version_history(store: Store, model_id: int, version: str) -> list[dict[str, Any]]:
    """Every edit of a version after registration, oldest first."""
    h = rt.registry_version_history
    with store.read() as conn:
        rows = (
            conn.execute(
                sa.select(h.c.id, h.c.action, h.c.changes, h.c.actor, h.c.reason, h.c.ts)
                .where(h.c.model_id == model_id, h.c.version == version)
                .order_by(h.c.id)
            )
            .mappings()
            .all()
        )
    return [_plain(r) for r in rows]


def serving_aliases(store: Store, model_id: int, version: str) -> list[str]:
    """The aliases that point at ``version`` directly or run it as their canary."""
    a = rt.registry_aliases
    with store.read() as conn:
        rows = conn.execute(
            sa.select(a.c.alias, a.c.version, a.c.canary)
            .where(a.c.model_id == model_id)
            .order_by(a.c.alias)
        ).all()
    return [
        r.alias for r in rows if r.version == version or (r.canary or {}).get("version") == version
    ]


def _alias_row(
    conn: sa.Connection, model_id: int, alias: str, lock: bool = False
) -> dict[str, Any] | None:
    a = rt.registry_aliases
    query = sa.select(a).where(a.c.model_id == model_id, a.c.alias == alias)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return _plain(row) if row else None


def _resolve(conn: sa.Connection, model_id: int, alias: str) -> tuple[str | None, list[str]]:
    """The version an alias ends at and the chain of aliases followed."""
    chain = [alias]
    row = _alias_row(conn, model_id, alias)
    while row is not None and row["target_alias"] is not None:
        nxt = row["target_alias"]
        if nxt in chain or len(chain) > MAX_ALIAS_DEPTH:
            raise AliasCycleError(
                f"Alias {alias!r} follows a cycle of aliases: {' -> '.join([*chain, nxt])}."
            )
        chain.append(nxt)
        row = _alias_row(conn, model_id, nxt)
    return (row["version"] if row else None), chain


def get_alias(store: Store, model_id: int, alias: str) -> dict[str, Any] | None:
    """The alias row with ``resolved_version`` (following aliases), or None."""
    with store.read() as conn:
        row = _alias_row(conn, model_id, alias)
        if row is None:
            return None
        row["resolved_version"], row["chain"] = _resolve(conn, model_id, alias)
    del row["model_id"]
    return row


def list_aliases(store: Store, model_id: int) -> list[dict[str, Any]]:
    """Every alias of the model with the version each resolves to."""
    a = rt.registry_aliases
    with store.read() as conn:
        names = (
            conn.execute(sa.select(a.c.alias).where(a.c.model_id == model_id).order_by(a.c.alias))
            .scalars()
            .all()
        )
    return [alias for name in names if (alias := get_alias(store, model_id, name))]


def set_alias(
    store: Store,
    model_id: int,
    alias: str,
    *,
    version: str | None = None,
    target_alias: str | None = None,
    action: str,
    actor: str,
    reason: str | None = None,
    expected_revision: int | None = None,
    expected_version: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Point ``alias`` at ``version`` (or make it follow ``target_alias``); return the row.

    A canary running on the alias ends with the move (a person's promotion or rollback
    overrides it); the history entry's ``details`` say which one ended.

    Raises:
        VersionNotFoundError: ``version`` is not registered.
        AliasNotFoundError: ``target_alias`` does not exist.
        AliasCycleError: following ``target_alias`` leads back to ``alias``.
        StaleAliasError: the alias is not at ``expected_revision`` / ``expected_version``,
            or another writer moved it meanwhile.
    """
    a, h = rt.registry_aliases, rt.registry_alias_history
    now = time.time()
    with store.write() as conn:
        if version is not None:
            _require_version(conn, model_id, version)
        else:
            if _alias_row(conn, model_id, target_alias) is None:  # type: ignore[arg-type]
                raise AliasNotFoundError(f"Alias {target_alias!r} does not exist.")
            _, chain = _resolve(conn, model_id, target_alias)  # type: ignore[arg-type]
            if alias in chain:
                raise AliasCycleError(
                    f"Alias {alias!r} cannot follow {target_alias!r}: that makes a cycle "
                    f"{' -> '.join([alias, *chain[: chain.index(alias) + 1]])}."
                )
        current = _alias_row(conn, model_id, alias, lock=True)
        previous = _resolve(conn, model_id, alias)[0] if current else None
        revision = current["revision"] if current else 0
        if expected_revision is not None and expected_revision != revision:
            raise StaleAliasError(
                f"Alias {alias!r} is at revision {revision}, not {expected_revision}: it was "
                "changed meanwhile. Read it again and retry.",
                details={"alias": alias, "revision": revision, "version": previous},
            )
        if expected_version is not None and expected_version != previous:
            raise StaleAliasError(
                f"Alias {alias!r} points at version {previous!r}, not {expected_version!r}: "
                "it was changed meanwhile. Read it again and retry.",
                details={"alias": alias, "revision": revision, "version": previous},
            )
        values = {
            "version": version,
            "target_alias": target_alias,
            "revision": revision + 1,
            "updated_by": actor,
            "updated_at": now,
            "canary": None,
        }
        if current is not None and current.get("canary") and not action.startswith("canary"):
            details = {**(details or {}), "canary_ended": current["canary"]["version"]}
        if current is None:
            insert = store._insert(a).values(model_id=model_id, alias=alias, **values)
            if conn.execute(insert.on_conflict_do_nothing().returning(a.c.alias)).first() is None:
                raise StaleAliasError(f"Alias {alias!r} was created meanwhile; retry.")
        else:
            done = conn.execute(
                a.update()
                .where(
                    a.c.model_id == model_id,
                    a.c.alias == alias,
                    a.c.revision == revision,
                )
                .values(**values)
            )
            if done.rowcount != 1:
                raise StaleAliasError(f"Alias {alias!r} was changed meanwhile; retry.")
        conn.execute(
            h.insert().values(
                model_id=model_id,
                alias=alias,
                action=action,
                version=version,
                target_alias=target_alias,
                previous_version=previous,
                revision=revision + 1,
                actor=actor,
                reason=reason,
                ts=now,
                details=details,
            )
        )
        row = _alias_row(conn, model_id, alias)
        row["resolved_version"], row["chain"] = _resolve(conn, model_id, alias)  # type: ignore[index]
    del row["model_id"]  # type: ignore[union-attr]
    return row  # type: ignore[return-value]


def _require_version(conn: sa.Connection, model_id: int, version: str) -> None:
    """Raise unless ``version`` is registered and not archived (an alias may serve it)."""
    v = rt.registry_versions
    found = conn.execute(
        sa.select(v.c.version, v.c.status).where(v.c.model_id == model_id, v.c.version == version)
    ).first()
    if found is not None and found.status == "archived":
        raise VersionArchivedError(
            f"Version {version!r} is archived; an archived version cannot be promoted, "
            "canaried or be an alias target. Restore it first (`vigil registry restore`) "
            "or choose another version."
        )
    if found is None:
        known = (
            conn.execute(
                sa.select(v.c.version).where(v.c.model_id == model_id).order_by(v.c.created_at)
            )
            .scalars()
            .all()
        )
        raise VersionNotFoundError(
            f"Version {version!r} is not registered. Registered versions: "
            f"{', '.join(known) or 'none'}."
        )


def alias_history(
    store: Store, model_id: int, alias: str, limit: int | None = None
) -> list[dict[str, Any]]:
    """Changes of an alias, oldest first (the newest ``limit`` ones when given)."""
    h = rt.registry_alias_history
    query = (
        sa.select(
            h.c.id,
            h.c.alias,
            h.c.action,
            h.c.version,
            h.c.target_alias,
            h.c.previous_version,
            h.c.revision,
            h.c.actor,
            h.c.reason,
            h.c.ts,
            h.c.details,
        )
        .where(h.c.model_id == model_id, h.c.alias == alias)
        .order_by(h.c.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    with store.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [_plain(r) for r in reversed(rows)]


# -- canary and shadow releases -------------------------------------------------------------


def set_canary(
    store: Store,
    model_id: int,
    alias: str,
    canary: dict[str, Any] | None,
    *,
    action: str,
    actor: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    expected_revision: int | None = None,
) -> dict[str, Any]:
    """Start (``canary``) or end (``None``) the canary of an alias without moving it.

    The alias's revision goes up (so followers polling with ETags see the change) and the
    change is appended to the history: ``version`` the canary's version,
    ``previous_version`` the stable one, ``details`` the canary or the decision's evidence.

    Raises:
        AliasNotFoundError: the alias does not exist.
        VersionNotFoundError: the canary's version is not registered.
        StaleAliasError: the alias is not at ``expected_revision`` or moved meanwhile.
    """
    a, h = rt.registry_aliases, rt.registry_alias_history
    now = time.time()
    with store.write() as conn:
        current = _alias_row(conn, model_id, alias, lock=True)
        if current is None:
            raise AliasNotFoundError(
                f"Alias {alias!r} does not exist; promote a version to it first."
            )
        if canary is not None:
            _require_version(conn, model_id, canary["version"])
        revision = current["revision"]
        if expected_revision is not None and expected_revision != revision:
            raise StaleAliasError(
                f"Alias {alias!r} is at revision {revision}, not {expected_revision}: it was "
                "changed meanwhile. Read it again and retry.",
                details={"alias": alias, "revision": revision, "version": current["version"]},
            )
        ended = current.get("canary")
        done = conn.execute(
            a.update()
            .where(
                a.c.model_id == model_id,
                a.c.alias == alias,
                a.c.revision == revision,
            )
            .values(canary=canary, revision=revision + 1, updated_by=actor, updated_at=now)
        )
        if done.rowcount != 1:
            raise StaleAliasError(f"Alias {alias!r} was changed meanwhile; retry.")
        subject = canary if canary is not None else (ended or {})
        conn.execute(
            h.insert().values(
                model_id=model_id,
                alias=alias,
                action=action,
                version=subject.get("version"),
                target_alias=None,
                previous_version=current["version"],
                revision=revision + 1,
                actor=actor,
                reason=reason,
                ts=now,
                details=details if details is not None else subject or None,
            )
        )
        row = _alias_row(conn, model_id, alias)
        row["resolved_version"], row["chain"] = _resolve(conn, model_id, alias)  # type: ignore[index]
    del row["model_id"]  # type: ignore[union-attr]
    return row  # type: ignore[return-value]


def running_canaries(store: Store) -> list[dict[str, Any]]:
    """Every alias with a canary: model name and id, alias, version, revision, canary."""
    a, m = rt.registry_aliases, t.models
    with store.read() as conn:
        rows = (
            conn.execute(
                sa.select(
                    a.c.model_id,
                    m.c.name.label("model"),
                    a.c.alias,
                    a.c.version,
                    a.c.revision,
                    a.c.canary,
                )
                .join(m, m.c.id == a.c.model_id)
                .where(a.c.canary.is_not(None))
                .order_by(m.c.name, a.c.alias)
            )
            .mappings()
            .all()
        )
    return [_plain(r) for r in rows if r["canary"]]  # JSON null is not SQL NULL everywhere


def version_outcomes(
    store: Store,
    model_id: int,
    versions: list[str],
    start: float,
    end: float,
    slow_s: float | None = None,
) -> dict[str, dict[str, int]]:
    """Per version, the predictions made in ``[start, end)`` read from the raw events (no
    rollup lag): ``n``, ``errors`` and ``slow`` (latency above ``slow_s``).

    A canary's window is short and bounded, so counting its raw rows (on the
    ``(model_id, ts)`` index) is cheap and exact.
    """
    p = t.predictions
    slow = (
        sa.func.sum(sa.case((p.c.latency_s > slow_s, 1), else_=0))
        if slow_s is not None
        else sa.literal(0)
    )
    query = (
        sa.select(
            p.c.version,
            sa.func.count().label("n"),
            sa.func.sum(sa.case((p.c.error.is_not(None), 1), else_=0)).label("errors"),
            slow.label("slow"),
        )
        .where(p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end, p.c.version.in_(versions))
        .group_by(p.c.version)
    )
    out = {v: {"n": 0, "errors": 0, "slow": 0} for v in versions}
    with store.read() as conn:
        for row in conn.execute(query).mappings():
            out[row["version"]] = {
                "n": int(row["n"]),
                "errors": int(row["errors"] or 0),
                "slow": int(row["slow"] or 0),
            }
    return out


def latency_quantile(
    store: Store, model_id: int, version: str, start: float, end: float, q: float
) -> float | None:
    """The ``q`` quantile of a version's latencies in ``[start, end)`` (raw events, at
    most the newest 100,000), or None without any."""
    p = t.predictions
    with store.read() as conn:
        values = (
            conn.execute(
                sa.select(p.c.latency_s)
                .where(
                    p.c.model_id == model_id,
                    p.c.version == version,
                    p.c.ts >= start,
                    p.c.ts < end,
                    p.c.latency_s.is_not(None),
                )
                .order_by(p.c.ts.desc())
                .limit(100_000)
            )
            .scalars()
            .all()
        )
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


# -- rollback policies ----------------------------------------------------------------------


def set_policy(
    store: Store,
    model_id: int,
    alias: str,
    policy: dict[str, Any],
    actor: str,
    enabled: bool = True,
) -> None:
    """Create or replace the rollback policy of an alias."""
    p = rt.registry_policies
    stmt = store._insert(p).values(
        model_id=model_id,
        alias=alias,
        policy=policy,
        enabled=enabled,
        updated_by=actor,
        updated_at=time.time(),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[p.c.model_id, p.c.alias],
        set_={
            "policy": stmt.excluded.policy,
            "enabled": stmt.excluded.enabled,
            "updated_by": stmt.excluded.updated_by,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    with store.write() as conn:
        conn.execute(stmt)


def get_policy(store: Store, model_id: int, alias: str) -> dict[str, Any] | None:
    """The policy row of an alias (``policy``, ``enabled``, ...), or None."""
    p = rt.registry_policies
    with store.read() as conn:
        row = (
            conn.execute(
                sa.select(p.c.policy, p.c.enabled, p.c.updated_by, p.c.updated_at).where(
                    p.c.model_id == model_id, p.c.alias == alias
                )
            )
            .mappings()
            .first()
        )
    return _plain(row) if row else None


def enabled_policies(store: Store) -> list[dict[str, Any]]:
    """Every enabled policy with its model's name and id."""
    p, m = rt.registry_policies, t.models
    with store.read() as conn:
        rows = (
            conn.execute(
                sa.select(p.c.model_id, m.c.name.label("model"), p.c.alias, p.c.policy)
                .join(m, m.c.id == p.c.model_id)
                .where(p.c.enabled.is_(True))
                .order_by(m.c.name, p.c.alias)
            )
            .mappings()
            .all()
        )
    return [_plain(r) for r in rows]
