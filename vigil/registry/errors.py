"""Errors of the model registry, re-exported from :mod:`vigil.errors` where they live (the
store's registry queries raise them too, and the store must not import the registry).
HTTP statuses follow from their base classes."""

from vigil.errors import (
    AliasCycleError,
    AliasNotFoundError,
    ArtifactNotFoundError,
    IntegrityError,
    StaleAliasError,
    UnsafeArtifactError,
    VersionArchivedError,
    VersionExistsError,
    VersionNotFoundError,
)

__all__ = [
    "AliasCycleError",
    "AliasNotFoundError",
    "ArtifactNotFoundError",
    "IntegrityError",
    "StaleAliasError",
    "UnsafeArtifactError",
    "VersionArchivedError",
    "VersionExistsError",
    "VersionNotFoundError",
]
