"""Model registry: versions with hashed and signed artifacts, aliases with history, rollback.

Examples:
    >>> import pathlib, tempfile
    >>> home = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (home / "model.txt").write_text("weights v1")
    >>> reg = Registry.open(home=home)
    >>> reg.register("churn", "1", home / "model.txt")["artifact_kind"]
    'file'
    >>> reg.promote("churn", "production", "1")["revision"]
    1
    >>> load("churn@production", home=home).read_text()
    'weights v1'
    >>> reg.close()
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vigil.registry.canary import check_canaries
from vigil.registry.catalog import DeprecatedVersionWarning
from vigil.registry.errors import (
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
from vigil.registry.policy import check_rollback_policies, set_rollback_policy
from vigil.registry.registry import Registry, parse_ref
from vigil.registry.scan import ScanReport, scan_artifact

__all__ = [
    "AliasCycleError",
    "AliasNotFoundError",
    "ArtifactNotFoundError",
    "DeprecatedVersionWarning",
    "IntegrityError",
    "Registry",
    "ScanReport",
    "StaleAliasError",
    "UnsafeArtifactError",
    "VersionArchivedError",
    "VersionExistsError",
    "VersionNotFoundError",
    "check_canaries",
    "check_rollback_policies",
    "load",
    "parse_ref",
    "scan_artifact",
    "set_rollback_policy",
]


def load(
    ref: str,
    *,
    db: str | None = None,
    home: str | Path | None = None,
    deserialize: bool = False,
    allow: Iterable[str] = (),
    allow_unparsed: bool = False,
) -> Any:
    """The verified artifact of ``"name@alias"`` or ``"name:version"``.

    Checks the signature and every file's SHA-256, scans pickles, and returns the path
    (file or directory) — or, with ``deserialize``, the object of a pickle/joblib file.
    A tampered, unsigned or unsafe artifact raises and is written to the audit log.

    Args:
        ref: ``"sentiment@production"`` or ``"sentiment:3"``.
        db: the store URL (default ``VIGIL_DB_URL``).
        home: the data folder holding artifacts and keys (default ``VIGIL_HOME``).
        deserialize: unpickle ``.pkl``/``.pickle``/``.joblib`` artifacts.
        allow: imports to accept although picklescan calls them dangerous.
        allow_unparsed: accept pickles the scanner cannot parse (only if you trust them).
    """
    registry = Registry.open(db=db, home=home, actor="load")
    try:
        return registry.load(
            ref, deserialize=deserialize, allow=allow, allow_unparsed=allow_unparsed
        )
    finally:
        registry.close()
