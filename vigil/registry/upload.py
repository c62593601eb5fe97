"""Artifact uploads over HTTP: streamed to disk and unpacked within bounds.

Any key with the write scope may upload, so an upload must not be able to fill the disk
or hold a worker: the body is limited in bytes (``VIGIL_MAX_ARTIFACT_BYTES``), a tar
archive in members (``VIGIL_MAX_ARTIFACT_MEMBERS``), in unpacked bytes (the same byte
limit) and in expansion over its upload size (``VIGIL_MAX_ARTIFACT_RATIO``), and the
whole upload in time (``VIGIL_ARTIFACT_TIMEOUT_S``). Members are checked from their
headers before their bytes are written; links, devices, sparse files, duplicate names
and a file where a folder is (or the reverse) are refused with a 4xx naming the member.
"""

from __future__ import annotations

import asyncio
import lzma
import tarfile
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from vigil.errors import InvalidParameterError, PayloadTooLargeError, RequestTimeoutError
from vigil.registry.artifacts import check_name

_RATIO_FLOOR_BYTES = 16 * 1024 * 1024  # small archives may expand a lot (text compresses)
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on one artifact upload."""

    max_bytes: int = 1024**3
    max_members: int = 10_000
    max_ratio: float = 100.0
    timeout_s: float = 300.0

    @classmethod
    def from_settings(cls, settings: Any) -> UploadLimits:
        return cls(
            settings.max_artifact_bytes,
            settings.max_artifact_members,
            settings.max_artifact_ratio,
            settings.artifact_timeout_s,
        )

    def deadline(self) -> float:
        return time.monotonic() + self.timeout_s


def check_filename(filename: str) -> str:
    """The artifact's stored name: one safe path component (no folders)."""
    check_name(filename)
    if "/" in filename:
        raise InvalidParameterError(
            f"filename must be a plain file name without folders; got {filename!r}. Upload "
            "a folder as a tar archive (application/x-tar) instead.",
            details=[{"field": "filename", "reason": "contains '/'"}],
        )
    return filename


async def receive(
    stream: AsyncIterator[bytes], dest: Path, limits: UploadLimits, deadline: float
) -> int:
    """Write the body to ``dest``; return its size. 413 past the byte limit, 408 when it
    has not arrived by ``deadline`` (a stalled sender included)."""
    size = 0
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            with open(dest, "wb") as f:
                async for chunk in stream:
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise PayloadTooLargeError(
                            f"The artifact exceeds {limits.max_bytes} bytes "
                            "(VIGIL_MAX_ARTIFACT_BYTES)."
                        )
                    f.write(chunk)
    except TimeoutError:
        raise RequestTimeoutError(
            f"The upload did not arrive within {limits.timeout_s:g} s (VIGIL_ARTIFACT_TIMEOUT_S)."
        ) from None
    return size


def unpack(archive: Path, target: Path, limits: UploadLimits, deadline: float) -> int:
    """Unpack a tar archive (plain or compressed) into ``target`` within ``limits``;
    return the bytes written."""
    uploaded = max(1, archive.stat().st_size)
    kinds: dict[str, str] = {}  # name -> "file" | "dir"
    members = 0
    total = 0
    target.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                members += 1
                if members > limits.max_members:
                    raise PayloadTooLargeError(
                        f"The archive holds more than {limits.max_members} members "
                        "(VIGIL_MAX_ARTIFACT_MEMBERS)."
                    )
                _check_time(deadline, limits)
                name = _member_name(member)
                if name is None:
                    continue
                kind = _kind(member)
                _check_place(name, kind, kinds)
                kinds[name] = kind
                for parent in PurePosixPath(name).parents:
                    if str(parent) != ".":
                        kinds.setdefault(str(parent), "dir")
                path = target / name
                if kind == "dir":
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                total += member.size
                _check_size(total, uploaded, limits)
                path.parent.mkdir(parents=True, exist_ok=True)
                _copy(tar, member, path, deadline, limits)
    except tarfile.TarError as exc:
        raise InvalidParameterError(f"The body is not a readable tar archive: {exc}") from None
    except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the server's disk (full, read-only): not the archive's fault
        raise InvalidParameterError(  # a truncated or corrupt compressed stream
            f"The archive could not be unpacked: {type(exc).__name__}: {exc}"
        ) from None
    if not kinds:
        raise InvalidParameterError("The archive holds no files.")
    return total


def _member_name(member: tarfile.TarInfo) -> str | None:
    name = member.name.removeprefix("./").rstrip("/")
    while name.startswith("./"):
        name = name[2:]
    if member.isdir() and name in ("", "."):
        return None
    check_name(name)
    return name


def _kind(member: tarfile.TarInfo) -> str:
    if member.isdir():
        return "dir"
    if member.isfile() and not member.issparse():
        return "file"
    raise InvalidParameterError(
        f"The archive holds {member.name!r}, which is not a file or folder "
        "(links, devices and sparse files are refused)."
    )


def _check_place(name: str, kind: str, kinds: dict[str, str]) -> None:
    """A name seen before, or a file standing where a folder is (or the reverse)."""
    seen = kinds.get(name)
    if seen is not None and not (seen == kind == "dir"):
        what = "twice" if seen == kind else f"as both a {seen} and a {kind}"
        raise InvalidParameterError(
            f"The archive holds {name!r} {what}; names must be "
            "unique and a file cannot share a folder's name.",
            details=[{"field": name, "reason": "duplicate name"}],
        )
    for parent in PurePosixPath(name).parents:
        if kinds.get(str(parent)) == "file":
            raise InvalidParameterError(
                f"The archive holds {name!r} inside {str(parent)!r}, which it also holds as a "
                "file.",
                details=[{"field": name, "reason": "parent is a file"}],
            )


def _check_size(total: int, uploaded: int, limits: UploadLimits) -> None:
    if total > limits.max_bytes:
        raise PayloadTooLargeError(
            f"The archive unpacks to more than {limits.max_bytes} bytes (VIGIL_MAX_ARTIFACT_BYTES)."
        )
    if total > _RATIO_FLOOR_BYTES and total > limits.max_ratio * uploaded:
        raise PayloadTooLargeError(
            f"The archive expands more than {limits.max_ratio:g} times its {uploaded}-byte "
            "upload (VIGIL_MAX_ARTIFACT_RATIO); a compression bomb is refused."
        )


def _check_time(deadline: float, limits: UploadLimits) -> None:
    if time.monotonic() > deadline:
        raise RequestTimeoutError(
            f"Unpacking the archive took longer than {limits.timeout_s:g} s "
            "(VIGIL_ARTIFACT_TIMEOUT_S)."
        )


def _copy(
    tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, deadline: float, limits: UploadLimits
) -> None:
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - regular files always have a reader
        raise InvalidParameterError(f"The archive member {member.name!r} cannot be read.")
    with source, open(path, "wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)
            _check_time(deadline, limits)
