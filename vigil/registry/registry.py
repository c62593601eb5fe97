"""The model registry: register versions with signed artifacts, move aliases, verify, load.

:class:`Registry` works on a :class:`~vigil.store.Store` (SQLite or PostgreSQL) and a data
folder (``VIGIL_HOME``) holding the artifacts and keys. The server, the CLI and
:func:`vigil.registry.load` all go through it, so every promotion, rollback and refused
artifact lands in the same audit log.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vigil.errors import InvalidParameterError, ModelNotFoundError, VigilError
from vigil.registry.artifacts import ArtifactStore, check_name
from vigil.registry.errors import (
    AliasNotFoundError,
    ArtifactNotFoundError,
    IntegrityError,
    UnsafeArtifactError,
    VersionExistsError,
    VersionNotFoundError,
)
from vigil.registry.lineage import build_lineage
from vigil.registry.scan import ScanReport, scan_artifact, scan_files
from vigil.registry.signing import KeyRing
from vigil.store import ModelRecord, Store
from vigil.store.registry import queries as q

VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,99}$")
ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,99}$")
# history actions that leave the alias's version where it was
CANARY_ONLY = ("canary_start", "canary_rollback", "canary_abort")
REF = re.compile(r"^(?P<model>[^@:]+)(?:@(?P<alias>[^@:]+)|:(?P<version>[^@:]+))$")


def check_version(version: Any) -> str:
    """A version name: letters, digits, ``_ . + -``, at most 100 characters."""
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not VERSION.match(version):
        raise InvalidParameterError(
            "A version must be 1-100 letters, digits, '_', '.', '+' or '-' starting with a "
            f"letter or digit. Got {version!r}."
        )
    return version


def check_alias(alias: Any) -> str:
    """An alias name (``production``, ``staging``, ``canary``, ...)."""
    if not isinstance(alias, str) or not ALIAS.match(alias):
        raise InvalidParameterError(
            "An alias must be 1-100 letters, digits, '_', '.' or '-' starting with a letter. "
            f"Got {alias!r}."
        )
    return alias


def parse_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``"name@alias"`` or ``"name:version"`` → ``(model, alias, version)``.

    Examples:
        >>> parse_ref("sentiment@production")
        ('sentiment', 'production', None)
        >>> parse_ref("sentiment:3")
        ('sentiment', None, '3')
    """
    match = REF.match(ref) if isinstance(ref, str) else None
    if match is None:
        raise InvalidParameterError(
            f"A model reference is 'name@alias' or 'name:version'. Got {ref!r}."
        )
    return match["model"], match["alias"], match["version"]


def os_user(fallback: str = "python") -> str:
    """The OS user running this process, the actor of changes made without another name
    (``fallback`` when the system cannot name one, e.g. a container without passwd)."""
    import getpass

    try:
        return getpass.getuser() or fallback
    except (KeyError, OSError, ImportError):
        return fallback


def _key_settings() -> tuple[Path | None, str | None, Path | None]:
    """The key settings of the environment and vigil.toml (read when a registry is made)."""
    from vigil.config import load_settings

    settings = load_settings()
    passphrase = settings.signing_key_passphrase
    return (
        settings.signing_key,
        passphrase.get_secret_value() if passphrase is not None else None,
        settings.trusted_keys,
    )


