"""Errors of the model registry (subclasses of vigil's error tree, so HTTP statuses follow)."""

from __future__ import annotations

from vigil.errors import ConflictError, InvalidParameterError, NotFoundError


class VersionNotFoundError(NotFoundError):
    """The model has no registered version of that name."""

    code = "version_not_found"


class AliasNotFoundError(NotFoundError):
    """The model has no alias of that name."""

    code = "alias_not_found"


class VersionExistsError(ConflictError):
    """A version of that name is registered already (versions are immutable)."""

    code = "version_exists"


class StaleAliasError(ConflictError):
    """The alias moved since the caller read it (optimistic concurrency check failed)."""

    code = "alias_conflict"


class AliasCycleError(InvalidParameterError):
    """Aliases that follow other aliases would form a cycle."""

    code = "alias_cycle"


class ArtifactNotFoundError(NotFoundError, FileNotFoundError):
    """An artifact file to register, or a stored blob to load, is missing."""

    code = "artifact_not_found"


class IntegrityError(ConflictError):
    """An artifact does not match its recorded digests or its signature (tampered)."""

    code = "integrity_error"


class UnsafeArtifactError(ConflictError):
    """A serialized Python object imports something dangerous or cannot be scanned."""

    code = "unsafe_artifact"


class VersionArchivedError(ConflictError):
    """The version is archived: no alias may point at it or run it as a canary."""

    code = "version_archived"
