"""Tables of the model registry: rich version records, aliases, alias history, policies.

A registry version is keyed like the backbone's ``model_versions`` (model id, version) and
holds the artifact's manifest (per-file SHA-256 digests), its signature bundle and the
version's metadata. An alias points at a version (or follows another alias) and carries a
``revision`` counter for optimistic concurrency; every change is appended to the history.
"""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store.tables import Json, metadata

registry_versions = sa.Table(
    "registry_versions",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("artifact_kind", sa.String(10), nullable=True),  # file | dir | None
    sa.Column("artifact_digest", sa.String(64), nullable=True),  # digest of the manifest
    sa.Column("artifact_size", sa.BigInteger, nullable=True),
    sa.Column("manifest", Json, nullable=True),  # [{name, digest, size}], sorted by name
    sa.Column("signature", Json, nullable=True),  # Sigstore-style bundle with a DSSE envelope
    sa.Column("framework", sa.String(100), nullable=True),
    sa.Column("meta", Json, nullable=True),
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("metrics", Json, nullable=True),
    sa.Column("tags", Json, nullable=True),
    sa.Column("lineage", Json, nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    # active | deprecated (still usable, warns on load) | archived (no alias may serve it,
    # hidden from lists); 0013
    sa.Column("status", sa.String(20), nullable=False, server_default="active"),
)

# every edit of a version after registration (notes, tags, status): 0013
registry_version_history = sa.Table(
    "registry_version_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("action", sa.String(30), nullable=False),  # edit, archive, deprecate, restore
    sa.Column("changes", Json, nullable=False),  # {"notes": {"from", "to"}, "tags": {...}}
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Index("ix_registry_version_history", "model_id", "version", "id"),
)

registry_aliases = sa.Table(
    "registry_aliases",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("alias", sa.String(100), primary_key=True),
    sa.Column("version", sa.String(100), nullable=True),
    sa.Column("target_alias", sa.String(100), nullable=True),  # follows another alias
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    # the running canary or shadow release: {version, share, mode, started_at, ...}; 0012
    sa.Column("canary", Json, nullable=True),
)

registry_alias_history = sa.Table(
    "registry_alias_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("alias", sa.String(100), nullable=False),
    sa.Column("action", sa.String(30), nullable=False),  # promote, rollback, canary_...
    sa.Column("version", sa.String(100), nullable=True),
    sa.Column("target_alias", sa.String(100), nullable=True),
    sa.Column("previous_version", sa.String(100), nullable=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("details", Json, nullable=True),  # e.g. a canary decision's evidence; 0012
    sa.Index("ix_registry_alias_history", "model_id", "alias", "id"),
)

registry_policies = sa.Table(
    "registry_policies",
    metadata,
    sa.Column(
        "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("alias", sa.String(100), primary_key=True),
    sa.Column("policy", Json, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
)
