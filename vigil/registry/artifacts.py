"""Content-addressed artifact storage: streamed SHA-256, per-file manifests, safe checkouts.

An artifact is a file or a directory. Registering it hashes every file while copying it
in 1 MiB chunks (never whole in memory) into ``<root>/blobs/sha256/<ab>/<digest>``; the
version keeps a *manifest* — ``[{name, digest, size}]`` sorted by name — whose own digest
names the artifact. Loading re-hashes what is on disk against the manifest and exposes it
under ``<root>/checkouts/<manifest digest>/`` (hard links to the read-only blobs).

:class:`ArtifactStore` is the local-filesystem backend; another backend (S3, GCS) only has
to offer the same four methods.

Examples:
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "model.txt").write_text("weights")
    >>> store = ArtifactStore(tmp / "artifacts")
    >>> art = store.put(tmp / "model.txt")
    >>> art.kind, art.manifest[0]["name"], art.size
    ('file', 'model.txt', 7)
    >>> store.checkout(art.manifest, art.kind).read_text()
    'weights'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from vigil.errors import InvalidParameterError
from vigil.registry.errors import ArtifactNotFoundError, IntegrityError

CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


def sha256_file(path: Path) -> tuple[str, int]:
    """The SHA-256 hex digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def manifest_digest(manifest: list[dict[str, Any]]) -> str:
    """The digest naming an artifact: SHA-256 over its files' digests in name order.

    This is how the OpenSSF model-signing "files" serialisation derives the subject
    digest, so a verifier can recompute it from the per-file digests alone.

    Examples:
        >>> manifest_digest([{"name": "a", "digest": "00" * 32, "size": 0}])[:12]
        '66687aadf862'
    """
    h = hashlib.sha256()
    for entry in sorted(manifest, key=lambda e: e["name"]):
        h.update(bytes.fromhex(entry["digest"]))
    return h.hexdigest()


def check_name(name: Any) -> str:
    """A manifest entry name: relative POSIX path, no ``..``, no absolute or drive part.

    Examples:
        >>> check_name("sub/model.pkl")
        'sub/model.pkl'
        >>> check_name("../etc/passwd")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vigil.errors.InvalidParameterError: Artifact file name '../etc/passwd' is not ...
    """
    ok = isinstance(name, str) and bool(name) and "\\" not in name and "\x00" not in name
    if ok:
        path = PurePosixPath(name)
        ok = (
            bool(path.parts)
            and not path.is_absolute()
            and ".." not in path.parts
            and "." not in path.parts
            and ":" not in path.parts[0]
            and str(path) == name
        )
    if not ok:
        raise InvalidParameterError(
            f"Artifact file name {name!r} is not a safe relative path (no '..', absolute "
            "paths or backslashes)."
        )
    return name


def _check_digest(digest: Any) -> str:
    if not (isinstance(digest, str) and len(digest) == 64 and set(digest) <= _HEX):
        raise IntegrityError(f"The manifest holds an invalid SHA-256 digest {digest!r}.")
    return digest


@dataclass(frozen=True)
class StoredArtifact:
    """What :meth:`ArtifactStore.put` stored: kind, manifest, its digest and total size."""

    kind: str
    manifest: list[dict[str, Any]]
    digest: str
    size: int