class Registry:
    """Versions, artifacts, aliases and their history for the models of one store.

    Args:
        store: the store.
        home: the data folder; artifacts go to ``home/artifacts``, keys to ``home/keys``.
        signing_key: a PEM Ed25519 private key to sign with (default ``VIGIL_SIGNING_KEY``,
            else ``home/keys/signing.pem``, created on first use).
        actor: who is acting, for the histories and the audit log (default: the OS user).
        passphrase: of the signing key (default ``VIGIL_SIGNING_KEY_PASSPHRASE``).
        trusted_keys: a pinned, read-only folder of trusted public keys (default
            ``VIGIL_TRUSTED_KEYS``, else ``home/keys/trusted``).
    """

    def __init__(
        self,
        store: Store,
        home: str | Path,
        *,
        signing_key: str | Path | None = None,
        actor: str | None = None,
        passphrase: str | None = None,
        trusted_keys: str | Path | None = None,
    ) -> None:
        self.store = store
        self.home = Path(home)
        self.artifacts = ArtifactStore(self.home / "artifacts")
        if signing_key is None or passphrase is None or trusted_keys is None:
            default_key, default_passphrase, default_trusted = _key_settings()
            signing_key = signing_key or default_key
            passphrase = passphrase or default_passphrase
            trusted_keys = trusted_keys or default_trusted
        self.keys = KeyRing(
            self.home / "keys", signing_key, passphrase=passphrase, trusted_folder=trusted_keys
        )
        self.actor = actor or os_user()
        self._owned = False

    @classmethod
    def open(cls, db: str | None = None, home: str | Path | None = None, **kwargs: Any) -> Registry:
        """A registry on the store at ``db`` (default from settings), upgraded if needed;
        :meth:`close` closes the store."""
        from vigil.config import load_settings
        from vigil.store import open_store

        settings = load_settings(db_url=db, home=home)
        registry = cls(open_store(settings.db_url), settings.home, **kwargs)
        registry._owned = True
        return registry

    def close(self) -> None:
        """Close the store if :meth:`open` opened it."""
        if self._owned:
            self.store.close()

    # -- models and versions ------------------------------------------------------------
    def model(self, name: str) -> ModelRecord:
        """The model record, or :class:`ModelNotFoundError` naming the known models."""
        record = self.store.get_model(name)
        if record is None:
            known = ", ".join(m.name for m in self.store.list_models()) or "none"
            raise ModelNotFoundError(f"Model {name!r} is not registered. Known models: {known}.")
        return record

    def register(
        self,
        model: str,
        version: str | int,
        artifact: str | Path | None = None,
        *,
        framework: str | None = None,
        metadata: dict[str, Any] | None = None,
        notes: str | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
        lineage: dict[str, Any] | None = None,
        data: Iterable[str | Path] = (),
        dvc: Iterable[str | Path] = (),
        actor: str | None = None,
        allow: Iterable[str] = (),
        allow_unparsed: bool = False,
    ) -> dict[str, Any]:
        """Register a version: hash, store, scan and sign its artifact, record its metadata.

        The model is created (task ``other``) when it does not exist yet. The stored
        files are scanned as :meth:`load` scans them: an artifact that would be refused at
        load (a pickle importing ``os.system``, an unscannable pickle) is refused here,
        before it is signed, unless ``allow`` / ``allow_unparsed`` accept it; the refusal
        goes to the audit log.

        Args:
            model: the model name.
            version: the new version's name (versions are immutable).
            artifact: a file or directory, hashed and copied into the artifact store.
            framework: e.g. ``"sklearn"``, ``"pytorch"``.
            metadata: free-form JSON metadata.
            notes: notes or changelog of this version.
            metrics: offline metrics (``{"auc": 0.91}``).
            tags: string tags.
            lineage: e.g. ``{"code_commit": "abc123"}``.
            data: training-data files whose SHA-256 fingerprints go into the lineage.
            dvc: DVC ``.dvc`` files whose recorded hashes go into the lineage.
            actor: who registers (default the registry's actor).
            allow: imports to accept although picklescan calls them dangerous.
            allow_unparsed: accept pickles the scanner cannot parse (only if you trust
                them).

        Raises:
            VersionExistsError: the version exists already.
            ArtifactNotFoundError: ``artifact`` does not exist.
            UnsafeArtifactError: the artifact imports dangerous code or cannot be scanned.
        """
        version = check_version(version)
        for name, value in (
            ("metadata", metadata),
            ("metrics", metrics),
            ("tags", tags),
            ("lineage", lineage),
        ):
            if value is not None and not isinstance(value, dict):
                raise InvalidParameterError(f"'{name}' must be an object. Got {value!r}.")
        record = self._model_for(model, version)
        values: dict[str, Any] = {
            "version": version,
            "framework": framework,
            "meta": metadata,
            "notes": notes,
            "metrics": metrics,
            "tags": tags,
            "lineage": build_lineage(lineage, data, dvc),
            "created_by": actor or self.actor,
            "created_at": time.time(),
        }
        scan: ScanReport | None = None
        if artifact is not None:
            scan = self._store_artifact(
                model, version, artifact, values, allow, allow_unparsed, actor or self.actor
            )
        row = q.insert_version(self.store, record.id, values)
        self.store.audit(
            actor or self.actor,
            "registry.register",
            f"{model}:{version}",
            {
                "artifact_digest": values.get("artifact_digest"),
                "key_id": self.keys.key_id if artifact is not None else None,
                "scan": None
                if scan is None
                else {
                    "scanned": len(scan.scanned),
                    "allowed": scan.allowed,
                    "allowed_unparsed": bool(allow_unparsed),
                },
            },
        )
        out = _public(row)
        if scan is not None:
            out["scan"] = scan.to_dict()
        return out

    def _model_for(self, model: str, version: str) -> ModelRecord:
        """The model a new ``version`` is registered under, created (task ``other``)
        when missing; raises when the version exists already."""
        record = self.store.get_model(model)
        if record is None:
            from vigil.engine.ingest.ingestor import check_model_name

            check_model_name(model)
            record, _ = self.store.upsert_model(model, "other", {"features": []})
        elif q.get_version(self.store, record.id, version) is not None:
            raise VersionExistsError(
                f"Version {version!r} of {model!r} is registered already; versions are "
                "immutable, register a new version name instead."
            )
        return record

    def _store_artifact(
        self,
        model: str,
        version: str,
        artifact: str | Path,
        values: dict[str, Any],
        allow: Iterable[str],
        allow_unparsed: bool,
        actor: str,
    ) -> ScanReport:
        """Store the artifact, scan it (a refusal is audited and raised) and sign it;
        its digest, manifest and signature go into ``values``."""
        stored = self.artifacts.put(artifact)
        scan = scan_files(
            [(e["name"], self.artifacts.blob_path(e["digest"])) for e in stored.manifest],
            allow=allow,
        )
        if allow_unparsed:
            scan.unparsed = []
        try:
            scan.check(f"Version {version!r} of {model!r}")
        except UnsafeArtifactError as exc:
            self.store.audit(
                actor,
                "registry.refused",
                f"{model}:{version}",
                {
                    "stage": "register",
                    "code": exc.code,
                    "reason": exc.message,
                    "digest": stored.digest,
                },
            )
            raise
        values.update(
            artifact_kind=stored.kind,
            artifact_digest=stored.digest,
            artifact_size=stored.size,
            manifest=stored.manifest,
            signature=self.keys.sign(model, stored.manifest),
        )
        return scan

    def get(self, model: str, version: str) -> dict[str, Any]:
        """The full version record (with manifest and signature)."""
        record = self.model(model)
        row = q.get_version(self.store, record.id, check_version(version))
        if row is None:
            known = [v["version"] for v in q.list_versions(self.store, record.id)]
            raise VersionNotFoundError(
                f"Model {model!r} has no version {version!r}. Registered versions: "
                f"{', '.join(known) or 'none'}."
            )
        return {"model": model, **row}

    def versions(self, model: str, *, include_archived: bool = True) -> list[dict[str, Any]]:
        """Every registered version of ``model``, oldest first (without the archived ones
        when ``include_archived`` is false)."""
        return [
            _public(v)
            for v in q.list_versions(self.store, self.model(model).id)
            if include_archived or v["status"] != "archived"
        ]

    # -- catalog: notes, tags, status, search (see vigil.registry.catalog) ---------------
    def edit(
        self,
        model: str,
        version: str,
        *,
        notes: str | None = None,
        tags: dict[str, str] | None = None,
        untag: Iterable[str] = (),
        reason: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Change a version's notes and tags (set ``tags``, remove ``untag``); each change
        is kept in the version's history. Returns the version with its history."""
        from vigil.registry import catalog

        return catalog.edit(
            self,
            model,
            check_version(version),
            notes=notes,
            tags=tags,
            untag=untag,
            reason=reason,
            actor=actor or self.actor,
        )

    def set_status(
        self,
        model: str,
        version: str,
        status: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """``"deprecated"`` (loading warns), ``"archived"`` (no alias may serve it, lists
        hide it) or ``"active"`` again; kept in the version's history."""
        from vigil.registry import catalog

        return catalog.set_status(
            self, model, check_version(version), status, reason=reason, actor=actor or self.actor
        )

    def version_history(self, model: str, version: str) -> list[dict[str, Any]]:
        """Every edit of a version after registration, oldest first."""
        self.get(model, version)
        return q.version_history(self.store, self.model(model).id, check_version(version))

    def search(
        self,
        *,
        model: str | None = None,
        tags: Iterable[str] = (),
        metrics: Iterable[str] = (),
        include_archived: bool = False,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Versions matching every ``"key=value"`` tag and ``"metric>=x"`` filter."""
        from vigil.registry import catalog

        return catalog.search(
            self,
            model=model,
            tags=tags,
            metrics=metrics,
            include_archived=include_archived,
            status=status,
        )

    # -- aliases -------------------------------------------------------------------------
    def alias(self, model: str, alias: str) -> dict[str, Any]:
        """Where ``alias`` points: ``version``, ``resolved_version``, ``revision``..."""
        row = q.get_alias(self.store, self.model(model).id, check_alias(alias))
        if row is None:
            raise AliasNotFoundError(f"Model {model!r} has no alias {alias!r}.")
        return {"model": model, **row}

    def aliases(self, model: str) -> list[dict[str, Any]]:
        return q.list_aliases(self.store, self.model(model).id)

    def history(self, model: str, alias: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Every change of ``alias``, oldest first: who, when, why, from which version."""
        return q.alias_history(self.store, self.model(model).id, check_alias(alias), limit)

    def promote(
        self,
        model: str,
        alias: str,
        version: str | int | None = None,
        *,
        follow: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
        expected_revision: int | None = None,
        expected_version: str | None = None,
    ) -> dict[str, Any]:
        """Point ``alias`` at ``version`` (or make it follow alias ``follow``).

        Pass ``expected_revision`` (or ``expected_version``) from a read of the alias to
        make sure nobody moved it meanwhile: a stale one raises
        :class:`~vigil.registry.errors.StaleAliasError` (HTTP 409).
        """
        if (version is None) == (follow is None):
            raise InvalidParameterError("Give either a version or an alias to follow.")
        record = self.model(model)
        row = q.set_alias(
            self.store,
            record.id,
            check_alias(alias),
            version=None if version is None else check_version(version),
            target_alias=None if follow is None else check_alias(follow),
            action="promote",
            actor=actor or self.actor,
            reason=reason,
            expected_revision=expected_revision,
            expected_version=expected_version,
        )
        self.store.audit(
            actor or self.actor,
            "registry.promote",
            f"{model}@{alias}",
            {
                "version": row["resolved_version"],
                "follows": follow,
                "revision": row["revision"],
                "reason": reason,
            },
        )
        return {"model": model, **row}

    def start_canary(
        self,
        model: str,
        alias: str,
        version: str | int,
        *,
        share: float = 0.1,
        mode: str = "canary",
        reason: str | None = None,
        actor: str | None = None,
        expected_revision: int | None = None,
        **settings: Any,
    ) -> dict[str, Any]:
        """Send ``share`` of the alias's traffic to ``version`` (``mode="shadow"``: run it
        on a copy of that share of the inputs, unserved) until vigil promotes or rolls it
        back (see :mod:`vigil.registry.canary` for ``settings``: ``alpha``,
        ``tolerance``, ``metrics``, ``min_count``, ``max_duration_s``, ``on_timeout``,
        ``latency_threshold_s``, ``notify``, ``resolve_after_s``).
        """
        from vigil.registry import canary

        cfg = {"version": check_version(version), "share": share, "mode": mode, **settings}
        return canary.start(
            self,
            model,
            check_alias(alias),
            cfg,
            reason=reason,
            actor=actor or self.actor,
            expected_revision=expected_revision,
        )

    def abort_canary(
        self, model: str, alias: str, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """End the alias's canary without promoting it; the alias keeps its version."""
        from vigil.registry import canary

        return canary.abort(
            self, model, check_alias(alias), reason=reason, actor=actor or self.actor
        )

    def rollback_target(self, model: str, alias: str) -> str | None:
        """The version a rollback without target returns to (the one promoted before)."""
        stack: list[str | None] = []
        for entry in self.history(model, alias):
            version = entry["version"]
            if entry["action"] in CANARY_ONLY:
                continue  # a canary started or ended: the alias did not move
            if entry["action"] in ("promote", "canary_promote"):
                stack.append(version)
            else:
                while stack and stack[-1] != version:
                    stack.pop()
                if not stack:
                    stack.append(version)
        # the newest earlier entry naming a version (promotions that followed an alias
        # name none and are skipped, archived versions may not be served again)
        archived = {v["version"] for v in self.versions(model) if v["status"] == "archived"}
        return next((v for v in reversed(stack[:-1]) if v is not None and v not in archived), None)

    def rollback(
        self,
        model: str,
        alias: str,
        to: str | int | None = None,
        *,
        reason: str | None = None,
        actor: str | None = None,
        expected_revision: int | None = None,
        automatic: bool = False,
    ) -> dict[str, Any]:
        """Return ``alias`` to version ``to``, by default to the version promoted before."""
        current = self.alias(model, alias)
        if to is None:
            to = self.rollback_target(model, alias)
            if to is None:
                raise InvalidParameterError(
                    f"Alias {alias!r} of {model!r} has no earlier version to roll back to; "
                    "name the version to go to."
                )
        action = "auto_rollback" if automatic else "rollback"
        row = q.set_alias(
            self.store,
            self.model(model).id,
            alias,
            version=check_version(to),
            action=action,
            actor=actor or self.actor,
            reason=reason,
            expected_revision=expected_revision,
        )
        self.store.audit(
            actor or self.actor,
            f"registry.{action}",
            f"{model}@{alias}",
            {
                "from": current["resolved_version"],
                "to": row["resolved_version"],
                "revision": row["revision"],
                "reason": reason,
            },
        )
        return {"model": model, "from": current["resolved_version"], **row}

    # -- integrity -----------------------------------------------------------------------
    def resolve(self, ref: str) -> dict[str, Any]:
        """The version record a ``name@alias`` or ``name:version`` reference names."""
        model, alias, version = parse_ref(ref)
        if alias is not None:
            version = self.alias(model, alias)["resolved_version"]
            if version is None:
                raise AliasNotFoundError(f"Alias {alias!r} of {model!r} points at no version.")
        return self.get(model, version)  # type: ignore[arg-type]

    def verify(
        self,
        model: str,
        version: str,
        *,
        allow: Iterable[str] = (),
        allow_unparsed: bool = False,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Check signature, digests and pickle safety; return the verified path and report.

        A refusal (unsigned, tampered, missing or unsafe artifact) is written to the audit
        log before the error is raised.
        """
        row = self.get(model, version)
        if row["manifest"] is None:
            raise InvalidParameterError(f"Version {version!r} of {model!r} has no artifact.")
        try:
            manifest = row["manifest"]
            for entry in manifest:
                check_name(entry.get("name"))
            signed = self.keys.verify(row["signature"], model, manifest)
            if signed["subject_digest"] != row["artifact_digest"]:
                raise IntegrityError(f"The recorded digest of {model}:{version} was altered.")
            path = self.artifacts.checkout(manifest, row["artifact_kind"])
            root = path if row["artifact_kind"] == "dir" else path.parent
            scan = scan_artifact(root, allow=allow)
            if allow_unparsed:
                scan.unparsed = []
            scan.check(f"Version {version!r} of {model!r}")
        except (
            IntegrityError,
            UnsafeArtifactError,
            ArtifactNotFoundError,
            InvalidParameterError,
        ) as exc:
            self.store.audit(
                actor or self.actor,
                "registry.refused",
                f"{model}:{version}",
                {"code": exc.code, "reason": exc.message},
            )
            raise
        return {
            "model": model,
            "version": version,
            "path": str(path),
            "key_id": signed["keyid"],
            "digest": row["artifact_digest"],
            "scan": scan.to_dict(),
        }

    def load(
        self,
        ref: str,
        *,
        deserialize: bool = False,
        allow: Iterable[str] = (),
        allow_unparsed: bool = False,
    ) -> Any:
        """The verified artifact of ``ref``: its path, or with ``deserialize`` the object
        of a ``.pkl``/``.pickle``/``.joblib`` file (after the pickle scan)."""
        from vigil.registry.catalog import warn_if_retired

        row = self.resolve(ref)
        result = self.verify(
            row["model"], row["version"], allow=allow, allow_unparsed=allow_unparsed
        )
        warn_if_retired(row)
        path = Path(result["path"])
        if not deserialize:
            return path
        suffix = path.suffix.lower()
        if path.is_file() and suffix in (".pkl", ".pickle"):
            import pickle

            with open(path, "rb") as f:
                return pickle.load(f)  # scanned above
        if path.is_file() and suffix == ".joblib":
            import joblib

            return joblib.load(path)
        raise InvalidParameterError(
            f"vigil can deserialize .pkl, .pickle and .joblib files; {path.name!r} is "
            "returned as a path instead (call load without deserialize)."
        )

    # -- comparison ----------------------------------------------------------------------
    def compare(
        self, model: str, a: str, b: str, *, start: float | None = None, end: float | None = None
    ) -> dict[str, Any]:
        """Two versions side by side: offline metrics, live metrics, files changed."""
        from vigil.engine.metric_sources import list_metrics

        record = self.model(model)
        rows = {v: self.get(model, v) for v in (a, b)}
        end = time.time() if end is None else end
        start = end - 24 * 3600 if start is None else start
        live: dict[str, dict[str, float | None]] = {}
        for source in list_metrics():
            values: dict[str, float | None] = {}
            for v in (a, b):
                try:
                    values[v] = source.compute(self.store, record, v, start, end)
                except (VigilError, ValueError, TypeError, ZeroDivisionError):
                    values[v] = None
            live[source.name] = values
        files_a = {e["name"]: e["digest"] for e in rows[a]["manifest"] or []}
        files_b = {e["name"]: e["digest"] for e in rows[b]["manifest"] or []}
        offline = sorted(set(rows[a]["metrics"] or {}) | set(rows[b]["metrics"] or {}))
        return {
            "model": model,
            "a": a,
            "b": b,
            "start": start,
            "end": end,
            "versions": {v: _public(r) for v, r in rows.items()},
            "offline_metrics": {
                k: {v: (rows[v]["metrics"] or {}).get(k) for v in (a, b)} for k in offline
            },
            "live_metrics": live,
            "files": {
                "added": sorted(set(files_b) - set(files_a)),
                "removed": sorted(set(files_a) - set(files_b)),
                "changed": sorted(
                    n for n in set(files_a) & set(files_b) if files_a[n] != files_b[n]
                ),
            },
        }


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A version record for lists and answers: no manifest or signature, the file count."""
    out = {k: v for k, v in row.items() if k not in ("manifest", "signature")}
    out["metadata"] = out.pop("meta", None)
    if row.get("manifest") is not None:
        out["files"] = len(row["manifest"])
    out.setdefault("files", None)
    out.setdefault("status", "active")
    return out
