"""vigil's error tree: one root, a stable ``code`` per class, one table to HTTP statuses.

Every error a user can act on is a :class:`VigilError`. The server turns any of them into
``{"error": {"code", "message", "details"}}`` with the status from :data:`HTTP_STATUS`;
the CLI prints the message on one line and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class VigilError(Exception):
    """Root of every error vigil raises on purpose."""

    code: str = "vigil_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the server answers with."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidParameterError(VigilError, ValueError):
    """An argument, setting or request field has a wrong type or value."""

    code = "invalid_parameter"


class ValidationFailedError(InvalidParameterError):
    """A request body failed validation; ``details`` lists ``{field, reason}`` items."""

    code = "validation_failed"


class PayloadTooLargeError(InvalidParameterError):
    """A batch or body is larger than the server accepts."""

    code = "payload_too_large"


class UnsupportedMediaTypeError(InvalidParameterError):
    """A request body has a Content-Type the route does not accept."""

    code = "unsupported_media_type"


class RequestTimeoutError(InvalidParameterError):
    """A request (an upload, say) took longer than the server allows."""

    code = "request_timeout"


class NotFoundError(VigilError, LookupError):
    """A named resource does not exist."""

    code = "not_found"


class ModelNotFoundError(NotFoundError):
    """The model name is not registered."""

    code = "model_not_found"


class ConflictError(VigilError):
    """The request conflicts with stored state."""

    code = "conflict"


class AuthenticationError(VigilError):
    """No API key, or an unknown or revoked one."""

    code = "unauthenticated"


class PermissionDeniedError(VigilError):
    """The API key lacks the scope the route needs."""

    code = "permission_denied"


class ConfigurationError(VigilError, ValueError):
    """A setting (argument, ``VIGIL_*`` variable or vigil.toml) is invalid."""

    code = "configuration_error"


class SchemaOutdatedError(VigilError):
    """The database schema is older than this vigil; run ``vigil db upgrade``."""

    code = "schema_outdated"


class StoreError(VigilError):
    """The database failed in a way the caller cannot fix by changing the request."""

    code = "store_error"


class TransportError(VigilError):
    """The SDK could not reach the server (the batch is kept in the spool)."""

    code = "transport_error"


# -- the model registry's errors (raised by vigil.registry and its store queries) --


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


HTTP_STATUS: dict[str, int] = {
    VigilError.code: 500,
    InvalidParameterError.code: 400,
    ValidationFailedError.code: 422,
    PayloadTooLargeError.code: 413,
    UnsupportedMediaTypeError.code: 415,
    RequestTimeoutError.code: 408,
    NotFoundError.code: 404,
    ModelNotFoundError.code: 404,
    ConflictError.code: 409,
    AuthenticationError.code: 401,
    PermissionDeniedError.code: 403,
    ConfigurationError.code: 500,
    SchemaOutdatedError.code: 503,
    StoreError.code: 503,
    TransportError.code: 502,
}


def http_status(error: VigilError) -> int:
    """The HTTP status for ``error``: its code's, else the nearest mapped base class's."""
    for cls in type(error).__mro__:
        code = getattr(cls, "code", None)
        if code in HTTP_STATUS:
            return HTTP_STATUS[code]
    return 500