class ArtifactStore:
    """Artifacts on the local filesystem under ``root`` (usually ``VIGIL_HOME/artifacts``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def blob_path(self, digest: str) -> Path:
        digest = _check_digest(digest)
        return self.root / "blobs" / "sha256" / digest[:2] / digest

    def put(self, source: str | Path) -> StoredArtifact:
        """Hash and copy a file or a directory in; return its manifest.

        Raises:
            ArtifactNotFoundError: ``source`` does not exist.
            InvalidParameterError: it holds a symbolic link, a special file or no file.
        """
        src = Path(source)
        if not src.exists():
            raise ArtifactNotFoundError(f"The artifact {str(src)!r} does not exist.")
        if src.is_symlink():
            raise InvalidParameterError(
                f"The artifact {str(src)!r} is a symbolic link; give the file it points at."
            )
        if src.is_file():
            files = [(check_name(src.name), src)]
            kind = "file"
        elif src.is_dir():
            files = sorted(_walk(src), key=lambda item: item[0])
            kind = "dir"
            if not files:
                raise InvalidParameterError(f"The artifact directory {str(src)!r} is empty.")
        else:
            raise InvalidParameterError(
                f"The artifact {str(src)!r} is not a regular file or directory."
            )
        manifest = [self._put_file(name, path) for name, path in files]
        return StoredArtifact(
            kind, manifest, manifest_digest(manifest), sum(e["size"] for e in manifest)
        )

    def _put_file(self, name: str, path: Path) -> dict[str, Any]:
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=tmp_dir)
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
            digest = h.hexdigest()
            blob = self.blob_path(digest)
            if blob.is_file() and sha256_file(blob)[0] == digest:
                os.unlink(tmp)
            else:  # new, or a stored copy that was damaged or tampered with: write it again
                blob.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                os.replace(tmp, blob)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return {"name": name, "digest": digest, "size": size}

    def verify(self, manifest: list[dict[str, Any]], where: Path | None = None) -> None:
        """Re-hash each file (the blobs, or the files under ``where``) against the manifest.

        Raises:
            ArtifactNotFoundError: a file is missing.
            IntegrityError: a file's digest or size differs (the artifact was altered).
        """
        if where is not None:
            present = {
                p.relative_to(where).as_posix()
                for p in where.rglob("*")
                if p.is_file() or p.is_symlink()
            }
            extra = sorted(present - {e.get("name") for e in manifest})
            if extra:
                raise IntegrityError(
                    f"The artifact holds files that were not registered: {', '.join(extra)}.",
                    details={"extra": extra},
                )
        for entry in manifest:
            name = check_name(entry.get("name"))
            digest = _check_digest(entry.get("digest"))
            path = (where / name) if where is not None else self.blob_path(digest)
            if not path.is_file():
                raise ArtifactNotFoundError(
                    f"The artifact file {name!r} (sha256 {digest[:12]}...) is missing from "
                    f"{path.parent}."
                )
            actual, size = sha256_file(path)
            if actual != digest or size != entry.get("size"):
                raise IntegrityError(
                    f"The artifact file {name!r} was altered: its SHA-256 is {actual[:12]}... "
                    f"but {digest[:12]}... was registered.",
                    details={"file": name, "expected": digest, "actual": actual},
                )

    def checkout(self, manifest: list[dict[str, Any]], kind: str) -> Path:
        """The artifact as a path (the file, or the directory), verified against the manifest.

        An existing checkout is re-hashed; a new one is verified from the blobs, then
        built in a temporary folder (hard links to the blobs just hashed) and renamed into
        place, so each load reads the artifact once.
        """
        digest = manifest_digest(manifest)
        target = self.root / "checkouts" / digest
        if target.is_dir():
            self.verify(manifest, target)
        else:
            self.verify(manifest)
            tmp = Path(tempfile.mkdtemp(dir=self._mkdir("checkouts")))
            try:
                for entry in manifest:
                    dest = tmp / check_name(entry["name"])
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    blob = self.blob_path(entry["digest"])
                    try:
                        os.link(blob, dest)
                    except OSError:
                        shutil.copyfile(blob, dest)
                try:
                    os.rename(tmp, target)
                except OSError:  # another process made it meanwhile: check theirs
                    shutil.rmtree(tmp, ignore_errors=True)
                    self.verify(manifest, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return target / manifest[0]["name"] if kind == "file" else target

    def _mkdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for d in dirnames:
            if (base / d).is_symlink():
                raise InvalidParameterError(
                    f"The artifact holds a symbolic link {str(base / d)!r}; links are refused "
                    "(they could point outside the artifact)."
                )
        for f in filenames:
            path = base / f
            if path.is_symlink() or not path.is_file():
                raise InvalidParameterError(
                    f"The artifact holds {str(path)!r}, which is not a regular file (links "
                    "and special files are refused)."
                )
            yield check_name(path.relative_to(root).as_posix()), path
